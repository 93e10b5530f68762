// cuBLASLt GEMMs (linear, its two gradients, grouped_linear and its two gradients) against
// the CPU's FP32 reference. BF16 operands are exact in FP32, so both sides add the same
// products; only the order of the K-sum differs, and BF16 results then round once.
#include "test/gpu/GpuTestSupport.h"

#include <numeric>

namespace ds::rt::gputest {
namespace {

struct GemmShape {
  std::vector<int64_t> lead; // leading dims of the activation
  int64_t n, k;
};

const GemmShape kShapes[] = {{{1}, 1, 1}, {{3, 5}, 24, 40}, {{77}, 130, 96}, {{2, 64}, 256, 512}};

std::vector<int64_t> withLast(std::vector<int64_t> lead, int64_t last) {
  lead.push_back(last);
  return lead;
}

/// GEMM bounds: each output sums K products, so compare against the output's scale.
double gemmAtol(DType d) { return d == DType::BF16 ? 8e-3 : 2e-5; }

void expectAll(const KernelResults &r, DType dtype) {
  for (size_t i = 0; i < r.cpu.size(); ++i)
    EXPECT_TRUE(allClose("output " + std::to_string(i), r.cuda[i], r.cpu[i], rtolFor(dtype),
                         gemmAtol(dtype)));
}

TEST(CudaLinear, ForwardAndGradientsMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(1);
  for (DType dtype : {DType::F32, DType::BF16})
    for (const GemmShape &s : kShapes) {
      SCOPED_TRACE(std::string(dtypeName(dtype)) + " n=" + std::to_string(s.n) +
                   " k=" + std::to_string(s.k));
      KernelResults r;
      KernelCase fwd{"linear",
                     {randomFloats(dtype, withLast(s.lead, s.k), rng),
                      randomFloats(dtype, {s.n, s.k}, rng)},
                     {outputLike(dtype, withLast(s.lead, s.n))}};
      ASSERT_TRUE(runBoth(fwd, r));
      expectAll(r, dtype);
      KernelCase dgrad{"linear_dgrad",
                       {randomFloats(dtype, withLast(s.lead, s.n), rng),
                        randomFloats(dtype, {s.n, s.k}, rng)},
                       {outputLike(dtype, withLast(s.lead, s.k))}};
      ASSERT_TRUE(runBoth(dgrad, r));
      expectAll(r, dtype);
      KernelCase wgrad{"linear_wgrad",
                       {randomFloats(dtype, withLast(s.lead, s.n), rng),
                        randomFloats(dtype, withLast(s.lead, s.k), rng)},
                       {outputLike(dtype, {s.n, s.k})}};
      ASSERT_TRUE(runBoth(wgrad, r));
      expectAll(r, dtype);
    }
}

TEST(CudaLinear, Bf16OperandsWithF32WeightGradient) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(2);
  KernelResults r;
  KernelCase wgrad{"linear_wgrad",
                   {randomFloats(DType::BF16, {96, 48}, rng),
                    randomFloats(DType::BF16, {96, 80}, rng)},
                   {outputLike(DType::F32, {48, 80})}};
  ASSERT_TRUE(runBoth(wgrad, r));
  EXPECT_TRUE(allClose("weight_grad", r.cuda[0], r.cpu[0], kF32Rtol, 2e-5));
}

TEST(CudaLinear, MixedOperandDtypesAreAnError) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(3);
  KernelCase c{"linear",
               {randomFloats(DType::BF16, {4, 8}, rng), randomFloats(DType::F32, {6, 8}, rng)},
               {outputLike(DType::F32, {4, 6})}};
  std::vector<HostTensor> out;
  auto result = runCuda(c, out);
  ASSERT_FALSE(result);
  EXPECT_NE(std::string(result.message()).find("linear"), std::string::npos);
}

struct GroupCase {
  std::vector<int32_t> counts;
  int64_t nOut, k;
};

// Ragged groups, empty experts (first, middle, last), one expert holding every row.
const GroupCase kGroups[] = {{{0, 7, 1, 0, 13}, 24, 40},
                             {{5, 0, 0, 0}, 16, 8},
                             {{33, 64, 1, 0, 17, 2, 9, 0}, 96, 128},
                             {{0, 0, 0}, 8, 8}};

TEST(CudaGroupedLinear, RaggedAndEmptyExpertsMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(4);
  for (DType dtype : {DType::F32, DType::BF16})
    for (const GroupCase &g : kGroups) {
      int64_t experts = g.counts.size();
      int64_t rows = std::accumulate(g.counts.begin(), g.counts.end(), int64_t(0));
      SCOPED_TRACE(std::string(dtypeName(dtype)) + " experts=" + std::to_string(experts) +
                   " rows=" + std::to_string(rows));
      HostTensor counts = int32s({experts}, g.counts);
      KernelResults r;
      KernelCase fwd{"grouped_linear",
                     {randomFloats(dtype, {rows, g.k}, rng),
                      randomFloats(dtype, {experts, g.nOut, g.k}, rng), counts},
                     {outputLike(dtype, {rows, g.nOut})}};
      ASSERT_TRUE(runBoth(fwd, r));
      expectAll(r, dtype);
      KernelCase dgrad{"grouped_linear_dgrad",
                       {randomFloats(dtype, {rows, g.nOut}, rng),
                        randomFloats(dtype, {experts, g.nOut, g.k}, rng), counts},
                       {outputLike(dtype, {rows, g.k})}};
      ASSERT_TRUE(runBoth(dgrad, r));
      expectAll(r, dtype);
      KernelCase wgrad{"grouped_linear_wgrad",
                       {randomFloats(dtype, {rows, g.nOut}, rng),
                        randomFloats(dtype, {rows, g.k}, rng), counts},
                       {outputLike(dtype, {experts, g.nOut, g.k})}};
      ASSERT_TRUE(runBoth(wgrad, r));
      expectAll(r, dtype);
    }
}

TEST(CudaGroupedLinear, CountsThatMissTheRowsAreAnError) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(5);
  KernelCase c{"grouped_linear",
               {randomFloats(DType::F32, {10, 8}, rng), randomFloats(DType::F32, {2, 4, 8}, rng),
                int32s({2}, {3, 4})},
               {outputLike(DType::F32, {10, 4})}};
  std::vector<HostTensor> out;
  auto result = runCuda(c, out);
  ASSERT_FALSE(result);
  EXPECT_NE(std::string(result.message()).find("counts sum to 7"), std::string::npos)
      << result.message();
}


// math = bf16 / tf32 (ds-gemm-precision) against the CPU's emulation, which rounds both
// operands to the format (nearest even) before its FP32 sum. cuBLASLt may keep more
// precision than asked (with F32 operands it runs TF32 kernels for FAST_16BF), and may
// break ties or truncate differently, so the bound is a few BF16 (TF32) operand ulps
// summed over K, not summation order.
TEST(CudaLinear, TensorCoreMathWithinRoundingOfTheCpuEmulation) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(4);
  for (const char *math : {"bf16", "tf32"})
    for (const char *kernel : {"linear", "linear_dgrad", "linear_wgrad"}) {
      SCOPED_TRACE(std::string(kernel) + " math=" + math);
      bool wgrad = std::string(kernel) == "linear_wgrad";
      bool dgrad = std::string(kernel) == "linear_dgrad";
      std::vector<int64_t> a = {3, 77, dgrad || wgrad ? int64_t(130) : int64_t(96)};
      std::vector<int64_t> b = wgrad ? std::vector<int64_t>{3, 77, 96}
                                     : std::vector<int64_t>{130, 96};
      std::vector<int64_t> out = wgrad ? std::vector<int64_t>{130, 96}
                                       : std::vector<int64_t>{3, 77, dgrad ? 96 : 130};
      KernelCase c{kernel,
                   {randomFloats(DType::F32, a, rng), randomFloats(DType::F32, b, rng)},
                   {outputLike(DType::F32, out)}};
      c.attrs.setString("math", math);
      KernelResults r;
      ASSERT_TRUE(runBoth(c, r));
      double bound = std::string(math) == "bf16" ? 2e-2 : 4e-3;
      EXPECT_TRUE(allClose("result", r.cuda[0], r.cpu[0], bound, bound));
    }
}

TEST(CudaGroupedLinear, Bf16MathMatchesTheCpuEmulation) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(5);
  HostTensor counts = int32s({4}, {5, 0, 17, 3});
  KernelCase c{"grouped_linear",
               {randomFloats(DType::F32, {25, 64}, rng),
                randomFloats(DType::F32, {4, 48, 64}, rng), counts},
               {outputLike(DType::F32, {25, 48})}};
  c.attrs.setString("math", "bf16");
  KernelResults r;
  ASSERT_TRUE(runBoth(c, r));
  EXPECT_TRUE(allClose("result", r.cuda[0], r.cpu[0], 2e-2, 2e-2));
}

TEST(CudaLinear, UnknownMathIsAnError) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(6);
  KernelCase c{"linear",
               {randomFloats(DType::F32, {4, 8}, rng), randomFloats(DType::F32, {6, 8}, rng)},
               {outputLike(DType::F32, {4, 6})}};
  c.attrs.setString("math", "fp16");
  std::vector<HostTensor> out;
  EXPECT_FALSE(runCuda(c, out));
}

} // namespace
} // namespace ds::rt::gputest
