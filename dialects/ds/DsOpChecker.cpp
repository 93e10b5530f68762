//===- DsOpChecker.cpp - shared shape and attribute checks of the ds ops --===//
#include "dialects/ds/DsOpChecker.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Format.h"

using namespace mlir;
using namespace ds::detail;

OpChecker::OpChecker(Operation *op) : op(op) {}

OpChecker::OpChecker(Location loc, StringRef opName) : loc(loc), opName(opName) {}

InFlightDiagnostic OpChecker::error() const {
  if (op)
    return op->emitOpError();
  return emitError(*loc) << "'" << opName << "' op ";
}

std::string ds::detail::formatNumber(double value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::format("%g", value);
  return text;
}

/// Prints a shape as "2x4x8" (a scalar prints as "scalar").
static std::string shapeString(ArrayRef<int64_t> shape) {
  if (shape.empty())
    return "scalar";
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleave(shape, os, "x");
  return text;
}

RankedTensorType OpChecker::tensorType(Type type, StringRef name) const {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor) {
    (void)(error() << name << " must be a ranked tensor but is " << type);
    return {};
  }
  if (!tensor.hasStaticShape()) {
    (void)(error() << name << " must have a static shape but has type " << type);
    return {};
  }
  return tensor;
}

RankedTensorType OpChecker::tensor(Value value, StringRef name) const {
  if (!value) {
    (void)(error() << "operand " << name << " is missing");
    return {};
  }
  return tensorType(value.getType(), name);
}

LogicalResult OpChecker::rank(RankedTensorType type, StringRef name, int64_t rank,
                              StringRef layout) const {
  if (type.getRank() == rank)
    return success();
  return error() << name << " must have rank " << rank << " (" << layout
                 << ") but has rank " << type.getRank();
}

LogicalResult OpChecker::minRank(RankedTensorType type, StringRef name, int64_t rank,
                                 StringRef layout) const {
  if (type.getRank() >= rank)
    return success();
  return error() << name << " must have rank at least " << rank << " (" << layout
                 << ") but has rank " << type.getRank();
}

LogicalResult OpChecker::dim(RankedTensorType type, StringRef name, int64_t index,
                             StringRef meaning, int64_t expected,
                             const Twine &source) const {
  int64_t found = type.getDimSize(index);
  if (found == expected)
    return success();
  InFlightDiagnostic diag = error() << name << " dimension " << index;
  if (!meaning.empty())
    diag << " (" << meaning << ")";
  return diag << " is " << found << " but " << source.str() << " is " << expected;
}

LogicalResult OpChecker::shape(RankedTensorType type, StringRef name,
                               ArrayRef<int64_t> expected, const Twine &source) const {
  if (type.getRank() != static_cast<int64_t>(expected.size()))
    return error() << name << " must have rank " << expected.size() << " (shape "
                   << shapeString(expected) << " from " << source.str()
                   << ") but has rank " << type.getRank();
  for (auto [index, want] : llvm::enumerate(expected))
    if (type.getDimSize(index) != want)
      return error() << name << " dimension " << index << " is " << type.getDimSize(index)
                     << " but expected " << want << " from " << source.str() << " (shape "
                     << shapeString(expected) << ")";
  return success();
}

LogicalResult OpChecker::sameShape(RankedTensorType type, StringRef name,
                                   RankedTensorType other, StringRef otherName) const {
  return shape(type, name, other.getShape(), "the shape of " + otherName);
}

LogicalResult OpChecker::sameElementType(RankedTensorType type, StringRef name,
                                         RankedTensorType other,
                                         StringRef otherName) const {
  if (type.getElementType() == other.getElementType())
    return success();
  return error() << name << " element type is " << type.getElementType() << " but "
                 << otherName << " element type is " << other.getElementType();
}

LogicalResult OpChecker::elementType(RankedTensorType type, StringRef name,
                                     Type expected) const {
  if (type.getElementType() == expected)
    return success();
  return error() << name << " element type must be " << expected << " but is "
                 << type.getElementType();
}

LogicalResult OpChecker::results(Operation *resultsOf,
                                 ArrayRef<ImpliedResult> implied) const {
  if (resultsOf->getNumResults() != implied.size())
    return error() << "has " << resultsOf->getNumResults() << " results but "
                   << implied.size() << " are expected";
  for (auto [result, want] : llvm::zip(resultsOf->getResults(), implied)) {
    // Single results are named "result" in ODS; others by their own name.
    std::string name =
        want.name == "result" ? std::string("result") : ("result " + want.name).str();
    auto found = tensorType(result.getType(), name);
    if (!found)
      return failure();
    auto wantTensor = cast<RankedTensorType>(want.type);
    if (failed(shape(found, name, wantTensor.getShape(), "the operands")))
      return failure();
    if (found.getElementType() != wantTensor.getElementType())
      return error() << name << " element type is " << found.getElementType()
                     << " but the operands imply " << wantTensor.getElementType();
  }
  return success();
}

LogicalResult OpChecker::positive(int64_t value, StringRef attr) const {
  if (value > 0)
    return success();
  return error() << "attribute '" << attr << "' must be positive but is " << value;
}

LogicalResult OpChecker::positive(double value, StringRef attr) const {
  if (value > 0.0)
    return success();
  return error() << "attribute '" << attr << "' must be positive but is "
                 << formatNumber(value);
}

LogicalResult OpChecker::nonNegative(int64_t value, StringRef attr) const {
  if (value >= 0)
    return success();
  return error() << "attribute '" << attr << "' must be non-negative but is " << value;
}

LogicalResult OpChecker::nonNegative(double value, StringRef attr) const {
  if (value >= 0.0)
    return success();
  return error() << "attribute '" << attr << "' must be non-negative but is "
                 << formatNumber(value);
}

LogicalResult OpChecker::halfOpen(double value, StringRef attr, double lo,
                                  double hi) const {
  if (value >= lo && value < hi)
    return success();
  return error() << "attribute '" << attr << "' must be in [" << formatNumber(lo) << ", "
                 << formatNumber(hi) << ") but is " << formatNumber(value);
}

LogicalResult OpChecker::oneOf(StringRef value, StringRef attr,
                               ArrayRef<StringRef> allowed) const {
  if (llvm::is_contained(allowed, value))
    return success();
  InFlightDiagnostic diag = error() << "attribute '" << attr << "' must be one of ";
  llvm::interleaveComma(allowed, diag,
                        [&](StringRef option) { diag << "\"" << option << "\""; });
  return diag << " but is \"" << value << "\"";
}

RankedTensorType ds::detail::withLastDim(RankedTensorType type, int64_t lastDim) {
  SmallVector<int64_t> shape(type.getShape());
  shape.back() = lastDim;
  return RankedTensorType::get(shape, type.getElementType());
}

RankedTensorType ds::detail::tensorOf(ArrayRef<int64_t> shape, Type elementType) {
  return RankedTensorType::get(shape, elementType);
}

RankedTensorType ds::detail::scalarF32(MLIRContext *context) {
  return RankedTensorType::get({}, Float32Type::get(context));
}

int64_t ds::detail::ceilDiv(int64_t value, int64_t divisor) {
  return (value + divisor - 1) / divisor;
}

LogicalResult ds::detail::checkScoreFunc(const OpChecker &c, StringRef scoreFunc) {
  return c.oneOf(scoreFunc, "score_func", {"sigmoid", "softmax"});
}

LogicalResult ds::detail::checkRouting(const OpChecker &c, const RoutingAttrs &r) {
  if (failed(c.positive(r.topK, "top_k")) || failed(c.positive(r.nGroup, "n_group")) ||
      failed(c.positive(r.topkGroup, "topk_group")) ||
      failed(checkScoreFunc(c, r.scoreFunc)) ||
      failed(c.oneOf(r.groupScore, "group_score", {"top2_sum", "max"})) ||
      failed(c.positive(r.routedScale, "routed_scale")))
    return failure();
  if (r.topK > r.numExperts)
    return c.error() << "attribute 'top_k' is " << r.topK << " but there are only "
                     << r.numExperts << " experts";
  if (r.numExperts % r.nGroup != 0)
    return c.error() << "the " << r.numExperts
                     << " experts do not split into n_group = " << r.nGroup
                     << " equal groups";
  if (r.topkGroup > r.nGroup)
    return c.error() << "attribute 'topk_group' is " << r.topkGroup << " but n_group is "
                     << r.nGroup;
  int64_t perGroup = r.numExperts / r.nGroup;
  if (r.topK > r.topkGroup * perGroup)
    return c.error() << "attribute 'top_k' is " << r.topK << " but the " << r.topkGroup
                     << " kept groups hold only " << r.topkGroup * perGroup << " experts";
  // A group's top2_sum score needs two experts in the group.
  if (r.groupScore == "top2_sum" && r.nGroup > 1 && perGroup < 2)
    return c.error() << "group_score \"top2_sum\" needs at least 2 experts per group "
                        "but each of the "
                     << r.nGroup << " groups has " << perGroup;
  return success();
}

LogicalResult ds::detail::checkBalanceLoss(const OpChecker &c, int64_t tokens,
                                           double alpha, int64_t numSequences,
                                           StringRef scoreFunc) {
  if (failed(c.nonNegative(alpha, "alpha")) ||
      failed(c.positive(numSequences, "num_sequences")) ||
      failed(checkScoreFunc(c, scoreFunc)))
    return failure();
  if (tokens % numSequences != 0)
    return c.error() << "logits dimension 0 (tokens) is " << tokens
                     << ", which does not split into num_sequences = " << numSequences
                     << " equal sequences";
  return success();
}

LogicalResult ds::detail::checkRope(const OpChecker &c, const RopeAttrs &rope) {
  if (failed(c.positive(rope.theta, "theta")) ||
      failed(c.positive(rope.attentionFactor, "yarn_attention_factor")) ||
      failed(c.nonNegative(rope.originalMaxPosition, "yarn_original_max_position")))
    return failure();
  if (rope.yarnFactor < 1.0)
    return c.error() << "attribute 'yarn_factor' must be at least 1 (1 disables YaRN) "
                        "but is "
                     << formatNumber(rope.yarnFactor);
  if (rope.yarnFactor == 1.0)
    return success();
  if (rope.originalMaxPosition == 0)
    return c.error() << "attribute 'yarn_original_max_position' must be positive when "
                        "yarn_factor is "
                     << formatNumber(rope.yarnFactor);
  if (rope.betaSlow <= 0.0 || rope.betaFast <= rope.betaSlow)
    return c.error() << "YaRN needs yarn_beta_fast > yarn_beta_slow > 0 but they are "
                     << formatNumber(rope.betaFast) << " and "
                     << formatNumber(rope.betaSlow);
  return success();
}
