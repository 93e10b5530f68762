//===- AutodiffBackward.h - the reverse sweep of ds-autodiff --------------===//
#ifndef DS_PASSES_AUTODIFFBACKWARD_H
#define DS_PASSES_AUTODIFFBACKWARD_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace ds {

/// Emits, at `builder`'s insertion point, the backward sweep of `forwardOps` (in
/// program order) from d(loss) = 1, and returns in `paramGrads` the gradient of each of
/// `params` (a null Value where the loss does not reach it). Only values that depend on
/// a parameter get gradients, so the tokens path and every integer value (indices,
/// counts, positions) get none. Ops on the gradient path must implement
/// DifferentiableOpInterface; an error naming the op is emitted otherwise.
mlir::LogicalResult
buildBackward(mlir::ArrayRef<mlir::Operation *> forwardOps, mlir::Value loss,
              mlir::ArrayRef<mlir::Value> params, mlir::OpBuilder &builder,
              llvm::SmallVectorImpl<mlir::Value> &paramGrads);

} // namespace ds

#endif
