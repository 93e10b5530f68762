//===- Gemm.h - FP32 matrix products for the CPU reference kernels --------===//
//
// Every product sums over its inner dimension p in ascending order in FP32, whatever the
// blocking, so results are bit-for-bit reproducible and independent of the tile sizes.
// Matrices are dense row-major; c never aliases a or b.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CPU_GEMM_H
#define DS_RUNTIME_KERNELS_CPU_GEMM_H

#include <cstdint>

namespace ds::rt::cpu {

/// c[m, n] = sum_p a[m, p] * b[p, n]  (a [m, k], b [k, n]); c is overwritten.
void gemmAB(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c);
/// c[m, n] = sum_p a[m, p] * b[n, p]  (a [m, k], b [n, k]): ds.linear's x * W^T.
void gemmABt(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c);
/// c[m, n] = sum_p a[p, m] * b[p, n]  (a [k, m], b [k, n]): a weight gradient dy^T * x.
void gemmAtB(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c);

} // namespace ds::rt::cpu

#endif
