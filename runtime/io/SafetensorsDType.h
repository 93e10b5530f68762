//===- SafetensorsDType.h - element types a safetensors file may hold -----===//
//
// The dtype strings are those of the safetensors format (huggingface/safetensors,
// `Dtype`): every one of them can be listed and read as bytes; the floating-point ones
// can also be converted to f32. Data is little-endian, as the format specifies; the
// runtime only builds for little-endian hosts.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_IO_SAFETENSORSDTYPE_H
#define DS_RUNTIME_IO_SAFETENSORSDTYPE_H

#include "runtime/core/Tensor.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ds::rt {

enum class SafetensorsDType : uint8_t {
  Bool,
  U8,
  I8,
  F8E5M2,
  F8E4M3,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  I64,
  U64,
  F64,
};

/// Bytes per element.
size_t safetensorsDTypeSize(SafetensorsDType dtype);
/// The format's spelling: "F32", "BF16", "F8_E4M3", ...
const char *safetensorsDTypeName(SafetensorsDType dtype);
/// Parses the format's spelling; false if `name` is not a dtype of the format.
bool parseSafetensorsDType(std::string_view name, SafetensorsDType &dtype);
/// True for the dtypes convertFloatsToF32 accepts (F64, F32, F16, BF16, F8_E4M3, F8_E5M2).
bool isSafetensorsFloat(SafetensorsDType dtype);
/// The runtime's dtype for the same encoding (F32, BF16, F8_E4M3, I32); false otherwise.
bool toRuntimeDType(SafetensorsDType dtype, DType &runtimeDType);
SafetensorsDType fromRuntimeDType(DType dtype);

/// Widens `count` little-endian elements of a float dtype at `bytes` to f32 (F64 is
/// rounded to nearest). `bytes` needs no alignment. Returns false, writing nothing, for
/// a dtype that is not a float.
bool convertFloatsToF32(SafetensorsDType dtype, const uint8_t *bytes, size_t count, float *out);

/// IEEE binary16 to f32, exact (NaN payloads kept).
float f16ToFloat(uint16_t bits);

} // namespace ds::rt

#endif
