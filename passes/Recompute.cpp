//===- Recompute.cpp - recompute cheap values at each use -----------------===//
//
// Memory for compute, where the compute is nearly free. Today one rule: a ds.convert of a
// function argument is cloned in front of every user but the first, so the converted
// tensor is live for one op. With --activations bf16 every FP32 master weight is
// converted to BF16 where the forward reads it, and autodiff's backward (Dgrad) reads the
// same converted value; without this pass every BF16 weight copy would stay live from the
// forward to the backward. Ops are visited in block order, so "first" is the forward use.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOps.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SetVector.h"

namespace ds {
#define GEN_PASS_DEF_DSRECOMPUTE
#include "passes/Passes.h.inc"
} // namespace ds

using namespace mlir;
using namespace ds;

namespace {

/// Clones `convert` in front of each of its users after the first in block order.
void recomputeAtEachUse(ConvertOp convert) {
  llvm::SetVector<Operation *> users;
  for (Operation *user : convert->getUsers())
    users.insert(user);
  if (users.size() < 2)
    return;
  SmallVector<Operation *> ordered(users.begin(), users.end());
  // Users in another block (none today: the step is one block) keep the original.
  llvm::erase_if(ordered, [&](Operation *op) { return op->getBlock() != convert->getBlock(); });
  llvm::sort(ordered, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  OpBuilder builder(convert.getContext());
  for (Operation *user : llvm::drop_begin(ordered)) {
    builder.setInsertionPoint(user);
    Operation *copy = builder.clone(*convert.getOperation());
    user->replaceUsesOfWith(convert.getResult(), copy->getResult(0));
  }
}

struct RecomputePass : ds::impl::DsRecomputeBase<RecomputePass> {
  void runOnOperation() override {
    SmallVector<ConvertOp> converts;
    getOperation().walk([&](ConvertOp convert) {
      if (isa<BlockArgument>(convert.getOperand()))
        converts.push_back(convert);
    });
    for (ConvertOp convert : converts)
      recomputeAtEachUse(convert);
  }
};

} // namespace
