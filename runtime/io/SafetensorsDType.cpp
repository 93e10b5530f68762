#include "runtime/io/SafetensorsDType.h"

#include "runtime/core/Bf16.h"
#include "runtime/core/Fp8.h"

#include <array>
#include <cstring>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; a big-endian host would need byte swaps"
#endif

namespace ds::rt {

namespace {

struct DTypeEntry {
  SafetensorsDType dtype;
  const char *name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {SafetensorsDType::Bool, "BOOL", 1},      {SafetensorsDType::U8, "U8", 1},
    {SafetensorsDType::I8, "I8", 1},          {SafetensorsDType::F8E5M2, "F8_E5M2", 1},
    {SafetensorsDType::F8E4M3, "F8_E4M3", 1}, {SafetensorsDType::I16, "I16", 2},
    {SafetensorsDType::U16, "U16", 2},        {SafetensorsDType::F16, "F16", 2},
    {SafetensorsDType::BF16, "BF16", 2},      {SafetensorsDType::I32, "I32", 4},
    {SafetensorsDType::U32, "U32", 4},        {SafetensorsDType::F32, "F32", 4},
    {SafetensorsDType::I64, "I64", 8},        {SafetensorsDType::U64, "U64", 8},
    {SafetensorsDType::F64, "F64", 8},
};

const DTypeEntry &entry(SafetensorsDType dtype) {
  for (const DTypeEntry &e : kDTypes)
    if (e.dtype == dtype)
      return e;
  return kDTypes[0];
}

template <typename T> T loadLittleEndian(const uint8_t *bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

/// E4M3 has 256 encodings; a table turns the per-element ldexp of e4m3ToFloat into a
/// load, which matters when a checkpoint holds billions of FP8 weights.
const std::array<float, 256> &e4m3Table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i)
      t[i] = e4m3ToFloat(static_cast<uint8_t>(i));
    return t;
  }();
  return table;
}

} // namespace

size_t safetensorsDTypeSize(SafetensorsDType dtype) { return entry(dtype).size; }

const char *safetensorsDTypeName(SafetensorsDType dtype) { return entry(dtype).name; }

bool parseSafetensorsDType(std::string_view name, SafetensorsDType &dtype) {
  for (const DTypeEntry &e : kDTypes)
    if (name == e.name) {
      dtype = e.dtype;
      return true;
    }
  return false;
}

bool isSafetensorsFloat(SafetensorsDType dtype) {
  switch (dtype) {
  case SafetensorsDType::F64:
  case SafetensorsDType::F32:
  case SafetensorsDType::F16:
  case SafetensorsDType::BF16:
  case SafetensorsDType::F8E4M3:
  case SafetensorsDType::F8E5M2:
    return true;
  default:
    return false;
  }
}

bool toRuntimeDType(SafetensorsDType dtype, DType &runtimeDType) {
  switch (dtype) {
  case SafetensorsDType::F32:
    runtimeDType = DType::F32;
    return true;
  case SafetensorsDType::BF16:
    runtimeDType = DType::BF16;
    return true;
  case SafetensorsDType::F8E4M3:
    runtimeDType = DType::F8E4M3;
    return true;
  case SafetensorsDType::I32:
    runtimeDType = DType::I32;
    return true;
  default:
    return false;
  }
}

SafetensorsDType fromRuntimeDType(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return SafetensorsDType::F32;
  case DType::BF16:
    return SafetensorsDType::BF16;
  case DType::F8E4M3:
    return SafetensorsDType::F8E4M3;
  case DType::I32:
    return SafetensorsDType::I32;
  }
  return SafetensorsDType::U8;
}

float f16ToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  uint32_t wide;
  if (exponent == 0x1f) {
    wide = sign | 0x7f800000u | (mantissa << 13); // inf / NaN
  } else if (exponent != 0) {
    wide = sign | ((exponent + 112) << 23) | (mantissa << 13); // rebias 15 -> 127
  } else if (mantissa == 0) {
    wide = sign;
  } else {
    // Subnormal mantissa * 2^-24: shift the leading one into the implicit bit, lowering
    // the exponent once per shift; every binary16 subnormal is a normal binary32.
    int shifts = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shifts;
    }
    wide = sign | (static_cast<uint32_t>(113 - shifts) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float value;
  std::memcpy(&value, &wide, sizeof(value));
  return value;
}

bool convertFloatsToF32(SafetensorsDType dtype, const uint8_t *bytes, size_t count, float *out) {
  switch (dtype) {
  case SafetensorsDType::F32:
    if (count > 0)
      std::memcpy(out, bytes, count * sizeof(float));
    return true;
  case SafetensorsDType::F64:
    for (size_t i = 0; i < count; ++i)
      out[i] = static_cast<float>(loadLittleEndian<double>(bytes + 8 * i));
    return true;
  case SafetensorsDType::F16:
    for (size_t i = 0; i < count; ++i)
      out[i] = f16ToFloat(loadLittleEndian<uint16_t>(bytes + 2 * i));
    return true;
  case SafetensorsDType::BF16:
    for (size_t i = 0; i < count; ++i)
      out[i] = bf16ToFloat(loadLittleEndian<uint16_t>(bytes + 2 * i));
    return true;
  case SafetensorsDType::F8E4M3: {
    const std::array<float, 256> &table = e4m3Table();
    for (size_t i = 0; i < count; ++i)
      out[i] = table[bytes[i]];
    return true;
  }
  case SafetensorsDType::F8E5M2:
    // E5M2 is binary16 with the low 8 mantissa bits dropped (OCP FP8 spec v1.0).
    for (size_t i = 0; i < count; ++i)
      out[i] = f16ToFloat(static_cast<uint16_t>(bytes[i] << 8));
    return true;
  default:
    return false;
  }
}

} // namespace ds::rt
