//===- Fp8.h - FP8 E4M3FN encoding emulated on FP32 -----------------------===//
//
// E4M3FN (OCP 8-bit floating point spec v1.0; MLIR's f8E4M3FN, CUDA's __nv_fp8_e4m3):
// 1 sign, 4 exponent bits (bias 7), 3 mantissa bits, no infinities, NaN = S.1111.111.
// Largest finite magnitude 448 (1.75 * 2^8), smallest normal 2^-6, subnormal step 2^-9.
//
// floatToE4m3 rounds to nearest, ties to even, and saturates finite overflow (and
// infinities) to +-448, like CUDA's __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3)
// which DeepSeek-V3's FP8 recipe (and DeepGEMM) use. NaN maps to NaN.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_CORE_FP8_H
#define DS_RUNTIME_CORE_FP8_H

#include <cmath>
#include <cstdint>

namespace ds::rt {

/// Largest finite E4M3FN magnitude: the divisor of the V3 recipe's scale = amax / 448.
constexpr float kE4m3Max = 448.0f;

inline float e4m3ToFloat(uint8_t bits) {
  int exponent = (bits >> 3) & 0xf;
  int mantissa = bits & 0x7;
  float magnitude;
  if (exponent == 0xf && mantissa == 0x7)
    magnitude = NAN;
  else if (exponent == 0)
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);
  else
    magnitude = std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);
  return (bits & 0x80) ? -magnitude : magnitude;
}

inline uint8_t floatToE4m3(float value) {
  uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  if (std::isnan(value))
    return sign | 0x7f;
  float magnitude = std::fabs(value);
  if (magnitude >= kE4m3Max)
    return sign | 0x7e;
  // The spacing of representable values around `magnitude`: 2^(e-3) in the binade
  // [2^e, 2^(e+1)), and the subnormal step 2^-9 below 2^-6. Scaling by a power of two is
  // exact, so rint (round-half-even in the default FP environment) rounds exactly once.
  int binade = magnitude == 0.0f ? -6 : std::ilogb(magnitude);
  int quantumExp = (binade < -6 ? -6 : binade) - 3;
  float rounded = std::ldexp(std::rint(std::ldexp(magnitude, -quantumExp)), quantumExp);
  if (rounded >= kE4m3Max)
    return sign | 0x7e;
  if (rounded == 0.0f)
    return sign;
  int roundedBinade = std::ilogb(rounded); // rounding may carry into the next binade
  if (roundedBinade < -6)
    return sign | static_cast<uint8_t>(std::ldexp(rounded, 9));
  int mantissa = static_cast<int>(std::ldexp(rounded, 3 - roundedBinade)) - 8;
  return sign | static_cast<uint8_t>(((roundedBinade + 7) << 3) | mantissa);
}

} // namespace ds::rt

#endif
