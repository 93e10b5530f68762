//===- DsVjpMoe.cpp - vector-Jacobian products of the MoE primitives ------===//
//
// Routing is discrete: the expert indices, the per-expert counts and the dispatch
// positions are piecewise constant in the logits and get no gradient. Gradients reach
// the gate only through the combine weights (router_grad) and, when present, the
// sequence-wise balance loss (V3 report §2.1.2). The score-correction bias is used for
// selection only and gets no gradient either; it moves by ds.bias_update instead.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsDialect.h"
#include "dialects/ds/DsInterfaces.h"
#include "dialects/ds/DsOps.h"

using namespace mlir;
using ds::detail::VjpModel;

namespace ds {
namespace {

struct RouterVjp : VjpModel<RouterVjp, RouterOp> {
  static LogicalResult vjp(RouterOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    Value weightsGrad = dys[1];
    if (!weightsGrad)
      return success();
    dxs[0] = RouterGradOp::create(
        b, op.getLoc(), op.getLogits().getType(), op.getLogits(),
        op.getIndices(), weightsGrad, op.getScoreFuncAttr(),
        op.getNormTopkProbAttr(), op.getRoutedScaleAttr());
    return success();
  }
};

struct BalanceLossVjp : VjpModel<BalanceLossVjp, BalanceLossOp> {
  static LogicalResult vjp(BalanceLossOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = BalanceLossGradOp::create(
        b, op.getLoc(), op.getLogits().getType(), op.getLogits(),
        op.getIndices(), dys[0], op.getAlphaAttr(), op.getNumSequencesAttr(),
        op.getScoreFuncAttr());
    return success();
  }
};

/// Only the permuted rows are differentiable; dispatch_grad sums each token's K copies.
struct DispatchVjp : VjpModel<DispatchVjp, DispatchOp> {
  static LogicalResult vjp(DispatchOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    Value permutedGrad = dys[0];
    if (!permutedGrad)
      return success();
    dxs[0] = DispatchGradOp::create(b, op.getLoc(), op.getInput().getType(),
                                    permutedGrad, op.getPositions());
    return success();
  }
};

struct CombineVjp : VjpModel<CombineVjp, CombineOp> {
  static LogicalResult vjp(CombineOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    auto grad = CombineGradOp::create(
        b, op.getLoc(),
        TypeRange{op.getInput().getType(), op.getWeights().getType()}, dys[0],
        op.getInput(), op.getPositions(), op.getWeights());
    dxs[0] = grad.getInputGrad();
    dxs[2] = grad.getWeightsGrad();
    return success();
  }
};

struct GroupedLinearVjp : VjpModel<GroupedLinearVjp, GroupedLinearOp> {
  static LogicalResult vjp(GroupedLinearOp op, OpBuilder &b,
                           ArrayRef<Value> dys, SmallVectorImpl<Value> &dxs) {
    dxs[0] = GroupedLinearDgradOp::create(b, op.getLoc(),
                                          op.getInput().getType(), dys[0],
                                          op.getWeight(), op.getCounts());
    dxs[1] = GroupedLinearWgradOp::create(b, op.getLoc(),
                                          op.getWeight().getType(), dys[0],
                                          op.getInput(), op.getCounts());
    return success();
  }
};

} // namespace
} // namespace ds

void ds::detail::attachMoeVjpModels(MLIRContext *context) {
  RouterOp::attachInterface<RouterVjp>(*context);
  BalanceLossOp::attachInterface<BalanceLossVjp>(*context);
  DispatchOp::attachInterface<DispatchVjp>(*context);
  CombineOp::attachInterface<CombineVjp>(*context);
  GroupedLinearOp::attachInterface<GroupedLinearVjp>(*context);
}
