//===- DsOpChecker.h - shared shape and attribute checks of the ds ops ----===//
//
// Every ds verifier and every ds type inference goes through OpChecker, so that all ops
// word their diagnostics alike: the operand or attribute by its ODS name, the dimension,
// what was expected and what was found, e.g.
//   'ds.linear' op weight dimension 1 (in features) is 64 but the last dimension of
//   input is 32
//
// Type inference and verification share one function per op (`infer<Op>`): it computes
// the result types from the operands and checks only what that computation needs
// (static shapes, ranks, and the attributes a result shape is built from).
// The op's verifier calls it first, then checks every other relation, then compares the
// op's result types with the inferred ones. Inference stays lenient on purpose: the
// ODS builders without result types treat a failed inference as a fatal error, so a
// graph builder handing over mismatched operands gets a located verifier message
// instead of a crash.
//
//===----------------------------------------------------------------------===//
#ifndef DS_DIALECTS_DS_DSOPCHECKER_H
#define DS_DIALECTS_DS_DSOPCHECKER_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"

#include <optional>

namespace ds::detail {

/// One result type implied by an op's operands and attributes, with the result's ODS
/// name (used to word a mismatch).
struct ImpliedResult {
  llvm::StringRef name;
  mlir::Type type;
};
using ImpliedResults = llvm::SmallVector<ImpliedResult, 3>;

class OpChecker {
public:
  /// Checks on behalf of a verifier: errors are emitted at the op.
  explicit OpChecker(mlir::Operation *op);
  /// Checks on behalf of type inference: errors are emitted at `loc` (inferWith drops
  /// them when the caller gave no location).
  OpChecker(mlir::Location loc, llvm::StringRef opName);

  /// Starts an error "'ds.<op>' op ...".
  mlir::InFlightDiagnostic error() const;

  //===--- operands and results ---------------------------------------------===//

  /// `value` as a ranked tensor of static shape (ds plans lay out every buffer at
  /// compile time, so no ds tensor has a dynamic dimension); null after an error.
  mlir::RankedTensorType tensor(mlir::Value value, llvm::StringRef name) const;
  /// `type` as a ranked tensor of static shape; null after an error.
  mlir::RankedTensorType tensorType(mlir::Type type, llvm::StringRef name) const;

  /// `name` has exactly `rank` dimensions; `layout` names them, e.g. "[T, E]".
  mlir::LogicalResult rank(mlir::RankedTensorType type, llvm::StringRef name,
                           int64_t rank, llvm::StringRef layout) const;
  mlir::LogicalResult minRank(mlir::RankedTensorType type, llvm::StringRef name,
                              int64_t rank, llvm::StringRef layout) const;
  /// Dimension `index` of `name` equals `expected`; the message reads
  /// "<name> dimension <index> (<meaning>) is <found> but <source> is <expected>".
  mlir::LogicalResult dim(mlir::RankedTensorType type, llvm::StringRef name,
                          int64_t index, llvm::StringRef meaning, int64_t expected,
                          const llvm::Twine &source) const;
  /// `name` has the shape `expected`, which `source` describes ("the shape of input").
  mlir::LogicalResult shape(mlir::RankedTensorType type, llvm::StringRef name,
                            llvm::ArrayRef<int64_t> expected,
                            const llvm::Twine &source) const;
  /// `name` has the shape of `other` (rank first, then each dimension).
  mlir::LogicalResult sameShape(mlir::RankedTensorType type, llvm::StringRef name,
                                mlir::RankedTensorType other,
                                llvm::StringRef otherName) const;
  /// `name` and `other` have one element type.
  mlir::LogicalResult sameElementType(mlir::RankedTensorType type, llvm::StringRef name,
                                      mlir::RankedTensorType other,
                                      llvm::StringRef otherName) const;
  /// `name` has the element type `expected`.
  mlir::LogicalResult elementType(mlir::RankedTensorType type, llvm::StringRef name,
                                  mlir::Type expected) const;

  /// The op's results have the types inference implied, compared dimension by dimension.
  mlir::LogicalResult results(mlir::Operation *op,
                              llvm::ArrayRef<ImpliedResult> implied) const;

  //===--- attributes -------------------------------------------------------===//

  mlir::LogicalResult positive(int64_t value, llvm::StringRef attr) const;
  mlir::LogicalResult positive(double value, llvm::StringRef attr) const;
  mlir::LogicalResult nonNegative(int64_t value, llvm::StringRef attr) const;
  mlir::LogicalResult nonNegative(double value, llvm::StringRef attr) const;
  /// lo <= value < hi.
  mlir::LogicalResult halfOpen(double value, llvm::StringRef attr, double lo,
                               double hi) const;
  mlir::LogicalResult oneOf(llvm::StringRef value, llvm::StringRef attr,
                            llvm::ArrayRef<llvm::StringRef> allowed) const;

private:
  mlir::Operation *op = nullptr;
  std::optional<mlir::Location> loc; // set when checking for inference
  llvm::StringRef opName;
};

/// `type` with its last dimension replaced by `lastDim`.
mlir::RankedTensorType withLastDim(mlir::RankedTensorType type, int64_t lastDim);
/// A static tensor type.
mlir::RankedTensorType tensorOf(llvm::ArrayRef<int64_t> shape, mlir::Type elementType);
/// The scalar `tensor<f32>` of losses, norms and learning rates.
mlir::RankedTensorType scalarF32(mlir::MLIRContext *context);
/// A double as a message shows it: "0", "0.5", "1e-06", "inf".
std::string formatNumber(double value);
/// ceil(value / divisor) for positive divisors.
int64_t ceilDiv(int64_t value, int64_t divisor);

//===--- rules shared by several ops ---------------------------------------===//

/// score_func of the router family: "sigmoid" (V3) or "softmax" (V2).
mlir::LogicalResult checkScoreFunc(const OpChecker &c, llvm::StringRef scoreFunc);

/// The routing attributes of ds.router and ds.moe against the number of routed experts:
/// group-limited top-k needs E % n_group == 0, topk_group <= n_group and enough experts
/// in the kept groups for top_k (V3 report §2.1.2; HF DeepseekV3TopkRouter).
struct RoutingAttrs {
  int64_t numExperts, topK, nGroup, topkGroup;
  llvm::StringRef scoreFunc, groupScore;
  double routedScale;
};
mlir::LogicalResult checkRouting(const OpChecker &c, const RoutingAttrs &routing);

/// input [..., D], weight [D] and eps of ds.rms_norm and its gradient.
mlir::LogicalResult checkRmsNormOperands(const OpChecker &c, mlir::RankedTensorType input,
                                         mlir::RankedTensorType weight, double eps);
/// The rotated tensor [B, S, H, Dr] (Dr even) and the RoPE attributes of ds.rope and
/// its gradient.
struct RopeAttrs;
mlir::LogicalResult checkRopeOperand(const OpChecker &c, mlir::RankedTensorType type,
                                     llvm::StringRef name, const RopeAttrs &rope);
/// q, k [B, S, H, Dqk] and v [B, S, H, Dv] of ds.attention and its gradient.
mlir::LogicalResult checkAttentionOperands(const OpChecker &c,
                                           mlir::RankedTensorType query,
                                           mlir::RankedTensorType key,
                                           mlir::RankedTensorType value, double scale);
/// The last dimension of ds.swiglu's gate_up holds two halves.
mlir::LogicalResult checkGateUpEven(const OpChecker &c, mlir::RankedTensorType gateUp);
/// labels [...] against logits [..., V] of ds.cross_entropy and its gradient.
mlir::LogicalResult checkLabels(const OpChecker &c, mlir::RankedTensorType logits,
                                mlir::RankedTensorType labels);
/// logits [T, E] and indices [T, K] of the router family.
mlir::LogicalResult checkLogitsAndIndices(const OpChecker &c,
                                          mlir::RankedTensorType logits,
                                          mlir::RankedTensorType indices);
/// counts [E] of the grouped GEMMs and ds.bias_update; `source` says where E comes from.
mlir::LogicalResult checkCounts(const OpChecker &c, mlir::RankedTensorType counts,
                                int64_t numExperts, const llvm::Twine &source);
/// input [T*K, D], positions [T, K] and weights [T, K] of ds.combine and its gradient.
mlir::LogicalResult checkCombineOperands(const OpChecker &c, mlir::RankedTensorType input,
                                         mlir::RankedTensorType positions,
                                         mlir::RankedTensorType weights);

/// f32 or bf16, the two training precisions: what ds.convert converts between and what
/// ds.quantize reads and ds.dequantize writes (FP8 only travels with its scales).
mlir::LogicalResult checkTrainingFloat(const OpChecker &c, mlir::RankedTensorType type,
                                       llvm::StringRef name);
/// `narrow` broadcasts to `wide` (ds.expand): one rank and element type, each dimension
/// of `narrow` 1 or `wide`'s.
mlir::LogicalResult checkBroadcast(const OpChecker &c, mlir::RankedTensorType narrow,
                                   llvm::StringRef narrowName,
                                   mlir::RankedTensorType wide, llvm::StringRef wideName);

/// The attributes of ds.balance_loss and its gradient, against the token count.
mlir::LogicalResult checkBalanceLoss(const OpChecker &c, int64_t tokens, double alpha,
                                     int64_t numSequences, llvm::StringRef scoreFunc);
/// What ds.balance_loss and ds.balance_loss_grad share: logits [T, E] and indices
/// [T, K], then the attributes against T.
template <typename OpT> mlir::LogicalResult checkBalanceLossOp(const OpChecker &c, OpT op) {
  mlir::RankedTensorType logits = op.getLogits().getType();
  if (mlir::failed(checkLogitsAndIndices(c, logits, op.getIndices().getType())))
    return mlir::failure();
  return checkBalanceLoss(c, logits.getDimSize(0), op.getAlpha().convertToDouble(),
                          static_cast<int64_t>(op.getNumSequences()), op.getScoreFunc());
}

/// The RoPE attributes (Ds_RopeAttrs) of ds.rope, ds.rope_grad and ds.mla. YaRN (active
/// when yarn_factor > 1) needs the pre-training context length and a correction range
/// beta_fast > beta_slow (YaRN paper, arXiv 2309.00071, §3.2).
struct RopeAttrs {
  double theta, yarnFactor, betaFast, betaSlow, attentionFactor;
  int64_t originalMaxPosition;
};
mlir::LogicalResult checkRope(const OpChecker &c, const RopeAttrs &rope);
template <typename OpOrAdaptor> RopeAttrs ropeAttrsOf(OpOrAdaptor op) {
  return {op.getTheta().convertToDouble(),
          op.getYarnFactor().convertToDouble(),
          op.getYarnBetaFast().convertToDouble(),
          op.getYarnBetaSlow().convertToDouble(),
          op.getYarnAttentionFactor().convertToDouble(),
          static_cast<int64_t>(op.getYarnOriginalMaxPosition())};
}

//===--- glue between inference and verification ---------------------------===//

template <typename OpT>
using InferFn = mlir::LogicalResult (*)(const OpChecker &, typename OpT::Adaptor,
                                        ImpliedResults &);

/// Implements OpT::inferReturnTypes with `infer`. The adaptor's attributes are checked
/// first (ODS's own constraints), since builders may hand over any attribute set.
/// Without a location, inference must fail without reporting (InferTypeOpInterface's
/// contract), so its diagnostics are then dropped here.
template <typename OpT>
mlir::LogicalResult inferWith(InferFn<OpT> infer, mlir::MLIRContext *context,
                              std::optional<mlir::Location> loc,
                              typename OpT::Adaptor adaptor,
                              llvm::SmallVectorImpl<mlir::Type> &types) {
  mlir::ScopedDiagnosticHandler dropWithoutLocation(
      context, [&](mlir::Diagnostic &) { return mlir::failure(loc.has_value()); });
  mlir::Location at = loc.value_or(mlir::UnknownLoc::get(context));
  if (mlir::failed(adaptor.verify(at)))
    return mlir::failure();
  OpChecker checker(at, OpT::getOperationName());
  ImpliedResults implied;
  if (mlir::failed(infer(checker, adaptor, implied)))
    return mlir::failure();
  for (const ImpliedResult &result : implied)
    types.push_back(result.type);
  return mlir::success();
}

} // namespace ds::detail

#endif
