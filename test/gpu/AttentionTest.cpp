// attention and attention_grad: MLA's head dims (q/k 192, v 128), small odd dims, one
// token, one head, sequences that are not a multiple of the GEMM tiles or of the causal
// query chunks (64 rows up to S = 512, so S = 70, 129 and 300 end in a partial chunk),
// causal and full; exact FP32 math against the CPU with FP32 bounds, TF32 and BF16 math
// against the same exact CPU result with bounds for their operand rounding.
#include "test/gpu/AttentionCases.h"

namespace ds::rt::gputest {
namespace {

const AttentionShape kShapes[] = {{1, 1, 1, 8, 8},
                                  {2, 33, 3, 24, 40},
                                  {1, 70, 2, 192, 128},
                                  {1, 129, 1, 72, 17},
                                  {2, 300, 2, 192, 128}};

/// |cuda - cpu| <= rtol * |cpu| + atol * max|cpu| for the result and for the gradients.
struct Bounds {
  double rtol, resultAtol, gradAtol;
};

void checkAgainstCpu(const AttentionShape &s, DType dtype, bool causal, const char *math,
                     const Bounds &bounds, std::mt19937 &rng) {
  SCOPED_TRACE(attentionLabel(s, dtype, causal, math));
  KernelResults forward, backward;
  ASSERT_TRUE(runAttentionBoth(s, dtype, causal, math, rng, forward, backward));
  EXPECT_TRUE(allClose("result", forward.cuda[0], forward.cpu[0], bounds.rtol, bounds.resultAtol));
  const char *names[] = {"query_grad", "key_grad", "value_grad"};
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(
        allClose(names[i], backward.cuda[i], backward.cpu[i], bounds.rtol, bounds.gradAtol));
}

TEST(CudaAttention, ForwardAndGradMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(60);
  for (DType dtype : {DType::F32, DType::BF16}) {
    Bounds bounds =
        dtype == DType::BF16 ? Bounds{kBf16Rtol, kBf16Atol, 8e-3} : Bounds{kF32Rtol, 1e-5, 2e-5};
    for (const AttentionShape &s : kShapes)
      for (bool causal : {true, false})
        checkAgainstCpu(s, dtype, causal, "f32", bounds, rng);
  }
}

// Bounds from emulating the operand rounding on the CPU over these shapes: BF16 operands
// (round to nearest) need rtol = atol ~ 6e-3, TF32 ~ 9e-4; with truncation instead,
// 1.3e-2 and 1.5e-3. The bounds below leave at least 1.5x over truncation. They hold
// against the exact CPU result and, closer still, against a CPU that emulates the rounding.
TEST(CudaAttention, FastMathWithinRoundingOfExactCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(61);
  for (const AttentionShape &s : kShapes)
    for (bool causal : {true, false}) {
      checkAgainstCpu(s, DType::F32, causal, "tf32", {4e-3, 4e-3, 4e-3}, rng);
      checkAgainstCpu(s, DType::F32, causal, "bf16", {2e-2, 2e-2, 2e-2}, rng);
    }
}

TEST(CudaAttention, UnknownMathIsAnError) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(62);
  std::vector<int64_t> shape = {1, 4, 1, 8};
  KernelAttrs attrs;
  attrs.setFloat("scale", 0.5);
  attrs.setString("math", "fp8");
  HostTensor q = randomFloats(DType::F32, shape, rng);
  std::vector<HostTensor> outputs;
  ::testing::AssertionResult ran =
      runCuda({"attention", {q, q, q}, {outputLike(DType::F32, shape)}, attrs}, outputs);
  ASSERT_FALSE(ran);
  std::string message = ran.message();
  EXPECT_NE(message.find("attention: math = 'fp8' is not f32, bf16 or tf32"),
            std::string::npos)
      << message;
}

} // namespace
} // namespace ds::rt::gputest
