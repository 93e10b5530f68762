// RUN: ds-opt %s --split-input-file --ds-autodiff=gradients-only -verify-diagnostics

// A second gradients function is refused, as a second training step is.
func.func @forward(%w: tensor<4x4xf32> {ds.param = "w"}, %labels: tensor<4xi32> {ds.input = "labels"})
    -> (tensor<f32> {ds.output = "loss"}) {
  %loss = ds.cross_entropy %w, %labels : (tensor<4x4xf32>, tensor<4xi32>) -> tensor<f32>
  return %loss : tensor<f32>
}
// expected-error @+1 {{ds-autodiff: the module already has a @gradients}}
func.func @gradients() {
  return
}

// -----

// @gradients differentiates "loss" like @train_step does.
// expected-error @+1 {{ds-autodiff: @forward has no result marked {ds.output = "loss"} to differentiate}}
func.func @forward(%w: tensor<4x4xf32> {ds.param = "w"}, %labels: tensor<4xi32> {ds.input = "labels"})
    -> (tensor<f32> {ds.output = "loss.main"}) {
  %loss = ds.cross_entropy %w, %labels : (tensor<4x4xf32>, tensor<4xi32>) -> tensor<f32>
  return %loss : tensor<f32>
}
