// The fused kernels of ds-fuse against the launches they replace: each fused kernel on
// random inputs must write exactly the bytes that the unfused kernels, run one after the
// other as the unfused plan runs them, write. That is what makes fused and unfused plans
// train bit for bit alike.
#include "test/unit/runtime/KernelTestUtil.h"

#include <algorithm>
#include <cstring>

using namespace ds::rt;
using namespace ds::rt::test;

namespace {

void expectIdentical(const HostTensor &fused, const HostTensor &unfused, const std::string &what) {
  ASSERT_EQ(fused.dtype, unfused.dtype) << what;
  ASSERT_EQ(fused.shape, unfused.shape) << what;
  EXPECT_EQ(std::memcmp(fused.bytes.data(), unfused.bytes.data(), fused.bytes.size()), 0)
      << what << " differs from the unfused launches' result";
}

KernelAttrs sliceAttrs(int64_t dim, int64_t offset, int64_t size) {
  KernelAttrs attrs;
  attrs.setInt("dim", dim);
  attrs.setInt("offset", offset);
  attrs.setInt("size", size);
  return attrs;
}

KernelAttrs dimAttrs(int64_t dim) {
  KernelAttrs attrs;
  attrs.setInt("dim", dim);
  return attrs;
}

KernelAttrs ropeAttrs(bool interleaved) {
  KernelAttrs attrs;
  attrs.setFloat("theta", 10000.0);
  attrs.setInt("interleaved", interleaved);
  return attrs;
}

/// The same bytes under another shape (what a dsx.view gives a launch).
HostTensor reshaped(const HostTensor &t, std::vector<int64_t> shape) {
  HostTensor view = t;
  view.shape = std::move(shape);
  return view;
}

TEST(KernelFused, AdamwMultiIsAdamwPerTensor) {
  KernelAttrs attrs;
  attrs.setFloat("beta1", 0.9);
  attrs.setFloat("beta2", 0.95);
  attrs.setFloat("epsilon", 1e-8);
  attrs.setFloat("weight_decay", 0.1);
  attrs.setFloat("max_grad_norm", 1.0);
  HostTensor lr = scalarTensor(3e-3f), step = scalarTensor(4.0f), norm = scalarTensor(2.5f);
  std::vector<HostTensor> tensors, fused, unfused;
  const std::vector<std::vector<int64_t>> shapes = {{3, 5}, {7}, {2, 2, 3}};
  for (size_t t = 0; t < shapes.size(); ++t) {
    DType moments = t == 1 ? DType::BF16 : DType::F32;
    tensors.push_back(randomTensor(shapes[t], 100 + t));
    tensors.push_back(randomTensor(shapes[t], 110 + t));
    tensors.push_back(randomTensor(shapes[t], 120 + t, 0.1f, moments));
    tensors.push_back(randomTensor(shapes[t], 130 + t, 0.01f, moments));
    for (DType dtype : {DType::F32, moments, moments}) {
      fused.emplace_back(dtype, shapes[t]);
      unfused.emplace_back(dtype, shapes[t]);
    }
  }
  std::vector<HostTensor *> in = {&lr, &step, &norm}, out;
  for (HostTensor &t : tensors)
    in.push_back(&t);
  for (HostTensor &t : fused)
    out.push_back(&t);
  DS_EXPECT_KERNEL_OK(runKernel("adamw_multi", in, out, attrs));
  for (size_t t = 0; t < shapes.size(); ++t) {
    HostTensor *p = &tensors[4 * t];
    DS_EXPECT_KERNEL_OK(runKernel("adamw", {p, p + 1, p + 2, p + 3, &lr, &step, &norm},
                                  {&unfused[3 * t], &unfused[3 * t + 1], &unfused[3 * t + 2]},
                                  attrs));
  }
  for (size_t i = 0; i < fused.size(); ++i)
    expectIdentical(fused[i], unfused[i], "output " + std::to_string(i));

  in.pop_back();
  Status status = runKernel("adamw_multi", in, out, attrs);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("adamw_multi: expected lr, step, grad_norm, then 4 inputs"),
            std::string::npos)
      << status.message();
}

TEST(KernelFused, BiasUpdateMultiIsBiasUpdatePerTensor) {
  KernelAttrs attrs;
  attrs.setFloat("gamma", 0.01);
  HostTensor b0 = randomTensor({4}, 140), b1 = randomTensor({6}, 141);
  HostTensor c0 = indexTensor({4}, {1, 5, 3, 3}), c1 = indexTensor({6}, {0, 9, 2, 2, 2, 2});
  HostTensor f0(DType::F32, {4}), f1(DType::F32, {6}), u0(DType::F32, {4}), u1(DType::F32, {6});
  DS_EXPECT_KERNEL_OK(runKernel("bias_update_multi", {&b0, &c0, &b1, &c1}, {&f0, &f1}, attrs));
  DS_EXPECT_KERNEL_OK(runKernel("bias_update", {&b0, &c0}, {&u0}, attrs));
  DS_EXPECT_KERNEL_OK(runKernel("bias_update", {&b1, &c1}, {&u1}, attrs));
  expectIdentical(f0, u0, "new_bias 0");
  expectIdentical(f1, u1, "new_bias 1");
  HostTensor negative = indexTensor({4}, {1, -1, 0, 0});
  Status status = runKernel("bias_update_multi", {&b0, &c0, &b0, &negative}, {&f0, &f1}, attrs);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("bias_update_multi: tensor 1: bias_update:"), std::string::npos)
      << status.message();
}

// MLA's query: concat(slice(q)[..., :nope], rope(slice(q)[..., nope:])) and its backward.
TEST(KernelFused, RopePartialIsSliceRopeConcat) {
  for (bool interleaved : {false, true})
    for (DType dtype : {DType::F32, DType::BF16})
      for (const char *rope : {"rope", "rope_grad"}) {
        SCOPED_TRACE(std::string(rope) + (interleaved ? " interleaved " : " half ") +
                     dtypeName(dtype));
        const int64_t nope = 6, ropeDim = 8;
        HostTensor q = randomTensor({2, 5, 3, nope + ropeDim}, 150, 1.0f, dtype);
        HostTensor fused(dtype, q.shape);
        KernelAttrs attrs = ropeAttrs(interleaved);
        attrs.setInt("offset", nope);
        attrs.setInt("size", ropeDim);
        std::string kernel = std::string(rope) == "rope" ? "rope_partial" : "rope_partial_grad";
        DS_EXPECT_KERNEL_OK(runKernel(kernel, {&q}, {&fused}, attrs));

        HostTensor qNope(dtype, {2, 5, 3, nope}), qPe(dtype, {2, 5, 3, ropeDim});
        HostTensor rotated(dtype, qPe.shape), unfused(dtype, q.shape);
        DS_EXPECT_KERNEL_OK(runKernel("slice", {&q}, {&qNope}, sliceAttrs(3, 0, nope)));
        DS_EXPECT_KERNEL_OK(runKernel("slice", {&q}, {&qPe}, sliceAttrs(3, nope, ropeDim)));
        DS_EXPECT_KERNEL_OK(runKernel(rope, {&qPe}, {&rotated}, ropeAttrs(interleaved)));
        DS_EXPECT_KERNEL_OK(runKernel("concat", {&qNope, &rotated}, {&unfused}, dimAttrs(3)));
        expectIdentical(fused, unfused, kernel);
      }
}

TEST(KernelFused, RopePartialWindowInTheMiddleAndErrors) {
  HostTensor x = randomTensor({1, 4, 2, 12}, 151);
  HostTensor fused(DType::F32, x.shape), unfused(DType::F32, x.shape);
  KernelAttrs attrs = ropeAttrs(true);
  attrs.setInt("offset", 2);
  attrs.setInt("size", 6);
  DS_EXPECT_KERNEL_OK(runKernel("rope_partial", {&x}, {&fused}, attrs));
  HostTensor before(DType::F32, {1, 4, 2, 2}), window(DType::F32, {1, 4, 2, 6});
  HostTensor after(DType::F32, {1, 4, 2, 4}), rotated(DType::F32, window.shape);
  DS_EXPECT_KERNEL_OK(runKernel("slice", {&x}, {&before}, sliceAttrs(3, 0, 2)));
  DS_EXPECT_KERNEL_OK(runKernel("slice", {&x}, {&window}, sliceAttrs(3, 2, 6)));
  DS_EXPECT_KERNEL_OK(runKernel("slice", {&x}, {&after}, sliceAttrs(3, 8, 4)));
  DS_EXPECT_KERNEL_OK(runKernel("rope", {&window}, {&rotated}, ropeAttrs(true)));
  DS_EXPECT_KERNEL_OK(runKernel("concat", {&before, &rotated, &after}, {&unfused}, dimAttrs(3)));
  expectIdentical(fused, unfused, "rope_partial");

  attrs.setInt("size", 12);
  Status status = runKernel("rope_partial", {&x}, {&fused}, attrs);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("rope_partial: the rotated channels [2, 14) are not a "
                                  "non-empty range inside the last dimension of 1x4x2x12xf32"),
            std::string::npos)
      << status.message();
}

// MLA's key: kv_up's nope part beside the RoPE key shared by every head, from kv_a.
TEST(KernelFused, MlaRopeKeyIsItsChain) {
  const int64_t batch = 2, seq = 5, heads = 3, nope = 4, value = 6, latent = 10, rope = 8;
  for (bool interleaved : {false, true}) {
    HostTensor kvUp = randomTensor({batch, seq, heads, nope + value}, 160);
    HostTensor kvA = randomTensor({batch, seq, latent + rope}, 161);
    HostTensor fused(DType::F32, {batch, seq, heads, nope + rope});
    KernelAttrs attrs = ropeAttrs(interleaved);
    attrs.setInt("nope_dim", nope);
    attrs.setInt("rope_offset", latent);
    DS_EXPECT_KERNEL_OK(runKernel("mla_rope_key", {&kvUp, &kvA}, {&fused}, attrs));

    HostTensor kNope(DType::F32, {batch, seq, heads, nope}), pe(DType::F32, {batch, seq, rope});
    HostTensor rotated(DType::F32, {batch, seq, 1, rope});
    HostTensor expanded(DType::F32, {batch, seq, heads, rope}), unfused(DType::F32, fused.shape);
    DS_EXPECT_KERNEL_OK(runKernel("slice", {&kvA}, {&pe}, sliceAttrs(2, latent, rope)));
    HostTensor peView = reshaped(pe, {batch, seq, 1, rope});
    DS_EXPECT_KERNEL_OK(runKernel("rope", {&peView}, {&rotated}, ropeAttrs(interleaved)));
    DS_EXPECT_KERNEL_OK(runKernel("expand", {&rotated}, {&expanded}));
    DS_EXPECT_KERNEL_OK(runKernel("slice", {&kvUp}, {&kNope}, sliceAttrs(3, 0, nope)));
    DS_EXPECT_KERNEL_OK(runKernel("concat", {&kNope, &expanded}, {&unfused}, dimAttrs(3)));
    expectIdentical(fused, unfused, interleaved ? "key (interleaved)" : "key");
  }
}

TEST(KernelFused, MlaRopeKeyGradIsItsChain) {
  const int64_t batch = 2, seq = 5, heads = 3, nope = 4, value = 6, rope = 8;
  HostTensor keyGrad = randomTensor({batch, seq, heads, nope + rope}, 170);
  HostTensor valueGrad = randomTensor({batch, seq, heads, value}, 171);
  HostTensor kvUpGrad(DType::F32, {batch, seq, heads, nope + value});
  HostTensor peGrad(DType::F32, {batch, seq, 1, rope});
  KernelAttrs attrs = ropeAttrs(true);
  attrs.setInt("nope_dim", nope);
  DS_EXPECT_KERNEL_OK(
      runKernel("mla_rope_key_grad", {&keyGrad, &valueGrad}, {&kvUpGrad, &peGrad}, attrs));

  HostTensor nopeGrad(DType::F32, {batch, seq, heads, nope});
  HostTensor ropeGrad(DType::F32, {batch, seq, heads, rope});
  HostTensor summed(DType::F32, {batch, seq, 1, rope});
  HostTensor unfusedKvUp(DType::F32, kvUpGrad.shape), unfusedPe(DType::F32, peGrad.shape);
  DS_EXPECT_KERNEL_OK(runKernel("slice", {&keyGrad}, {&nopeGrad}, sliceAttrs(3, 0, nope)));
  DS_EXPECT_KERNEL_OK(runKernel("slice", {&keyGrad}, {&ropeGrad}, sliceAttrs(3, nope, rope)));
  DS_EXPECT_KERNEL_OK(runKernel("concat", {&nopeGrad, &valueGrad}, {&unfusedKvUp}, dimAttrs(3)));
  DS_EXPECT_KERNEL_OK(runKernel("expand_grad", {&ropeGrad}, {&summed}));
  DS_EXPECT_KERNEL_OK(runKernel("rope_grad", {&summed}, {&unfusedPe}, ropeAttrs(true)));
  expectIdentical(kvUpGrad, unfusedKvUp, "kv_up_grad");
  expectIdentical(peGrad, unfusedPe, "pe_grad");
}

TEST(KernelFused, AddRmsNormIsAddThenRmsNorm) {
  KernelAttrs attrs;
  attrs.setFloat("eps", 1e-6);
  for (DType dtype : {DType::F32, DType::BF16}) {
    HostTensor a = randomTensor({3, 4, 16}, 180, 1.0f, dtype);
    HostTensor b = randomTensor({3, 4, 16}, 181, 1.0f, dtype), w = randomTensor({16}, 182);
    HostTensor sum(dtype, a.shape), y(dtype, a.shape), unfusedSum(dtype, a.shape),
        unfusedY(dtype, a.shape);
    DS_EXPECT_KERNEL_OK(runKernel("add_rms_norm", {&a, &b, &w}, {&sum, &y}, attrs));
    DS_EXPECT_KERNEL_OK(runKernel("add", {&a, &b}, {&unfusedSum}));
    DS_EXPECT_KERNEL_OK(runKernel("rms_norm", {&unfusedSum, &w}, {&unfusedY}, attrs));
    expectIdentical(sum, unfusedSum, "sum");
    expectIdentical(y, unfusedY, "result");
  }
}

TEST(KernelFused, RmsNormGradAddIsRmsNormGradThenAdd) {
  KernelAttrs attrs;
  attrs.setFloat("eps", 1e-6);
  HostTensor x = randomTensor({3, 4, 16}, 190), w = randomTensor({16}, 191);
  HostTensor dy = randomTensor({3, 4, 16}, 192), residual = randomTensor({3, 4, 16}, 193);
  HostTensor sum(DType::F32, x.shape), dw(DType::F32, {16});
  DS_EXPECT_KERNEL_OK(runKernel("rms_norm_grad_add", {&x, &w, &dy, &residual}, {&sum, &dw}, attrs));
  HostTensor dx(DType::F32, x.shape), unfusedDw(DType::F32, {16});
  DS_EXPECT_KERNEL_OK(runKernel("rms_norm_grad", {&x, &w, &dy}, {&dx, &unfusedDw}, attrs));
  // Either operand order of the add it replaces: IEEE addition commutes exactly.
  for (bool residualFirst : {false, true}) {
    HostTensor unfusedSum(DType::F32, x.shape);
    DS_EXPECT_KERNEL_OK(runKernel(
        "add", {residualFirst ? &residual : &dx, residualFirst ? &dx : &residual}, {&unfusedSum}));
    expectIdentical(sum, unfusedSum, residualFirst ? "sum (residual + dx)" : "sum (dx + residual)");
  }
  expectIdentical(dw, unfusedDw, "weight_grad");
}

// The FP8 operand round trip: one launch, the same bytes as quantize then dequantize with
// FP32 scales, for the recipe's three tilings (partial edge blocks included) and for a
// block of zeros (scale 1) and one past E4M3's range (saturation).
TEST(KernelFused, QuantizeDequantizeIsTheRoundTrip) {
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{2, 3, 300}, {1, 128}}, {{200, 136}, {128, 128}}, {{2, 130, 9}, {128, 1}}};
  for (const auto &[shape, block] : cases) {
    SCOPED_TRACE("block " + std::to_string(block[0]) + "x" + std::to_string(block[1]));
    KernelAttrs attrs;
    attrs.setInts("block", block);
    HostTensor x = randomTensor(shape, 91, 3.0f);
    for (int64_t i = 0; i < std::min<int64_t>(block[1], shape.back()); ++i)
      x.set(i, 0.0f);
    x.set(x.numElements() - 1, 1e6f);
    std::vector<int64_t> scaleShape(shape.begin(), shape.end() - 2);
    scaleShape.push_back((shape[shape.size() - 2] + block[0] - 1) / block[0]);
    scaleShape.push_back((shape.back() + block[1] - 1) / block[1]);
    HostTensor values(DType::F8E4M3, shape), scales(DType::F32, scaleShape);
    HostTensor unfused(DType::F32, shape), fused(DType::F32, shape);
    DS_EXPECT_KERNEL_OK(runKernel("quantize", {&x}, {&values, &scales}, attrs));
    DS_EXPECT_KERNEL_OK(runKernel("dequantize", {&values, &scales}, {&unfused}, attrs));
    DS_EXPECT_KERNEL_OK(runKernel("quantize_dequantize", {&x}, {&fused}, attrs));
    expectIdentical(fused, unfused, "quantize_dequantize");
  }
}

} // namespace
