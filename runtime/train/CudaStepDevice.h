//===- CudaStepDevice.h - a training step on one CUDA GPU -----------------===//
//
// The StepDevice (TrainJob.h) of ds-train --device cuda. One device arena (cudaMalloc)
// laid out exactly as the plan's offsets, so every buffer sits at the same offset on the
// device as in the host arena and the launch list carries over unchanged. Per step:
// the inputs (tokens, lr, step) host to device, every launch through the CUDA kernel table
// on one stream, the plan's updates as device-to-device copies, the outputs the metrics
// read back to the host, and one stream synchronisation. From step 2 on, the launches
// and updates are one CUDA graph, captured at step 2 and replayed (step 1 grows scratch
// buffers and caches cuBLASLt plans, which a capture cannot contain); a plan with a kernel
// that needs the host mid-step is launched kernel by kernel instead, with a message.
//
// With profiling on (DS_CUDA_PROFILE=1 in ds-train), each launch is bracketed by CUDA
// events and the elapsed times are summed per kernel name: the per-kernel-class breakdown
// of a step. The events serialise nothing on the stream but cost a little host time. The
// first step (scratch growth, cuBLASLt heuristic queries) is left out when later ones ran.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_CUDASTEPDEVICE_H
#define DS_RUNTIME_TRAIN_CUDASTEPDEVICE_H

#include "runtime/train/TrainJob.h"

#include <map>
#include <memory>
#include <string>

namespace ds::rt {

struct KernelTime {
  double milliseconds = 0.0;
  int64_t launches = 0;
};

/// Makes the CUDA step device for device 0 (it allocates nothing until attach).
/// `profile` turns on per-launch event timing (and launches kernel by kernel); `graphs`
/// allows the CUDA-graph replay of steps 2 and on.
Expected<std::shared_ptr<StepDevice>> createCudaStepDevice(bool profile, bool graphs);

/// The per-kernel times summed over steps 2.. (over step 1 when it is the only one), and
/// in `steps` how many steps that is (empty, 0, unless profiling is on).
std::map<std::string, KernelTime> cudaKernelTimes(const StepDevice &device, int64_t &steps);

/// "NVIDIA H100 80GB HBM3, 79.1 GiB" for device 0, or the CUDA error.
Expected<std::string> cudaDeviceDescription();

} // namespace ds::rt

#endif
