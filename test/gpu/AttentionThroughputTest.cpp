// Attention throughput at the v3-mini training shape (B=4, S=2048, H=8, MLA dims), in each
// math mode, forward and forward + backward: math=bf16 runs the fused flash kernels
// (FlashAttention.cu), with BF16 tensors (read in place) and with F32 tensors (rounded into
// BF16 copies first); tf32 and f32 run the cuBLASLt path. Timing only (correctness is
// AttentionTest's and FlashAttentionTest's), so it runs only when DS_GPU_BENCH is set:
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
    // Per tensor dtype: q, k, v, o, dO, dq, dk, dv; inputs random, outputs written by the
    // kernels.
    std::vector<DeviceBuffer> device(16);
    std::vector<TensorView> viewsOf[2];
    for (int d = 0; d < 2; ++d) {
      DType dtype = d == 0 ? DType::F32 : DType::BF16;
      std::mt19937 rng(7);
      std::vector<HostTensor> host = {randomFloats(dtype, qkShape, rng, -2.0f, 2.0f),
                                      randomFloats(dtype, qkShape, rng, -2.0f, 2.0f),
                                      randomFloats(dtype, vShape, rng),
                                      outputLike(dtype, vShape),
                                      randomFloats(dtype, vShape, rng),
                                      outputLike(dtype, qkShape),
                                      outputLike(dtype, qkShape),
                                      outputLike(dtype, vShape)};
      for (size_t i = 0; i < host.size(); ++i) {
        DeviceBuffer &buffer = device[8 * d + i];
        CUDA_OK(cudaMalloc(&buffer.data, host[i].bytes.size()));
        CUDA_OK(cudaMemcpy(buffer.data, host[i].bytes.data(), host[i].bytes.size(),
                           cudaMemcpyHostToDevice));
        viewsOf[d].push_back(host[i].view());
        viewsOf[d].back().data = buffer.data;
      }
    }
    cudaStream_t stream = nullptr;
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    struct Mode {
      const char *math, *path;
      DType dtype;
    };
    for (Mode mode : {Mode{"bf16", "flash", DType::BF16}, Mode{"bf16", "flash", DType::F32},
                      Mode{"tf32", "cuBLASLt", DType::F32}, Mode{"f32", "cuBLASLt", DType::F32}}) {
      const char *math = mode.math;
      const std::vector<TensorView> &views = viewsOf[mode.dtype == DType::BF16 ? 1 : 0];
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
      std::printf("attention %s B=%lld S=%lld H=%lld Dqk=%lld Dv=%lld causal math=%-4s %s %s: "
                  "fwd %.3f ms (%.1f TFLOP/s), fwd+bwd %.3f ms (%.1f TFLOP/s), "
                  "bwd %.3f ms; host enqueue fwd %.3f ms, fwd+bwd %.3f ms\n",
                  prop.name, (long long)batch, (long long)seq, (long long)heads, (long long)qkDim,
                  (long long)vDim, math, mode.path, dtypeName(mode.dtype), fwdMs,
                  fwdFlops / fwdMs * 1e-9, stepMs,
                  (fwdFlops + bwdFlops) / stepMs * 1e-9, stepMs - fwdMs, fwdHostMs, stepHostMs);
    }
    CUDA_OK(cudaStreamDestroy(stream));
  }
}

} // namespace
} // namespace ds::rt::gputest
