//===- HfWeights.h - Hugging Face DeepSeek checkpoints in and out ---------===//
//
// A plan names its parameters and buffers as HF transformers does, except where ds keeps
// several HF tensors in one (docs/ir-conventions.md):
//   model.layers.L.mlp.experts.gate_up [E, 2I, D]  <- experts.{e}.gate_proj.weight ;
//                                                     experts.{e}.up_proj.weight (rows)
//   model.layers.L.mlp.experts.down    [E, D, I]   <- experts.{e}.down_proj.weight
//   <prefix>.gate_up [2I, D]  (dense mlp, shared_experts) <- gate_proj.weight ; up_proj.weight
//   model.layers.L.eh_proj.weight [D, 2D]: ds reads [hidden; embedding], DeepSeek's
//     checkpoints [embedding; hidden], so the two column halves are swapped both ways.
// Every other name is the HF name. Routed experts may also come fused, as transformers
// 5.x holds them in memory (`experts.gate_up_proj`, `experts.down_proj`, same layouts).
//
// Import converts F32/BF16/F16 to F32 and dequantizes FP8 E4M3 weights with their
// `<name>_scale_inv` block scales (w = q * scale_inv[r / 128][c / 128], edge blocks ragged;
// the block comes from config.json's quantization_config.weight_block_size when given).
// Export writes the HF layout back in F32, so export then import is exact.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_HFWEIGHTS_H
#define DS_RUNTIME_TRAIN_HFWEIGHTS_H

#include "runtime/core/Executor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// One HF tensor that fills a part of a plan tensor: the `numElements(shape)` elements
/// starting at element `offset` of the plan tensor, row-major. With `swapColumnHalves`
/// the piece is the whole (2-D) plan tensor with the halves of its columns exchanged.
struct HfPiece {
  std::string key;
  std::vector<int64_t> shape;
  int64_t offset = 0;
  bool swapColumnHalves = false;
};

/// The ways a plan tensor may be stored in an HF checkpoint, preferred first (the
/// checkpoint layout, then the fused in-memory one where there is one).
std::vector<std::vector<HfPiece>> hfLayoutsOf(const std::string &name,
                                              const std::vector<int64_t> &shape);

/// An HF-named f32 tensor that owns its data.
struct HfTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

/// Splits a plan tensor into its HF tensors (the checkpoint layout), each named
/// `prefix + key` (e.g. prefix "grad." for gradients).
std::vector<HfTensor> toHfTensors(const std::string &name, const std::vector<int64_t> &shape,
                                  const float *data, const std::string &prefix = "");

/// What an import did besides filling every parameter.
struct HfImportSummary {
  /// HF tensors read (scales of FP8 weights not counted).
  int64_t tensorsRead = 0;
  /// Plan buffers the checkpoint lacks, left at zero (a V2 model's router bias).
  std::vector<std::string> zeroBuffers;
  /// The MTP layers' copies of the embedding and output head, and whole layers past the
  /// plan's last layer (MTP modules a plan without MTP does not use).
  int64_t skippedMtpTensors = 0;
  /// Other checkpoint tensors no plan tensor reads, sorted.
  std::vector<std::string> unusedTensors;
};

/// Fills every Param (and every Buffer the checkpoint has) of `executor` from the HF
/// folder `hfDir` (`model.safetensors.index.json` with its shards, or `model.safetensors`).
/// Fails naming the HF key and the plan tensor when a parameter is missing, a shape
/// differs, a dtype is not a float, or an FP8 weight has no valid scale.
Expected<HfImportSummary> importHfWeights(Executor &executor, const std::string &hfDir);

struct HfExportOptions {
  /// Split into `model-0000k-of-0000n.safetensors` shards of at most about this many
  /// bytes with a `model.safetensors.index.json`; 0 writes one `model.safetensors`.
  uint64_t maxShardBytes = 0;
  /// When non-empty, copied into the folder as config.json.
  std::string configPath;
};

/// Writes every Param and Buffer of `executor` in the HF layout into folder `outDir`
/// (created if needed), each file atomically.
Status exportHfWeights(const Executor &executor, const std::string &outDir,
                       const HfExportOptions &options = {});

} // namespace ds::rt

#endif
