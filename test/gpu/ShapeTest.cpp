// Data-movement kernels: copy, slice (+grad), concat, reshape, expand (+grad). Copies
// between equal dtypes must be bit-identical to the CPU; F32<->BF16 conversions round the
// same way on both sides, so they are bit-identical too. expand_grad sums in double in the
// CPU's order, so it agrees to FP32 rounding.
#include "test/gpu/GpuTestSupport.h"

namespace ds::rt::gputest {
namespace {

void expectIdentical(const KernelResults &r) {
  for (size_t i = 0; i < r.cpu.size(); ++i)
    EXPECT_TRUE(identical("output " + std::to_string(i), r.cuda[i], r.cpu[i]));
}

HostTensor randomInts(std::vector<int64_t> shape, std::mt19937 &rng) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::uniform_int_distribution<int32_t> pick(-1000000, 1000000);
  std::vector<int32_t> values(n);
  for (int32_t &v : values)
    v = pick(rng);
  return int32s(std::move(shape), values);
}

TEST(CudaCopy, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(70);
  KernelResults r;
  for (DType dtype : {DType::F32, DType::BF16}) {
    ASSERT_TRUE(runBoth({"copy", {randomFloats(dtype, {3, 129}, rng)}, {outputLike(dtype, {3, 129})}}, r));
    expectIdentical(r);
  }
  ASSERT_TRUE(runBoth({"copy", {randomInts({4, 65}, rng)}, {outputLike(DType::I32, {4, 65})}}, r));
  expectIdentical(r);
}

struct SliceCase {
  std::vector<int64_t> shape;
  int64_t dim, offset, size;
};

const SliceCase kSlices[] = {
    {{5, 7}, 1, 1, 6}, {{4, 9, 33}, 1, 3, 4}, {{4, 9, 33}, -1, 0, 1}, {{6, 130}, 0, 2, 3}};

TEST(CudaSlice, ForwardAndGradMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(71);
  for (const SliceCase &s : kSlices) {
    int64_t dim = s.dim < 0 ? s.dim + int64_t(s.shape.size()) : s.dim;
    std::vector<int64_t> part = s.shape;
    part[dim] = s.size;
    KernelAttrs attrs;
    attrs.setInt("dim", s.dim);
    attrs.setInt("offset", s.offset);
    attrs.setInt("size", s.size);
    KernelResults r;
    for (DType from : {DType::F32, DType::BF16})
      for (DType to : {DType::F32, DType::BF16}) {
        SCOPED_TRACE(std::string(dtypeName(from)) + "->" + dtypeName(to));
        ASSERT_TRUE(runBoth({"slice", {randomFloats(from, s.shape, rng)}, {outputLike(to, part)}, attrs}, r));
        expectIdentical(r);
        ASSERT_TRUE(runBoth({"slice_grad", {randomFloats(from, part, rng)}, {outputLike(to, s.shape)}, attrs}, r));
        expectIdentical(r);
      }
    // Token windows are sliced as i32.
    ASSERT_TRUE(runBoth({"slice", {randomInts(s.shape, rng)}, {outputLike(DType::I32, part)}, attrs}, r));
    expectIdentical(r);
  }
}

TEST(CudaConcat, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(72);
  for (DType dtype : {DType::F32, DType::BF16}) {
    KernelAttrs attrs;
    attrs.setInt("dim", -1);
    KernelResults r;
    ASSERT_TRUE(runBoth({"concat",
                         {randomFloats(dtype, {3, 4, 16}, rng), randomFloats(DType::F32, {3, 4, 5}, rng),
                          randomFloats(dtype, {3, 4, 1}, rng)},
                         {outputLike(dtype, {3, 4, 22})},
                         attrs},
                        r));
    expectIdentical(r);
    attrs.setInt("dim", 0);
    ASSERT_TRUE(runBoth({"concat",
                         {randomFloats(dtype, {2, 8}, rng), randomFloats(dtype, {5, 8}, rng)},
                         {outputLike(dtype, {7, 8})},
                         attrs},
                        r));
    expectIdentical(r);
  }
}

TEST(CudaReshape, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(73);
  KernelResults r;
  ASSERT_TRUE(runBoth({"reshape", {randomFloats(DType::F32, {6, 35}, rng)}, {outputLike(DType::BF16, {2, 3, 35})}}, r));
  expectIdentical(r);
  ASSERT_TRUE(runBoth({"reshape", {randomInts({4, 10}, rng)}, {outputLike(DType::I32, {40})}}, r));
  expectIdentical(r);
}

struct ExpandCase {
  std::vector<int64_t> input, result;
};

const ExpandCase kExpands[] = {{{1}, {7}},
                               {{64}, {300, 64}},
                               {{3, 1, 5}, {2, 3, 4, 5}},
                               {{1, 9}, {6, 9}},
                               {{4, 1}, {4, 1000}}};

TEST(CudaExpand, ForwardAndGradMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(74);
  for (DType dtype : {DType::F32, DType::BF16})
    for (const ExpandCase &e : kExpands) {
      SCOPED_TRACE(std::string(dtypeName(dtype)) + " to rank " + std::to_string(e.result.size()));
      KernelResults r;
      ASSERT_TRUE(runBoth({"expand", {randomFloats(dtype, e.input, rng)}, {outputLike(dtype, e.result)}}, r));
      expectIdentical(r);
      ASSERT_TRUE(
          runBoth({"expand_grad", {randomFloats(dtype, e.result, rng)}, {outputLike(dtype, e.input)}}, r));
      // Double sums in the same order: at most the final rounding apart.
      EXPECT_TRUE(allClose("input_grad", r.cuda[0], r.cpu[0], dtype == DType::BF16 ? 8e-3 : 1e-6, 1e-7));
    }
}

} // namespace
} // namespace ds::rt::gputest
