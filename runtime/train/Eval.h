//===- Eval.h - one forward (and backward) pass of HF weights on given ids ------===//
//
// What `ds-train --eval` runs, to compare ds with HF transformers on the same weights:
// compile the HF folder's config.json with `ds-compile --mode eval` (or `--mode gradients`)
// at the batch and length of the ids, load the weights (HfWeights.h), run the plan once
// and write its logits, loss and gradients by HF names.
//
// Matching transformers' `model(input_ids=ids, labels=ids)`: ds's plan embeds
// tokens[:, 0:S] and predicts tokens[:, 1:S+1], so S is the ids' length and tokens are the
// ids followed by a -100 column: every position gets logits, the last one no label, which
// is HF's shifted loss. HF's DeepseekV3ForCausalLM has no MTP module, so a config with
// `num_nextn_predict_layers` > 0 is compiled with 0 (the MTP layers of the checkpoint are
// then skipped) and the balance loss is left out (HF's V3 computes none).
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_EVAL_H
#define DS_RUNTIME_TRAIN_EVAL_H

#include "runtime/core/Executor.h"
#include "runtime/train/HfWeights.h"

#include <string>

namespace ds::rt {

struct HfEvalRequest {
  /// The HF folder: config.json and the weights.
  std::string hfDir;
  /// A safetensors file holding `input_ids`, i32 [batch, seq].
  std::string inputPath;
  /// Where the results go (safetensors): `logits` f32 [batch, seq, vocab], `loss` f32 [],
  /// the plan's other outputs (`loss.<part>`, `expert_counts.<L>`), and with `gradients`
  /// `grad.<HF name>` for every HF parameter (routed experts per expert).
  std::string outputPath;
  bool gradients = false;
  /// The folder holding ds-compile.
  std::string toolDir;
};

struct HfEvalResult {
  int64_t batch = 0, seq = 0;
  float loss = 0;
  HfImportSummary import;
  int64_t gradientTensors = 0;
};

/// Compiles, loads, runs once and writes request.outputPath.
Expected<HfEvalResult> runHfEval(const HfEvalRequest &request, const KernelResolver &resolve);

/// The HF ids [batch, seq] as the plan's tokens [batch, seq + 1 + mtpDepth]: each row
/// followed by -100 (no label).
std::vector<int32_t> evalTokens(const std::vector<int32_t> &ids, int64_t batch, int64_t seq,
                                int64_t mtpDepth);

/// `config` (the text of an HF config.json) with num_nextn_predict_layers set to 0, or
/// unchanged when it is absent or already 0.
Expected<std::string> withoutMtpLayers(const std::string &config);

} // namespace ds::rt

#endif
