//===- DeepSeekBuilder.cpp - the V2/V3 forward graph ----------------------===//
#include "models/deepseek/DeepSeekBuilder.h"

#include "dialects/ds/DsDialect.h"
#include "dialects/ds/DsOps.h"
#include "frontend/GraphBuilder.h"
#include "frontend/SpecJson.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>

using namespace ds;
using namespace mlir;

namespace {

class DeepSeekBuilder {
public:
  DeepSeekBuilder(MLIRContext &context, const ModelSpec &spec, const BuildOptions &options)
      : graph(context), spec(spec), batch(options.batch), seq(options.seq),
        mtpDepth(options.mtpDepth.value_or(spec.numNextnPredictLayers)), hidden(spec.hiddenSize),
        balanceAlpha(options.balanceAlpha.value_or(spec.balanceAlpha)),
        mtpLambda(options.mtpLambda.value_or(spec.mtpLambda)), emitLogits(options.emitLogits),
        bf16Activations(options.bf16Activations || options.bf16Params),
        bf16Params(options.bf16Params) {}

  llvm::Expected<OwningOpRef<ModuleOp>> build();

private:
  OpBuilder &b() { return graph.builder(); }
  Location loc() { return graph.location(); }
  RankedTensorType activationType(int64_t width) {
    RankedTensorType f32 = graph.f32Tensor({batch, seq, width});
    return bf16Activations ? RankedTensorType::get(f32.getShape(), b().getBF16Type()) : f32;
  }
  /// A parameter in the element type of the parameters (BF16 or FP32 master weights).
  Value addParam(llvm::StringRef name, llvm::ArrayRef<int64_t> shape, ParamInit init) {
    return graph.addParam(name, shape, init, bf16Params ? b().getBF16Type() : Type());
  }
  /// A parameter as the activations' ops read it: itself, or a BF16 convert of it (an
  /// absent optional parameter stays absent).
  Value asActivation(Value param) {
    auto type = param ? cast<RankedTensorType>(param.getType()) : RankedTensorType();
    if (!bf16Activations || !param || type.getElementType().isBF16())
      return param;
    return ConvertOp::create(b(), loc(), RankedTensorType::get(type.getShape(), b().getBF16Type()),
                             param);
  }
  static std::string layerPrefix(int64_t layer) {
    return ("model.layers." + llvm::Twine(layer) + ".").str();
  }

  Value tokenWindow(int64_t offset);
  Value rmsNorm(Value x, Value weight);
  Value attentionBlock(int64_t layer, Value x);
  Value ffnBlock(int64_t layer, Value x);
  Value denseFfn(const std::string &prefix, Value x);
  Value moeFfn(int64_t layer, const std::string &prefix, Value x);
  Value headLoss(Value hiddenState, Value normWeight, int64_t labelOffset, Value *logits);
  Value add(Value lhs, Value rhs) { return AddOp::create(b(), loc(), lhs.getType(), lhs, rhs); }
  void setModuleAttributes();

  GraphBuilder graph;
  const ModelSpec &spec;
  int64_t batch, seq, mtpDepth, hidden;
  double balanceAlpha, mtpLambda;
  bool emitLogits;
  bool bf16Activations, bf16Params;
  Value tokens, embedTable, lmHead;
  llvm::DenseMap<int64_t, Value> tokenWindows;
  llvm::SmallVector<std::pair<std::string, Value>> expertCounts;
  llvm::SmallVector<Value> balanceLosses;
};

/// tokens[:, offset:offset+S]; one slice per offset (MTP depth k embeds the window that
/// depth k-1 uses as labels).
Value DeepSeekBuilder::tokenWindow(int64_t offset) {
  Value &window = tokenWindows[offset];
  if (!window) {
    auto type = RankedTensorType::get({batch, seq}, b().getI32Type());
    window = SliceOp::create(b(), loc(), type, tokens, b().getI64IntegerAttr(1),
                             b().getI64IntegerAttr(offset), b().getI64IntegerAttr(seq));
  }
  return window;
}

Value DeepSeekBuilder::rmsNorm(Value x, Value weight) {
  return RmsNormOp::create(b(), loc(), x.getType(), x, asActivation(weight),
                           b().getF64FloatAttr(spec.rmsNormEps));
}

/// input_layernorm -> MLA -> residual (V2 report §2.1).
Value DeepSeekBuilder::attentionBlock(int64_t layer, Value x) {
  std::string p = layerPrefix(layer);
  std::string attn = p + "self_attn.";
  int64_t heads = spec.numAttentionHeads;
  Value norm = addParam(p + "input_layernorm.weight", {hidden}, ParamInit::Ones);
  Value qA, qANorm, qB;
  if (spec.qLoraRank > 0) {
    qA = addParam(attn + "q_a_proj.weight", {spec.qLoraRank, hidden}, ParamInit::Normal);
    qANorm = addParam(attn + "q_a_layernorm.weight", {spec.qLoraRank}, ParamInit::Ones);
    qB = addParam(attn + "q_b_proj.weight", {heads * spec.qkHeadDim(), spec.qLoraRank},
                        ParamInit::Normal);
  } else {
    qB = addParam(attn + "q_proj.weight", {heads * spec.qkHeadDim(), hidden},
                        ParamInit::Normal);
  }
  Value kvA = addParam(attn + "kv_a_proj_with_mqa.weight",
                             {spec.kvLoraRank + spec.qkRopeHeadDim, hidden}, ParamInit::Normal);
  Value kvANorm =
      addParam(attn + "kv_a_layernorm.weight", {spec.kvLoraRank}, ParamInit::Ones);
  Value kvB = addParam(attn + "kv_b_proj.weight",
                             {heads * (spec.qkNopeHeadDim + spec.vHeadDim), spec.kvLoraRank},
                             ParamInit::Normal);
  Value o =
      addParam(attn + "o_proj.weight", {hidden, heads * spec.vHeadDim}, ParamInit::Normal);

  Value normed = rmsNorm(x, norm);
  const YarnSpec yarn = spec.yarn.value_or(YarnSpec());
  Value attention = MlaOp::create(
      b(), loc(), x.getType(), normed, asActivation(qA), asActivation(qANorm),
      asActivation(qB), asActivation(kvA), asActivation(kvANorm), asActivation(kvB),
      asActivation(o),
      b().getI64IntegerAttr(heads), b().getI64IntegerAttr(spec.qLoraRank),
      b().getI64IntegerAttr(spec.kvLoraRank), b().getI64IntegerAttr(spec.qkNopeHeadDim),
      b().getI64IntegerAttr(spec.qkRopeHeadDim), b().getI64IntegerAttr(spec.vHeadDim),
      b().getF64FloatAttr(spec.softmaxScale()), b().getF64FloatAttr(spec.rmsNormEps),
      b().getF64FloatAttr(spec.ropeTheta), b().getBoolAttr(spec.ropeInterleave),
      b().getF64FloatAttr(yarn.factor), b().getI64IntegerAttr(yarn.originalMaxPosition),
      b().getF64FloatAttr(yarn.betaFast), b().getF64FloatAttr(yarn.betaSlow),
      b().getF64FloatAttr(spec.ropeAttentionFactor()));
  return add(x, attention);
}

/// post_attention_layernorm -> dense FFN or MoE -> residual.
Value DeepSeekBuilder::ffnBlock(int64_t layer, Value x) {
  std::string p = layerPrefix(layer);
  Value norm = addParam(p + "post_attention_layernorm.weight", {hidden}, ParamInit::Ones);
  Value normed = rmsNorm(x, norm);
  Value ffn = spec.isMoeLayer(layer) ? moeFfn(layer, p, normed) : denseFfn(p, normed);
  return add(x, ffn);
}

/// SwiGLU FFN: down(silu(gate x) * up x), gate and up stacked in one weight.
Value DeepSeekBuilder::denseFfn(const std::string &prefix, Value x) {
  int64_t inter = spec.intermediateSize;
  Value gateUp = addParam(prefix + "mlp.gate_up", {2 * inter, hidden}, ParamInit::Normal);
  Value down = addParam(prefix + "mlp.down_proj.weight", {hidden, inter}, ParamInit::Normal);
  Value projected =
      LinearOp::create(b(), loc(), activationType(2 * inter), x, asActivation(gateUp));
  Value activated = SwigluOp::create(b(), loc(), activationType(inter), projected);
  return LinearOp::create(b(), loc(), activationType(hidden), activated, asActivation(down));
}

/// DeepSeekMoE (V3 report §2.1.2): router, stacked routed experts, shared experts.
Value DeepSeekBuilder::moeFfn(int64_t layer, const std::string &prefix, Value x) {
  int64_t experts = spec.nRoutedExperts;
  int64_t inter = spec.moeIntermediateSize;
  std::string mlp = prefix + "mlp.";
  // The router's gate stays FP32 whatever the parameters (V3 keeps it in high precision).
  Value gate = graph.addParam(mlp + "gate.weight", {experts, hidden}, ParamInit::Normal);
  Value bias = graph.addBuffer(mlp + "gate.e_score_correction_bias", {experts}, ParamInit::Zeros);
  Value gateUp =
      addParam(mlp + "experts.gate_up", {experts, 2 * inter, hidden}, ParamInit::Normal);
  Value down = addParam(mlp + "experts.down", {experts, hidden, inter}, ParamInit::Normal);
  Value sharedGateUp, sharedDown;
  if (spec.nSharedExperts > 0) {
    int64_t sharedInter = spec.nSharedExperts * inter;
    sharedGateUp = addParam(mlp + "shared_experts.gate_up", {2 * sharedInter, hidden},
                                  ParamInit::Normal);
    sharedDown = addParam(mlp + "shared_experts.down_proj.weight", {hidden, sharedInter},
                                ParamInit::Normal);
  }
  Type balanceType;
  if (balanceAlpha > 0)
    balanceType = RankedTensorType::get({}, b().getF32Type());
  auto moe = MoeOp::create(
      b(), loc(), x.getType(), RankedTensorType::get({experts}, b().getI32Type()), balanceType, x,
      gate, bias, asActivation(gateUp), asActivation(down), asActivation(sharedGateUp),
      asActivation(sharedDown),
      b().getI64IntegerAttr(spec.numExpertsPerTok), b().getI64IntegerAttr(spec.nGroup),
      b().getI64IntegerAttr(spec.topkGroup), b().getStringAttr(spec.scoreFuncName()),
      b().getStringAttr(spec.groupScoreName()), b().getBoolAttr(spec.effectiveNormTopkProb()),
      b().getF64FloatAttr(spec.effectiveRoutedScale()),
      balanceAlpha > 0 ? b().getF64FloatAttr(balanceAlpha) : FloatAttr(), DictionaryAttr());
  expertCounts.push_back({"expert_counts." + std::to_string(layer), moe.getExpertCounts()});
  if (Value loss = moe.getBalanceLoss())
    balanceLosses.push_back(loss);
  return moe.getResult();
}

/// norm -> lm_head -> cross-entropy against tokens[:, labelOffset:labelOffset+S]; the
/// logits [B, S, V] are returned in `logits` when it is not null.
Value DeepSeekBuilder::headLoss(Value hiddenState, Value normWeight, int64_t labelOffset,
                                Value *logits) {
  Value normed = rmsNorm(hiddenState, normWeight);
  Value scores =
      LinearOp::create(b(), loc(), activationType(spec.vocabSize), normed, asActivation(lmHead));
  if (logits)
    *logits = scores;
  Value labels = tokenWindow(labelOffset);
  return CrossEntropyOp::create(b(), loc(), RankedTensorType::get({}, b().getF32Type()), scores,
                                labels, b().getI64IntegerAttr(-100));
}

void DeepSeekBuilder::setModuleAttributes() {
  ModuleOp module = graph.module();
  module->setAttr("ds.model_type", b().getStringAttr(spec.modelType));
  module->setAttr("ds.batch", b().getI64IntegerAttr(batch));
  module->setAttr("ds.seq", b().getI64IntegerAttr(seq));
  module->setAttr("ds.vocab_size", b().getI64IntegerAttr(spec.vocabSize));
  module->setAttr("ds.mtp_depth", b().getI64IntegerAttr(mtpDepth));
  module->setAttr("ds.initializer_range", b().getF64FloatAttr(spec.initializerRange));
  ModelSpec recorded = spec;
  recorded.balanceAlpha = balanceAlpha;
  recorded.mtpLambda = mtpLambda;
  module->setAttr("ds.spec", b().getStringAttr(modelSpecToJson(recorded)));
}

llvm::Expected<OwningOpRef<ModuleOp>> DeepSeekBuilder::build() {
  if (batch < 1 || seq < 1)
    return specError("batch (" + llvm::Twine(batch) + ") and seq (" + llvm::Twine(seq) +
                     ") must be positive");
  // The largest activation is the logits [B, S, V]; its element count must be an int64
  // and token positions must fit the i32 token window.
  int64_t elements = 0;
  if (seq + 1 + mtpDepth > std::numeric_limits<int32_t>::max() ||
      llvm::MulOverflow(batch, seq, elements) ||
      llvm::MulOverflow(elements, std::max({spec.vocabSize, 2 * spec.intermediateSize, hidden}),
                        elements))
    return specError("batch (" + llvm::Twine(batch) + ") x seq (" + llvm::Twine(seq) +
                     ") is too large for this model's tensors");
  if (!std::isfinite(balanceAlpha) || balanceAlpha < 0 || !std::isfinite(mtpLambda) ||
      mtpLambda < 0)
    return specError("the balance loss alpha (" + formatNumber(balanceAlpha) +
                     ") and the MTP lambda (" + formatNumber(mtpLambda) + ") must be non-negative");
  setModuleAttributes();

  // The window holds S inputs, the main labels and one more label per MTP depth
  // (docs/ir-conventions.md).
  tokens = graph.addInput("tokens",
                          RankedTensorType::get({batch, seq + 1 + mtpDepth}, b().getI32Type()));
  embedTable =
      addParam("model.embed_tokens.weight", {spec.vocabSize, hidden}, ParamInit::Normal);
  graph.setLocation(NameLoc::get(b().getStringAttr("model.embed_tokens")));
  auto embedType = activationType(hidden);
  Value h = EmbeddingOp::create(b(), loc(), embedType, tokenWindow(0), asActivation(embedTable));
  for (int64_t layer = 0; layer < spec.numHiddenLayers; ++layer) {
    graph.setLocation(NameLoc::get(b().getStringAttr("model.layers." + llvm::Twine(layer))));
    h = attentionBlock(layer, h);
    h = ffnBlock(layer, h);
  }

  graph.setLocation(NameLoc::get(b().getStringAttr("lm_head")));
  Value finalNorm = addParam("model.norm.weight", {hidden}, ParamInit::Ones);
  lmHead = spec.tieWordEmbeddings
               ? embedTable
               : addParam("lm_head.weight", {spec.vocabSize, hidden}, ParamInit::Normal);
  Value mainLogits;
  Value mainLoss = headLoss(h, finalNorm, 1, &mainLogits);
  Value total = mainLoss;

  // MTP (V3 report §2.2, eq. 21-25): depth k reads the previous depth's hidden state
  // (the main model's before its final norm for k = 1) and the embedding of t_{i+k}.
  llvm::SmallVector<Value> mtpLosses;
  Value previous = h;
  for (int64_t k = 1; k <= mtpDepth; ++k) {
    int64_t layer = spec.numHiddenLayers + k - 1;
    std::string p = layerPrefix(layer);
    graph.setLocation(NameLoc::get(b().getStringAttr("model.layers." + llvm::Twine(layer))));
    Value enorm = addParam(p + "enorm.weight", {hidden}, ParamInit::Ones);
    Value hnorm = addParam(p + "hnorm.weight", {hidden}, ParamInit::Ones);
    Value proj = addParam(p + "eh_proj.weight", {hidden, 2 * hidden}, ParamInit::Normal);
    Value next =
        EmbeddingOp::create(b(), loc(), embedType, tokenWindow(k), asActivation(embedTable));
    Value x = MtpHeadOp::create(b(), loc(), embedType, previous, next, asActivation(hnorm),
                                asActivation(enorm), asActivation(proj),
                                b().getI64IntegerAttr(k), b().getF64FloatAttr(spec.rmsNormEps),
                                b().getF64FloatAttr(mtpLambda));
    x = attentionBlock(layer, x);
    x = ffnBlock(layer, x);
    Value headNorm = addParam(p + "shared_head.norm.weight", {hidden}, ParamInit::Ones);
    Value loss = headLoss(x, headNorm, k + 1, nullptr);
    mtpLosses.push_back(loss);
    Value weighted =
        ScaleOp::create(b(), loc(), loss.getType(), loss, b().getF64FloatAttr(mtpLambda));
    total = add(total, weighted);
    previous = x;
  }

  graph.setLocation(NameLoc::get(b().getStringAttr("loss")));
  Value balance;
  for (Value loss : balanceLosses)
    balance = balance ? add(balance, loss) : loss;
  if (balance)
    total = add(total, balance);

  graph.addOutput("loss", total);
  graph.addOutput("loss.main", mainLoss);
  for (auto [index, loss] : llvm::enumerate(mtpLosses))
    graph.addOutput("loss.mtp." + std::to_string(index + 1), loss);
  if (balance)
    graph.addOutput("loss.balance", balance);
  for (auto &[name, counts] : expertCounts)
    graph.addOutput(name, counts);
  if (emitLogits)
    graph.addOutput("logits", mainLogits);
  return graph.finish();
}

} // namespace

llvm::Expected<OwningOpRef<ModuleOp>>
ds::buildDeepSeekModel(MLIRContext &context, const ModelSpec &spec, const BuildOptions &options) {
  context.getOrLoadDialect<DsDialect>();
  return DeepSeekBuilder(context, spec, options).build();
}
