//===- DsVerifyOptimizer.cpp - verifiers of the optimizer ops -------------===//
//
// Type inference and verification of ds.grad_norm, ds.adamw and ds.bias_update.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOpChecker.h"
#include "dialects/ds/DsOps.h"

using namespace mlir;
using namespace ds;
using namespace ds::detail;

//===----------------------------------------------------------------------===//
// ds.grad_norm
//===----------------------------------------------------------------------===//

static LogicalResult inferGradNorm(const OpChecker &c, GradNormOp::Adaptor a,
                                   ImpliedResults &implied) {
  if (a.getGrads().empty())
    return c.error() << "needs at least one gradient";
  for (auto [index, grad] : llvm::enumerate(a.getGrads()))
    if (!c.tensor(grad, "grads[" + std::to_string(index) + "]"))
      return failure();
  implied.push_back({"result", scalarF32(a.getGrads().front().getContext())});
  return success();
}

LogicalResult GradNormOp::inferReturnTypes(MLIRContext *context,
                                           std::optional<Location> loc, Adaptor a,
                                           SmallVectorImpl<Type> &types) {
  return inferWith<GradNormOp>(inferGradNorm, context, loc, a, types);
}

LogicalResult GradNormOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferGradNorm(c, Adaptor(*this), implied)))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.adamw (Loshchilov & Hutter, arXiv 1711.05101, Algorithm 2)
//===----------------------------------------------------------------------===//

static LogicalResult inferAdamw(const OpChecker &c, AdamwOp::Adaptor a,
                                ImpliedResults &implied) {
  auto param = c.tensor(a.getParam(), "param");
  auto grad = c.tensor(a.getGrad(), "grad");
  auto expAvg = c.tensor(a.getExpAvg(), "exp_avg");
  auto expAvgSq = c.tensor(a.getExpAvgSq(), "exp_avg_sq");
  if (!param || !grad || !expAvg || !expAvgSq)
    return failure();
  implied.push_back({"new_param", param});
  implied.push_back({"new_exp_avg", expAvg});
  implied.push_back({"new_exp_avg_sq", expAvgSq});
  return success();
}

LogicalResult AdamwOp::inferReturnTypes(MLIRContext *context, std::optional<Location> loc,
                                        Adaptor a, SmallVectorImpl<Type> &types) {
  return inferWith<AdamwOp>(inferAdamw, context, loc, a, types);
}

LogicalResult AdamwOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferAdamw(c, Adaptor(*this), implied)))
    return failure();
  // The moments may be kept in a lower precision than the FP32 master weight (V3 report
  // §3.3.3 keeps them in BF16), so only their shapes must match the parameter's.
  RankedTensorType param = getParam().getType();
  if (failed(c.sameShape(getGrad().getType(), "grad", param, "param")) ||
      failed(c.sameShape(getExpAvg().getType(), "exp_avg", param, "param")) ||
      failed(c.sameShape(getExpAvgSq().getType(), "exp_avg_sq", param, "param")) ||
      failed(c.halfOpen(getBeta1().convertToDouble(), "beta1", 0.0, 1.0)) ||
      failed(c.halfOpen(getBeta2().convertToDouble(), "beta2", 0.0, 1.0)) ||
      failed(c.positive(getEpsilon().convertToDouble(), "epsilon")) ||
      failed(c.nonNegative(getWeightDecay().convertToDouble(), "weight_decay")))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.bias_update (V3 report §2.1.2, auxiliary-loss-free load balancing)
//===----------------------------------------------------------------------===//

static LogicalResult inferBiasUpdate(const OpChecker &c, BiasUpdateOp::Adaptor a,
                                     ImpliedResults &implied) {
  auto bias = c.tensor(a.getBias(), "bias");
  auto counts = c.tensor(a.getCounts(), "counts");
  if (!bias || !counts)
    return failure();
  implied.push_back({"new_bias", bias});
  return success();
}

LogicalResult BiasUpdateOp::inferReturnTypes(MLIRContext *context,
                                             std::optional<Location> loc, Adaptor a,
                                             SmallVectorImpl<Type> &types) {
  return inferWith<BiasUpdateOp>(inferBiasUpdate, context, loc, a, types);
}

LogicalResult BiasUpdateOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferBiasUpdate(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType bias = getBias().getType();
  if (failed(c.rank(bias, "bias", 1, "[E]")) ||
      failed(checkCounts(c, getCounts().getType(), bias.getDimSize(0),
                         "bias dimension 0 (experts)")) ||
      failed(c.nonNegative(getGamma().convertToDouble(), "gamma")))
    return failure();
  return c.results(*this, implied);
}
