//===- FuseNorm.cpp - residual adds around RMSNorm ------------------------===//
//
// A pre-norm block (V3's decoder layer) adds each sublayer's output to the residual
// stream and normalizes the sum for the next sublayer; backward, the norm's input gradient
// joins the residual stream's gradient with an add. Each pair becomes one row-wise kernel.
//
//===----------------------------------------------------------------------===//
#include "passes/fuse/FusionSupport.h"
#include "passes/fuse/Fusions.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace ds::fuse {

namespace {

NamedAttribute epsAttr(dsx::LaunchOp norm) { return *norm.getKernelAttrs().getNamed("eps"); }

/// sum = add(a, b); y = rms_norm(sum, w) -> (sum, y) = add_rms_norm(a, b, w). The sum is
/// written as before (the residual stream reads it on), and the norm reads it back as
/// stored, so the two launches' rounding is kept whatever the sum's element type.
void fuseAddRmsNormAt(dsx::LaunchOp norm) {
  Value sum = norm.getInputs()[0];
  dsx::LaunchOp add = writerOf(sum);
  if (!isLaunchOf(add, "add", 2, 1) || add.getOutputs()[0] != sum ||
      !norm.getKernelAttrs().get("eps"))
    return;
  replaceByFusedLaunch({"add_rms_norm",
                        {add, norm},
                        {add.getInputs()[0], add.getInputs()[1], norm.getInputs()[1]},
                        {sum, norm.getOutputs()[0]},
                        {epsAttr(norm)}});
}

/// (dx, dw) = rms_norm_grad(x, w, dy); out = add(dx, r) or add(r, dx) ->
/// (out, dw) = rms_norm_grad_add(x, w, dy, r). dx must be FP32: the fused kernel adds it
/// unrounded, which equals the two launches only when storing it rounded nothing.
/// Addition commutes exactly in IEEE arithmetic, so the operand order does not matter.
void fuseRmsNormGradAddAt(dsx::LaunchOp add) {
  for (unsigned k = 0; k < 2; ++k) {
    Value inputGrad = add.getInputs()[k], residualGrad = add.getInputs()[1 - k];
    dsx::LaunchOp normGrad = writerOf(inputGrad);
    if (!isLaunchOf(normGrad, "rms_norm_grad", 3, 2) || normGrad.getOutputs()[0] != inputGrad ||
        !elementType(inputGrad).isF32() || soleReader(inputGrad) != add ||
        !normGrad.getKernelAttrs().get("eps"))
      continue;
    ValueRange normInputs = normGrad.getInputs();
    if (replaceByFusedLaunch({"rms_norm_grad_add",
                              {normGrad, add},
                              {normInputs[0], normInputs[1], normInputs[2], residualGrad},
                              {add.getOutputs()[0], normGrad.getOutputs()[1]},
                              {epsAttr(normGrad)}}))
      return;
  }
}

} // namespace

void fuseNormResiduals(dsx::ProgramOp program) {
  for (dsx::LaunchOp norm : launchesOf(program, "rms_norm"))
    fuseAddRmsNormAt(norm);
  for (dsx::LaunchOp add : launchesOf(program, "add"))
    fuseRmsNormGradAddAt(add);
}

} // namespace ds::fuse
