//===- CheckpointState.h - what a checkpoint records besides tensors ------===//
//
// A resumed run reproduces the uninterrupted one bit for bit only if everything the
// remaining steps depend on is the same: the computation (the plan), the data, the seed
// (parameter init aside, it fixes the data windows, which depend only on (seed, step):
// TokenData.h) and the learning-rate schedule (lr(t) depends on every setting, --steps
// included). RunConfig records those, and `trainer_state.json` stores it with the step:
//
//   {"format": "ds-checkpoint", "version": 1, "step": 15,
//    "plan": {"name": "v3-tiny.json", "model_type": "deepseek_v3", "batch": 4, "seq": 64,
//             "spec_fingerprint": "<16 hex>", "plan_fingerprint": "<16 hex>"},
//    "data": {"name": "data/corpus.txt", "tokens": 123456, "fingerprint": "<16 hex>"},
//    "seed": "0",
//    "schedule": {"lr": 0.003, "warmup": 20, "steps": 200, "min_lr_ratio": 0.1}}
//
// Reals are written as the shortest decimal that reads back as the same double; the seed
// (all 64 bits) as a decimal string. Fingerprints are checksum64 values in hex; names are
// only for messages.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_CHECKPOINTSTATE_H
#define DS_RUNTIME_TRAIN_CHECKPOINTSTATE_H

#include "runtime/plan/Plan.h"
#include "runtime/train/LrSchedule.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// Version of trainer_state.json (and of the checkpoint folder layout) this runtime writes
/// and reads.
constexpr int64_t kCheckpointFormatVersion = 1;

/// A 64-bit checksum of `size` bytes (xxHash64-style rounds over four lanes, then a
/// splitmix64 finish): fast enough to run over every byte of a checkpoint, and any change
/// of the bytes changes it with probability 1 - 2^-64. It detects corruption; it is not a
/// cryptographic hash.
uint64_t checksum64(const void *data, size_t size);

/// A checksum as 16 lowercase hex digits, and back (false unless exactly that form).
std::string checksumHex(uint64_t value);
bool parseChecksumHex(const std::string &text, uint64_t &value);

/// The checksum of what the plan computes: its spec, shapes, buffers (name, role, dtype,
/// shape, init), launches (kernel, operands, attributes) and updates. Arena offsets are
/// left out, since where a buffer lies does not change what a step computes.
uint64_t planFingerprint(const Plan &plan);

/// Everything a continued run must share with the run that wrote the checkpoint.
struct RunConfig {
  std::string planName;
  std::string modelType;
  int64_t batch = 0;
  int64_t seq = 0;
  uint64_t specFingerprint = 0;
  uint64_t planFingerprint = 0;
  std::string dataName;
  int64_t dataTokens = 0;
  uint64_t dataFingerprint = 0;
  uint64_t seed = 0;
  LrSchedule schedule;
};

RunConfig describeRun(const Plan &plan, const std::string &planName,
                      const std::vector<int32_t> &tokens, const std::string &dataName,
                      uint64_t seed, const LrSchedule &schedule);

/// Succeeds when `run` may continue a checkpoint written under `saved`; otherwise the error
/// names the first setting that differs, both values and the flag to fix, after the
/// prefix `checkpoint` (e.g. "checkpoint ck/step-000015").
Status checkResumable(const RunConfig &saved, const RunConfig &run, const std::string &checkpoint);

struct TrainerState {
  /// Optimizer steps completed; the resumed run starts at step + 1.
  int64_t step = 0;
  RunConfig config;
};

/// trainer_state.json's text (with a final newline).
std::string encodeTrainerState(const TrainerState &state);
/// Parses and validates trainer_state.json; errors start with `source`.
Expected<TrainerState> parseTrainerState(const std::string &text, const std::string &source);

} // namespace ds::rt

#endif
