//===- DsVerifyMoe.cpp - verifiers of the MoE primitives ------------------===//
//
// Type inference and verification of ds.router, ds.balance_loss, ds.dispatch,
// ds.combine and ds.grouped_linear (see DsOpChecker.h for the scheme).
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOpChecker.h"
#include "dialects/ds/DsOps.h"

using namespace mlir;
using namespace ds;
using namespace ds::detail;

static Type i32(MLIRContext *context) { return IntegerType::get(context, 32); }

LogicalResult ds::detail::checkLogitsAndIndices(const OpChecker &c,
                                                RankedTensorType logits,
                                                RankedTensorType indices) {
  if (failed(c.rank(logits, "logits", 2, "[T, E]")) ||
      failed(c.rank(indices, "indices", 2, "[T, K]")) ||
      failed(c.dim(indices, "indices", 0, "tokens", logits.getDimSize(0),
                   "logits dimension 0 (tokens)")))
    return failure();
  if (indices.getDimSize(1) > logits.getDimSize(1))
    return c.error() << "indices dimension 1 (experts per token) is "
                     << indices.getDimSize(1) << " but logits dimension 1 (experts) is "
                     << logits.getDimSize(1);
  return success();
}

LogicalResult ds::detail::checkCounts(const OpChecker &c, RankedTensorType counts,
                                      int64_t numExperts, const Twine &source) {
  if (failed(c.rank(counts, "counts", 1, "[E]")))
    return failure();
  return c.dim(counts, "counts", 0, "experts", numExperts, source);
}

//===----------------------------------------------------------------------===//
// ds.router
//===----------------------------------------------------------------------===//

static LogicalResult inferRouter(const OpChecker &c, RouterOp::Adaptor a,
                                 ImpliedResults &implied) {
  auto logits = c.tensor(a.getLogits(), "logits");
  auto bias = c.tensor(a.getBias(), "bias");
  int64_t topK = a.getTopK();
  if (!logits || !bias || failed(c.rank(logits, "logits", 2, "[T, E]")) ||
      failed(c.positive(topK, "top_k")))
    return failure();
  SmallVector<int64_t, 2> shape = {logits.getDimSize(0), topK};
  implied.push_back({"indices", tensorOf(shape, i32(logits.getContext()))});
  implied.push_back({"weights", tensorOf(shape, logits.getElementType())});
  return success();
}

LogicalResult RouterOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc, Adaptor a,
                                         SmallVectorImpl<Type> &types) {
  return inferWith<RouterOp>(inferRouter, context, loc, a, types);
}

LogicalResult RouterOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferRouter(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType logits = getLogits().getType(), bias = getBias().getType();
  RoutingAttrs routing{logits.getDimSize(1),
                       static_cast<int64_t>(getTopK()),
                       static_cast<int64_t>(getNGroup()),
                       static_cast<int64_t>(getTopkGroup()),
                       getScoreFunc(),
                       getGroupScore(),
                       getRoutedScale().convertToDouble()};
  if (failed(c.rank(bias, "bias", 1, "[E]")) ||
      failed(c.dim(bias, "bias", 0, "experts", logits.getDimSize(1),
                   "logits dimension 1 (experts)")) ||
      failed(c.sameElementType(bias, "bias", logits, "logits")) ||
      failed(checkRouting(c, routing)))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.balance_loss
//===----------------------------------------------------------------------===//

static LogicalResult inferBalanceLoss(const OpChecker &c, BalanceLossOp::Adaptor a,
                                      ImpliedResults &implied) {
  auto logits = c.tensor(a.getLogits(), "logits");
  auto indices = c.tensor(a.getIndices(), "indices");
  if (!logits || !indices)
    return failure();
  implied.push_back({"result", scalarF32(logits.getContext())});
  return success();
}

LogicalResult BalanceLossOp::inferReturnTypes(MLIRContext *context,
                                              std::optional<Location> loc, Adaptor a,
                                              SmallVectorImpl<Type> &types) {
  return inferWith<BalanceLossOp>(inferBalanceLoss, context, loc, a, types);
}

LogicalResult BalanceLossOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferBalanceLoss(c, Adaptor(*this), implied)) ||
      failed(checkBalanceLossOp(c, *this)))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.dispatch
//===----------------------------------------------------------------------===//

static LogicalResult inferDispatch(const OpChecker &c, DispatchOp::Adaptor a,
                                   ImpliedResults &implied) {
  auto input = c.tensor(a.getInput(), "input");
  auto indices = c.tensor(a.getIndices(), "indices");
  int64_t numExperts = a.getNumExperts();
  if (!input || !indices || failed(c.rank(input, "input", 2, "[T, D]")) ||
      failed(c.rank(indices, "indices", 2, "[T, K]")) ||
      failed(c.positive(numExperts, "num_experts")))
    return failure();
  MLIRContext *context = input.getContext();
  // Every (token, slot) pair becomes one row of the permuted activations.
  int64_t rows = input.getDimSize(0) * indices.getDimSize(1);
  implied.push_back(
      {"permuted", tensorOf({rows, input.getDimSize(1)}, input.getElementType())});
  implied.push_back({"counts", tensorOf({numExperts}, i32(context))});
  implied.push_back({"positions", tensorOf(indices.getShape(), i32(context))});
  return success();
}

LogicalResult DispatchOp::inferReturnTypes(MLIRContext *context,
                                           std::optional<Location> loc, Adaptor a,
                                           SmallVectorImpl<Type> &types) {
  return inferWith<DispatchOp>(inferDispatch, context, loc, a, types);
}

LogicalResult DispatchOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferDispatch(c, Adaptor(*this), implied)) ||
      failed(c.dim(getIndices().getType(), "indices", 0, "tokens",
                   getInput().getType().getDimSize(0), "input dimension 0 (tokens)")))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.combine
//===----------------------------------------------------------------------===//

static LogicalResult inferCombine(const OpChecker &c, CombineOp::Adaptor a,
                                  ImpliedResults &implied) {
  auto input = c.tensor(a.getInput(), "input");
  auto positions = c.tensor(a.getPositions(), "positions");
  auto weights = c.tensor(a.getWeights(), "weights");
  if (!input || !positions || !weights || failed(c.rank(input, "input", 2, "[T*K, D]")) ||
      failed(c.rank(positions, "positions", 2, "[T, K]")))
    return failure();
  implied.push_back({"result", tensorOf({positions.getDimSize(0), input.getDimSize(1)},
                                        input.getElementType())});
  return success();
}

LogicalResult CombineOp::inferReturnTypes(MLIRContext *context,
                                          std::optional<Location> loc, Adaptor a,
                                          SmallVectorImpl<Type> &types) {
  return inferWith<CombineOp>(inferCombine, context, loc, a, types);
}

LogicalResult ds::detail::checkCombineOperands(const OpChecker &c, RankedTensorType input,
                                               RankedTensorType positions,
                                               RankedTensorType weights) {
  int64_t rows = positions.getDimSize(0) * positions.getDimSize(1);
  if (failed(c.sameShape(weights, "weights", positions, "positions")) ||
      failed(c.dim(input, "input", 0, "rows", rows,
                   "tokens * experts per token of positions")) ||
      failed(c.sameElementType(weights, "weights", input, "input")))
    return failure();
  return success();
}

LogicalResult CombineOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferCombine(c, Adaptor(*this), implied)) ||
      failed(checkCombineOperands(c, getInput().getType(), getPositions().getType(),
                                  getWeights().getType())))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.grouped_linear
//===----------------------------------------------------------------------===//

static LogicalResult inferGroupedLinear(const OpChecker &c, GroupedLinearOp::Adaptor a,
                                        ImpliedResults &implied) {
  auto input = c.tensor(a.getInput(), "input");
  auto weight = c.tensor(a.getWeight(), "weight");
  auto counts = c.tensor(a.getCounts(), "counts");
  if (!input || !weight || !counts || failed(c.rank(input, "input", 2, "[N, K]")) ||
      failed(c.rank(weight, "weight", 3, "[E, Nout, K]")))
    return failure();
  implied.push_back({"result", tensorOf({input.getDimSize(0), weight.getDimSize(1)},
                                        input.getElementType())});
  return success();
}

LogicalResult GroupedLinearOp::inferReturnTypes(MLIRContext *context,
                                                std::optional<Location> loc, Adaptor a,
                                                SmallVectorImpl<Type> &types) {
  return inferWith<GroupedLinearOp>(inferGroupedLinear, context, loc, a, types);
}

LogicalResult GroupedLinearOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferGroupedLinear(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType input = getInput().getType(), weight = getWeight().getType();
  if (failed(c.dim(weight, "weight", 2, "in features", input.getDimSize(1),
                   "input dimension 1 (in features)")) ||
      failed(checkCounts(c, getCounts().getType(), weight.getDimSize(0),
                         "weight dimension 0 (experts)")) ||
      failed(c.sameElementType(weight, "weight", input, "input")))
    return failure();
  return c.results(*this, implied);
}
