//===- BuildOptions.h - what a model builder needs beyond the spec --------===//
#ifndef DS_MODELS_BUILDOPTIONS_H
#define DS_MODELS_BUILDOPTIONS_H

#include <cstdint>
#include <optional>
#include <string>

namespace ds {

/// Shapes are static (docs/ir-conventions.md): the batch and sequence length are fixed
/// when the graph is built. The training options override the spec's when set.
struct BuildOptions {
  int64_t batch = 1;
  int64_t seq = 128;
  /// Sequence-wise balance loss weight (V3 report §2.1.2); 0 turns the loss off.
  std::optional<double> balanceAlpha;
  /// MTP loss weight lambda (V3 report §2.2).
  std::optional<double> mtpLambda;
  /// MTP depth D (V3 report §2.2): the spec's num_nextn_predict_layers unless set; 0
  /// builds the main model alone, as HF transformers' DeepseekV3ForCausalLM trains it.
  std::optional<int64_t> mtpDepth;
  /// Adds the main head's logits [B, S, V] (f32) as the result {ds.output = "logits"} of
  /// @forward, for evaluation and gradient plans; training leaves them out so that their
  /// bytes need not outlive the step.
  bool emitLogits = false;
  /// Activations (and so their gradients) stored in BF16 instead of FP32; parameters stay
  /// FP32 master weights, converted to BF16 where a BF16 op reads them (their gradients
  /// come back as FP32 through the converts). The router's gate and its bias stay FP32,
  /// as V3 keeps them; the loss is FP32.
  bool bf16Activations = false;
  /// Parameters (and so their gradients) stored in BF16 with no FP32 master copy: the
  /// recipe of PyTorch's model.to(torch.bfloat16) with AdamW, which the bench baseline
  /// trains. Implies bf16Activations. The router's gate and its bias stay FP32.
  bool bf16Params = false;
};

/// Sets bf16Activations and bf16Params from a tool's --activations and --params values,
/// each "f32" or "bf16" (`activationsGiven`: whether --activations was on the command
/// line). BF16 parameters imply BF16 activations (the builder applies that), so an
/// explicit `--activations f32` beside them is refused. For a bad value returns the
/// message the tool prints (one text for ds-compile and ds-opt).
inline std::optional<std::string> setElementTypes(BuildOptions &options,
                                                  const std::string &activations,
                                                  bool activationsGiven,
                                                  const std::string &params) {
  if (activations != "f32" && activations != "bf16")
    return "unknown --activations '" + activations + "'; expected f32 or bf16";
  if (params != "f32" && params != "bf16")
    return "unknown --params '" + params + "'; expected f32 or bf16";
  options.bf16Params = params == "bf16";
  options.bf16Activations = activations == "bf16";
  if (options.bf16Params && activationsGiven && !options.bf16Activations)
    return "--params bf16 needs BF16 activations; drop --activations f32";
  return std::nullopt;
}

} // namespace ds

#endif
