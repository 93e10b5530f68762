//===- SpecParser.cpp - model spec files to ds::ModelSpec -----------------===//
#include "frontend/SpecParser.h"

#include "frontend/SpecJson.h"
#include "frontend/SpecValidation.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace ds;
using llvm::json::Object;

namespace {

bool isV3(const ModelSpec &spec) { return spec.modelType == "deepseek_v3"; }

/// Reads the YaRN keys shared by `rope_scaling` and `rope_parameters` (HF names).
YarnSpec readYarn(KeyReader &keys) {
  YarnSpec yarn;
  // Without a factor YaRN is not defined; HF's rope validation requires it too.
  if (!keys.has("factor"))
    keys.fail("missing required key " + keys.quoted("factor") + " for YaRN rope scaling");
  yarn.factor = keys.optionalNumber("factor", 1.0);
  yarn.originalMaxPosition = keys.requiredInt("original_max_position_embeddings");
  yarn.betaFast = keys.optionalNumber("beta_fast", 32.0);
  yarn.betaSlow = keys.optionalNumber("beta_slow", 1.0);
  yarn.mscale = keys.optionalNumber("mscale", 1.0);
  yarn.mscaleAllDim = keys.optionalNumber("mscale_all_dim", 0.0);
  return yarn;
}

/// `rope_scaling` (type under "type" or "rope_type") or `rope_parameters`.
void readRopeScaling(KeyReader &keys, const Object &rope, llvm::StringRef name, ModelSpec &spec) {
  KeyReader ropeKeys(rope, (name + ".").str());
  std::string type = ropeKeys.has("rope_type") ? ropeKeys.optionalString("rope_type", "")
                                               : ropeKeys.optionalString("type", "default");
  if (name == "rope_parameters")
    spec.ropeTheta = ropeKeys.optionalNumber("rope_theta", spec.ropeTheta);
  if (type == "yarn")
    spec.yarn = readYarn(ropeKeys);
  else if (type != "default")
    ropeKeys.fail(ropeKeys.quoted(ropeKeys.has("rope_type") ? "rope_type" : "type") + " \"" + type +
                  "\" is not supported (expected \"yarn\" or \"default\")");
  if (llvm::Error error = ropeKeys.takeError())
    keys.fail(llvm::toString(std::move(error)));
}

/// Architecture variants that DeepSeek's configs could express but ds does not build.
void rejectUnsupported(KeyReader &keys) {
  std::string act = keys.optionalString("hidden_act", "silu");
  if (act != "silu")
    keys.fail("`hidden_act` \"" + act + "\" is not supported: DeepSeek FFNs use SwiGLU (silu)");
  if (keys.optionalBool("attention_bias", false))
    keys.fail("`attention_bias` true is not supported: MLA projections have no bias");
  if (keys.optionalBool("mlp_bias", false))
    keys.fail("`mlp_bias` true is not supported: DeepSeek FFNs have no bias");
  int64_t freq = keys.optionalInt("moe_layer_freq", 1);
  if (freq != 1)
    keys.fail("`moe_layer_freq` (" + llvm::Twine(freq) +
              ") is not supported: every layer from `first_k_dense_replace` on is MoE");
}

/// Checked after validation, so that a bad `num_attention_heads` is reported as such.
llvm::Error checkKvHeads(std::optional<int64_t> kvHeads, const ModelSpec &spec) {
  if (!kvHeads || *kvHeads == spec.numAttentionHeads)
    return llvm::Error::success();
  return specError("`num_key_value_heads` (" + llvm::Twine(*kvHeads) +
                   ") must equal `num_attention_heads` (" + llvm::Twine(spec.numAttentionHeads) +
                   "): MLA shares one latent across heads, it has no grouped KV heads");
}

void readRouting(KeyReader &keys, ModelSpec &spec) {
  std::string scoring = keys.optionalString("scoring_func", isV3(spec) ? "sigmoid" : "softmax");
  if (scoring == "sigmoid")
    spec.scoringFunc = ScoreFunc::Sigmoid;
  else if (scoring == "softmax")
    spec.scoringFunc = ScoreFunc::Softmax;
  else
    keys.fail("`scoring_func` \"" + scoring +
              "\" is not supported (expected \"sigmoid\" or \"softmax\")");

  std::string method = keys.optionalString("topk_method", isV3(spec) ? "noaux_tc" : "greedy");
  if (method == "noaux_tc")
    spec.topkMethod = TopkMethod::NoauxTc;
  else if (method == "group_limited_greedy")
    spec.topkMethod = TopkMethod::GroupLimitedGreedy;
  else if (method == "greedy")
    spec.topkMethod = TopkMethod::Greedy;
  else
    keys.fail("`topk_method` \"" + method +
              "\" is not supported (expected \"noaux_tc\", \"group_limited_greedy\" or "
              "\"greedy\")");

  if (spec.topkMethod == TopkMethod::Greedy) {
    // Greedy top-k ignores groups (V2 `MoEGate`): one group holding every expert.
    keys.optionalNullableInt("n_group");
    keys.optionalNullableInt("topk_group");
    spec.nGroup = 1;
    spec.topkGroup = 1;
  } else {
    spec.nGroup = keys.requiredInt("n_group");
    spec.topkGroup = keys.requiredInt("topk_group");
  }
  spec.normTopkProb = keys.optionalBool("norm_topk_prob", isV3(spec));
  spec.routedScalingFactor = keys.optionalNumber("routed_scaling_factor", isV3(spec) ? 2.5 : 1.0);
}

void readTrainingOptions(KeyReader &keys, ModelSpec &spec) {
  double alpha = keys.optionalNumber("aux_loss_alpha", 0.0);
  bool sequenceWise = keys.optionalBool("seq_aux", true);
  if (alpha > 0 && !sequenceWise)
    keys.fail("`aux_loss_alpha` (" + formatNumber(alpha) +
              ") with `seq_aux` false asks for a batch-wise balance loss; ds implements "
              "the sequence-wise one (V3 report §2.1.2): set `seq_aux` true");
  spec.balanceAlpha = alpha;
  spec.mtpLambda = keys.optionalNumber("mtp_loss_weight", 0.3);
}

llvm::Expected<ModelSpec> parseHfConfig(const Object &root) {
  KeyReader keys(root);
  ModelSpec spec;
  spec.modelType = keys.optionalString("model_type", "");
  if (keys.failed())
    return keys.takeError();
  if (spec.modelType != "deepseek_v3" && spec.modelType != "deepseek_v2")
    return specError("`model_type` \"" + spec.modelType +
                     "\" is not supported (expected \"deepseek_v3\" or \"deepseek_v2\")");

  spec.vocabSize = keys.requiredInt("vocab_size");
  spec.hiddenSize = keys.requiredInt("hidden_size");
  spec.intermediateSize = keys.requiredInt("intermediate_size");
  spec.moeIntermediateSize = keys.requiredInt("moe_intermediate_size");
  spec.numHiddenLayers = keys.requiredInt("num_hidden_layers");
  spec.firstKDenseReplace = keys.requiredInt("first_k_dense_replace");
  spec.numAttentionHeads = keys.requiredInt("num_attention_heads");
  spec.nRoutedExperts = keys.requiredInt("n_routed_experts");
  spec.nSharedExperts = keys.requiredInt("n_shared_experts");
  spec.numExpertsPerTok = keys.requiredInt("num_experts_per_tok");
  // null and 0 both mean no query compression (V2-Lite).
  spec.qLoraRank = keys.requiredNullableInt("q_lora_rank").value_or(0);
  spec.kvLoraRank = keys.requiredInt("kv_lora_rank");
  spec.qkNopeHeadDim = keys.requiredInt("qk_nope_head_dim");
  spec.qkRopeHeadDim = keys.requiredInt("qk_rope_head_dim");
  spec.vHeadDim = keys.requiredInt("v_head_dim");
  readRouting(keys, spec);
  rejectUnsupported(keys);
  std::optional<int64_t> kvHeads = keys.optionalNullableInt("num_key_value_heads");

  spec.ropeTheta = keys.optionalNumber("rope_theta", 10000.0);
  spec.ropeInterleave = keys.optionalBool("rope_interleave", true);
  bool useRopeParameters = keys.hasValue("rope_parameters");
  if (const Object *rope = keys.optionalObject("rope_parameters"))
    readRopeScaling(keys, *rope, "rope_parameters", spec);
  else if (const Object *scaling = keys.optionalObject("rope_scaling"))
    readRopeScaling(keys, *scaling, "rope_scaling", spec);
  spec.maxPositionEmbeddings = keys.optionalInt("max_position_embeddings", 4096);

  spec.numNextnPredictLayers = keys.optionalInt("num_nextn_predict_layers", 0);
  spec.tieWordEmbeddings = keys.optionalBool("tie_word_embeddings", false);
  spec.rmsNormEps = keys.optionalNumber("rms_norm_eps", 1e-6);
  spec.initializerRange = keys.optionalNumber("initializer_range", 0.02);
  readTrainingOptions(keys, spec);
  if (llvm::Error error = keys.takeError())
    return std::move(error);
  SpecKeyNames names = useRopeParameters ? SpecKeyNames::hfRopeParameters() : SpecKeyNames();
  if (llvm::Error error = validateModelSpec(spec, names))
    return std::move(error);
  if (llvm::Error error = checkKvHeads(kvHeads, spec))
    return std::move(error);
  return spec;
}

/// DeepSeek's `inference/model.py` ModelArgs.
llvm::Expected<ModelSpec> parseDeepSeekConfig(const Object &root) {
  KeyReader keys(root);
  ModelSpec spec;
  spec.vocabSize = keys.requiredInt("vocab_size");
  spec.hiddenSize = keys.requiredInt("dim");
  spec.intermediateSize = keys.requiredInt("inter_dim");
  spec.moeIntermediateSize = keys.requiredInt("moe_inter_dim");
  spec.numHiddenLayers = keys.requiredInt("n_layers");
  spec.firstKDenseReplace = keys.requiredInt("n_dense_layers");
  spec.numAttentionHeads = keys.requiredInt("n_heads");
  spec.nRoutedExperts = keys.requiredInt("n_routed_experts");
  spec.nSharedExperts = keys.requiredInt("n_shared_experts");
  spec.numExpertsPerTok = keys.requiredInt("n_activated_experts");
  spec.nGroup = keys.optionalInt("n_expert_groups", 1);
  spec.topkGroup = keys.optionalInt("n_limited_groups", 1);
  spec.routedScalingFactor = keys.optionalNumber("route_scale", 1.0);
  spec.qLoraRank = keys.requiredInt("q_lora_rank");
  spec.kvLoraRank = keys.requiredInt("kv_lora_rank");
  spec.qkNopeHeadDim = keys.requiredInt("qk_nope_head_dim");
  spec.qkRopeHeadDim = keys.requiredInt("qk_rope_head_dim");
  spec.vHeadDim = keys.requiredInt("v_head_dim");

  std::string scoring = keys.optionalString("score_func", "softmax");
  if (scoring == "sigmoid") {
    // model.py's Gate: sigmoid scores are renormalized over the chosen experts and
    // selection adds the correction bias, grouped by the sum of the top-2 (V3).
    spec.modelType = "deepseek_v3";
    spec.scoringFunc = ScoreFunc::Sigmoid;
    spec.topkMethod = TopkMethod::NoauxTc;
    spec.normTopkProb = true;
  } else if (scoring == "softmax") {
    spec.modelType = "deepseek_v2";
    spec.scoringFunc = ScoreFunc::Softmax;
    spec.topkMethod = spec.nGroup > 1 ? TopkMethod::GroupLimitedGreedy : TopkMethod::Greedy;
    spec.normTopkProb = false;
  } else {
    keys.fail("`score_func` \"" + scoring +
              "\" is not supported (expected \"sigmoid\" or \"softmax\")");
  }

  spec.ropeTheta = keys.optionalNumber("rope_theta", 10000.0);
  spec.ropeInterleave = true;
  spec.maxPositionEmbeddings = keys.optionalInt("max_seq_len", 4096 * 4);
  int64_t originalSeqLen = keys.optionalInt("original_seq_len", 4096);
  // model.py applies YaRN only when max_seq_len exceeds original_seq_len; its single
  // `mscale` scales the softmax and leaves RoPE's cos/sin alone.
  if (spec.maxPositionEmbeddings > originalSeqLen) {
    YarnSpec yarn;
    yarn.factor = keys.optionalNumber("rope_factor", 40.0);
    yarn.originalMaxPosition = originalSeqLen;
    yarn.betaFast = keys.optionalNumber("beta_fast", 32.0);
    yarn.betaSlow = keys.optionalNumber("beta_slow", 1.0);
    yarn.mscale = keys.optionalNumber("mscale", 1.0);
    yarn.mscaleAllDim = yarn.mscale;
    spec.yarn = yarn;
  }
  // The inference config describes no MTP module and no init; V3 report §4.2
  // initializes every parameter with standard deviation 0.006.
  spec.numNextnPredictLayers = 0;
  spec.tieWordEmbeddings = false;
  spec.rmsNormEps = 1e-6;
  spec.initializerRange = 0.006;
  readTrainingOptions(keys, spec);
  if (llvm::Error error = keys.takeError())
    return std::move(error);
  if (llvm::Error error = validateModelSpec(spec, SpecKeyNames::deepSeekInference()))
    return std::move(error);
  return spec;
}

llvm::Expected<ModelSpec> parseSpecObject(const Object &object) {
  if (object.get("model_type"))
    return parseHfConfig(object);
  if (object.get("dim"))
    return parseDeepSeekConfig(object);
  return specError("cannot tell the spec format: expected `model_type` (HF config.json) "
                   "or `dim` (DeepSeek inference config)");
}

/// "[3:14, byte=40]: Expected , or }" from llvm::json becomes "3:14: Expected , or }"
/// (llvm::json counts the column of the offending character from 1 already).
std::string formatJsonError(llvm::Error error) {
  std::string text = llvm::toString(std::move(error));
  llvm::StringRef rest(text);
  unsigned line = 0, column = 0;
  if (rest.consume_front("[") && !rest.consumeInteger(10, line) && rest.consume_front(":") &&
      !rest.consumeInteger(10, column)) {
    size_t colon = rest.find("]: ");
    if (colon != llvm::StringRef::npos)
      return (llvm::Twine(line) + ":" + llvm::Twine(column) + ": " + rest.substr(colon + 3)).str();
  }
  return text;
}

} // namespace

llvm::Expected<ModelSpec> ds::parseModelSpec(llvm::StringRef jsonText, llvm::StringRef sourceName) {
  llvm::Expected<llvm::json::Value> root = llvm::json::parse(jsonText);
  if (!root)
    return specError(sourceName + ":" + formatJsonError(root.takeError()) +
                     " (the spec is not valid JSON)");
  const Object *object = root->getAsObject();
  if (!object)
    return specError(sourceName + ": the spec must be a JSON object, got " +
                     describeJsonValue(*root));
  llvm::Expected<ModelSpec> spec = parseSpecObject(*object);
  if (!spec)
    return specError(sourceName + ": " + llvm::toString(spec.takeError()));
  return spec;
}

llvm::Expected<ModelSpec> ds::loadModelSpec(llvm::StringRef path) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return specError(path + ": cannot read the spec: " + buffer.getError().message());
  return parseModelSpec((*buffer)->getBuffer(), path);
}
