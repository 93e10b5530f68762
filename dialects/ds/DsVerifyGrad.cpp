//===- DsVerifyGrad.cpp - verifiers of the backward ops -------------------===//
//
// A backward op reads the forward op's operands (or saved results) and the gradient of
// its result, and returns one gradient per differentiable forward operand, each with
// that operand's type. The forward relations are checked with the same functions as
// the forward ops (DsOpChecker.h), so a forward op and its gradient cannot drift apart.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOpChecker.h"
#include "dialects/ds/DsOps.h"

using namespace mlir;
using namespace ds;
using namespace ds::detail;

/// The gradient `grad` has the shape and element type of the forward value `forward`.
static LogicalResult checkGradOf(const OpChecker &c, RankedTensorType grad,
                                 StringRef gradName, RankedTensorType forward,
                                 StringRef forwardName) {
  if (failed(c.sameShape(grad, gradName, forward, forwardName)))
    return failure();
  return c.sameElementType(grad, gradName, forward, forwardName);
}

//===----------------------------------------------------------------------===//
// ds.embedding_grad
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingGradOp::verify() {
  OpChecker c(*this);
  auto ids = c.tensor(getIds(), "ids");
  auto resultGrad = c.tensor(getResultGrad(), "result_grad");
  auto tableGrad = c.tensorType(getTableGrad().getType(), "result table_grad");
  if (!ids || !resultGrad || !tableGrad ||
      failed(c.rank(resultGrad, "result_grad", ids.getRank() + 1,
                    "the shape of ids, then D")))
    return failure();
  for (int64_t d = 0; d < ids.getRank(); ++d)
    if (failed(c.dim(resultGrad, "result_grad", d, "", ids.getDimSize(d),
                     "ids dimension " + Twine(d))))
      return failure();
  // The vocabulary size V is not visible in the operands; only D is.
  if (failed(c.rank(tableGrad, "result table_grad", 2, "[V, D]")) ||
      failed(c.dim(tableGrad, "result table_grad", 1, "embedding dim",
                   resultGrad.getDimSize(ids.getRank()),
                   "the last dimension of result_grad")))
    return failure();
  return c.sameElementType(tableGrad, "result table_grad", resultGrad, "result_grad");
}

//===----------------------------------------------------------------------===//
// ds.rms_norm_grad
//===----------------------------------------------------------------------===//

static LogicalResult inferRmsNormGrad(const OpChecker &c, RmsNormGradOp::Adaptor a,
                                      ImpliedResults &implied) {
  auto input = c.tensor(a.getInput(), "input");
  auto weight = c.tensor(a.getWeight(), "weight");
  auto resultGrad = c.tensor(a.getResultGrad(), "result_grad");
  if (!input || !weight || !resultGrad ||
      failed(c.minRank(input, "input", 1, "[..., D]")))
    return failure();
  implied.push_back({"input_grad", input});
  implied.push_back({"weight_grad", weight});
  return success();
}

LogicalResult RmsNormGradOp::inferReturnTypes(MLIRContext *context,
                                              std::optional<Location> loc, Adaptor a,
                                              SmallVectorImpl<Type> &types) {
  return inferWith<RmsNormGradOp>(inferRmsNormGrad, context, loc, a, types);
}

LogicalResult RmsNormGradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  RankedTensorType input = getInput().getType();
  if (failed(inferRmsNormGrad(c, Adaptor(*this), implied)) ||
      failed(checkRmsNormOperands(c, input, getWeight().getType(),
                                  getEps().convertToDouble())) ||
      failed(checkGradOf(c, getResultGrad().getType(), "result_grad", input, "input")))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.linear_dgrad, ds.linear_wgrad
//===----------------------------------------------------------------------===//

static LogicalResult inferLinearDgrad(const OpChecker &c, LinearDgradOp::Adaptor a,
                                      ImpliedResults &implied) {
  auto resultGrad = c.tensor(a.getResultGrad(), "result_grad");
  auto weight = c.tensor(a.getWeight(), "weight");
  if (!resultGrad || !weight ||
      failed(c.minRank(resultGrad, "result_grad", 1, "[..., N]")) ||
      failed(c.rank(weight, "weight", 2, "[N, K]")))
    return failure();
  implied.push_back({"input_grad", withLastDim(resultGrad, weight.getDimSize(1))});
  return success();
}

LogicalResult LinearDgradOp::inferReturnTypes(MLIRContext *context,
                                              std::optional<Location> loc, Adaptor a,
                                              SmallVectorImpl<Type> &types) {
  return inferWith<LinearDgradOp>(inferLinearDgrad, context, loc, a, types);
}

LogicalResult LinearDgradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferLinearDgrad(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType resultGrad = getResultGrad().getType();
  RankedTensorType weight = getWeight().getType();
  if (failed(c.dim(weight, "weight", 0, "out features",
                   resultGrad.getDimSize(resultGrad.getRank() - 1),
                   "the last dimension of result_grad")) ||
      failed(c.sameElementType(weight, "weight", resultGrad, "result_grad")))
    return failure();
  return c.results(*this, implied);
}

static LogicalResult inferLinearWgrad(const OpChecker &c, LinearWgradOp::Adaptor a,
                                      ImpliedResults &implied) {
  auto resultGrad = c.tensor(a.getResultGrad(), "result_grad");
  auto input = c.tensor(a.getInput(), "input");
  if (!resultGrad || !input ||
      failed(c.minRank(resultGrad, "result_grad", 1, "[..., N]")) ||
      failed(c.minRank(input, "input", 1, "[..., K]")))
    return failure();
  int64_t outFeatures = resultGrad.getDimSize(resultGrad.getRank() - 1);
  int64_t inFeatures = input.getDimSize(input.getRank() - 1);
  implied.push_back(
      {"weight_grad", tensorOf({outFeatures, inFeatures}, resultGrad.getElementType())});
  return success();
}

LogicalResult LinearWgradOp::inferReturnTypes(MLIRContext *context,
                                              std::optional<Location> loc, Adaptor a,
                                              SmallVectorImpl<Type> &types) {
  return inferWith<LinearWgradOp>(inferLinearWgrad, context, loc, a, types);
}

LogicalResult LinearWgradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferLinearWgrad(c, Adaptor(*this), implied)))
    return failure();
  // dW sums dy^T x over every row, so x and dy share their leading (row) dimensions.
  RankedTensorType resultGrad = getResultGrad().getType(), input = getInput().getType();
  if (failed(c.shape(input, "input",
                     withLastDim(resultGrad, input.getShape().back()).getShape(),
                     "the rows of result_grad")) ||
      failed(c.sameElementType(input, "input", resultGrad, "result_grad")))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.rope_grad, ds.attention_grad
//===----------------------------------------------------------------------===//

static LogicalResult inferRopeGrad(const OpChecker &c, RopeGradOp::Adaptor a,
                                   ImpliedResults &implied) {
  auto resultGrad = c.tensor(a.getResultGrad(), "result_grad");
  if (!resultGrad || failed(c.rank(resultGrad, "result_grad", 4, "[B, S, H, Dr]")))
    return failure();
  implied.push_back({"input_grad", resultGrad});
  return success();
}

LogicalResult RopeGradOp::inferReturnTypes(MLIRContext *context,
                                           std::optional<Location> loc, Adaptor a,
                                           SmallVectorImpl<Type> &types) {
  return inferWith<RopeGradOp>(inferRopeGrad, context, loc, a, types);
}

LogicalResult RopeGradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferRopeGrad(c, Adaptor(*this), implied)) ||
      failed(checkRopeOperand(c, getResultGrad().getType(), "result_grad",
                              ropeAttrsOf(*this))))
    return failure();
  return c.results(*this, implied);
}

static LogicalResult inferAttentionGrad(const OpChecker &c, AttentionGradOp::Adaptor a,
                                        ImpliedResults &implied) {
  auto query = c.tensor(a.getQuery(), "query");
  auto key = c.tensor(a.getKey(), "key");
  auto value = c.tensor(a.getValue(), "value");
  auto result = c.tensor(a.getResult(), "result");
  auto resultGrad = c.tensor(a.getResultGrad(), "result_grad");
  if (!query || !key || !value || !result || !resultGrad ||
      failed(c.rank(query, "query", 4, "[B, S, H, Dqk]")) ||
      failed(c.rank(key, "key", 4, "[B, S, H, Dqk]")) ||
      failed(c.rank(value, "value", 4, "[B, S, H, Dv]")))
    return failure();
  implied.push_back({"query_grad", query});
  implied.push_back({"key_grad", key});
  implied.push_back({"value_grad", value});
  return success();
}

LogicalResult AttentionGradOp::inferReturnTypes(MLIRContext *context,
                                                std::optional<Location> loc, Adaptor a,
                                                SmallVectorImpl<Type> &types) {
  return inferWith<AttentionGradOp>(inferAttentionGrad, context, loc, a, types);
}

LogicalResult AttentionGradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferAttentionGrad(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType query = getQuery().getType(), value = getValue().getType();
  RankedTensorType output = withLastDim(query, value.getDimSize(3));
  RankedTensorType result = getResult().getType();
  if (failed(checkAttentionOperands(c, query, getKey().getType(), value,
                                    getScale().convertToDouble())) ||
      failed(c.shape(result, "result", output.getShape(),
                     "the attention of query and value")) ||
      failed(c.sameElementType(result, "result", query, "query")) ||
      failed(checkGradOf(c, getResultGrad().getType(), "result_grad", result, "result")))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.router_grad, ds.balance_loss_grad
//===----------------------------------------------------------------------===//

template <typename AdaptorT>
static LogicalResult inferLogitsGrad(const OpChecker &c, AdaptorT a,
                                     ImpliedResults &implied) {
  auto logits = c.tensor(a.getLogits(), "logits");
  if (!logits)
    return failure();
  implied.push_back({"logits_grad", logits});
  return success();
}

LogicalResult RouterGradOp::inferReturnTypes(MLIRContext *context,
                                             std::optional<Location> loc, Adaptor a,
                                             SmallVectorImpl<Type> &types) {
  return inferWith<RouterGradOp>(inferLogitsGrad<Adaptor>, context, loc, a, types);
}

LogicalResult RouterGradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferLogitsGrad(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType logits = getLogits().getType(), indices = getIndices().getType();
  RankedTensorType weightsGrad = getWeightsGrad().getType();
  if (failed(checkLogitsAndIndices(c, logits, indices)) ||
      failed(c.sameShape(weightsGrad, "weights_grad", indices, "indices")) ||
      failed(c.sameElementType(weightsGrad, "weights_grad", logits, "logits")) ||
      failed(checkScoreFunc(c, getScoreFunc())) ||
      failed(c.positive(getRoutedScale().convertToDouble(), "routed_scale")))
    return failure();
  return c.results(*this, implied);
}

LogicalResult BalanceLossGradOp::inferReturnTypes(MLIRContext *context,
                                                  std::optional<Location> loc, Adaptor a,
                                                  SmallVectorImpl<Type> &types) {
  return inferWith<BalanceLossGradOp>(inferLogitsGrad<Adaptor>, context, loc, a, types);
}

LogicalResult BalanceLossGradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferLogitsGrad(c, Adaptor(*this), implied)) ||
      failed(checkBalanceLossOp(c, *this)))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.dispatch_grad, ds.combine_grad
//===----------------------------------------------------------------------===//

static LogicalResult inferDispatchGrad(const OpChecker &c, DispatchGradOp::Adaptor a,
                                       ImpliedResults &implied) {
  auto permutedGrad = c.tensor(a.getPermutedGrad(), "permuted_grad");
  auto positions = c.tensor(a.getPositions(), "positions");
  if (!permutedGrad || !positions ||
      failed(c.rank(permutedGrad, "permuted_grad", 2, "[T*K, D]")) ||
      failed(c.rank(positions, "positions", 2, "[T, K]")))
    return failure();
  implied.push_back(
      {"input_grad", tensorOf({positions.getDimSize(0), permutedGrad.getDimSize(1)},
                              permutedGrad.getElementType())});
  return success();
}

LogicalResult DispatchGradOp::inferReturnTypes(MLIRContext *context,
                                               std::optional<Location> loc, Adaptor a,
                                               SmallVectorImpl<Type> &types) {
  return inferWith<DispatchGradOp>(inferDispatchGrad, context, loc, a, types);
}

LogicalResult DispatchGradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferDispatchGrad(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType positions = getPositions().getType();
  if (failed(c.dim(getPermutedGrad().getType(), "permuted_grad", 0, "rows",
                   positions.getDimSize(0) * positions.getDimSize(1),
                   "tokens * experts per token of positions")))
    return failure();
  return c.results(*this, implied);
}

static LogicalResult inferCombineGrad(const OpChecker &c, CombineGradOp::Adaptor a,
                                      ImpliedResults &implied) {
  auto resultGrad = c.tensor(a.getResultGrad(), "result_grad");
  auto input = c.tensor(a.getInput(), "input");
  auto positions = c.tensor(a.getPositions(), "positions");
  auto weights = c.tensor(a.getWeights(), "weights");
  if (!resultGrad || !input || !positions || !weights)
    return failure();
  implied.push_back({"input_grad", input});
  implied.push_back({"weights_grad", weights});
  return success();
}

LogicalResult CombineGradOp::inferReturnTypes(MLIRContext *context,
                                              std::optional<Location> loc, Adaptor a,
                                              SmallVectorImpl<Type> &types) {
  return inferWith<CombineGradOp>(inferCombineGrad, context, loc, a, types);
}

LogicalResult CombineGradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferCombineGrad(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType input = getInput().getType(), positions = getPositions().getType();
  RankedTensorType resultGrad = getResultGrad().getType();
  if (failed(c.rank(input, "input", 2, "[T*K, D]")) ||
      failed(c.rank(positions, "positions", 2, "[T, K]")) ||
      failed(checkCombineOperands(c, input, positions, getWeights().getType())) ||
      failed(c.shape(resultGrad, "result_grad",
                     {positions.getDimSize(0), input.getDimSize(1)},
                     "ds.combine's result [T, D]")) ||
      failed(c.sameElementType(resultGrad, "result_grad", input, "input")))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.grouped_linear_dgrad, ds.grouped_linear_wgrad
//===----------------------------------------------------------------------===//

static LogicalResult inferGroupedDgrad(const OpChecker &c,
                                       GroupedLinearDgradOp::Adaptor a,
                                       ImpliedResults &implied) {
  auto resultGrad = c.tensor(a.getResultGrad(), "result_grad");
  auto weight = c.tensor(a.getWeight(), "weight");
  auto counts = c.tensor(a.getCounts(), "counts");
  if (!resultGrad || !weight || !counts ||
      failed(c.rank(resultGrad, "result_grad", 2, "[N, Nout]")) ||
      failed(c.rank(weight, "weight", 3, "[E, Nout, K]")))
    return failure();
  implied.push_back(
      {"input_grad", tensorOf({resultGrad.getDimSize(0), weight.getDimSize(2)},
                              resultGrad.getElementType())});
  return success();
}

LogicalResult GroupedLinearDgradOp::inferReturnTypes(MLIRContext *context,
                                                     std::optional<Location> loc,
                                                     Adaptor a,
                                                     SmallVectorImpl<Type> &types) {
  return inferWith<GroupedLinearDgradOp>(inferGroupedDgrad, context, loc, a, types);
}

LogicalResult GroupedLinearDgradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferGroupedDgrad(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType resultGrad = getResultGrad().getType();
  RankedTensorType weight = getWeight().getType();
  if (failed(c.dim(weight, "weight", 1, "out features", resultGrad.getDimSize(1),
                   "result_grad dimension 1 (out features)")) ||
      failed(checkCounts(c, getCounts().getType(), weight.getDimSize(0),
                         "weight dimension 0 (experts)")) ||
      failed(c.sameElementType(weight, "weight", resultGrad, "result_grad")))
    return failure();
  return c.results(*this, implied);
}

static LogicalResult inferGroupedWgrad(const OpChecker &c,
                                       GroupedLinearWgradOp::Adaptor a,
                                       ImpliedResults &implied) {
  auto resultGrad = c.tensor(a.getResultGrad(), "result_grad");
  auto input = c.tensor(a.getInput(), "input");
  auto counts = c.tensor(a.getCounts(), "counts");
  if (!resultGrad || !input || !counts ||
      failed(c.rank(resultGrad, "result_grad", 2, "[N, Nout]")) ||
      failed(c.rank(input, "input", 2, "[N, K]")) ||
      failed(c.rank(counts, "counts", 1, "[E]")))
    return failure();
  implied.push_back(
      {"weight_grad",
       tensorOf({counts.getDimSize(0), resultGrad.getDimSize(1), input.getDimSize(1)},
                resultGrad.getElementType())});
  return success();
}

LogicalResult GroupedLinearWgradOp::inferReturnTypes(MLIRContext *context,
                                                     std::optional<Location> loc,
                                                     Adaptor a,
                                                     SmallVectorImpl<Type> &types) {
  return inferWith<GroupedLinearWgradOp>(inferGroupedWgrad, context, loc, a, types);
}

LogicalResult GroupedLinearWgradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferGroupedWgrad(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType resultGrad = getResultGrad().getType(), input = getInput().getType();
  if (failed(c.dim(input, "input", 0, "rows", resultGrad.getDimSize(0),
                   "result_grad dimension 0 (rows)")) ||
      failed(c.sameElementType(input, "input", resultGrad, "result_grad")))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.swiglu_grad, ds.cross_entropy_grad
//===----------------------------------------------------------------------===//

static LogicalResult inferSwigluGrad(const OpChecker &c, SwigluGradOp::Adaptor a,
                                     ImpliedResults &implied) {
  auto gateUp = c.tensor(a.getGateUp(), "gate_up");
  auto resultGrad = c.tensor(a.getResultGrad(), "result_grad");
  if (!gateUp || !resultGrad || failed(c.minRank(gateUp, "gate_up", 1, "[..., 2I]")))
    return failure();
  implied.push_back({"gate_up_grad", gateUp});
  return success();
}

LogicalResult SwigluGradOp::inferReturnTypes(MLIRContext *context,
                                             std::optional<Location> loc, Adaptor a,
                                             SmallVectorImpl<Type> &types) {
  return inferWith<SwigluGradOp>(inferSwigluGrad, context, loc, a, types);
}

LogicalResult SwigluGradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferSwigluGrad(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType gateUp = getGateUp().getType();
  RankedTensorType forward =
      withLastDim(gateUp, gateUp.getDimSize(gateUp.getRank() - 1) / 2);
  if (failed(checkGateUpEven(c, gateUp)) ||
      failed(checkGradOf(c, getResultGrad().getType(), "result_grad", forward,
                         "ds.swiglu's result")))
    return failure();
  return c.results(*this, implied);
}

static LogicalResult inferCrossEntropyGrad(const OpChecker &c,
                                           CrossEntropyGradOp::Adaptor a,
                                           ImpliedResults &implied) {
  auto logits = c.tensor(a.getLogits(), "logits");
  auto labels = c.tensor(a.getLabels(), "labels");
  if (!logits || !labels || failed(c.minRank(logits, "logits", 1, "[..., V]")))
    return failure();
  implied.push_back({"logits_grad", logits});
  return success();
}

LogicalResult CrossEntropyGradOp::inferReturnTypes(MLIRContext *context,
                                                   std::optional<Location> loc, Adaptor a,
                                                   SmallVectorImpl<Type> &types) {
  return inferWith<CrossEntropyGradOp>(inferCrossEntropyGrad, context, loc, a, types);
}

LogicalResult CrossEntropyGradOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferCrossEntropyGrad(c, Adaptor(*this), implied)) ||
      failed(checkLabels(c, getLogits().getType(), getLabels().getType())))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.slice_grad, ds.expand_grad: the input's shape is not in the operands
//===----------------------------------------------------------------------===//

LogicalResult SliceGradOp::verify() {
  OpChecker c(*this);
  auto resultGrad = c.tensor(getResultGrad(), "result_grad");
  auto inputGrad = c.tensorType(getInputGrad().getType(), "result input_grad");
  auto dim = static_cast<int64_t>(getDim());
  auto offset = static_cast<int64_t>(getOffset());
  if (!resultGrad || !inputGrad ||
      failed(c.rank(inputGrad, "result input_grad", resultGrad.getRank(),
                    "the rank of result_grad")) ||
      failed(
          c.sameElementType(inputGrad, "result input_grad", resultGrad, "result_grad")) ||
      failed(c.nonNegative(offset, "offset")))
    return failure();
  if (dim < 0 || dim >= resultGrad.getRank())
    return emitOpError("attribute 'dim' is ")
           << dim << " but result_grad has rank " << resultGrad.getRank();
  for (int64_t d = 0; d < resultGrad.getRank(); ++d)
    if (d != dim &&
        failed(c.dim(inputGrad, "result input_grad", d, "", resultGrad.getDimSize(d),
                     "result_grad dimension " + Twine(d))))
      return failure();
  int64_t end = offset + resultGrad.getDimSize(dim);
  if (inputGrad.getDimSize(dim) < end)
    return emitOpError("result input_grad dimension ")
           << dim << " is " << inputGrad.getDimSize(dim) << " but the slice [" << offset
           << ", " << end << ") needs at least " << end;
  return success();
}

LogicalResult ExpandGradOp::verify() {
  OpChecker c(*this);
  auto resultGrad = c.tensor(getResultGrad(), "result_grad");
  auto inputGrad = c.tensorType(getInputGrad().getType(), "result input_grad");
  if (!resultGrad || !inputGrad)
    return failure();
  return checkBroadcast(c, inputGrad, "result input_grad", resultGrad, "result_grad");
}
