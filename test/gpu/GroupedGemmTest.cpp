// The device grouped GEMM (runtime/kernels/cuda/GroupedGemm.h): grouped_linear and its two
// gradients with math = "bf16", one launch over every expert, against the CPU emulation.
// Both round each operand element to BF16 (nearest even) and accumulate in FP32, so the
// only difference is the order of the FP32 sums: a bound of a few FP32 ulps of the sum of
// |terms| (atol 2e-5 of the largest result; the inputs are uniform in [-1, 1)), one BF16
// rounding where the result is stored in BF16. The shapes cover partial tiles in every
// dimension (widths 8 .. 264, not multiples of the 128-wide tile), empty experts, an
// expert spanning several row tiles, and every F32/BF16 mix of the operands.
//
// Timing (DS_GPU_BENCH=1): the DESIGN.md anchor shape, 64 experts x 768 rows, 1024 x 1024,
// against torch._grouped_mm's 474 TFLOP/s there.
#include "test/gpu/GpuTestSupport.h"

#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>

namespace ds::rt::gputest {
namespace {

struct Shape {
  std::vector<int32_t> counts;
  int64_t nOut, k;
};

const Shape kShapes[] = {
    {{5, 0, 17, 3}, 48, 64},             // small, one empty expert
    {{300, 0, 1, 129, 0, 64}, 136, 264}, // several row tiles, partial tiles everywhere
    {{0, 0, 0}, 8, 16},                  // no rows at all: wgrad writes zeros
    {{77}, 256, 8},                      // one expert; K of one chunk
};

double bound(DType out) { return out == DType::BF16 ? kBf16Rtol : 1e-5; }
double absBound(DType out) { return out == DType::BF16 ? kBf16Atol : 2e-5; }

void expectMatches(const KernelCase &c, DType out) {
  KernelResults r;
  ASSERT_TRUE(runBoth(c, r));
  EXPECT_TRUE(allClose(c.kernel, r.cuda[0], r.cpu[0], bound(out), absBound(out)));
}

TEST(CudaGroupedGemm, Bf16MathMatchesTheCpuEmulation) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(11);
  const std::pair<DType, DType> mixes[] = {{DType::F32, DType::F32},
                                           {DType::BF16, DType::BF16},
                                           {DType::BF16, DType::F32},
                                           {DType::F32, DType::BF16}};
  for (const auto &[activations, weights] : mixes)
    for (const Shape &s : kShapes) {
      int64_t experts = s.counts.size();
      int64_t rows = std::accumulate(s.counts.begin(), s.counts.end(), int64_t(0));
      SCOPED_TRACE(std::string("activations ") + dtypeName(activations) + ", weights " +
                   dtypeName(weights) + ", experts " + std::to_string(experts) + ", rows " +
                   std::to_string(rows) + ", " + std::to_string(s.nOut) + "x" +
                   std::to_string(s.k));
      HostTensor counts = int32s({experts}, s.counts);
      KernelCase fwd{"grouped_linear",
                     {randomFloats(activations, {rows, s.k}, rng),
                      randomFloats(weights, {experts, s.nOut, s.k}, rng), counts},
                     {outputLike(activations, {rows, s.nOut})}};
      KernelCase dgrad{"grouped_linear_dgrad",
                       {randomFloats(activations, {rows, s.nOut}, rng),
                        randomFloats(weights, {experts, s.nOut, s.k}, rng), counts},
                       {outputLike(activations, {rows, s.k})}};
      // Weight gradients keep the weight's dtype; the two activations may differ.
      KernelCase wgrad{"grouped_linear_wgrad",
                       {randomFloats(activations, {rows, s.nOut}, rng),
                        randomFloats(weights, {rows, s.k}, rng), counts},
                       {outputLike(weights, {experts, s.nOut, s.k})}};
      for (KernelCase *c : {&fwd, &dgrad, &wgrad})
        c->attrs.setString("math", "bf16");
      expectMatches(fwd, activations);
      expectMatches(dgrad, activations);
      expectMatches(wgrad, weights);
    }
}

/// Counts the device cannot trust (here: summing to more than the rows) poison every
/// element the kernel writes with NaN, since reporting an error would need a host sync.
TEST(CudaGroupedGemm, CountsThatMissTheRowsGiveNaN) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(12);
  for (const std::vector<int32_t> &bad : {std::vector<int32_t>{3, 9}, {-1, 11}}) {
    KernelCase fwd{"grouped_linear",
                   {randomFloats(DType::F32, {10, 16}, rng),
                    randomFloats(DType::F32, {2, 8, 16}, rng), int32s({2}, bad)},
                   {outputLike(DType::F32, {10, 8})}};
    KernelCase wgrad{"grouped_linear_wgrad",
                     {randomFloats(DType::F32, {10, 8}, rng),
                      randomFloats(DType::F32, {10, 16}, rng), int32s({2}, bad)},
                     {outputLike(DType::F32, {2, 8, 16})}};
    for (KernelCase *c : {&fwd, &wgrad}) {
      SCOPED_TRACE(c->kernel + " counts " + std::to_string(bad[0]) + "," +
                   std::to_string(bad[1]));
      c->attrs.setString("math", "bf16");
      std::vector<HostTensor> out;
      ASSERT_TRUE(runCuda(*c, out));
      for (int64_t i = 0; i < out[0].numElements(); ++i)
        ASSERT_TRUE(std::isnan(out[0].at(i))) << "element " << i << " = " << out[0].at(i);
    }
  }
}

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

TEST(CudaGroupedGemmThroughput, SixtyFourExperts) {
  DS_REQUIRE_CUDA();
  if (std::getenv("DS_GPU_BENCH") == nullptr)
    GTEST_SKIP() << "timing only: set DS_GPU_BENCH=1 to run";
  registerCudaKernels();
  const int64_t experts = 64, perExpert = 768, rows = experts * perExpert, nOut = 1024,
                k = 1024;
  std::mt19937 rng(13);
  for (DType dtype : {DType::F32, DType::BF16}) {
    std::vector<HostTensor> host = {randomFloats(dtype, {rows, k}, rng),
                                    randomFloats(dtype, {experts, nOut, k}, rng),
                                    int32s({experts}, std::vector<int32_t>(experts, perExpert)),
                                    randomFloats(dtype, {rows, nOut}, rng),
                                    outputLike(dtype, {rows, nOut}),
                                    outputLike(dtype, {rows, k}),
                                    outputLike(dtype, {experts, nOut, k})};
    std::vector<void *> device(host.size());
    std::vector<TensorView> v(host.size());
    for (size_t i = 0; i < host.size(); ++i) {
      CUDA_OK(cudaMalloc(&device[i], host[i].bytes.size()));
      CUDA_OK(cudaMemcpy(device[i], host[i].bytes.data(), host[i].bytes.size(),
                         cudaMemcpyHostToDevice));
      v[i] = host[i].view();
      v[i].data = device[i];
    }
    cudaStream_t stream = nullptr;
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    struct Pass {
      const char *kernel;
      std::vector<TensorView> inputs, outputs;
    };
    const Pass passes[] = {{"grouped_linear", {v[0], v[1], v[2]}, {v[4]}},
                           {"grouped_linear_dgrad", {v[3], v[1], v[2]}, {v[5]}},
                           {"grouped_linear_wgrad", {v[3], v[0], v[2]}, {v[6]}}};
    for (const Pass &pass : passes) {
      KernelFn fn = lookupKernel(Backend::Cuda, pass.kernel);
      ASSERT_TRUE(fn);
      KernelCall call;
      call.inputs = pass.inputs;
      call.outputs = pass.outputs;
      call.stream = stream;
      call.attrs.setString("math", "bf16");
      cudaEvent_t start, stop;
      CUDA_OK(cudaEventCreate(&start));
      CUDA_OK(cudaEventCreate(&stop));
      const int warmup = 2, iterations = 10;
      for (int it = 0; it < warmup + iterations; ++it) {
        if (it == warmup)
          CUDA_OK(cudaEventRecord(start, stream));
        Status s = fn(call);
        ASSERT_TRUE(s.isOk()) << s.message();
      }
      CUDA_OK(cudaEventRecord(stop, stream));
      CUDA_OK(cudaEventSynchronize(stop));
      float ms = 0;
      CUDA_OK(cudaEventElapsedTime(&ms, start, stop));
      ms /= iterations;
      double flops = 2.0 * double(rows) * double(nOut) * double(k);
      std::printf("grouped GEMM %-21s %s operands, %lld experts x %lld rows, %lldx%lld: "
                  "%.3f ms, %.1f TFLOP/s\n",
                  pass.kernel, dtypeName(dtype), (long long)experts, (long long)perExpert,
                  (long long)nOut, (long long)k, ms, flops / ms * 1e-9);
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
    }
    CUDA_OK(cudaStreamDestroy(stream));
    for (void *p : device)
      cudaFree(p);
  }
}

} // namespace
} // namespace ds::rt::gputest
