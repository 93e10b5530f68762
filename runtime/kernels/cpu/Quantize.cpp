//===- Quantize.cpp - ds.quantize and ds.dequantize (FP8 E4M3, block scales) ===//
//
// The V3 recipe's fine-grained quantization (V3 report §3.3.2; DeepSeek's
// inference/kernel.py act_quant and weight_dequant): the last two dims [M, K] are cut into
// [bm, bk] blocks (1x128 for activations, 128x128 for weights; edge blocks may be
// partial), each with one FP32 scale = amax(block) / 448 so that the block's largest
// magnitude maps onto E4M3's largest finite value. A block of zeros gets scale 1 (nothing
// to scale; avoids 0/0). Values are x / scale rounded to nearest even and saturated
// (runtime/core/Fp8.h).
//
// The scale is rounded to the scales tensor's dtype before it divides, so that
// dequantize(quantize(x)) uses exactly the scale that quantized x.
//
// quantize_dequantize (ds-fuse) is the two in one launch with FP32 scales: the FP8 values
// times their scale, as a GEMM operand of the recipe reads them.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Bf16.h"
#include "runtime/core/Fp8.h"
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <algorithm>
#include <cmath>

namespace ds::rt::cpu {
namespace {

struct Blocking {
  int64_t batch, rows, cols, blockRows, blockCols, rowBlocks, colBlocks;

  int64_t scaleIndex(int64_t b, int64_t r, int64_t c) const {
    return (b * rowBlocks + r / blockRows) * colBlocks + c / blockCols;
  }
};

Status readBlocking(const char *k, const KernelCall &call, const TensorView &data,
                    const char *dataName, const TensorView &scales, Blocking &b) {
  std::vector<int64_t> block;
  DS_RETURN_IF_ERROR(requireQuantBlock(call.attrs, k, block));
  DS_RETURN_IF_ERROR(expectMinRank(k, dataName, data, 2));
  b.rows = data.dim(-2);
  b.cols = data.dim(-1);
  b.batch = product(data.shape, 0, data.rank() - 2);
  b.blockRows = block[0];
  b.blockCols = block[1];
  b.rowBlocks = (b.rows + b.blockRows - 1) / b.blockRows;
  b.colBlocks = (b.cols + b.blockCols - 1) / b.blockCols;
  std::vector<int64_t> scaleShape(data.shape.begin(), data.shape.end() - 2);
  scaleShape.push_back(b.rowBlocks);
  scaleShape.push_back(b.colBlocks);
  return expectShape(k, "scales", scales, scaleShape);
}

} // namespace

Status quantize(KernelCall &call) {
  const char *k = "quantize";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}},
                               {{"values", Elem::Fp8}, {"scales", Elem::Float}}));
  const TensorView &inputView = call.inputs[0], &scalesView = call.outputs[1];
  Blocking b;
  DS_RETURN_IF_ERROR(readBlocking(k, call, inputView, "input", scalesView, b));
  DS_RETURN_IF_ERROR(expectShape(k, "values", call.outputs[0], inputView.shape));
  FloatReader input(inputView);
  uint8_t *values = call.outputs[0].as<uint8_t>();
  std::vector<float> scales(scalesView.numElements(), 0.0f);
  int64_t matrix = b.rows * b.cols;
  // Pass 1: block amax, then the scale as it will be stored.
  for (int64_t bi = 0; bi < b.batch; ++bi)
    for (int64_t r = 0; r < b.rows; ++r)
      for (int64_t c = 0; c < b.cols; ++c) {
        float &amax = scales[b.scaleIndex(bi, r, c)];
        amax = std::max(amax, std::fabs(input[bi * matrix + r * b.cols + c]));
      }
  for (float &scale : scales) {
    scale = scale == 0.0f ? 1.0f : scale / kE4m3Max;
    if (scalesView.dtype == DType::BF16)
      scale = roundToBf16(scale);
  }
  // Pass 2: the values.
  for (int64_t bi = 0; bi < b.batch; ++bi)
    for (int64_t r = 0; r < b.rows; ++r)
      for (int64_t c = 0; c < b.cols; ++c) {
        int64_t i = bi * matrix + r * b.cols + c;
        values[i] = floatToE4m3(input[i] / scales[b.scaleIndex(bi, r, c)]);
      }
  FloatWriter scalesOut(scalesView);
  std::copy(scales.begin(), scales.end(), scalesOut.data());
  return Status::ok();
}

Status dequantize(KernelCall &call) {
  const char *k = "dequantize";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"values", Elem::Fp8}, {"scales", Elem::Float}},
                               {{"result", Elem::Float}}));
  const TensorView &valuesView = call.inputs[0];
  Blocking b;
  DS_RETURN_IF_ERROR(readBlocking(k, call, valuesView, "values", call.inputs[1], b));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], valuesView.shape));
  const uint8_t *values = valuesView.as<const uint8_t>();
  FloatReader scales(call.inputs[1]);
  FloatWriter result(call.outputs[0]);
  int64_t matrix = b.rows * b.cols;
  for (int64_t bi = 0; bi < b.batch; ++bi)
    for (int64_t r = 0; r < b.rows; ++r)
      for (int64_t c = 0; c < b.cols; ++c) {
        int64_t i = bi * matrix + r * b.cols + c;
        result[i] = e4m3ToFloat(values[i]) * scales[b.scaleIndex(bi, r, c)];
      }
  return Status::ok();
}

Status checkQuantizeDequantize(const KernelCall &call, std::vector<int64_t> &block) {
  const char *k = "quantize_dequantize";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"input", Elem::Float}}, {{"result", Elem::Float}}));
  DS_RETURN_IF_ERROR(expectMinRank(k, "input", call.inputs[0], 2));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], call.inputs[0].shape));
  return requireQuantBlock(call.attrs, k, block);
}

Status quantizeDequantize(KernelCall &call) {
  const char *k = "quantize_dequantize";
  std::vector<int64_t> block;
  DS_RETURN_IF_ERROR(checkQuantizeDequantize(call, block));
  const TensorView &input = call.inputs[0];
  std::vector<int64_t> scaleShape(input.shape.begin(), input.shape.end() - 2);
  scaleShape.push_back((input.dim(-2) + block[0] - 1) / block[0]);
  scaleShape.push_back((input.dim(-1) + block[1] - 1) / block[1]);
  ScratchTensor values(DType::F8E4M3, input.shape), scales(DType::F32, scaleShape);
  DS_RETURN_IF_ERROR(
      runStage(k, quantize, {input}, {values.view(), scales.view()}, call.attrs));
  return runStage(k, dequantize, {values.view(), scales.view()}, {call.outputs[0]},
                  call.attrs);
}

} // namespace ds::rt::cpu
