//===- Bf16.h - bfloat16 storage emulated on FP32 arithmetic --------------===//
//
// bfloat16 is the top half of an IEEE binary32: same exponent range, 8 significand bits.
// Conversion to bf16 rounds to nearest, ties to even, as PyTorch, CUDA's __float2bfloat16
// and MLIR's arith.truncf do; NaN stays a (quiet) NaN instead of rounding into infinity.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_CORE_BF16_H
#define DS_RUNTIME_CORE_BF16_H

#include <cstdint>
#include <cstring>

namespace ds::rt {

inline float bf16ToFloat(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof(value));
  return value;
}

inline uint16_t floatToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN: keep the sign, force a quiet payload.
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  // Adding 0x7fff plus the lowest kept bit rounds half-way cases to the even neighbour;
  // a carry out of the significand correctly bumps the exponent (and overflows to inf).
  uint32_t roundingBias = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + roundingBias) >> 16);
}

/// The value `value` takes once stored as bf16.
inline float roundToBf16(float value) { return bf16ToFloat(floatToBf16(value)); }

} // namespace ds::rt

#endif
