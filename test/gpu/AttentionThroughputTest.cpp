// Attention throughput at the v3-mini training shape (B=4, S=2048, H=8, MLA dims), in each
// math mode, forward and forward + backward. Timing only (correctness is AttentionTest's),
// so it runs only when DS_GPU_BENCH is set:
//   DS_GPU_BENCH=1 DsGpuTests --gtest_filter='CudaAttentionThroughput.*'
// FLOPs count the unmasked (causal) half of the matrix products, FlashAttention's
// convention: forward 2·B·H·S²·(Dqk + Dv) / 2 (QK^T and PV); backward recomputes QK^T and
// adds dP = dO V^T, dV, dQ and dK: 2·B·H·S²·(3·Dqk + 2·Dv) / 2.
#include "test/gpu/GpuTestSupport.h"

#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ds::rt::gputest {
namespace {

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

struct DeviceBuffer {
  void *data = nullptr;
  ~DeviceBuffer() { cudaFree(data); }
};

TEST(CudaAttentionThroughput, MlaTrainingShape) {
  DS_REQUIRE_CUDA();
  if (std::getenv("DS_GPU_BENCH") == nullptr)
    GTEST_SKIP() << "timing only: set DS_GPU_BENCH=1 to run";
  registerCudaKernels();
  KernelFn forward = lookupKernel(Backend::Cuda, "attention");
  KernelFn backward = lookupKernel(Backend::Cuda, "attention_grad");
  ASSERT_TRUE(forward && backward);
  cudaDeviceProp prop{};
  CUDA_OK(cudaGetDeviceProperties(&prop, 0));
  for (int64_t seq : {2048, 4096}) {
    const int64_t batch = 4, heads = 8, qkDim = 192, vDim = 128;
    std::vector<int64_t> qkShape = {batch, seq, heads, qkDim}, vShape = {batch, seq, heads, vDim};
    std::mt19937 rng(7);
    // q, k, v, o, dO, dq, dk, dv: inputs random, outputs written by the kernels.
    std::vector<HostTensor> host = {randomFloats(DType::F32, qkShape, rng, -2.0f, 2.0f),
                                    randomFloats(DType::F32, qkShape, rng, -2.0f, 2.0f),
                                    randomFloats(DType::F32, vShape, rng),
                                    outputLike(DType::F32, vShape),
                                    randomFloats(DType::F32, vShape, rng),
                                    outputLike(DType::F32, qkShape),
                                    outputLike(DType::F32, qkShape),
                                    outputLike(DType::F32, vShape)};
    std::vector<DeviceBuffer> device(host.size());
    std::vector<TensorView> views(host.size());
    for (size_t i = 0; i < host.size(); ++i) {
      CUDA_OK(cudaMalloc(&device[i].data, host[i].bytes.size()));
      CUDA_OK(cudaMemcpy(device[i].data, host[i].bytes.data(), host[i].bytes.size(),
                         cudaMemcpyHostToDevice));
      views[i] = host[i].view();
      views[i].data = device[i].data;
    }
    cudaStream_t stream = nullptr;
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    for (const char *math : {"bf16", "tf32", "f32"}) {
      KernelCall fwd, bwd;
      for (KernelCall *call : {&fwd, &bwd}) {
        call->attrs.setFloat("scale", 1.0 / std::sqrt(double(qkDim)));
        call->attrs.setInt("causal", 1);
        call->attrs.setString("math", math);
        call->stream = stream;
      }
      fwd.inputs = {views[0], views[1], views[2]};
      fwd.outputs = {views[3]};
      bwd.inputs = {views[0], views[1], views[2], views[3], views[4]};
      bwd.outputs = {views[5], views[6], views[7]};
      // ms: GPU time per iteration (events); hostMs: the host's time to enqueue one, which
      // bounds the GPU time from below when the launches cannot keep the GPU busy.
      auto timeMs = [&](bool withBackward, float &ms, double &hostMs) {
        const int warmup = 2, iterations = 10;
        cudaEvent_t start, stop;
        CUDA_OK(cudaEventCreate(&start));
        CUDA_OK(cudaEventCreate(&stop));
        auto hostStart = std::chrono::steady_clock::now();
        for (int it = 0; it < warmup + iterations; ++it) {
          if (it == warmup) {
            CUDA_OK(cudaStreamSynchronize(stream));
            CUDA_OK(cudaEventRecord(start, stream));
            hostStart = std::chrono::steady_clock::now();
          }
          Status s = forward(fwd);
          ASSERT_TRUE(s.isOk()) << s.message();
          if (withBackward) {
            s = backward(bwd);
            ASSERT_TRUE(s.isOk()) << s.message();
          }
        }
        hostMs =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - hostStart)
                .count() /
            iterations;
        CUDA_OK(cudaEventRecord(stop, stream));
        CUDA_OK(cudaEventSynchronize(stop));
        CUDA_OK(cudaEventElapsedTime(&ms, start, stop));
        ms /= iterations;
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
      };
      float fwdMs = 0, stepMs = 0;
      double fwdHostMs = 0, stepHostMs = 0;
      timeMs(false, fwdMs, fwdHostMs);
      timeMs(true, stepMs, stepHostMs);
      double unit = 2.0 * batch * heads * double(seq) * double(seq) / 2.0; // causal half
      double fwdFlops = unit * (qkDim + vDim), bwdFlops = unit * (3 * qkDim + 2 * vDim);
      std::printf("attention %s B=%lld S=%lld H=%lld Dqk=%lld Dv=%lld causal math=%-4s: "
                  "fwd %.3f ms (%.1f TFLOP/s), fwd+bwd %.3f ms (%.1f TFLOP/s), "
                  "bwd %.3f ms; host enqueue fwd %.3f ms, fwd+bwd %.3f ms\n",
                  prop.name, (long long)batch, (long long)seq, (long long)heads, (long long)qkDim,
                  (long long)vDim, math, fwdMs, fwdFlops / fwdMs * 1e-9, stepMs,
                  (fwdFlops + bwdFlops) / stepMs * 1e-9, stepMs - fwdMs, fwdHostMs, stepHostMs);
    }
    CUDA_OK(cudaStreamDestroy(stream));
  }
}

} // namespace
} // namespace ds::rt::gputest
