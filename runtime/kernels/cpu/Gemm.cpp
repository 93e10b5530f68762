//===- Gemm.cpp - FP32 matrix products for the CPU reference kernels ------===//
//
// One loop nest does the work: c[i, :] += a[i, p] * b[p, :], the i-p-j order whose inner
// loop is contiguous in b and c and vectorizes without reassociating any sum. Four rows of
// c share each row of b, and columns are tiled so that those rows stay in L1. The other
// two products transpose an operand once into scratch and reuse it.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/Gemm.h"

#include <algorithm>
#include <vector>

namespace ds::rt::cpu {
namespace {

constexpr int64_t kRowBlock = 4;
constexpr int64_t kColumnTile = 256;

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

} // namespace

void gemmAB(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c) {
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
      accumulateBlock(i, std::min(kRowBlock, m - i), j0, j1, n, k, a, b, c);
    }
  }
}

void gemmABt(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c) {
  std::vector<float> bT = transposed(n, k, b); // [k, n]
  gemmAB(m, n, k, a, bT.data(), c);
}

void gemmAtB(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c) {
  std::vector<float> aT = transposed(k, m, a); // [m, k]
  gemmAB(m, n, k, aT.data(), b, c);
}

} // namespace ds::rt::cpu
