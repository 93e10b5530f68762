// The device grouped GEMM (runtime/kernels/cuda/GroupedGemm.h): grouped_linear and its two
// gradients with math = "bf16", one launch over every expert, against the CPU emulation.
// Both round each operand element to BF16 (nearest even) and accumulate in FP32, so the
// only difference is the order of the FP32 sums: a bound of a few FP32 ulps of the sum of
// |terms| (atol 2e-5 of the largest result; the inputs are uniform in [-1, 1)), one BF16
// rounding where the result is stored in BF16. The shapes cover partial tiles in every
// dimension (widths 8 .. 1032, not multiples of the tiles), empty experts, an expert
// spanning several row tiles, and every F32/BF16 mix of the operands.
//
// BF16 operands take the Hopper path (GroupedGemmWgmma.h) unless it declines (no rows,
// more than kWgmmaMaxExperts experts): its own shapes cross its 64-deep pipeline steps,
// 128-row and 256-column tiles and 3-stage ring, with F32 and BF16 results.
//
// Timing (DS_GPU_BENCH=1): the DESIGN.md anchor shape, 64 experts x 768 rows, 1024 x 1024,
// against torch._grouped_mm's 474 TFLOP/s there, and the v3-mini MoE layer (ragged counts
// over 49,152 rows; gate_up 1024 x 1024, down 1024 x 512).
#include "test/gpu/GpuTestSupport.h"

#include "runtime/kernels/cuda/GroupedGemmWgmma.h"

#include <cuda_runtime.h>

#include <algorithm>
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

/// The three products on fresh random inputs: forward and dgrad write `rowsOut`, wgrad
/// writes `weightOut`.
void expectProductsMatch(const Shape &s, DType activations, DType weights, DType rowsOut,
                         DType weightOut, std::mt19937 &rng) {
  int64_t experts = s.counts.size();
  int64_t rows = std::accumulate(s.counts.begin(), s.counts.end(), int64_t(0));
  SCOPED_TRACE(std::string("activations ") + dtypeName(activations) + ", weights " +
               dtypeName(weights) + ", results " + dtypeName(rowsOut) + "/" + dtypeName(weightOut) +
               ", experts " + std::to_string(experts) + ", rows " + std::to_string(rows) + ", " +
               std::to_string(s.nOut) + "x" + std::to_string(s.k));
  HostTensor counts = int32s({experts}, s.counts);
  KernelCase fwd{"grouped_linear",
                 {randomFloats(activations, {rows, s.k}, rng),
                  randomFloats(weights, {experts, s.nOut, s.k}, rng), counts},
                 {outputLike(rowsOut, {rows, s.nOut})}};
  KernelCase dgrad{"grouped_linear_dgrad",
                   {randomFloats(activations, {rows, s.nOut}, rng),
                    randomFloats(weights, {experts, s.nOut, s.k}, rng), counts},
                   {outputLike(rowsOut, {rows, s.k})}};
  // Weight gradients keep the weight's dtype; the two activations may differ.
  KernelCase wgrad{"grouped_linear_wgrad",
                   {randomFloats(activations, {rows, s.nOut}, rng),
                    randomFloats(weights, {rows, s.k}, rng), counts},
                   {outputLike(weightOut, {experts, s.nOut, s.k})}};
  for (KernelCase *c : {&fwd, &dgrad, &wgrad})
    c->attrs.setString("math", "bf16");
  expectMatches(fwd, rowsOut);
  expectMatches(dgrad, rowsOut);
  expectMatches(wgrad, weightOut);
}

TEST(CudaGroupedGemm, Bf16MathMatchesTheCpuEmulation) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(11);
  const std::pair<DType, DType> mixes[] = {{DType::F32, DType::F32},
                                           {DType::BF16, DType::BF16},
                                           {DType::BF16, DType::F32},
                                           {DType::F32, DType::BF16}};
  for (const auto &[activations, weights] : mixes)
    for (const Shape &s : kShapes)
      expectProductsMatch(s, activations, weights, activations, weights, rng);
}

/// Counts of `experts` experts, each uniform in [0, maxRows] (some of them empty).
std::vector<int32_t> raggedCounts(int experts, int maxRows, std::mt19937 &rng) {
  std::uniform_int_distribution<int32_t> rows(0, maxRows);
  std::vector<int32_t> counts(experts);
  for (int32_t &c : counts)
    c = rows(rng);
  return counts;
}

TEST(CudaGroupedGemm, HopperPathMatchesTheCpuEmulation) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(14);
  const Shape shapes[] = {
      // Experts of 0, 1, 7, 300 rows: partial 64-deep wgrad steps and 128-row tiles;
      // widths past one 256-column tile and not multiples of 64.
      {{0, 1, 7, 300, 129, 0, 64, 65, 200}, 264, 328},
      // A reduction of 17 steps: several laps of the 3-stage ring.
      {{300, 5, 0, 140}, 136, 1032},
      // Whole tiles only.
      {{256, 0, 128}, 512, 256},
      // More tiles than multiprocessors in every product: CTAs loop over several.
      {raggedCounts(24, 700, rng), 320, 264},
  };
  for (const Shape &s : shapes)
    for (DType out : {DType::BF16, DType::F32})
      expectProductsMatch(s, DType::BF16, DType::BF16, out, out, rng);
}

/// More experts than the Hopper path keeps in shared memory: the mma.sync kernels run.
TEST(CudaGroupedGemm, ManyExpertsFallBackToMmaSync) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(15);
  Shape s{raggedCounts(1030, 3, rng), 16, 24};
  expectProductsMatch(s, DType::BF16, DType::BF16, DType::BF16, DType::F32, rng);
}

/// Counts the device cannot trust (here: summing to more or fewer than the rows, or
/// negative) poison every element the kernel writes with NaN, since reporting an error
/// would need a host sync. F32 operands run the mma.sync kernels, BF16 ones the Hopper path.
TEST(CudaGroupedGemm, CountsThatMissTheRowsGiveNaN) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(12);
  const std::pair<DType, DType> mixes[] = {
      {DType::F32, DType::F32}, {DType::BF16, DType::BF16}, {DType::BF16, DType::F32}};
  for (const auto &[operands, out] : mixes)
    for (const std::vector<int32_t> &bad : {std::vector<int32_t>{3, 9}, {-1, 11}, {2, 3}}) {
      KernelCase fwd{"grouped_linear",
                     {randomFloats(operands, {10, 16}, rng),
                      randomFloats(operands, {2, 8, 16}, rng), int32s({2}, bad)},
                     {outputLike(out, {10, 8})}};
      KernelCase dgrad{"grouped_linear_dgrad",
                       {randomFloats(operands, {10, 8}, rng),
                        randomFloats(operands, {2, 8, 16}, rng), int32s({2}, bad)},
                       {outputLike(out, {10, 16})}};
      KernelCase wgrad{"grouped_linear_wgrad",
                       {randomFloats(operands, {10, 8}, rng), randomFloats(operands, {10, 16}, rng),
                        int32s({2}, bad)},
                       {outputLike(out, {2, 8, 16})}};
      for (KernelCase *c : {&fwd, &dgrad, &wgrad}) {
        SCOPED_TRACE(c->kernel + " " + dtypeName(operands) + " operands, " + dtypeName(out) +
                     " result, counts " + std::to_string(bad[0]) + "," + std::to_string(bad[1]));
        c->attrs.setString("math", "bf16");
        std::vector<HostTensor> result;
        ASSERT_TRUE(runCuda(*c, result));
        for (int64_t i = 0; i < result[0].numElements(); ++i)
          ASSERT_TRUE(std::isnan(result[0].at(i))) << "element " << i << " = " << result[0].at(i);
      }
    }
}

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

/// Device copies of host tensors, freed at the end of the scope.
struct DeviceTensors {
  std::vector<void *> buffers;
  std::vector<TensorView> views;

  ::testing::AssertionResult upload(const std::vector<HostTensor> &host) {
    for (const HostTensor &t : host) {
      void *p = nullptr;
      if (cudaMalloc(&p, t.bytes.size()) != cudaSuccess)
        return ::testing::AssertionFailure() << "cudaMalloc";
      buffers.push_back(p);
      if (cudaMemcpy(p, t.bytes.data(), t.bytes.size(), cudaMemcpyHostToDevice) != cudaSuccess)
        return ::testing::AssertionFailure() << "cudaMemcpy";
      views.push_back(t.view());
      views.back().data = p;
    }
    return ::testing::AssertionSuccess();
  }
  ~DeviceTensors() {
    for (void *p : buffers)
      cudaFree(p);
  }
};

/// One kernel call of a layer's three products.
struct Pass {
  const char *kernel;
  std::vector<TensorView> inputs, outputs;
};

/// The forward, dgrad and wgrad calls over device tensors laid out as x [rows, K], W [E,
/// Nout, K], counts, dy [rows, Nout], then the three results (out, dx, dW).
std::vector<Pass> threeProducts(const std::vector<TensorView> &v) {
  return {{"grouped_linear", {v[0], v[1], v[2]}, {v[4]}},
          {"grouped_linear_dgrad", {v[3], v[1], v[2]}, {v[5]}},
          {"grouped_linear_wgrad", {v[3], v[0], v[2]}, {v[6]}}};
}

/// The Hopper path takes BF16 operands on a Hopper device and declines F32 operands and
/// more experts than it keeps in shared memory, leaving them to the mma.sync kernels.
TEST(CudaGroupedGemm, HopperPathTakesBf16OperandsOnly) {
  DS_REQUIRE_CUDA();
  int device = 0, major = 0;
  CUDA_OK(cudaGetDevice(&device));
  CUDA_OK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  std::mt19937 rng(17);
  struct Case {
    DType operands;
    int experts;
    bool taken;
  };
  const Case cases[] = {{DType::BF16, 4, major == 9},
                        {DType::F32, 4, false},
                        {DType::BF16, int(cuda::kWgmmaMaxExperts) + 1, false}};
  for (const Case &c : cases) {
    SCOPED_TRACE(std::string(dtypeName(c.operands)) + " operands, " + std::to_string(c.experts) +
                 " experts");
    std::vector<int32_t> counts(c.experts, 0);
    counts[0] = 20;
    DeviceTensors d;
    ASSERT_TRUE(
        d.upload({randomFloats(c.operands, {20, 64}, rng),
                  randomFloats(c.operands, {c.experts, 32, 64}, rng), int32s({c.experts}, counts),
                  outputLike(DType::F32, {20, 32}), outputLike(DType::F32, {c.experts, 32, 64})}));
    const std::vector<TensorView> &v = d.views;
    bool taken = !c.taken;
    Status s = cuda::wgmmaRowsTimesWeight("grouped_linear", nullptr, v[0], v[1], v[2], v[3],
                                          /*transposeWeight=*/true, taken);
    ASSERT_TRUE(s.isOk()) << s.message();
    EXPECT_EQ(taken, c.taken) << "forward";
    // wgrad: dy [20, 32] and x [20, 64] as views of the first operand's buffer.
    TensorView dy = v[0], x = v[0];
    dy.shape = {20, 32};
    taken = !c.taken;
    s = cuda::wgmmaWeightGrad("grouped_linear_wgrad", nullptr, dy, x, v[2], v[4], taken);
    ASSERT_TRUE(s.isOk()) << s.message();
    EXPECT_EQ(taken, c.taken) << "wgrad";
    CUDA_OK(cudaDeviceSynchronize());
  }
}

/// The three products captured into a CUDA graph (counts are read on the device, nothing
/// waits on the host) replay to the eager results, bit for bit.
TEST(CudaGroupedGemm, ProductsCaptureIntoACudaGraph) {
  DS_REQUIRE_CUDA();
  registerCudaKernels();
  std::mt19937 rng(16);
  const std::vector<int32_t> counts = {300, 0, 1, 129, 64};
  const int64_t experts = counts.size(), rows = 494, nOut = 264, k = 328;
  DeviceTensors d;
  ASSERT_TRUE(
      d.upload({randomFloats(DType::BF16, {rows, k}, rng),
                randomFloats(DType::BF16, {experts, nOut, k}, rng), int32s({experts}, counts),
                randomFloats(DType::BF16, {rows, nOut}, rng), outputLike(DType::BF16, {rows, nOut}),
                outputLike(DType::BF16, {rows, k}), outputLike(DType::F32, {experts, nOut, k})}));
  const std::vector<TensorView> &v = d.views;
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const std::vector<Pass> passes = threeProducts(v);
  auto enqueue = [&]() {
    for (const Pass &pass : passes) {
      KernelCall call;
      call.inputs = pass.inputs;
      call.outputs = pass.outputs;
      call.stream = stream;
      call.attrs.setString("math", "bf16");
      Status s = lookupKernel(Backend::Cuda, pass.kernel)(call);
      if (!s.isOk())
        return s;
    }
    return Status::ok();
  };
  auto download = [&](std::vector<std::vector<uint8_t>> &out) {
    out.clear();
    for (int i = 4; i < 7; ++i) {
      out.emplace_back(v[i].sizeInBytes());
      if (cudaMemcpy(out.back().data(), v[i].data, out.back().size(), cudaMemcpyDeviceToHost) !=
          cudaSuccess)
        return false;
    }
    return true;
  };
  Status s = enqueue();
  ASSERT_TRUE(s.isOk()) << s.message();
  CUDA_OK(cudaStreamSynchronize(stream));
  std::vector<std::vector<uint8_t>> eager, replayed;
  ASSERT_TRUE(download(eager));
  for (int i = 4; i < 7; ++i)
    CUDA_OK(cudaMemset(v[i].data, 0xFF, v[i].sizeInBytes()));
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  s = enqueue();
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  ASSERT_TRUE(s.isOk()) << s.message();
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  CUDA_OK(cudaGraphLaunch(exec, stream));
  CUDA_OK(cudaStreamSynchronize(stream));
  ASSERT_TRUE(download(replayed));
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(eager[i] == replayed[i]) << passes[i].kernel << " differs after the replay";
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  CUDA_OK(cudaStreamDestroy(stream));
}

/// Median milliseconds of one call of `kernel` (3 warm-up calls, 20 timed ones).
::testing::AssertionResult timeKernel(const char *kernel, std::vector<TensorView> inputs,
                                      std::vector<TensorView> outputs, cudaStream_t stream,
                                      double &ms) {
  KernelFn fn = lookupKernel(Backend::Cuda, kernel);
  if (!fn)
    return ::testing::AssertionFailure() << "no CUDA kernel " << kernel;
  KernelCall call;
  call.inputs = std::move(inputs);
  call.outputs = std::move(outputs);
  call.stream = stream;
  call.attrs.setString("math", "bf16");
  const int warmup = 3, iterations = 20;
  std::vector<cudaEvent_t> events(iterations + 1);
  for (cudaEvent_t &e : events)
    if (cudaEventCreate(&e) != cudaSuccess)
      return ::testing::AssertionFailure() << "cudaEventCreate";
  for (int it = 0; it < warmup + iterations; ++it) {
    if (it >= warmup && cudaEventRecord(events[it - warmup], stream) != cudaSuccess)
      return ::testing::AssertionFailure() << "cudaEventRecord";
    Status s = fn(call);
    if (!s.isOk())
      return ::testing::AssertionFailure() << s.message();
  }
  if (cudaEventRecord(events[iterations], stream) != cudaSuccess ||
      cudaEventSynchronize(events[iterations]) != cudaSuccess || cudaGetLastError() != cudaSuccess)
    return ::testing::AssertionFailure() << kernel << " failed on the device";
  std::vector<float> times(iterations);
  for (int i = 0; i < iterations; ++i)
    cudaEventElapsedTime(&times[i], events[i], events[i + 1]);
  for (cudaEvent_t e : events)
    cudaEventDestroy(e);
  std::sort(times.begin(), times.end());
  ms = times[iterations / 2];
  return ::testing::AssertionSuccess();
}

struct BenchShape {
  const char *name;
  std::vector<int32_t> counts;
  int64_t nOut, k;
};

/// Times the three products of one expert layer; returns their total milliseconds.
void benchLayer(const BenchShape &shape, DType operands, DType out, std::mt19937 &rng,
                cudaStream_t stream, double &totalMs, double &totalFlops) {
  int64_t experts = shape.counts.size(), nOut = shape.nOut, k = shape.k;
  int64_t rows = std::accumulate(shape.counts.begin(), shape.counts.end(), int64_t(0));
  DeviceTensors d;
  ASSERT_TRUE(
      d.upload({randomFloats(operands, {rows, k}, rng),
                randomFloats(operands, {experts, nOut, k}, rng), int32s({experts}, shape.counts),
                randomFloats(operands, {rows, nOut}, rng), outputLike(out, {rows, nOut}),
                outputLike(out, {rows, k}), outputLike(out, {experts, nOut, k})}));
  const std::vector<TensorView> &v = d.views;
  const std::vector<Pass> passes = threeProducts(v);
  double flops = 2.0 * double(rows) * double(nOut) * double(k);
  for (const Pass &pass : passes) {
    double ms = 0;
    ASSERT_TRUE(timeKernel(pass.kernel, pass.inputs, pass.outputs, stream, ms));
    std::printf("grouped GEMM %-21s %-4s operands, %-4s results, %s, %lld experts, %lld rows, "
                "%lldx%lld: %.3f ms, %.1f TFLOP/s\n",
                pass.kernel, dtypeName(operands), dtypeName(out), shape.name, (long long)experts,
                (long long)rows, (long long)nOut, (long long)k, ms, flops / ms * 1e-9);
    totalMs += ms;
    totalFlops += flops;
  }
}

TEST(CudaGroupedGemmThroughput, SixtyFourExperts) {
  DS_REQUIRE_CUDA();
  if (std::getenv("DS_GPU_BENCH") == nullptr)
    GTEST_SKIP() << "timing only: set DS_GPU_BENCH=1 to run";
  registerCudaKernels();
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::mt19937 rng(13);
  const int experts = 64, perExpert = 768;
  BenchShape anchor{"anchor", std::vector<int32_t>(experts, perExpert), 1024, 1024};
  const std::pair<DType, DType> dtypes[] = {
      {DType::F32, DType::F32}, {DType::BF16, DType::BF16}, {DType::BF16, DType::F32}};
  for (const auto &[operands, out] : dtypes) {
    double ms = 0, flops = 0;
    benchLayer(anchor, operands, out, rng, stream, ms, flops);
  }
  // v3-mini's routed rows per layer, ragged: each expert's share drawn from [0.5, 1.5).
  std::vector<int32_t> ragged(experts);
  std::uniform_real_distribution<double> share(0.5, 1.5);
  std::vector<double> shares(experts);
  for (double &x : shares)
    x = share(rng);
  double sum = std::accumulate(shares.begin(), shares.end(), 0.0);
  int32_t assigned = 0;
  for (int e = 0; e < experts; ++e)
    assigned += ragged[e] = int32_t(shares[e] / sum * experts * perExpert);
  ragged[0] += experts * perExpert - assigned;
  for (DType out : {DType::BF16, DType::F32}) {
    double ms = 0, flops = 0;
    benchLayer({"v3-mini gate_up", ragged, 1024, 1024}, DType::BF16, out, rng, stream, ms, flops);
    benchLayer({"v3-mini down", ragged, 1024, 512}, DType::BF16, out, rng, stream, ms, flops);
    std::printf("grouped GEMM v3-mini MoE layer, BF16 operands, %s results: 6 products "
                "%.3f ms, %.1f TFLOP/s\n",
                dtypeName(out), ms, flops / ms * 1e-9);
  }
  CUDA_OK(cudaStreamDestroy(stream));
}

} // namespace
} // namespace ds::rt::gputest
