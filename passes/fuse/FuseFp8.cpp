//===- FuseFp8.cpp - the FP8 round trip of the recipe's GEMM operands -----===//
//
// ds-fp8-cast gives each quantized GEMM operand a ds.quantize -> ds.dequantize pair: the
// FP8 values and their scales exist only to be multiplied back. When nothing else reads
// them, the pair is one quantize_dequantize launch that never stores the FP8 bytes or
// the scales (runtime/kernels/cpu/Quantize.cpp). Only FP32 scales qualify: the fused
// kernel keeps the scale unrounded, which equals the pair only when storing it in the
// scales' dtype rounded nothing.
//
//===----------------------------------------------------------------------===//
#include "passes/fuse/FusionSupport.h"
#include "passes/fuse/Fusions.h"

using namespace mlir;

namespace ds::fuse {

namespace {

void fuseRoundTripAt(dsx::LaunchOp dequantize) {
  if (dequantize.getInputs().size() != 2 || dequantize.getOutputs().size() != 1)
    return;
  Value values = dequantize.getInputs()[0], scales = dequantize.getInputs()[1];
  dsx::LaunchOp quantize = writerOf(values);
  if (!isLaunchOf(quantize, "quantize", 1, 2) || quantize.getOutputs()[0] != values ||
      quantize.getOutputs()[1] != scales || !elementType(scales).isF32())
    return;
  Attribute block = quantize.getKernelAttrs().get("block");
  if (!block || block != dequantize.getKernelAttrs().get("block"))
    return;
  replaceByFusedLaunch({"quantize_dequantize",
                        {quantize, dequantize},
                        {quantize.getInputs()[0]},
                        {dequantize.getOutputs()[0]},
                        {*quantize.getKernelAttrs().getNamed("block")}});
}

} // namespace

void fuseFp8RoundTrips(dsx::ProgramOp program) {
  for (dsx::LaunchOp dequantize : launchesOf(program, "dequantize"))
    fuseRoundTripAt(dequantize);
}

} // namespace ds::fuse
