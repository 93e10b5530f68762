// Every verifier rule of the FP8 and data-movement ops has a case here.
// RUN: ds-opt %s -split-input-file -verify-diagnostics

// -----

func.func @quantize_rank(%x: tensor<256xbf16>) {
  // expected-error @+1 {{input must have rank at least 2 ([..., M, K]) but has rank 1}}
  %v, %s = ds.quantize %x {block = array<i64: 1, 128>} : (tensor<256xbf16>) -> (tensor<256xf8E4M3FN>, tensor<2xf32>)
  return
}

// -----

func.func @quantize_block_entries(%x: tensor<4x256xbf16>) {
  // expected-error @+1 {{attribute 'block' must have 2 entries ([rows, columns] of the last two dimensions) but has 3}}
  %v, %s = ds.quantize %x {block = array<i64: 1, 1, 128>} : (tensor<4x256xbf16>) -> (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>)
  return
}

// -----

func.func @quantize_block_positive(%x: tensor<4x256xbf16>) {
  // expected-error @+1 {{attribute 'block' entry 0 must be positive but is 0}}
  %v, %s = ds.quantize %x {block = array<i64: 0, 128>} : (tensor<4x256xbf16>) -> (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>)
  return
}

// -----

func.func @quantize_input_fp8(%x: tensor<4x256xf8E4M3FN>) {
  // expected-error @+1 {{input element type must be f32 or bf16 but is 'f8E4M3FN'}}
  %v, %s = ds.quantize %x {block = array<i64: 1, 128>} : (tensor<4x256xf8E4M3FN>) -> (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>)
  return
}

// -----

func.func @quantize_scales_shape(%x: tensor<4x256xbf16>) {
  // expected-error @+1 {{result scales dimension 1 is 1 but expected 2 from the operands (shape 4x2)}}
  %v, %s = ds.quantize %x {block = array<i64: 1, 128>} : (tensor<4x256xbf16>) -> (tensor<4x256xf8E4M3FN>, tensor<4x1xf32>)
  return
}

// -----

func.func @quantize_scales_ceil(%x: tensor<4x300xbf16>) {
  // expected-error @+1 {{result scales dimension 1 is 2 but expected 3 from the operands (shape 4x3)}}
  %v, %s = ds.quantize %x {block = array<i64: 1, 128>} : (tensor<4x300xbf16>) -> (tensor<4x300xf8E4M3FN>, tensor<4x2xf32>)
  return
}

// -----

func.func @quantize_scales_element(%x: tensor<4x256xbf16>) {
  // expected-error @+1 {{result scales element type is 'bf16' but the operands imply 'f32'}}
  %v, %s = ds.quantize %x {block = array<i64: 1, 128>} : (tensor<4x256xbf16>) -> (tensor<4x256xf8E4M3FN>, tensor<4x2xbf16>)
  return
}

// -----

func.func @quantize_values_shape(%x: tensor<4x256xbf16>) {
  // expected-error @+1 {{result values dimension 1 is 128 but expected 256 from the operands (shape 4x256)}}
  %v, %s = ds.quantize %x {block = array<i64: 1, 128>} : (tensor<4x256xbf16>) -> (tensor<4x128xf8E4M3FN>, tensor<4x2xf32>)
  return
}

// -----

func.func @dequantize_rank(%v: tensor<256xf8E4M3FN>, %s: tensor<2xf32>) {
  // expected-error @+1 {{values must have rank at least 2 ([..., M, K]) but has rank 1}}
  %y = ds.dequantize %v, %s {block = array<i64: 1, 128>} : (tensor<256xf8E4M3FN>, tensor<2xf32>) -> tensor<256xbf16>
  return
}

// -----

func.func @dequantize_block(%v: tensor<4x256xf8E4M3FN>, %s: tensor<4x2xf32>) {
  // expected-error @+1 {{attribute 'block' must have 2 entries}}
  %y = ds.dequantize %v, %s {block = array<i64: 128>} : (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>) -> tensor<4x256xbf16>
  return
}

// -----

func.func @dequantize_block_positive(%v: tensor<4x256xf8E4M3FN>, %s: tensor<4x2xf32>) {
  // expected-error @+1 {{attribute 'block' entry 1 must be positive but is -128}}
  %y = ds.dequantize %v, %s {block = array<i64: 1, -128>} : (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>) -> tensor<4x256xbf16>
  return
}

// -----

func.func @dequantize_scales_shape(%v: tensor<4x256xf8E4M3FN>, %s: tensor<1x2xf32>) {
  // expected-error @+1 {{scales dimension 0 is 1 but expected 4 from values in blocks of 1x128 (shape 4x2)}}
  %y = ds.dequantize %v, %s {block = array<i64: 1, 128>} : (tensor<4x256xf8E4M3FN>, tensor<1x2xf32>) -> tensor<4x256xbf16>
  return
}

// -----

func.func @dequantize_scales_element(%v: tensor<4x256xf8E4M3FN>, %s: tensor<4x2xbf16>) {
  // expected-error @+1 {{scales element type must be 'f32' but is 'bf16'}}
  %y = ds.dequantize %v, %s {block = array<i64: 1, 128>} : (tensor<4x256xf8E4M3FN>, tensor<4x2xbf16>) -> tensor<4x256xbf16>
  return
}

// -----

func.func @dequantize_result_shape(%v: tensor<4x256xf8E4M3FN>, %s: tensor<4x2xf32>) {
  // expected-error @+1 {{result dimension 1 is 128 but expected 256 from the shape of values (shape 4x256)}}
  %y = ds.dequantize %v, %s {block = array<i64: 1, 128>} : (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>) -> tensor<4x128xbf16>
  return
}

// -----

func.func @dequantize_result_element(%v: tensor<4x256xf8E4M3FN>, %s: tensor<4x2xf32>) {
  // expected-error @+1 {{result element type must be f32 or bf16 but is 'f8E4M3FN'}}
  %y = ds.dequantize %v, %s {block = array<i64: 1, 128>} : (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>) -> tensor<4x256xf8E4M3FN>
  return
}

// -----

func.func @slice_dim(%x: tensor<2x5xi32>) {
  // expected-error @+1 {{attribute 'dim' is 2 but input has rank 2}}
  %y = ds.slice %x {dim = 2 : i64, offset = 0 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
  return
}

// -----

func.func @slice_dim_negative(%x: tensor<2x5xi32>) {
  // expected-error @+1 {{attribute 'dim' is -1 but input has rank 2}}
  %y = ds.slice %x {dim = -1 : i64, offset = 0 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
  return
}

// -----

func.func @slice_size(%x: tensor<2x5xi32>) {
  // expected-error @+1 {{attribute 'size' must be positive but is 0}}
  %y = ds.slice %x {dim = 1 : i64, offset = 0 : i64, size = 0 : i64} : (tensor<2x5xi32>) -> tensor<2x0xi32>
  return
}

// -----

func.func @slice_offset(%x: tensor<2x5xi32>) {
  // expected-error @+1 {{attribute 'offset' must be non-negative but is -1}}
  %y = ds.slice %x {dim = 1 : i64, offset = -1 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
  return
}

// -----

func.func @slice_bounds(%x: tensor<2x5xi32>) {
  // expected-error @+1 {{the range [2, 6) does not fit input dimension 1 of size 5}}
  %y = ds.slice %x {dim = 1 : i64, offset = 2 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
  return
}

// -----

func.func @slice_result(%x: tensor<2x5xi32>) {
  // expected-error @+1 {{result dimension 1 is 3 but expected 4 from the operands (shape 2x4)}}
  %y = ds.slice %x {dim = 1 : i64, offset = 0 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x3xi32>
  return
}

// -----

func.func @slice_result_element(%x: tensor<2x5xi32>) {
  // expected-error @+1 {{result element type is 'f32' but the operands imply 'i32'}}
  %y = ds.slice %x {dim = 1 : i64, offset = 0 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @concat_empty() {
  // expected-error @+1 {{needs at least one input}}
  %y = ds.concat {dim = 0 : i64} : () -> tensor<2xf32>
  return
}

// -----

func.func @concat_dim(%a: tensor<2x4x16xf32>, %b: tensor<2x4x8xf32>) {
  // expected-error @+1 {{attribute 'dim' is 3 but inputs[0] has rank 3}}
  %y = ds.concat %a, %b {dim = 3 : i64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x24xf32>
  return
}

// -----

func.func @concat_rank(%a: tensor<2x4x16xf32>, %b: tensor<8x8xf32>) {
  // expected-error @+1 {{inputs[1] must have rank 3 (the rank of inputs[0]) but has rank 2}}
  %y = ds.concat %a, %b {dim = 2 : i64} : (tensor<2x4x16xf32>, tensor<8x8xf32>) -> tensor<2x4x24xf32>
  return
}

// -----

func.func @concat_element(%a: tensor<2x4x16xf32>, %b: tensor<2x4x8xbf16>) {
  // expected-error @+1 {{inputs[1] element type is 'bf16' but inputs[0] element type is 'f32'}}
  %y = ds.concat %a, %b {dim = 2 : i64} : (tensor<2x4x16xf32>, tensor<2x4x8xbf16>) -> tensor<2x4x24xf32>
  return
}

// -----

func.func @concat_other_dim(%a: tensor<2x4x16xf32>, %b: tensor<2x3x8xf32>) {
  // expected-error @+1 {{inputs[1] dimension 1 is 3 but inputs[0] dimension 1 is 4}}
  %y = ds.concat %a, %b {dim = 2 : i64} : (tensor<2x4x16xf32>, tensor<2x3x8xf32>) -> tensor<2x4x24xf32>
  return
}

// -----

func.func @concat_result(%a: tensor<2x4x16xf32>, %b: tensor<2x4x8xf32>) {
  // expected-error @+1 {{result dimension 2 is 16 but expected 24 from the operands (shape 2x4x24)}}
  %y = ds.concat %a, %b {dim = 2 : i64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @reshape_count(%x: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result has 64 elements (type 'tensor<8x8xf32>') but input has 128 (type 'tensor<2x4x16xf32>')}}
  %y = ds.reshape %x : (tensor<2x4x16xf32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @reshape_element(%x: tensor<2x4xf32>) {
  // expected-error @+1 {{result element type is 'bf16' but input element type is 'f32'}}
  %y = ds.reshape %x : (tensor<2x4xf32>) -> tensor<8xbf16>
  return
}

// -----

func.func @reshape_dynamic(%x: tensor<2x4xf32>) {
  // expected-error @+1 {{result must have a static shape but has type 'tensor<?xf32>'}}
  %y = ds.reshape %x : (tensor<2x4xf32>) -> tensor<?xf32>
  return
}

// -----

func.func @expand_rank(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{input must have rank 3 (the rank of result) but has rank 2}}
  %y = ds.expand %x : (tensor<4x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @expand_dim(%x: tensor<2x3x16xf32>) {
  // expected-error @+1 {{input dimension 1 is 3 but must be 1 or result's size 4}}
  %y = ds.expand %x : (tensor<2x3x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @expand_element(%x: tensor<2x1x16xbf16>) {
  // expected-error @+1 {{input element type is 'bf16' but result element type is 'f32'}}
  %y = ds.expand %x : (tensor<2x1x16xbf16>) -> tensor<2x4x16xf32>
  return
}
