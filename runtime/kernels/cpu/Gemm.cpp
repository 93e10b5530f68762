//===- Gemm.cpp - FP32 matrix products for the CPU reference kernels ------===//
//
// One loop nest does the work: c[i, :] += a[i, p] * b[p, :], the i-p-j order whose inner
// loop is contiguous in b and c and vectorizes without reassociating any sum. Four rows of
// c share each row of b, and columns are tiled so that those rows stay in L1. The other
// two products transpose an operand once into scratch and reuse it.
//
// The FP8-accumulation path (promoteInterval > 0, see Gemm.h) keeps the same loop nest and
// row blocking, with a per-block scratch accumulator that each run of the inner dimension
// fills in limited precision before it is promoted (added) into c.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/Gemm.h"

#include "runtime/core/Bf16.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace ds::rt::cpu {
namespace {

constexpr int64_t kRowBlock = 4;
constexpr int64_t kColumnTile = 256;
/// Explicit mantissa bits of the emulated FP8 tensor-core accumulator: Hopper keeps
/// "around 14 bits" (V3 report §3.3.2), i.e. 13 bits after the implicit leading one.
constexpr int kAccumulatorMantissaBits = 13;

std::vector<float> transposed(int64_t rows, int64_t cols, const float *x) {
  std::vector<float> t(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      t[c * rows + r] = x[r * cols + c];
  return t;
}

/// c[i : i + rows, j0 : j1] += a[i : i + rows, :] * b[:, j0 : j1], rows <= kRowBlock.
void accumulateBlock(int64_t i, int64_t rows, int64_t j0, int64_t j1, int64_t n, int64_t k,
                     const float *a, const float *b, float *c) {
  if (rows == kRowBlock) {
    float *c0 = c + i * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
    const float *a0 = a + i * k, *a1 = a0 + k, *a2 = a1 + k, *a3 = a2 + k;
    for (int64_t p = 0; p < k; ++p) {
      const float *bRow = b + p * n;
      float s0 = a0[p], s1 = a1[p], s2 = a2[p], s3 = a3[p];
      for (int64_t j = j0; j < j1; ++j) {
        float bv = bRow[j];
        c0[j] += s0 * bv;
        c1[j] += s1 * bv;
        c2[j] += s2 * bv;
        c3[j] += s3 * bv;
      }
    }
    return;
  }
  for (int64_t r = i; r < i + rows; ++r) {
    float *cRow = c + r * n;
    const float *aRow = a + r * k;
    for (int64_t p = 0; p < k; ++p) {
      const float *bRow = b + p * n;
      float s = aRow[p];
      for (int64_t j = j0; j < j1; ++j)
        cRow[j] += s * bRow[j];
    }
  }
}

/// accumulateBlock with the FP8 tensor-core accumulation: each run of `interval`
/// products is summed in 14-bit precision, then the run's sum is added to c in FP32.
/// The product is a statement of its own so that the compiler cannot contract it with
/// the limited add into one fused multiply-add.
void accumulateBlockPromoted(int64_t i, int64_t rows, int64_t j0, int64_t j1, int64_t n,
                             int64_t k, const float *a, const float *b, float *c,
                             int64_t interval) {
  float run[kRowBlock][kColumnTile];
  int64_t width = j1 - j0;
  for (int64_t p0 = 0; p0 < k; p0 += interval) {
    int64_t p1 = std::min(k, p0 + interval);
    for (int64_t r = 0; r < rows; ++r)
      std::fill(run[r], run[r] + width, 0.0f);
    for (int64_t p = p0; p < p1; ++p) {
      const float *bRow = b + p * n + j0;
      for (int64_t r = 0; r < rows; ++r) {
        float s = a[(i + r) * k + p];
        float *runRow = run[r];
        for (int64_t j = 0; j < width; ++j) {
          float product = s * bRow[j];
          runRow[j] = roundToFp8Accumulator(runRow[j] + product);
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      float *cRow = c + (i + r) * n + j0;
      for (int64_t j = 0; j < width; ++j)
        cRow[j] += run[r][j];
    }
  }
}

} // namespace

float roundToFp8Accumulator(float x) {
  constexpr int kDropped = 23 - kAccumulatorMantissaBits;
  constexpr uint32_t kExponentMask = 0x7f800000u;
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & kExponentMask) == kExponentMask)
    return x;
  // Adding half an ulp (minus one when the kept lsb is even) then truncating is round to
  // nearest, ties to even, on the sign-magnitude encoding; a carry moves into the exponent.
  bits += ((1u << (kDropped - 1)) - 1) + ((bits >> kDropped) & 1u);
  bits &= ~((1u << kDropped) - 1);
  std::memcpy(&x, &bits, sizeof bits);
  return x;
}

Status readGemmMath(const KernelAttrs &attrs, const char *kernel, GemmMath &math) {
  std::string name = attrs.getString(kGemmMathAttr, "f32");
  if (name == "f32")
    math = GemmMath::F32;
  else if (name == "bf16")
    math = GemmMath::Bf16;
  else if (name == "tf32")
    math = GemmMath::Tf32;
  else
    return errorf(kernel, ": ", kGemmMathAttr, " = '", name, "' is not f32, bf16 or tf32");
  return Status::ok();
}

float roundForGemm(float x, GemmMath math) {
  switch (math) {
  case GemmMath::F32:
    return x;
  case GemmMath::Bf16:
    return roundToBf16(x);
  case GemmMath::Tf32: {
    // TF32 keeps 10 explicit mantissa bits: drop the low 13 of FP32's 23, nearest even.
    if (!std::isfinite(x))
      return x;
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    bits += 0xFFFu + ((bits >> 13) & 1u);
    bits &= ~0x1FFFu;
    std::memcpy(&x, &bits, sizeof x);
    return x;
  }
  }
  return x;
}

void roundForGemm(float *values, int64_t count, GemmMath math) {
  if (math == GemmMath::F32)
    return;
  for (int64_t i = 0; i < count; ++i)
    values[i] = roundForGemm(values[i], math);
}

GemmOperand::GemmOperand(const TensorView &t, GemmMath math) {
  if (math == GemmMath::F32 && t.dtype == DType::F32) {
    data_ = static_cast<const float *>(t.data);
    return;
  }
  FloatReader values(t);
  rounded_.assign(values.data(), values.data() + t.numElements());
  roundForGemm(rounded_.data(), int64_t(rounded_.size()), math);
  data_ = rounded_.data();
}

Status readGemmOptions(const KernelCall &call, const char *kernel, GemmOptions &options) {
  options.promoteInterval = call.attrs.getInt(kPromoteIntervalAttr, 0);
  if (options.promoteInterval < 0)
    return errorf(kernel, ": ", kPromoteIntervalAttr, " = ", options.promoteInterval,
                  " is negative (0 or absent: plain FP32 accumulation)");
  return readGemmMath(call.attrs, kernel, options.math);
}

void gemmAB(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c,
            int64_t promoteInterval) {
  std::fill(c, c + m * n, 0.0f);
  int64_t blocks = (m + kRowBlock - 1) / kRowBlock;
  // A column tile of b stays in cache while every row block passes over it. Row blocks
  // own disjoint rows of c, so they may run on any thread in any order without changing
  // a bit of the result.
  for (int64_t j0 = 0; j0 < n; j0 += kColumnTile) {
    int64_t j1 = std::min(n, j0 + kColumnTile);
#pragma omp parallel for schedule(static) if (blocks > 1 && m * n * k > (int64_t(1) << 18))
    for (int64_t block = 0; block < blocks; ++block) {
      int64_t i = block * kRowBlock;
      int64_t rows = std::min(kRowBlock, m - i);
      if (promoteInterval > 0)
        accumulateBlockPromoted(i, rows, j0, j1, n, k, a, b, c, promoteInterval);
      else
        accumulateBlock(i, rows, j0, j1, n, k, a, b, c);
    }
  }
}

void gemmABt(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c,
             int64_t promoteInterval) {
  std::vector<float> bT = transposed(n, k, b); // [k, n]
  gemmAB(m, n, k, a, bT.data(), c, promoteInterval);
}

void gemmAtB(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c,
             int64_t promoteInterval) {
  std::vector<float> aT = transposed(k, m, a); // [m, k]
  gemmAB(m, n, k, aT.data(), b, c, promoteInterval);
}

} // namespace ds::rt::cpu
