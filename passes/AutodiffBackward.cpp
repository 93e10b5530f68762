//===- AutodiffBackward.cpp - the reverse sweep of ds-autodiff ------------===//
//
// Reverse-mode differentiation of a straight-line ds graph: the gradient of a value
// is the sum, over its uses, of the VJPs of the ops that use it. The graph has no
// control flow (the frontend unrolls layers), so one reverse walk over the ops in
// program order visits every use of a value before its definition.
//
//===----------------------------------------------------------------------===//
#include "passes/AutodiffBackward.h"

#include "dialects/ds/DsInterfaces.h"
#include "dialects/ds/DsOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;

namespace {

bool isFloatTensor(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && isa<FloatType>(type.getElementType());
}

/// The values that depend on a parameter through a float dataflow. Integer results
/// (routing indices, counts, positions) are excluded: they are piecewise constant in
/// the parameters and carry no gradient (V3 report §2.1.2: no gradient flows through
/// the selection).
llvm::DenseSet<Value> findParamDependent(ArrayRef<Operation *> forwardOps,
                                         ArrayRef<Value> params) {
  llvm::DenseSet<Value> dependent(params.begin(), params.end());
  for (Operation *op : forwardOps) {
    if (llvm::none_of(op->getOperands(),
                      [&](Value operand) { return dependent.contains(operand); }))
      continue;
    for (Value result : op->getResults())
      if (isFloatTensor(result))
        dependent.insert(result);
  }
  return dependent;
}

} // namespace

LogicalResult ds::buildBackward(ArrayRef<Operation *> forwardOps, Value loss,
                                ArrayRef<Value> params, OpBuilder &builder,
                                SmallVectorImpl<Value> &paramGrads) {
  llvm::DenseSet<Value> dependent = findParamDependent(forwardOps, params);
  llvm::DenseMap<Value, Value> grads;

  auto accumulate = [&](Value value, Value grad, Location loc) -> LogicalResult {
    Value &sum = grads[value];
    if (!sum) {
      sum = grad;
      return success();
    }
    if (sum.getType() != grad.getType())
      return emitError(loc, "ds-autodiff: two gradients of one value have "
                            "different types, ")
             << sum.getType() << " and " << grad.getType();
    sum = AddOp::create(builder, loc, sum.getType(), sum, grad);
    return success();
  };

  if (dependent.contains(loss)) {
    auto seedType = cast<RankedTensorType>(loss.getType());
    grads[loss] = arith::ConstantOp::create(
        builder, loss.getLoc(),
        DenseElementsAttr::get(seedType, builder.getFloatAttr(
                                             seedType.getElementType(), 1.0)));
  }

  for (Operation *op : llvm::reverse(forwardOps)) {
    SmallVector<Value> resultGrads;
    for (Value result : op->getResults())
      resultGrads.push_back(grads.lookup(result));
    if (llvm::all_of(resultGrads, [](Value grad) { return !grad; }))
      continue;

    auto differentiable = dyn_cast<DifferentiableOpInterface>(op);
    if (!differentiable)
      return op->emitOpError(
          "is on the path from the parameters to the loss but has no "
          "vector-Jacobian product (DifferentiableOpInterface)");
    SmallVector<Value> operandGrads;
    if (failed(differentiable.buildVjp(builder, resultGrads, operandGrads)))
      return failure();
    if (operandGrads.size() != op->getNumOperands())
      return op->emitOpError("buildVjp returned ")
             << operandGrads.size() << " operand gradients for "
             << op->getNumOperands() << " operands";

    for (auto [operand, grad] : llvm::zip(op->getOperands(), operandGrads))
      if (grad && dependent.contains(operand) &&
          failed(accumulate(operand, grad, op->getLoc())))
        return failure();
  }

  paramGrads.clear();
  for (Value param : params)
    paramGrads.push_back(grads.lookup(param));
  return success();
}
