// The fused kernels of ds-fuse (operand layouts in runtime/kernels/cpu/CpuKernels.h),
// each CUDA kernel against the CPU one, which runs the unfused kernels stage by stage.
// Shapes are small MLA- and step-like ones with odd sizes; the multi-tensor kernels get
// more tensors than one CUDA launch takes, so their batching is exercised too.
#include "test/gpu/GpuTestSupport.h"

namespace ds::rt::gputest {
namespace {

KernelAttrs ropeAttrs(bool interleaved) {
  KernelAttrs attrs;
  attrs.setFloat("theta", 10000.0);
  attrs.setInt("interleaved", interleaved);
  return attrs;
}

void expectAllClose(const KernelResults &r, DType dtype) {
  for (size_t i = 0; i < r.cpu.size(); ++i)
    EXPECT_TRUE(allClose("output " + std::to_string(i), r.cuda[i], r.cpu[i], rtolFor(dtype),
                         atolFor(dtype)));
}

TEST(CudaFusedAdamwMulti, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(70);
  KernelAttrs attrs;
  attrs.setFloat("beta1", 0.9);
  attrs.setFloat("beta2", 0.95);
  attrs.setFloat("epsilon", 1e-8);
  attrs.setFloat("weight_decay", 0.1);
  attrs.setFloat("max_grad_norm", 1.0);
  KernelCase c{"adamw_multi", {scalar(2.2e-4f), scalar(7.0f), scalar(3.5f)}, {}, attrs};
  // 30 tensors: more than one CUDA launch's batch of 24, one of them empty.
  for (int t = 0; t < 30; ++t) {
    std::vector<int64_t> shape = {t == 5 ? 0 : 1 + t * 37 % 101, 1 + t % 7};
    DType moments = t % 3 == 0 ? DType::BF16 : DType::F32;
    c.inputs.push_back(randomFloats(DType::F32, shape, rng));
    c.inputs.push_back(randomFloats(t % 2 ? DType::BF16 : DType::F32, shape, rng));
    c.inputs.push_back(randomFloats(moments, shape, rng, -0.1f, 0.1f));
    c.inputs.push_back(randomFloats(moments, shape, rng, 0.001f, 0.01f));
    c.outputs.push_back(outputLike(DType::F32, shape));
    c.outputs.push_back(outputLike(moments, shape));
    c.outputs.push_back(outputLike(moments, shape));
  }
  KernelResults r;
  ASSERT_TRUE(runBoth(c, r));
  for (size_t i = 0; i < r.cpu.size(); ++i)
    EXPECT_TRUE(allClose("output " + std::to_string(i), r.cuda[i], r.cpu[i],
                         i % 3 == 0 ? 1e-6 : rtolFor(c.outputs[i].dtype),
                         i % 3 == 0 ? 1e-7 : 1e-6));
}

TEST(CudaFusedBiasUpdateMulti, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(71);
  KernelAttrs attrs;
  attrs.setFloat("gamma", 0.001);
  KernelCase c{"bias_update_multi", {}, {}, attrs};
  // 70 biases: more than one CUDA launch's batch of 64.
  for (int t = 0; t < 70; ++t) {
    int64_t experts = t % 3 == 0 ? 256 : 8 + t;
    std::vector<int32_t> counts(experts);
    for (int32_t &count : counts)
      count = static_cast<int32_t>(rng() % 50);
    c.inputs.push_back(randomFloats(t % 2 ? DType::BF16 : DType::F32, {experts}, rng));
    c.inputs.push_back(int32s({experts}, counts));
    c.outputs.push_back(outputLike(DType::F32, {experts}));
  }
  KernelResults r;
  ASSERT_TRUE(runBoth(c, r));
  for (size_t i = 0; i < r.cpu.size(); ++i)
    EXPECT_TRUE(identical("new_bias " + std::to_string(i), r.cuda[i], r.cpu[i]));
}

TEST(CudaFusedRopePartial, ForwardAndGradMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(72);
  // [B, S, H, D] with the rotated window inside, at the end (MLA's query) and the whole.
  const std::vector<std::tuple<std::vector<int64_t>, int64_t, int64_t>> cases = {
      {{2, 37, 3, 48}, 32, 16}, {{1, 5, 2, 24}, 6, 10}, {{2, 9, 1, 8}, 0, 8}};
  for (DType dtype : {DType::F32, DType::BF16})
    for (const auto &[shape, offset, size] : cases)
      for (bool interleaved : {false, true})
        for (const char *kernel : {"rope_partial", "rope_partial_grad"}) {
          SCOPED_TRACE(std::string(kernel) + " " + dtypeName(dtype) + " offset " +
                       std::to_string(offset) + (interleaved ? " interleaved" : " half"));
          KernelAttrs attrs = ropeAttrs(interleaved);
          attrs.setInt("offset", offset);
          attrs.setInt("size", size);
          KernelResults r;
          ASSERT_TRUE(runBoth(
              {kernel, {randomFloats(dtype, shape, rng)}, {outputLike(dtype, shape)}, attrs}, r));
          expectAllClose(r, dtype);
        }
}

TEST(CudaFusedMlaRopeKey, ForwardAndGradMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(73);
  // B 2, S 11, H 3; nope 16, rope 8, value 12; kv_a holds a 20-wide latent before the key.
  const int64_t batch = 2, seq = 11, heads = 3, nope = 16, rope = 8, value = 12, latent = 20;
  for (DType dtype : {DType::F32, DType::BF16})
    for (bool interleaved : {false, true}) {
      SCOPED_TRACE(std::string(dtypeName(dtype)) + (interleaved ? " interleaved" : " half"));
      KernelAttrs attrs = ropeAttrs(interleaved);
      attrs.setInt("nope_dim", nope);
      attrs.setInt("rope_offset", latent);
      KernelResults r;
      ASSERT_TRUE(runBoth({"mla_rope_key",
                           {randomFloats(dtype, {batch, seq, heads, nope + value}, rng),
                            randomFloats(dtype, {batch, seq, latent + rope}, rng)},
                           {outputLike(dtype, {batch, seq, heads, nope + rope})},
                           attrs},
                          r));
      expectAllClose(r, dtype);
      KernelAttrs gradAttrs = ropeAttrs(interleaved);
      gradAttrs.setInt("nope_dim", nope);
      ASSERT_TRUE(runBoth({"mla_rope_key_grad",
                           {randomFloats(dtype, {batch, seq, heads, nope + rope}, rng),
                            randomFloats(dtype, {batch, seq, heads, value}, rng)},
                           {outputLike(dtype, {batch, seq, heads, nope + value}),
                            outputLike(dtype, {batch, seq, 1, rope})},
                           gradAttrs},
                          r));
      expectAllClose(r, dtype);
    }
}

TEST(CudaFusedAddRmsNorm, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(74);
  KernelAttrs attrs;
  attrs.setFloat("eps", 1e-6);
  for (DType dtype : {DType::F32, DType::BF16})
    for (std::vector<int64_t> shape : {std::vector<int64_t>{3, 5, 64}, {7, 1000}, {1, 33}}) {
      SCOPED_TRACE(std::string(dtypeName(dtype)) + " width " + std::to_string(shape.back()));
      KernelResults r;
      ASSERT_TRUE(runBoth({"add_rms_norm",
                           {randomFloats(dtype, shape, rng), randomFloats(dtype, shape, rng),
                            randomFloats(DType::F32, {shape.back()}, rng)},
                           {outputLike(dtype, shape), outputLike(dtype, shape)},
                           attrs},
                          r));
      // The sum is one rounding of one addition on both backends.
      EXPECT_TRUE(identical("sum", r.cuda[0], r.cpu[0]));
      EXPECT_TRUE(allClose("result", r.cuda[1], r.cpu[1], rtolFor(dtype), atolFor(dtype)));
    }
}

TEST(CudaFusedRmsNormGradAdd, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(75);
  KernelAttrs attrs;
  attrs.setFloat("eps", 1e-6);
  for (DType dtype : {DType::F32, DType::BF16})
    for (std::vector<int64_t> shape : {std::vector<int64_t>{3, 5, 64}, {7, 1000}, {1, 33}}) {
      SCOPED_TRACE(std::string(dtypeName(dtype)) + " width " + std::to_string(shape.back()));
      int64_t width = shape.back();
      KernelResults r;
      ASSERT_TRUE(runBoth({"rms_norm_grad_add",
                           {randomFloats(dtype, shape, rng), randomFloats(DType::F32, {width}, rng),
                            randomFloats(dtype, shape, rng), randomFloats(dtype, shape, rng)},
                           {outputLike(dtype, shape), outputLike(dtype, {width})},
                           attrs},
                          r));
      EXPECT_TRUE(allClose("sum", r.cuda[0], r.cpu[0], rtolFor(dtype), atolFor(dtype)));
      // The weight gradient sums over every row: compare against its own scale.
      EXPECT_TRUE(allClose("weight_grad", r.cuda[1], r.cpu[1], rtolFor(dtype),
                           dtype == DType::BF16 ? 8e-3 : 1e-5));
    }
}

} // namespace
// quantize_dequantize: the same FP32 operations as the CPU's quantize then dequantize
// (amax, amax / 448, x / scale to E4M3 nearest-even saturating, times scale), so the
// results are identical, for each tiling of the recipe and for BF16 storage.
TEST(CudaFusedQuantizeDequantize, MatchesCpuExactly) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(91);
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{2, 3, 300}, {1, 128}}, {{200, 136}, {128, 128}}, {{2, 130, 9}, {128, 1}},
      {{64, 512}, {64, 512}}};
  for (DType dtype : {DType::F32, DType::BF16})
    for (const auto &[shape, block] : cases) {
      SCOPED_TRACE(std::string(dtypeName(dtype)) + " block " + std::to_string(block[0]) +
                   "x" + std::to_string(block[1]));
      KernelAttrs attrs;
      attrs.setInts("block", block);
      KernelResults r;
      ASSERT_TRUE(runBoth(
          {"quantize_dequantize", {randomFloats(dtype, shape, rng)}, {outputLike(dtype, shape)},
           attrs},
          r));
      EXPECT_TRUE(identical("result", r.cuda[0], r.cpu[0]));
    }
}

} // namespace ds::rt::gputest
