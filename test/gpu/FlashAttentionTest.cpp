// The fused BF16 attention (runtime/kernels/cuda/FlashAttention.cu, taken by attention and
// attention_grad with math = "bf16" and head dims 64/128/192 by 64/128) against the CPU
// reference with math = "bf16", which rounds the same product operands to BF16. Shapes
// cover one token, sequences that end in a partial 64-row tile (77, 130, 200, 300, 700),
// whole tiles (128) and an odd number of them (192: the last 128-row block has one tile),
// several batch rows and heads, every head-dim pair (64/128/192 by 64/128, MLA's 192/128
// among them), causal and full, F32 and BF16 tensors, the result and all three gradients.
//
// Bounds. The two sides differ by where P is rounded for P V: the flash forward rounds the
// unnormalised exp(s - running max) and divides at the end, the CPU rounds the normalised
// P, so each term of a result element carries a different rounding of relative size
// <= 2^-8 (two BF16 half-ulps). Over a row these average out, and the largest error
// seen is a small fraction of a percent of max|result|; an element dominated by one key
// differs by <= 2^-8 relative. The backward's D = rowsum(dO * O) (from the stored result)
// equals the CPU's rowsum(P * dP) only up to rounding, and dS' is rounded to BF16 on both
// sides from slightly different values. Hence rtol = 2e-2 (5x 2^-8, which also covers one
// BF16 output rounding on each side) and an absolute bound of 1e-2 of the tensor's
// largest CPU magnitude. A query or key gradient can be exactly 0 on the CPU (S = 1: P = 1
// and D = dP) where the flash path leaves the rounding of D in it, so the gradients'
// magnitude is floored at a tenth of max|value_grad|. A wrong scale (1.1x) moves results
// by ~5-10% of their maximum and fails these bounds.
#include "test/gpu/AttentionCases.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

namespace ds::rt::gputest {
namespace {

const AttentionShape kFlashCases[] = {
    {1, 1, 1, 64, 64},     {2, 77, 3, 192, 128},  {1, 300, 2, 64, 64},
    {2, 128, 2, 192, 128}, {1, 300, 1, 128, 64},  {1, 700, 2, 192, 128},
    {1, 200, 2, 64, 128},  {2, 130, 1, 128, 128}, {1, 192, 2, 192, 64}};

constexpr double kRtol = 2e-2, kAtolFraction = 1e-2;

/// Every element: |cuda - cpu| <= kRtol * |cpu| + kAtolFraction * magnitude.
::testing::AssertionResult closeTo(const std::string &what, const HostTensor &cuda,
                                   const HostTensor &cpu, double magnitude) {
  return allCloseAbsolute(what, cuda, cpu, kRtol, kAtolFraction * magnitude);
}

void checkFlash(const AttentionShape &s, DType dtype, bool causal, std::mt19937 &rng) {
  SCOPED_TRACE(attentionLabel(s, dtype, causal, "bf16"));
  KernelResults forward, r;
  ASSERT_TRUE(runAttentionBoth(s, dtype, causal, "bf16", rng, forward, r));
  EXPECT_TRUE(closeTo("result", forward.cuda[0], forward.cpu[0], maxAbs(forward.cpu[0])));
  double floor = 0.1 * maxAbs(r.cpu[2]);
  const char *names[] = {"query_grad", "key_grad", "value_grad"};
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(closeTo(names[i], r.cuda[i], r.cpu[i], std::max(maxAbs(r.cpu[i]), floor)));
}

TEST(CudaFlashAttention, ForwardAndGradMatchBf16Cpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(90);
  for (DType dtype : {DType::F32, DType::BF16})
    for (const AttentionShape &s : kFlashCases)
      for (bool causal : {true, false})
        checkFlash(s, dtype, causal, rng);
}

// S = 4096 needs 17 MB of dS' scratch per (batch, head) pair, so the backward runs its
// key/value and query passes over two groups of pairs (256 MB bound). Too long for the
// CPU reference: the flash path is checked against the exact FP32 cuBLASLt path (math =
// "f32") with the bounds AttentionTest gives BF16 math against exact results.
TEST(CudaFlashAttention, LongSequenceMatchesExactPath) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(91);
  const int64_t batch = 2, seq = 4096, heads = 8, qkDim = 192, vDim = 128;
  std::vector<int64_t> qkShape = {batch, seq, heads, qkDim}, vShape = {batch, seq, heads, vDim};
  HostTensor q = randomFloats(DType::F32, qkShape, rng, -2.0f, 2.0f);
  HostTensor k = randomFloats(DType::F32, qkShape, rng, -2.0f, 2.0f);
  HostTensor v = randomFloats(DType::F32, vShape, rng);
  HostTensor dO = randomFloats(DType::F32, vShape, rng);
  std::vector<HostTensor> flash, exact;
  for (const char *math : {"bf16", "f32"}) {
    KernelAttrs attrs;
    attrs.setFloat("scale", 1.0 / std::sqrt(double(qkDim)));
    attrs.setString("math", math);
    std::vector<HostTensor> result, grads;
    ASSERT_TRUE(runCuda({"attention", {q, k, v}, {outputLike(DType::F32, vShape)}, attrs}, result));
    ASSERT_TRUE(runCuda({"attention_grad",
                         {q, k, v, result[0], dO},
                         {outputLike(DType::F32, qkShape), outputLike(DType::F32, qkShape),
                          outputLike(DType::F32, vShape)},
                         attrs},
                        grads));
    std::vector<HostTensor> &into = std::string(math) == "bf16" ? flash : exact;
    into = {result[0], grads[0], grads[1], grads[2]};
  }
  const char *names[] = {"result", "query_grad", "key_grad", "value_grad"};
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(allClose(names[i], flash[i], exact[i], 2e-2, 2e-2));
}

// The flash path needs every tensor 16-byte aligned (cp.async tiles, 16-byte loads of the
// result and its gradient). A call whose F32 tensors all sit 4 bytes past an aligned
// address takes the cuBLASLt path instead, which agrees with the flash path on the same
// inputs within the bounds LongSequenceMatchesExactPath uses.
TEST(CudaFlashAttention, MisalignedTensorsTakeTheGeneralPath) {
  DS_REQUIRE_CUDA();
  registerCudaKernels();
  KernelFn forward = lookupKernel(Backend::Cuda, "attention");
  KernelFn backward = lookupKernel(Backend::Cuda, "attention_grad");
  ASSERT_TRUE(forward && backward);
  std::mt19937 rng(92);
  const int64_t batch = 1, seq = 200, heads = 2, qkDim = 192, vDim = 128;
  std::vector<int64_t> qkShape = {batch, seq, heads, qkDim}, vShape = {batch, seq, heads, vDim};
  // q, k, v, dO; then the outputs result, dq, dk, dv.
  std::vector<HostTensor> host = {randomFloats(DType::F32, qkShape, rng, -2.0f, 2.0f),
                                  randomFloats(DType::F32, qkShape, rng, -2.0f, 2.0f),
                                  randomFloats(DType::F32, vShape, rng),
                                  randomFloats(DType::F32, vShape, rng),
                                  outputLike(DType::F32, vShape),
                                  outputLike(DType::F32, qkShape),
                                  outputLike(DType::F32, qkShape),
                                  outputLike(DType::F32, vShape)};
  std::vector<HostTensor> results[2];
  for (int misaligned = 0; misaligned < 2; ++misaligned) {
    std::vector<void *> buffers(host.size());
    std::vector<TensorView> views(host.size());
    for (size_t i = 0; i < host.size(); ++i) {
      ASSERT_EQ(cudaMalloc(&buffers[i], host[i].bytes.size() + 16), cudaSuccess);
      views[i] = host[i].view();
      views[i].data = static_cast<char *>(buffers[i]) + 4 * misaligned;
      if (i < 4)
        ASSERT_EQ(cudaMemcpy(views[i].data, host[i].bytes.data(), host[i].bytes.size(),
                             cudaMemcpyHostToDevice),
                  cudaSuccess);
      else
        ASSERT_EQ(cudaMemset(views[i].data, 0xff, host[i].bytes.size()), cudaSuccess);
    }
    KernelCall fwd, bwd;
    for (KernelCall *call : {&fwd, &bwd}) {
      call->attrs.setFloat("scale", 1.0 / std::sqrt(double(qkDim)));
      call->attrs.setString("math", "bf16");
    }
    fwd.inputs = {views[0], views[1], views[2]};
    fwd.outputs = {views[4]};
    bwd.inputs = {views[0], views[1], views[2], views[4], views[3]};
    bwd.outputs = {views[5], views[6], views[7]};
    Status status = forward(fwd);
    ASSERT_TRUE(status.isOk()) << status.message();
    status = backward(bwd);
    ASSERT_TRUE(status.isOk()) << status.message();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    for (size_t i = 4; i < host.size(); ++i) {
      results[misaligned].push_back(host[i]);
      ASSERT_EQ(cudaMemcpy(results[misaligned].back().bytes.data(), views[i].data,
                           host[i].bytes.size(), cudaMemcpyDeviceToHost),
                cudaSuccess);
    }
    for (void *buffer : buffers)
      cudaFree(buffer);
  }
  const char *names[] = {"result", "query_grad", "key_grad", "value_grad"};
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(allClose(names[i], results[1][i], results[0][i], 2e-2, 2e-2));
}

} // namespace
} // namespace ds::rt::gputest
