//===- FuseShapes.cpp - reshapes as views, slice_grad sums as concats -----===//
#include "passes/fuse/FusionSupport.h"
#include "passes/fuse/Fusions.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;

namespace ds::fuse {

void fuseReshapesIntoViews(dsx::ProgramOp program) {
  Block &body = program.getBody().front();
  for (auto reshape : llvm::make_early_inc_range(body.getOps<dsx::LaunchOp>())) {
    if (!isLaunchOf(reshape, "reshape", 1, 1))
      continue;
    Value input = reshape.getInputs()[0], result = reshape.getOutputs()[0];
    // A reshape that converts (f32 -> bf16) computes; one onto an output or persistent
    // bytes must keep its own buffer, which the runtime binds by name.
    dsx::BufferOp source = dsx::underlyingBuffer(input);
    if (elementType(input) != elementType(result) || !isTemporary(result) || !source ||
        dsx::isPersistentRole(source.getRole()))
      continue;
    // A dsx.update source must be a buffer of its own; launches only read a view.
    if (!llvm::all_of(result.getUsers(), [](Operation *user) { return isa<dsx::LaunchOp>(user); }))
      continue;
    // The reshape launch is the only writer of `result` and comes after both buffers, so
    // the view placed there dominates every reader.
    OpBuilder builder(reshape);
    auto view =
        dsx::ViewOp::create(builder, reshape.getLoc(), result.getType(), source.getResult());
    Operation *resultBuffer = result.getDefiningOp();
    reshape.erase();
    result.replaceAllUsesWith(view.getResult());
    resultBuffer->erase();
  }
}

void fuseSliceGradSums(dsx::ProgramOp program) {
  Block &body = program.getBody().front();
  for (auto add : llvm::make_early_inc_range(body.getOps<dsx::LaunchOp>())) {
    if (!isLaunchOf(add, "add", 2, 1))
      continue;
    Value sum = add.getOutputs()[0];
    auto shape = cast<MemRefType>(sum.getType()).getShape();
    int64_t rank = rankOf(sum);
    struct Part {
      dsx::LaunchOp sliceGrad;
      int64_t dim, offset, size;
    };
    SmallVector<Part, 2> parts;
    for (Value operand : add.getInputs()) {
      dsx::LaunchOp sliceGrad = writerOf(operand);
      if (!isLaunchOf(sliceGrad, "slice_grad", 1, 1) || soleReader(operand) != add)
        break;
      std::optional<int64_t> dim = dimAttr(sliceGrad, rank);
      std::optional<int64_t> offset = intAttr(sliceGrad, "offset");
      // A slice_grad that converts (f32 part, bf16 gradient) rounds the part; the concat
      // would store it unrounded into the sum's element type.
      Value part = sliceGrad.getInputs()[0];
      if (!dim || !offset || rankOf(part) != rank || elementType(part) != elementType(operand))
        break;
      parts.push_back(
          {sliceGrad, *dim, *offset, cast<MemRefType>(part.getType()).getDimSize(*dim)});
    }
    if (parts.size() != 2 || parts[0].dim != parts[1].dim)
      continue;
    // Zero elsewhere plus the other part is the other part: the two slices must tile the
    // dimension, in either order.
    if (parts[0].offset > parts[1].offset)
      std::swap(parts[0], parts[1]);
    if (parts[0].offset != 0 || parts[1].offset != parts[0].size ||
        parts[1].offset + parts[1].size != shape[parts[0].dim])
      continue;
    Builder builder(add.getContext());
    replaceByFusedLaunch({"concat",
                          {parts[0].sliceGrad, parts[1].sliceGrad, add},
                          {parts[0].sliceGrad.getInputs()[0], parts[1].sliceGrad.getInputs()[0]},
                          {sum},
                          {builder.getNamedAttr("dim", builder.getI64IntegerAttr(parts[0].dim))}});
  }
}

} // namespace ds::fuse
