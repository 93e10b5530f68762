//===- Gemm.h - FP32 matrix products for the CPU reference kernels --------===//
//
// Every product sums over its inner dimension p in ascending order in FP32, whatever the
// blocking, so results are bit-for-bit reproducible and independent of the tile sizes.
// Matrices are dense row-major; c never aliases a or b.
//
// promoteInterval > 0 emulates the accumulation of Hopper's FP8 tensor cores (V3 report
// §3.3.2, "Increasing Accumulation Precision"): the products of each run of
// `promoteInterval` consecutive p (ascending, the last run possibly shorter) are summed
// in an accumulator that keeps 14 significant bits (13 explicit mantissa bits, rounded to
// nearest even after every add), and each run's sum is then added to c in FP32 — the
// promotion to CUDA-core registers that DeepGEMM does every 128 elements of K. With
// promoteInterval = 0 the sum is the plain FP32 one.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CPU_GEMM_H
#define DS_RUNTIME_KERNELS_CPU_GEMM_H

#include "runtime/kernels/Kernel.h"

#include <cstdint>
#include <vector>

namespace ds::rt::cpu {

/// c[m, n] = sum_p a[m, p] * b[p, n]  (a [m, k], b [k, n]); c is overwritten.
void gemmAB(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c,
            int64_t promoteInterval = 0);
/// c[m, n] = sum_p a[m, p] * b[n, p]  (a [m, k], b [n, k]): ds.linear's x * W^T.
void gemmABt(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c,
             int64_t promoteInterval = 0);
/// c[m, n] = sum_p a[p, m] * b[p, n]  (a [k, m], b [k, n]): a weight gradient dy^T * x.
void gemmAtB(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c,
             int64_t promoteInterval = 0);

/// `x` rounded to the 14 significant bits of the FP8 tensor-core accumulator (nearest,
/// ties to even); infinities and NaN pass through, a carry past the largest finite
/// float gives infinity as the hardware's overflow would.
float roundToFp8Accumulator(float x);

/// The kernel attribute that selects the emulated FP8 accumulation of the linear kernels
/// (ds-fp8-cast marks each GEMM it quantizes; absent means plain FP32).
constexpr const char *kPromoteIntervalAttr = "fp8_promote_interval";


/// The operand precision of a product (kernel attribute `math`, set by
/// ds-gemm-precision): F32 multiplies the values as stored; Bf16 and Tf32 round each
/// operand to that format (nearest, ties to even) first, as the tensor cores read them
/// (cuBLASLt's COMPUTE_32F_FAST_16BF / _FAST_TF32), and accumulate in FP32 as usual.
enum class GemmMath : uint8_t { F32, Bf16, Tf32 };

constexpr const char *kGemmMathAttr = "math";

/// Reads kGemmMathAttr ("f32" when absent); any other value than f32, bf16 or tf32 is an
/// error naming the kernel.
Status readGemmMath(const KernelAttrs &attrs, const char *kernel, GemmMath &math);

/// How a linear kernel multiplies: the emulated FP8 accumulation interval (0: plain FP32)
/// and the operand precision.
struct GemmOptions {
  int64_t promoteInterval = 0;
  GemmMath math = GemmMath::F32;
};

/// Reads kPromoteIntervalAttr (0 when absent; negative is an error) and kGemmMathAttr.
Status readGemmOptions(const KernelCall &call, const char *kernel, GemmOptions &options);

/// `x` as the tensor cores read it under `math`.
float roundForGemm(float x, GemmMath math);

/// A GEMM operand in FP32 as `math` reads it: the tensor's values (F32 or BF16 storage),
/// rounded per roundForGemm. For F32 math on F32 storage it is the tensor itself.
class GemmOperand {
public:
  GemmOperand(const TensorView &t, GemmMath math);
  GemmOperand(const GemmOperand &) = delete;
  GemmOperand &operator=(const GemmOperand &) = delete;
  const float *data() const { return data_; }

private:
  std::vector<float> rounded_;
  const float *data_ = nullptr;
};

/// Rounds `count` floats in place per `math` (scratch operands a kernel computed itself,
/// e.g. attention's probabilities before they multiply v).
void roundForGemm(float *values, int64_t count, GemmMath math);

} // namespace ds::rt::cpu

#endif
