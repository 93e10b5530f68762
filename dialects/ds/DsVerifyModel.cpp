//===- DsVerifyModel.cpp - verifiers of the dense model primitives --------===//
//
// Type inference and verification of ds.embedding, ds.rms_norm, ds.linear, ds.rope,
// ds.attention, ds.swiglu, ds.add, ds.mul, ds.scale, ds.convert and ds.cross_entropy.
// Each infer<Op> computes the result types (see DsOpChecker.h); each verify() checks
// the remaining relations and then the results.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOpChecker.h"
#include "dialects/ds/DsOps.h"

#include <cmath>

using namespace mlir;
using namespace ds;
using namespace ds::detail;

//===----------------------------------------------------------------------===//
// ds.embedding
//===----------------------------------------------------------------------===//

static LogicalResult inferEmbedding(const OpChecker &c, EmbeddingOp::Adaptor a,
                                    ImpliedResults &implied) {
  auto ids = c.tensor(a.getIds(), "ids");
  auto table = c.tensor(a.getTable(), "table");
  if (!ids || !table || failed(c.rank(table, "table", 2, "[V, D]")))
    return failure();
  SmallVector<int64_t> shape(ids.getShape());
  shape.push_back(table.getDimSize(1));
  implied.push_back({"result", tensorOf(shape, table.getElementType())});
  return success();
}

LogicalResult EmbeddingOp::inferReturnTypes(MLIRContext *context,
                                            std::optional<Location> loc, Adaptor a,
                                            SmallVectorImpl<Type> &types) {
  return inferWith<EmbeddingOp>(inferEmbedding, context, loc, a, types);
}

LogicalResult EmbeddingOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferEmbedding(c, Adaptor(*this), implied)))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.rms_norm
//===----------------------------------------------------------------------===//

static LogicalResult inferRmsNorm(const OpChecker &c, RmsNormOp::Adaptor a,
                                  ImpliedResults &implied) {
  auto input = c.tensor(a.getInput(), "input");
  auto weight = c.tensor(a.getWeight(), "weight");
  if (!input || !weight || failed(c.minRank(input, "input", 1, "[..., D]")))
    return failure();
  implied.push_back({"result", input});
  return success();
}

LogicalResult RmsNormOp::inferReturnTypes(MLIRContext *context,
                                          std::optional<Location> loc, Adaptor a,
                                          SmallVectorImpl<Type> &types) {
  return inferWith<RmsNormOp>(inferRmsNorm, context, loc, a, types);
}

LogicalResult RmsNormOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferRmsNorm(c, Adaptor(*this), implied)))
    return failure();
  if (failed(checkRmsNormOperands(c, getInput().getType(), getWeight().getType(),
                                  getEps().convertToDouble())))
    return failure();
  return c.results(*this, implied);
}

LogicalResult ds::detail::checkRmsNormOperands(const OpChecker &c, RankedTensorType input,
                                               RankedTensorType weight, double eps) {
  if (failed(c.rank(weight, "weight", 1, "[D]")) ||
      failed(c.dim(weight, "weight", 0, "normalized size",
                   input.getDimSize(input.getRank() - 1),
                   "the last dimension of input")) ||
      failed(c.sameElementType(weight, "weight", input, "input")))
    return failure();
  return c.positive(eps, "eps");
}

//===----------------------------------------------------------------------===//
// ds.linear
//===----------------------------------------------------------------------===//

static LogicalResult inferLinear(const OpChecker &c, LinearOp::Adaptor a,
                                 ImpliedResults &implied) {
  auto input = c.tensor(a.getInput(), "input");
  auto weight = c.tensor(a.getWeight(), "weight");
  if (!input || !weight || failed(c.minRank(input, "input", 1, "[..., K]")) ||
      failed(c.rank(weight, "weight", 2, "[N, K]")))
    return failure();
  implied.push_back({"result", withLastDim(input, weight.getDimSize(0))});
  return success();
}

LogicalResult LinearOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc, Adaptor a,
                                         SmallVectorImpl<Type> &types) {
  return inferWith<LinearOp>(inferLinear, context, loc, a, types);
}

LogicalResult LinearOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferLinear(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType input = getInput().getType(), weight = getWeight().getType();
  if (failed(c.dim(weight, "weight", 1, "in features",
                   input.getDimSize(input.getRank() - 1),
                   "the last dimension of input")) ||
      failed(c.sameElementType(weight, "weight", input, "input")))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.rope
//===----------------------------------------------------------------------===//

static LogicalResult inferRope(const OpChecker &c, RopeOp::Adaptor a,
                               ImpliedResults &implied) {
  auto input = c.tensor(a.getInput(), "input");
  if (!input || failed(c.rank(input, "input", 4, "[B, S, H, Dr]")))
    return failure();
  implied.push_back({"result", input});
  return success();
}

LogicalResult RopeOp::inferReturnTypes(MLIRContext *context, std::optional<Location> loc,
                                       Adaptor a, SmallVectorImpl<Type> &types) {
  return inferWith<RopeOp>(inferRope, context, loc, a, types);
}

LogicalResult RopeOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferRope(c, Adaptor(*this), implied)))
    return failure();
  if (failed(checkRopeOperand(c, getInput().getType(), "input", ropeAttrsOf(*this))))
    return failure();
  return c.results(*this, implied);
}

LogicalResult ds::detail::checkRopeOperand(const OpChecker &c, RankedTensorType type,
                                           StringRef name, const RopeAttrs &rope) {
  // RoPE rotates pairs of channels, so the rotary dimension is even.
  int64_t rotary = type.getDimSize(3);
  if (rotary % 2 != 0)
    return c.error() << name << " dimension 3 (rotary dim) is " << rotary
                     << " but must be even: RoPE rotates pairs of channels";
  return checkRope(c, rope);
}

//===----------------------------------------------------------------------===//
// ds.attention
//===----------------------------------------------------------------------===//

static LogicalResult inferAttention(const OpChecker &c, AttentionOp::Adaptor a,
                                    ImpliedResults &implied) {
  auto query = c.tensor(a.getQuery(), "query");
  auto key = c.tensor(a.getKey(), "key");
  auto value = c.tensor(a.getValue(), "value");
  if (!query || !key || !value || failed(c.rank(query, "query", 4, "[B, S, H, Dqk]")) ||
      failed(c.rank(key, "key", 4, "[B, S, H, Dqk]")) ||
      failed(c.rank(value, "value", 4, "[B, S, H, Dv]")))
    return failure();
  implied.push_back({"result", withLastDim(query, value.getDimSize(3))});
  return success();
}

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *context,
                                            std::optional<Location> loc, Adaptor a,
                                            SmallVectorImpl<Type> &types) {
  return inferWith<AttentionOp>(inferAttention, context, loc, a, types);
}

LogicalResult ds::detail::checkAttentionOperands(const OpChecker &c,
                                                 RankedTensorType query,
                                                 RankedTensorType key,
                                                 RankedTensorType value, double scale) {
  static const char *const meaning[] = {"batch", "sequence", "heads", "head dim"};
  for (int64_t i = 0; i < 4; ++i)
    if (failed(c.dim(key, "key", i, meaning[i], query.getDimSize(i),
                     "query dimension " + Twine(i))))
      return failure();
  for (int64_t i = 0; i < 3; ++i)
    if (failed(c.dim(value, "value", i, meaning[i], query.getDimSize(i),
                     "query dimension " + Twine(i))))
      return failure();
  if (failed(c.sameElementType(key, "key", query, "query")) ||
      failed(c.sameElementType(value, "value", query, "query")))
    return failure();
  return c.positive(scale, "scale");
}

LogicalResult AttentionOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferAttention(c, Adaptor(*this), implied)) ||
      failed(checkAttentionOperands(c, getQuery().getType(), getKey().getType(),
                                    getValue().getType(), getScale().convertToDouble())))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.swiglu
//===----------------------------------------------------------------------===//

static LogicalResult inferSwiglu(const OpChecker &c, SwigluOp::Adaptor a,
                                 ImpliedResults &implied) {
  auto gateUp = c.tensor(a.getGateUp(), "gate_up");
  if (!gateUp || failed(c.minRank(gateUp, "gate_up", 1, "[..., 2I]")))
    return failure();
  int64_t last = gateUp.getRank() - 1;
  implied.push_back({"result", withLastDim(gateUp, gateUp.getDimSize(last) / 2)});
  return success();
}

LogicalResult SwigluOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc, Adaptor a,
                                         SmallVectorImpl<Type> &types) {
  return inferWith<SwigluOp>(inferSwiglu, context, loc, a, types);
}

LogicalResult ds::detail::checkGateUpEven(const OpChecker &c, RankedTensorType gateUp) {
  int64_t last = gateUp.getRank() - 1;
  if (gateUp.getDimSize(last) % 2 == 0)
    return success();
  return c.error() << "gate_up dimension " << last << " (gate and up halves) is "
                   << gateUp.getDimSize(last) << " but must be even";
}

LogicalResult SwigluOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferSwiglu(c, Adaptor(*this), implied)) ||
      failed(checkGateUpEven(c, getGateUp().getType())))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.add, ds.mul: two operands of one type
//===----------------------------------------------------------------------===//

template <typename OpT>
static LogicalResult inferElementwise(const OpChecker &c, typename OpT::Adaptor a,
                                      ImpliedResults &implied) {
  auto lhs = c.tensor(a.getLhs(), "lhs");
  auto rhs = c.tensor(a.getRhs(), "rhs");
  if (!lhs || !rhs)
    return failure();
  implied.push_back({"result", lhs});
  return success();
}

template <typename OpT> static LogicalResult verifyElementwise(OpT op) {
  OpChecker c(op);
  ImpliedResults implied;
  if (failed(inferElementwise<OpT>(c, typename OpT::Adaptor(op), implied)))
    return failure();
  RankedTensorType lhs = op.getLhs().getType(), rhs = op.getRhs().getType();
  if (failed(c.sameShape(rhs, "rhs", lhs, "lhs")) ||
      failed(c.sameElementType(rhs, "rhs", lhs, "lhs")))
    return failure();
  return c.results(op, implied);
}

LogicalResult AddOp::inferReturnTypes(MLIRContext *context, std::optional<Location> loc,
                                      Adaptor a, SmallVectorImpl<Type> &types) {
  return inferWith<AddOp>(inferElementwise<AddOp>, context, loc, a, types);
}

LogicalResult AddOp::verify() { return verifyElementwise(*this); }

LogicalResult MulOp::inferReturnTypes(MLIRContext *context, std::optional<Location> loc,
                                      Adaptor a, SmallVectorImpl<Type> &types) {
  return inferWith<MulOp>(inferElementwise<MulOp>, context, loc, a, types);
}

LogicalResult MulOp::verify() { return verifyElementwise(*this); }

//===----------------------------------------------------------------------===//
// ds.scale, ds.convert
//===----------------------------------------------------------------------===//

static LogicalResult inferScale(const OpChecker &c, ScaleOp::Adaptor a,
                                ImpliedResults &implied) {
  auto input = c.tensor(a.getInput(), "input");
  if (!input)
    return failure();
  implied.push_back({"result", input});
  return success();
}

LogicalResult ScaleOp::inferReturnTypes(MLIRContext *context, std::optional<Location> loc,
                                        Adaptor a, SmallVectorImpl<Type> &types) {
  return inferWith<ScaleOp>(inferScale, context, loc, a, types);
}

LogicalResult ScaleOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferScale(c, Adaptor(*this), implied)))
    return failure();
  double factor = getFactor().convertToDouble();
  if (!std::isfinite(factor))
    return emitOpError("attribute 'factor' must be finite but is ")
           << formatNumber(factor);
  return c.results(*this, implied);
}

// ds.convert moves between the two training precisions; a plain cast to FP8 would lose
// the range that ds.quantize keeps in its scales.
LogicalResult ConvertOp::verify() {
  OpChecker c(*this);
  auto input = c.tensor(getInput(), "input");
  auto result = c.tensorType(getResult().getType(), "result");
  if (!input || !result || failed(checkTrainingFloat(c, input, "input")) ||
      failed(checkTrainingFloat(c, result, "result")))
    return failure();
  return c.sameShape(result, "result", input, "input");
}

//===----------------------------------------------------------------------===//
// ds.cross_entropy
//===----------------------------------------------------------------------===//

static LogicalResult inferCrossEntropy(const OpChecker &c, CrossEntropyOp::Adaptor a,
                                       ImpliedResults &implied) {
  auto logits = c.tensor(a.getLogits(), "logits");
  auto labels = c.tensor(a.getLabels(), "labels");
  if (!logits || !labels || failed(c.minRank(logits, "logits", 1, "[..., V]")))
    return failure();
  implied.push_back({"result", scalarF32(logits.getContext())});
  return success();
}

LogicalResult CrossEntropyOp::inferReturnTypes(MLIRContext *context,
                                               std::optional<Location> loc, Adaptor a,
                                               SmallVectorImpl<Type> &types) {
  return inferWith<CrossEntropyOp>(inferCrossEntropy, context, loc, a, types);
}

LogicalResult ds::detail::checkLabels(const OpChecker &c, RankedTensorType logits,
                                      RankedTensorType labels) {
  return c.shape(labels, "labels", logits.getShape().drop_back(),
                 "logits without its last (vocabulary) dimension");
}

LogicalResult CrossEntropyOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferCrossEntropy(c, Adaptor(*this), implied)) ||
      failed(checkLabels(c, getLogits().getType(), getLabels().getType())))
    return failure();
  return c.results(*this, implied);
}
