//===- Plan.h - the in-memory execution plan of one training step ---------===//
//
// A plan is what the compiler hands the runtime: a set of buffers laid out in one arena, a
// linear list of kernel launches over those buffers, and the copies that carry the step's
// updated state into the next step. It names everything the runtime binds (inputs,
// parameters, buffers, optimizer state, outputs) by the names of docs/ir-conventions.md,
// so a checkpoint or a metrics line can be written without knowing the model.
//
// Arena layout: every persistent buffer (Input, Param, Buffer, State) lies in
// [0, persistentBytes) and survives from step to step; Temporary and Output buffers lie in
// [persistentBytes, arenaBytes), where ds-plan-memory may let buffers whose live ranges do
// not overlap share bytes. An Output must stay live until the end of the step, since the
// runtime reads it (loss, grad_norm, expert counts) after the last launch. Every offset is
// a multiple of kPlanAlignment.
//
// Views: a temporary with viewOf >= 0 has no bytes of its own; it names the bytes of buffer
// viewOf (a temporary or output that is not itself a view) at the same offset, under its
// own shape of the same dtype and at most as many bytes (a reshape that copies nothing).
// No launch writes a view, and for liveness every read of a view is a read of its source.
//
// The helpers defined inline here are those runtime/core's executor uses, which keeps that
// library free of a link dependency on runtime/plan.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_PLAN_PLAN_H
#define DS_RUNTIME_PLAN_PLAN_H

#include "runtime/core/Status.h"
#include "runtime/core/Tensor.h"
#include "runtime/kernels/Kernel.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// Version of the .dsplan format this runtime reads and writes. Bump it on any change of
/// the byte layout or of the meaning of a field.
constexpr uint32_t kPlanFormatVersion = 2;
/// Every buffer offset, persistentBytes and arenaBytes are multiples of this (one cache
/// line on CPUs; more than the 16 bytes vectorized CUDA loads need).
constexpr int64_t kPlanAlignment = 64;

/// What a buffer holds, which decides who writes it and whether it outlives a step.
enum class BufferRole : uint8_t {
  Temporary = 0, ///< produced and consumed within one step
  Input = 1,     ///< written by the runtime before each step ("tokens", "lr", "step")
  Param = 2,     ///< a trainable parameter (FP32 master weight), by its HF name
  Buffer = 3,    ///< non-trained model state (e.g. the router's e_score_correction_bias)
  State = 4,     ///< optimizer state ("exp_avg.<param>", "exp_avg_sq.<param>")
  Output = 5,    ///< read by the runtime after each step ("loss", "grad_norm", ...)
};

/// "temporary", "input", "param", "buffer", "state", "output".
const char *bufferRoleName(BufferRole role);
/// Parses the names bufferRoleName prints; false if unknown.
bool parseBufferRole(const std::string &name, BufferRole &role);
/// A kernel's output that may take the bytes of one of its inputs: on every backend each
/// element of the input is read before the same element of the output is written.
/// ds-plan-memory gives the two one buffer when the input's lifetime ends at the launch
/// (same dtype and shape); the plan verifier accepts exactly that overlap.
struct InPlaceOperands {
  size_t input, output;
};

/// The in-place pair of `kernel`, or false. Today only cross_entropy_grad (logits ->
/// logits_grad: cpu/CrossEntropy.cpp and cuda/CrossEntropy.cu read a row's max and sum,
/// then read each logit before writing its gradient).
bool inPlaceOperands(const std::string &kernel, InPlaceOperands &pair);

/// True for the roles that live in [0, persistentBytes) and survive between steps.
inline bool isPersistentRole(BufferRole role) {
  return role == BufferRole::Input || role == BufferRole::Param || role == BufferRole::Buffer ||
         role == BufferRole::State;
}

struct PlanBuffer {
  /// The binding name for non-temporaries (e.g. "tokens", "model.embed_tokens.weight",
  /// "exp_avg.model.norm.weight", "loss.main"); a readable label for temporaries.
  std::string name;
  BufferRole role = BufferRole::Temporary;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  /// Bytes from the start of the arena.
  int64_t offset = 0;
  /// How a fresh run fills a Param: "normal" (N(0, initializerRange)), "ones" or "zeros".
  /// Empty for every other role (Buffer and State start at zero).
  std::string init;
  /// For a view, the id of the buffer whose bytes it names; -1 otherwise.
  int32_t viewOf = -1;

  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  int64_t sizeInBytes() const { return numElements() * dtypeSize(dtype); }
};

/// One kernel launch: the kernel named after its ds op, its operands and results as
/// buffer ids (indices into Plan::buffers) in ODS order, and the op's attributes.
struct PlanLaunch {
  std::string kernel;
  std::vector<int32_t> inputs;
  std::vector<int32_t> outputs;
  KernelAttrs attrs;
};

/// After each step, buffer `source` (a ds.update result) is copied into the persistent
/// buffer `target` of the same dtype and shape. A plan whose kernels already wrote the new
/// value in place needs no update for it.
struct PlanUpdate {
  int32_t source = -1;
  int32_t target = -1;
};

struct Plan {
  uint32_t version = kPlanFormatVersion;
  /// The normalized model spec (JSON), so a plan says which model it trains.
  std::string specJson;
  std::string modelType;
  int64_t batch = 0;
  int64_t seq = 0;
  int64_t vocabSize = 0;
  int64_t mtpDepth = 0;
  double initializerRange = 0.02;
  int64_t persistentBytes = 0;
  int64_t arenaBytes = 0;
  std::vector<PlanBuffer> buffers;
  std::vector<PlanLaunch> launches;
  std::vector<PlanUpdate> updates;

  /// Id of the first buffer with this role and name, or -1.
  int32_t findBuffer(BufferRole role, const std::string &name) const {
    for (size_t i = 0; i < buffers.size(); ++i)
      if (buffers[i].role == role && buffers[i].name == name)
        return static_cast<int32_t>(i);
    return -1;
  }
};

/// Rounds `bytes` up to a multiple of kPlanAlignment.
inline int64_t alignPlanOffset(int64_t bytes) {
  return (bytes + kPlanAlignment - 1) / kPlanAlignment * kPlanAlignment;
}

/// Gives every buffer its own offset with no sharing: persistent buffers first, then
/// temporaries and outputs, each view at its source's offset; sets persistentBytes and
/// arenaBytes. A correct layout for any launch order (the memory planner's reference, and
/// how hand-built plans are laid out).
Status layoutPlanWithoutReuse(Plan &plan);

} // namespace ds::rt

#endif
