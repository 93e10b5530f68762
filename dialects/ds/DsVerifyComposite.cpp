//===- DsVerifyComposite.cpp - verifiers of ds.mla, ds.moe, ds.mtp_head ---===//
//
// The composite ops carry every weight of their layer, so their verifiers check each
// weight's shape against the layer's attributes (the HF config values). A wrong config
// key then fails here, naming the weight, rather than as a shape error deep inside the
// decomposed graph.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOpChecker.h"
#include "dialects/ds/DsOps.h"

using namespace mlir;
using namespace ds;
using namespace ds::detail;

/// One expected dimension of a weight: its size (kFree: any size, checked elsewhere),
/// what it is, and where the size comes from (for the message).
constexpr int64_t kFree = -1;
struct ExpectedDim {
  int64_t size;
  StringRef meaning;
  std::string source;
};

/// `weight` (already a static tensor) has exactly the dimensions `dims`, and the
/// element type of `like`.
static LogicalResult checkWeight(const OpChecker &c, Value weight, StringRef name,
                                 ArrayRef<ExpectedDim> dims, StringRef layout,
                                 RankedTensorType like, StringRef likeName) {
  auto type = c.tensor(weight, name);
  if (!type || failed(c.rank(type, name, dims.size(), layout)))
    return failure();
  for (auto [index, want] : llvm::enumerate(dims))
    if (want.size != kFree &&
        failed(c.dim(type, name, index, want.meaning, want.size, want.source)))
      return failure();
  return c.sameElementType(type, name, like, likeName);
}

/// x [B, S, D] of the composite ops; its type is their main result's.
static RankedTensorType hiddenStates(const OpChecker &c, Value x, StringRef name) {
  auto type = c.tensor(x, name);
  if (!type || failed(c.rank(type, name, 3, "[B, S, D]")))
    return {};
  return type;
}

//===----------------------------------------------------------------------===//
// ds.mla (DeepSeek-V2 report §2.1; V3 report §2.1.1)
//===----------------------------------------------------------------------===//

static LogicalResult inferMla(const OpChecker &c, MlaOp::Adaptor a,
                              ImpliedResults &implied) {
  RankedTensorType x = hiddenStates(c, a.getX(), "x");
  if (!x)
    return failure();
  implied.push_back({"result", x});
  return success();
}

LogicalResult MlaOp::inferReturnTypes(MLIRContext *context, std::optional<Location> loc,
                                      Adaptor a, SmallVectorImpl<Type> &types) {
  return inferWith<MlaOp>(inferMla, context, loc, a, types);
}

LogicalResult MlaOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferMla(c, Adaptor(*this), implied)))
    return failure();
  auto heads = static_cast<int64_t>(getNumHeads());
  auto qLora = static_cast<int64_t>(getQLoraRank());
  auto kvLora = static_cast<int64_t>(getKvLoraRank());
  auto nope = static_cast<int64_t>(getQkNopeHeadDim());
  auto rope = static_cast<int64_t>(getQkRopeHeadDim());
  auto vDim = static_cast<int64_t>(getVHeadDim());
  if (failed(c.positive(heads, "num_heads")) ||
      failed(c.nonNegative(qLora, "q_lora_rank")) ||
      failed(c.positive(kvLora, "kv_lora_rank")) ||
      failed(c.nonNegative(nope, "qk_nope_head_dim")) ||
      failed(c.positive(rope, "qk_rope_head_dim")) ||
      failed(c.positive(vDim, "v_head_dim")) ||
      failed(c.positive(getSoftmaxScale().convertToDouble(), "softmax_scale")) ||
      failed(c.positive(getRmsNormEps().convertToDouble(), "rms_norm_eps")) ||
      failed(checkRope(c, ropeAttrsOf(*this))))
    return failure();
  // The decoupled RoPE key/query part rotates pairs of channels.
  if (rope % 2 != 0)
    return emitOpError("attribute 'qk_rope_head_dim' is ")
           << rope << " but must be even: RoPE rotates pairs of channels";

  // q_lora_rank 0 (V2-Lite) projects queries directly: q_b_weight is then W_q.
  bool compressedQuery = qLora > 0;
  for (auto [value, name] : {std::pair<Value, StringRef>{getQAWeight(), "q_a_weight"},
                             {getQANorm(), "q_a_norm"}}) {
    if (compressedQuery && !value)
      return emitOpError() << name << " is absent but q_lora_rank is " << qLora;
    if (!compressedQuery && value)
      return emitOpError() << name << " is present but q_lora_rank is 0";
  }

  RankedTensorType x = getX().getType();
  int64_t hidden = x.getDimSize(2);
  std::string hiddenSource = "x dimension 2 (hidden)";
  ExpectedDim inHidden{hidden, "in features", hiddenSource};
  int64_t queryIn = compressedQuery ? qLora : hidden;
  std::string queryInSource = compressedQuery ? "q_lora_rank" : hiddenSource;
  if (compressedQuery &&
      (failed(checkWeight(c, getQAWeight(), "q_a_weight",
                          {{qLora, "rows", "q_lora_rank"}, inHidden}, "[q_lora, D]", x,
                          "x")) ||
       failed(checkWeight(c, getQANorm(), "q_a_norm", {{qLora, "size", "q_lora_rank"}},
                          "[q_lora]", x, "x"))))
    return failure();
  if (failed(checkWeight(c, getQBWeight(), "q_b_weight",
                         {{heads * (nope + rope), "rows",
                           "num_heads * (qk_nope_head_dim + qk_rope_head_dim)"},
                          {queryIn, "in features", queryInSource}},
                         "[H*(nope+rope), q_lora or D]", x, "x")) ||
      failed(checkWeight(
          c, getKvAWeight(), "kv_a_weight",
          {{kvLora + rope, "rows", "kv_lora_rank + qk_rope_head_dim"}, inHidden},
          "[kv_lora + rope, D]", x, "x")) ||
      failed(checkWeight(c, getKvANorm(), "kv_a_norm", {{kvLora, "size", "kv_lora_rank"}},
                         "[kv_lora]", x, "x")) ||
      failed(checkWeight(
          c, getKvBWeight(), "kv_b_weight",
          {{heads * (nope + vDim), "rows", "num_heads * (qk_nope_head_dim + v_head_dim)"},
           {kvLora, "in features", "kv_lora_rank"}},
          "[H*(nope+v), kv_lora]", x, "x")) ||
      failed(checkWeight(c, getOWeight(), "o_weight",
                         {{hidden, "rows", hiddenSource},
                          {heads * vDim, "in features", "num_heads * v_head_dim"}},
                         "[D, H*v]", x, "x")))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.moe (V3 report §2.1.2)
//===----------------------------------------------------------------------===//

static LogicalResult inferMoe(const OpChecker &c, MoeOp::Adaptor a,
                              ImpliedResults &implied) {
  RankedTensorType x = hiddenStates(c, a.getX(), "x");
  auto gate = c.tensor(a.getGateWeight(), "gate_weight");
  if (!x || !gate || failed(c.rank(gate, "gate_weight", 2, "[E, D]")))
    return failure();
  MLIRContext *context = x.getContext();
  implied.push_back({"result", x});
  implied.push_back(
      {"expert_counts", tensorOf({gate.getDimSize(0)}, IntegerType::get(context, 32))});
  if (a.getBalanceAlpha().convertToDouble() > 0.0)
    implied.push_back({"balance_loss", scalarF32(context)});
  return success();
}

LogicalResult MoeOp::inferReturnTypes(MLIRContext *context, std::optional<Location> loc,
                                      Adaptor a, SmallVectorImpl<Type> &types) {
  return inferWith<MoeOp>(inferMoe, context, loc, a, types);
}

LogicalResult MoeOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferMoe(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType x = getX().getType(), gate = getGateWeight().getType();
  int64_t hidden = x.getDimSize(2), experts = gate.getDimSize(0);
  std::string hiddenSource = "x dimension 2 (hidden)";
  std::string expertsSource = "gate_weight dimension 0 (experts)";
  RoutingAttrs routing{experts,
                       static_cast<int64_t>(getTopK()),
                       static_cast<int64_t>(getNGroup()),
                       static_cast<int64_t>(getTopkGroup()),
                       getScoreFunc(),
                       getGroupScore(),
                       getRoutedScale().convertToDouble()};
  double alpha = getBalanceAlpha().convertToDouble();
  if (failed(c.dim(gate, "gate_weight", 1, "in features", hidden, hiddenSource)) ||
      failed(checkWeight(c, getScoreBias(), "score_bias",
                         {{experts, "experts", expertsSource}}, "[E]", gate,
                         "gate_weight")) ||
      failed(checkRouting(c, routing)) || failed(c.nonNegative(alpha, "balance_alpha")))
    return failure();
  if (alpha > 0.0 && !getBalanceLoss())
    return emitOpError("balance_alpha is ")
           << formatNumber(alpha) << " but there is no balance_loss result";
  if (alpha == 0.0 && getBalanceLoss())
    return emitOpError("has a balance_loss result but balance_alpha is 0");

  // Stacked routed experts: gate rows then up rows (ir-conventions.md).
  RankedTensorType gateUp = getExpertsGateUp().getType();
  if (failed(c.rank(gateUp, "experts_gate_up", 3, "[E, 2I, D]")))
    return failure();
  int64_t twiceInter = gateUp.getDimSize(1);
  if (twiceInter % 2 != 0)
    return emitOpError("experts_gate_up dimension 1 (gate and up rows) is ")
           << twiceInter << " but must be even";
  int64_t inter = twiceInter / 2;
  if (failed(checkWeight(c, getExpertsGateUp(), "experts_gate_up",
                         {{experts, "experts", expertsSource},
                          {kFree, "gate and up rows", ""},
                          {hidden, "in features", hiddenSource}},
                         "[E, 2I, D]", x, "x")) ||
      failed(checkWeight(c, getExpertsDown(), "experts_down",
                         {{experts, "experts", expertsSource},
                          {hidden, "rows", hiddenSource},
                          {inter, "intermediate", "half of experts_gate_up dimension 1"}},
                         "[E, D, I]", x, "x")))
    return failure();

  Value sharedGateUp = getSharedGateUp(), sharedDown = getSharedDown();
  if (!sharedGateUp != !sharedDown)
    return emitOpError(sharedGateUp ? "shared_gate_up is present but shared_down is "
                                      "absent"
                                    : "shared_down is present but shared_gate_up is "
                                      "absent");
  if (sharedGateUp) {
    auto sharedType = c.tensor(sharedGateUp, "shared_gate_up");
    if (!sharedType || failed(c.rank(sharedType, "shared_gate_up", 2, "[2*Is, D]")))
      return failure();
    int64_t twiceShared = sharedType.getDimSize(0);
    // Is = n_shared_experts * I: the shared experts are I-wide FFNs run as one.
    if (twiceShared % twiceInter != 0)
      return emitOpError("shared_gate_up dimension 0 (gate and up rows) is ")
             << twiceShared << ", which is not a multiple of 2I = " << twiceInter
             << " (experts_gate_up dimension 1)";
    if (failed(checkWeight(
            c, sharedGateUp, "shared_gate_up",
            {{kFree, "gate and up rows", ""}, {hidden, "in features", hiddenSource}},
            "[2*Is, D]", x, "x")) ||
        failed(checkWeight(
            c, sharedDown, "shared_down",
            {{hidden, "rows", hiddenSource},
             {twiceShared / 2, "intermediate", "half of shared_gate_up dimension 0"}},
            "[D, Is]", x, "x")))
      return failure();
  }
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.mtp_head (V3 report §2.2, eq. 21)
//===----------------------------------------------------------------------===//

static LogicalResult inferMtpHead(const OpChecker &c, MtpHeadOp::Adaptor a,
                                  ImpliedResults &implied) {
  RankedTensorType hidden = hiddenStates(c, a.getHidden(), "hidden");
  if (!hidden)
    return failure();
  implied.push_back({"result", hidden});
  return success();
}

LogicalResult MtpHeadOp::inferReturnTypes(MLIRContext *context,
                                          std::optional<Location> loc, Adaptor a,
                                          SmallVectorImpl<Type> &types) {
  return inferWith<MtpHeadOp>(inferMtpHead, context, loc, a, types);
}

LogicalResult MtpHeadOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferMtpHead(c, Adaptor(*this), implied)))
    return failure();
  RankedTensorType hidden = getHidden().getType();
  auto next = c.tensor(getNextEmbedding(), "next_embedding");
  if (!next || failed(c.sameShape(next, "next_embedding", hidden, "hidden")) ||
      failed(c.sameElementType(next, "next_embedding", hidden, "hidden")))
    return failure();
  int64_t model = hidden.getDimSize(2);
  std::string modelSource = "hidden dimension 2 (hidden)";
  if (failed(checkWeight(c, getHiddenNorm(), "hidden_norm",
                         {{model, "size", modelSource}}, "[D]", hidden, "hidden")) ||
      failed(checkWeight(c, getEmbedNorm(), "embed_norm", {{model, "size", modelSource}},
                         "[D]", hidden, "hidden")) ||
      failed(checkWeight(c, getProj(), "proj",
                         {{model, "rows", modelSource},
                          {2 * model, "in features", "twice " + modelSource}},
                         "[D, 2D]", hidden, "hidden")) ||
      failed(c.positive(static_cast<int64_t>(getDepth()), "depth")) ||
      failed(c.positive(getRmsNormEps().convertToDouble(), "rms_norm_eps")) ||
      failed(c.nonNegative(getLossWeight().convertToDouble(), "loss_weight")))
    return failure();
  return c.results(*this, implied);
}
