//===- AttentionCases.h - one attention case on both backends -------------===//
//
// What AttentionTest (the cuBLASLt paths) and FlashAttentionTest (the fused BF16 path)
// share: fresh random query/key/value and output gradient for a shape, attention and
// attention_grad run on the CPU and on CUDA; the backward gets the CPU's result as
// `result`, so both backends differentiate the same forward. Each test compares with its
// own bounds.
//
//===----------------------------------------------------------------------===//
#ifndef DS_TEST_GPU_ATTENTIONCASES_H
#define DS_TEST_GPU_ATTENTIONCASES_H

#include "test/gpu/GpuTestSupport.h"

#include <cmath>
#include <string>

namespace ds::rt::gputest {

struct AttentionShape {
  int64_t batch, seq, heads, qkDim, vDim;
};

/// "f32 math=bf16 batch=2 seq=77 heads=3 dqk=192 dv=128 causal", for SCOPED_TRACE.
inline std::string attentionLabel(const AttentionShape &s, DType dtype, bool causal,
                                  const char *math) {
  return std::string(dtypeName(dtype)) + " math=" + math + " batch=" + std::to_string(s.batch) +
         " seq=" + std::to_string(s.seq) + " heads=" + std::to_string(s.heads) +
         " dqk=" + std::to_string(s.qkDim) + " dv=" + std::to_string(s.vDim) +
         (causal ? " causal" : " full");
}

/// forward: [result]; backward: [query_grad, key_grad, value_grad], each on both backends.
inline ::testing::AssertionResult runAttentionBoth(const AttentionShape &s, DType dtype,
                                                   bool causal, const char *math,
                                                   std::mt19937 &rng, KernelResults &forward,
                                                   KernelResults &backward) {
  KernelAttrs attrs;
  attrs.setFloat("scale", 1.0 / std::sqrt(double(s.qkDim)));
  attrs.setInt("causal", causal);
  attrs.setString("math", math);
  std::vector<int64_t> qkShape = {s.batch, s.seq, s.heads, s.qkDim};
  std::vector<int64_t> vShape = {s.batch, s.seq, s.heads, s.vDim};
  // Spread the scores beyond [-1, 1] so the softmax is not nearly uniform.
  HostTensor q = randomFloats(dtype, qkShape, rng, -2.0f, 2.0f);
  HostTensor k = randomFloats(dtype, qkShape, rng, -2.0f, 2.0f);
  HostTensor v = randomFloats(dtype, vShape, rng);
  ::testing::AssertionResult ran =
      runBoth({"attention", {q, k, v}, {outputLike(dtype, vShape)}, attrs}, forward);
  if (!ran)
    return ran;
  return runBoth({"attention_grad",
                  {q, k, v, forward.cpu[0], randomFloats(dtype, vShape, rng)},
                  {outputLike(dtype, qkShape), outputLike(dtype, qkShape),
                   outputLike(dtype, vShape)},
                  attrs},
                 backward);
}

} // namespace ds::rt::gputest

#endif
