// RUN: ds-opt %s --split-input-file --ds-lower-to-exec --verify-diagnostics

// expected-error @below {{ds-lower-to-exec: no function @train_step to lower}}
module {
  func.func @forward(%x: tensor<4xf32> {ds.input = "x"}) -> (tensor<4xf32> {ds.output = "y"}) {
    return %x : tensor<4xf32>
  }
}

// -----

func.func @train_step(%h: tensor<1x2x4xf32> {ds.input = "h"}, %e: tensor<1x2x4xf32> {ds.input = "e"},
                      %n: tensor<4xf32> {ds.param = "n", ds.init = "ones"},
                      %p: tensor<4x8xf32> {ds.param = "p", ds.init = "normal"})
    -> (tensor<1x2x4xf32> {ds.output = "y"}) {
  // expected-error @below {{is a composite op; run ds-decompose before ds-lower-to-exec}}
  %y = ds.mtp_head %h, %e, %n, %n, %p {depth = 1 : i64, rms_norm_eps = 1.0e-6 : f64, loss_weight = 0.3 : f64}
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4x8xf32>) -> tensor<1x2x4xf32>
  return %y : tensor<1x2x4xf32>
}

// -----

func.func @train_step(%x: tensor<4xf32> {ds.input = "x"}) -> (tensor<4xf32> {ds.output = "y"}) {
  // expected-error @below {{'arith.addf' op has no kernel; ds-lower-to-exec lowers ds ops and splat arith.constant only}}
  %y = arith.addf %x, %x : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @train_step() -> (tensor<2xf32> {ds.output = "y"}) {
  // expected-error @below {{is not a splat; ds-lower-to-exec lowers only splat constants}}
  %c = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  return %c : tensor<2xf32>
}

// -----

// expected-error @below {{argument #1 of @train_step has none of ds.input, ds.param, ds.buffer, ds.state}}
func.func @train_step(%x: tensor<4xf32> {ds.input = "x"}, %y: tensor<4xf32>) -> (tensor<4xf32> {ds.output = "y"}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{argument #0 of @train_step has two of ds.input, ds.param, ds.buffer and ds.state}}
func.func @train_step(%x: tensor<4xf32> {ds.input = "x", ds.state = "x"}) -> (tensor<4xf32> {ds.output = "y"}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{parameter 'w' (argument #0) has no ds.init}}
func.func @train_step(%w: tensor<4xf32> {ds.param = "w"}) -> (tensor<4xf32> {ds.output = "y"}) {
  return %w : tensor<4xf32>
}

// -----

// expected-error @below {{result #1 of @train_step has neither ds.output nor ds.update}}
func.func @train_step(%x: tensor<4xf32> {ds.input = "x"}) -> (tensor<4xf32> {ds.output = "y"}, tensor<4xf32>) {
  return %x, %x : tensor<4xf32>, tensor<4xf32>
}

// -----

// expected-error @below {{result #0 updates 'w2', which is no ds.param, ds.buffer or ds.state argument of @train_step}}
func.func @train_step(%w: tensor<4xf32> {ds.param = "w", ds.init = "zeros"}) -> (tensor<4xf32> {ds.update = "w2"}) {
  %y = ds.scale %w {factor = 0.5 : f64} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error @below {{has a value of element type 'f16', which the runtime cannot store}}
func.func @train_step(%x: tensor<4xf16> {ds.input = "x"}) -> (tensor<4xf16> {ds.output = "y"}) {
  return %x : tensor<4xf16>
}
