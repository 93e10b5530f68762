//===- Checkpoint.h - checkpoint folders: write, find, load ---------------===//
//
// Layout of a checkpoint root DIR:
//
//   DIR/step-000100/model.safetensors      every Param and Buffer, by its plan (HF) name;
//                                          FP32 master weights, routed experts stacked
//   DIR/step-000100/optimizer.safetensors  every State buffer ("exp_avg.<param>",
//                                          "exp_avg_sq.<param>")
//   DIR/step-000100/trainer_state.json     step and run configuration (CheckpointState.h)
//   DIR/latest                             "step-000100\n": the newest complete checkpoint,
//                                          for people and tools
//
// Each safetensors file carries, in its __metadata__, "ds.checksum.<tensor>" (checksum64 of
// the tensor's bytes), so a flipped bit in tensor data is reported by name; the header's
// own validation catches truncation and a damaged header.
//
// Crash safety: a checkpoint is written into DIR/.tmp-step-000100-<pid>, each file through
// AtomicFile (fsynced), then the folder is renamed to step-000100 and DIR fsynced, then
// `latest` is replaced atomically, and only then are old checkpoints removed (renamed to a
// .tmp- name first). A process killed at any point leaves `latest` naming a complete
// checkpoint (the previous one until the new one is whole), and every step-* folder
// complete; stale .tmp-* folders are ignored by readers and removed by the next write.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_CHECKPOINT_H
#define DS_RUNTIME_TRAIN_CHECKPOINT_H

#include "runtime/core/Executor.h"
#include "runtime/train/CheckpointState.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ds::rt {

constexpr const char *kCheckpointModelFile = "model.safetensors";
constexpr const char *kCheckpointOptimizerFile = "optimizer.safetensors";
constexpr const char *kCheckpointStateFile = "trainer_state.json";
constexpr const char *kCheckpointLatestFile = "latest";

/// "step-000100": the step, zero-padded to six digits (more digits past 999999).
std::string checkpointFolderName(int64_t step);
/// The step of a folder name checkpointFolderName gives; false for any other name.
bool parseCheckpointFolderName(const std::string &name, int64_t &step);

/// The complete checkpoints in `root` as (step, folder path), oldest first; an empty list
/// when `root` does not exist.
Expected<std::vector<std::pair<int64_t, std::string>>> listCheckpoints(const std::string &root);

/// Writes the executor's Param, Buffer and State buffers and `state` as the checkpoint of
/// `state.step` in `root` (created if needed), points `latest` at it and removes all but
/// the `keep` newest checkpoints. Returns the new checkpoint's folder.
Expected<std::string> writeCheckpoint(const std::string &root, const Executor &executor,
                                      const TrainerState &state, int64_t keep);

struct CheckpointLocation {
  /// The root holding the checkpoint (where a resumed run keeps writing).
  std::string root;
  /// The step folder itself.
  std::string folder;
};

/// `path` is either one step folder or a checkpoint root, which stands for its newest step
/// folder: the one `latest` names, or a newer one whose writer was killed between renaming
/// it into place and updating `latest`.
Expected<CheckpointLocation> locateCheckpoint(const std::string &path);

/// Reads and validates `folder`/trainer_state.json.
Expected<TrainerState> readTrainerState(const std::string &folder);

/// Copies the checkpoint's tensors into the executor's Param, Buffer and State buffers.
/// Every such buffer must be in the checkpoint with its dtype, shape and checksum, and the
/// checkpoint may hold nothing else. On error the buffers may be partly overwritten.
Status loadCheckpointTensors(const std::string &folder, Executor &executor);

} // namespace ds::rt

#endif
