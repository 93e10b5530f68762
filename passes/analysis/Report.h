//===- Report.h - parameters, FLOPs and KV cache of a forward graph -------===//
//
// The analysis behind the `ds-report` pass and `ds-compile --report`. It reads the IR
// (the parameter arguments of @forward and the composite ops that use them), not the
// spec, so it reports the graph that will actually be trained. Run it before
// ds-decompose: the composites say which experts a token activates.
//
// Conventions (as DeepSeek's reports count):
//  * params_total: every `ds.param` of the main model once (a tied head counts once);
//    buffers (e_score_correction_bias) are state, not parameters; the MTP modules'
//    own parameters are params_mtp. (V3: 671.0B total, 11.6B MTP.)
//  * params_activated: what one token uses: every dense weight and norm, the router,
//    the shared experts and top_k / E of the routed experts. The embedding table is a
//    row lookup, not computation, and is excluded (V3: 36.6B, V2: 20.9B, V2-Lite 2.45B,
//    against the published 37B/21B/2.4B); a head tied to the embedding counts as
//    activated through the head.
//  * FLOPs per token: 2 per multiply-add of every matmul a token goes through (the
//    activated matmul weights above, lm_head included) plus causal attention at the
//    graph's sequence length S: per layer 2 * h * (qk_nope + qk_rope + v) * (S + 1) / 2
//    (score and value products, on average (S + 1) / 2 keys per query). Norms,
//    activations, softmax and the loss are not counted. Training = 3 x forward (the
//    backward pass costs two forward passes), over the main model and the MTP modules
//    the training graph also runs.
//  * KV cache per token at inference, BF16 (2 bytes), main layers only (MTP is dropped
//    at inference): MLA caches kv_lora_rank + qk_rope_head_dim values per layer; the MHA
//    of the same heads would cache keys and values of every head,
//    h * (qk_nope + qk_rope) + h * v (V2 report §2.1.4, Table 1).
//  * train_state_bytes: FP32 master weight, gradient and two AdamW moments per
//    parameter, main model and MTP (16 bytes each; docs/ir-conventions.md keeps all of
//    them in f32).
//
//===----------------------------------------------------------------------===//
#ifndef DS_PASSES_ANALYSIS_REPORT_H
#define DS_PASSES_ANALYSIS_REPORT_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace ds {

/// One row of the report: a decoder layer, an MTP module, the embedding or the head.
struct LayerReport {
  /// "model.layers.3", "model.embed_tokens", "lm_head".
  std::string name;
  /// "embedding", "dense", "moe", "mtp" or "head".
  std::string kind;
  int64_t params = 0;
  int64_t paramsActivated = 0;
  int64_t flopsPerTokenForward = 0;
  int64_t kvCacheBytesPerToken = 0;
  int64_t kvCacheBytesPerTokenMha = 0;
};

struct ModelReport {
  std::string modelType;
  int64_t batch = 0;
  int64_t seq = 0;
  int64_t paramsTotal = 0;
  int64_t paramsActivated = 0;
  int64_t paramsEmbedding = 0;
  int64_t paramsMtp = 0;
  int64_t bufferElements = 0;
  int64_t flopsPerTokenForward = 0;
  int64_t flopsPerTokenMtpForward = 0;
  int64_t flopsPerTokenTraining = 0;
  int64_t kvCacheBytesPerToken = 0;
  int64_t kvCacheBytesPerTokenMha = 0;
  int64_t trainStateBytes = 0;
  std::vector<LayerReport> layers;
};

/// Analyzes `@forward` of `module`. Fails with a message when there is no @forward or
/// when an op the report must cost has operands it cannot read.
llvm::Expected<ModelReport> analyzeModel(mlir::ModuleOp module);

/// The human-readable table (summary, then one row per layer).
void printReportText(const ModelReport &report, llvm::raw_ostream &os);

/// The report as JSON: the summary keys (params_total, params_activated, params_mtp,
/// flops_per_token_forward, flops_per_token_training, kv_cache_bytes_per_token,
/// kv_cache_bytes_per_token_mha, ...) and `layers`, a list of rows.
llvm::json::Value reportToJson(const ModelReport &report);

/// Writes reportToJson to `path` through a temporary file renamed into place, so that
/// a reader never sees half a report.
llvm::Error writeReportJson(const ModelReport &report, llvm::StringRef path);

} // namespace ds

#endif
