#include "runtime/train/CudaStepDevice.h"

#include "runtime/kernels/Kernel.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <vector>

namespace ds::rt {

namespace {

Status check(cudaError_t error, const char *what) {
  if (error == cudaSuccess)
    return Status::ok();
  return errorf("cuda: ", what, " failed: ", cudaGetErrorName(error), " (",
                cudaGetErrorString(error), ")");
}

double gib(double bytes) { return bytes / double(1ull << 30); }

class CudaStepDevice final : public StepDevice {
public:
  CudaStepDevice(bool profile, bool graphs) : profile_(profile), graphs_(graphs) {}
  ~CudaStepDevice() override {
    // Errors here have nowhere to go; the process is ending or the job failed already.
    if (graph_)
      cudaGraphExecDestroy(graph_);
    for (cudaEvent_t e : events_)
      cudaEventDestroy(e);
    if (stream_)
      cudaStreamDestroy(stream_);
    if (arena_)
      cudaFree(arena_);
  }

  Status attach(const Executor &host) override {
    const Plan &plan = host.plan();
    size_t freeBytes = 0, totalBytes = 0;
    DS_RETURN_IF_ERROR(check(cudaSetDevice(0), "cudaSetDevice(0)"));
    DS_RETURN_IF_ERROR(check(cudaMemGetInfo(&freeBytes, &totalBytes), "cudaMemGetInfo"));
    // Kernels also take scratch (grow-only, per stream) and cuBLASLt a workspace beyond
    // the arena, so the arena alone must leave some room; the check is for the arena,
    // which is what a plan's size says.
    if (static_cast<double>(plan.arenaBytes) > static_cast<double>(freeBytes)) {
      char text[160];
      std::snprintf(text, sizeof text,
                    "the plan needs %.2f GiB of device memory but the GPU has %.2f GiB free "
                    "(of %.2f GiB)",
                    gib(double(plan.arenaBytes)), gib(double(freeBytes)), gib(double(totalBytes)));
      return Status::error(text);
    }
    DS_RETURN_IF_ERROR(check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
                             "cudaStreamCreateWithFlags"));
    if (plan.arenaBytes > 0)
      DS_RETURN_IF_ERROR(check(cudaMalloc(&arena_, plan.arenaBytes), "cudaMalloc(arena)"));
    // The host arena holds the initialised (or loaded) state in its persistent prefix
    // [0, persistentBytes) and zeros elsewhere, as a fresh host arena does: copying the
    // prefix and zeroing the rest on the device makes the device arena its twin, without
    // moving the temporaries' zeros over PCIe (18 of v3-mini's 29 GB).
    hostBase_ = plan.buffers.empty() ? nullptr : static_cast<uint8_t *>(host.view(0).data) -
                                                     plan.buffers[0].offset;
    if (plan.arenaBytes > 0)
      DS_RETURN_IF_ERROR(check(cudaMemset(arena_, 0, plan.arenaBytes), "cudaMemset(arena)"));
    if (plan.persistentBytes > 0)
      DS_RETURN_IF_ERROR(check(cudaMemcpy(arena_, hostBase_, plan.persistentBytes,
                                          cudaMemcpyHostToDevice),
                               "cudaMemcpy(persistent state to device)"));

    registerCudaKernels();
    views_.reserve(plan.buffers.size());
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      TensorView view = host.view(static_cast<int32_t>(i));
      view.data = deviceAddress(plan.buffers[i].offset);
      views_.push_back(view);
    }
    for (size_t l = 0; l < plan.launches.size(); ++l) {
      const PlanLaunch &launch = plan.launches[l];
      KernelFn fn = lookupKernel(Backend::Cuda, launch.kernel);
      if (!fn)
        return errorf("cuda: launch ", l, " uses kernel '", launch.kernel,
                      "', which has no CUDA implementation yet (docs/kernels-needed.md)");
      KernelCall call;
      call.attrs = launch.attrs;
      call.stream = stream_;
      for (int32_t id : launch.inputs)
        call.inputs.push_back(views_[id]);
      for (int32_t id : launch.outputs)
        call.outputs.push_back(views_[id]);
      kernels_.push_back(fn);
      calls_.push_back(std::move(call));
    }
    if (profile_) {
      events_.resize(2 * plan.launches.size());
      for (cudaEvent_t &e : events_)
        DS_RETURN_IF_ERROR(check(cudaEventCreate(&e), "cudaEventCreate"));
    }
    return Status::ok();
  }

  Status runStep(Executor &host, const std::vector<int32_t> &inputs,
                 const std::vector<int32_t> &outputs) override {
    const Plan &plan = host.plan();
    for (int32_t id : inputs) {
      const TensorView &view = host.view(id);
      DS_RETURN_IF_ERROR(check(cudaMemcpyAsync(views_[id].data, view.data, view.sizeInBytes(),
                                               cudaMemcpyHostToDevice, stream_),
                               "cudaMemcpyAsync(input to device)"));
    }
    if (graph_) {
      DS_RETURN_IF_ERROR(check(cudaGraphLaunch(graph_, stream_), "cudaGraphLaunch(the step)"));
    } else if (graphs_ && !profile_ && stepsRun_ >= 1) {
      // Step 2 (step 1 grew every scratch buffer and cached every GEMM plan): capture the
      // launches and updates once, then replay them.
      DS_RETURN_IF_ERROR(captureStep(plan));
    } else {
      DS_RETURN_IF_ERROR(enqueueStep(plan));
    }
    ++stepsRun_;
    for (int32_t id : outputs) {
      const TensorView &view = host.view(id);
      DS_RETURN_IF_ERROR(check(cudaMemcpyAsync(view.data, views_[id].data, view.sizeInBytes(),
                                               cudaMemcpyDeviceToHost, stream_),
                               "cudaMemcpyAsync(output to host)"));
    }
    // The step's one synchronisation; an asynchronous kernel fault surfaces here.
    DS_RETURN_IF_ERROR(check(cudaStreamSynchronize(stream_), "the step (cudaStreamSynchronize)"));
    if (profile_) {
      // The first step pays one-time costs (scratch growth, cuBLASLt heuristics), so it is
      // kept apart and reported only when it is the only step.
      std::map<std::string, KernelTime> &into = profiledSteps_ == 0 ? firstStep_ : times_;
      for (size_t l = 0; l < calls_.size(); ++l) {
        float ms = 0.0f;
        DS_RETURN_IF_ERROR(
            check(cudaEventElapsedTime(&ms, events_[2 * l], events_[2 * l + 1]),
                  "cudaEventElapsedTime"));
        KernelTime &time = into[plan.launches[l].kernel];
        time.milliseconds += ms;
        ++time.launches;
      }
      ++profiledSteps_;
    }
    return Status::ok();
  }

  Status download(Executor &host) override {
    const Plan &plan = host.plan();
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      BufferRole role = plan.buffers[i].role;
      if (role != BufferRole::Param && role != BufferRole::Buffer && role != BufferRole::State)
        continue;
      const TensorView &view = host.view(static_cast<int32_t>(i));
      DS_RETURN_IF_ERROR(check(cudaMemcpyAsync(view.data, views_[i].data, view.sizeInBytes(),
                                               cudaMemcpyDeviceToHost, stream_),
                               "cudaMemcpyAsync(state to host)"));
    }
    return check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize(state to host)");
  }

  /// Every launch of the plan, then its updates, queued on the stream.
  Status enqueueStep(const Plan &plan) {
    for (size_t l = 0; l < calls_.size(); ++l) {
      if (profile_)
        DS_RETURN_IF_ERROR(check(cudaEventRecord(events_[2 * l], stream_), "cudaEventRecord"));
      Status status = kernels_[l](calls_[l]);
      if (!status)
        return errorf("launch ", l, " ('", plan.launches[l].kernel, "'): ", status.message());
      if (profile_)
        DS_RETURN_IF_ERROR(
            check(cudaEventRecord(events_[2 * l + 1], stream_), "cudaEventRecord"));
    }
    for (const PlanUpdate &update : plan.updates)
      DS_RETURN_IF_ERROR(check(cudaMemcpyAsync(views_[update.target].data,
                                               views_[update.source].data,
                                               views_[update.source].sizeInBytes(),
                                               cudaMemcpyDeviceToDevice, stream_),
                               "cudaMemcpyAsync(update)"));
    return Status::ok();
  }

  /// Captures enqueueStep into a CUDA graph and launches it. A kernel that needs the host
  /// mid-step (the per-expert GEMM loop of FP32 math reads expert counts) makes the
  /// capture fail; then the step, and every later one, is launched kernel by kernel, and
  /// the reason is printed once. Nothing ran during the capture, so nothing is repeated.
  Status captureStep(const Plan &plan) {
    DS_RETURN_IF_ERROR(check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal),
                             "cudaStreamBeginCapture"));
    Status captured = enqueueStep(plan);
    cudaGraph_t graph = nullptr;
    cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
    cudaGraphExec_t exec = nullptr;
    if (captured && ended == cudaSuccess)
      captured = check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
    else if (captured)
      captured = check(ended, "cudaStreamEndCapture");
    if (graph)
      cudaGraphDestroy(graph);
    if (!captured) {
      cudaGetLastError(); // the failed capture's error is reported here, not by a later call
      graphs_ = false;
      std::printf("ds-train: CUDA graph: the step was not captured (%s); launching its "
                  "kernels one by one\n",
                  captured.message().c_str());
      return enqueueStep(plan);
    }
    graph_ = exec;
    std::printf("ds-train: CUDA graph: step captured (%zu launches, %zu updates); replaying "
                "it from now on\n",
                calls_.size(), plan.updates.size());
    return check(cudaGraphLaunch(graph_, stream_), "cudaGraphLaunch(the step)");
  }

  /// Steps 2.. when more than one step ran, else step 1; and how many steps that is.
  const std::map<std::string, KernelTime> &times(int64_t &steps) const {
    steps = profiledSteps_ > 1 ? profiledSteps_ - 1 : profiledSteps_;
    return profiledSteps_ > 1 ? times_ : firstStep_;
  }

private:
  void *deviceAddress(int64_t offset) const { return static_cast<uint8_t *>(arena_) + offset; }

  bool profile_;
  bool graphs_;                     // capture the step once it has run eagerly once
  cudaGraphExec_t graph_ = nullptr; // the captured step
  int64_t stepsRun_ = 0;
  void *arena_ = nullptr;
  uint8_t *hostBase_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::vector<TensorView> views_;
  std::vector<KernelFn> kernels_;
  std::vector<KernelCall> calls_;
  std::vector<cudaEvent_t> events_;
  std::map<std::string, KernelTime> times_, firstStep_;
  int64_t profiledSteps_ = 0;
};

} // namespace

Expected<std::shared_ptr<StepDevice>> createCudaStepDevice(bool profile, bool graphs) {
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess || count == 0)
    return errorf("--device cuda: no CUDA device is usable (",
                  error == cudaSuccess ? "none found" : cudaGetErrorString(error), ")");
  return std::shared_ptr<StepDevice>(std::make_shared<CudaStepDevice>(profile, graphs));
}

std::map<std::string, KernelTime> cudaKernelTimes(const StepDevice &device, int64_t &steps) {
  steps = 0;
  const auto *cuda = dynamic_cast<const CudaStepDevice *>(&device);
  return cuda ? cuda->times(steps) : std::map<std::string, KernelTime>();
}

Expected<std::string> cudaDeviceDescription() {
  cudaDeviceProp prop;
  DS_RETURN_IF_ERROR(check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties"));
  char text[320];
  std::snprintf(text, sizeof text, "%s, %.1f GiB", prop.name, gib(double(prop.totalGlobalMem)));
  return std::string(text);
}

} // namespace ds::rt
