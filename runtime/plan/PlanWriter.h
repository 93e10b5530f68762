//===- PlanWriter.h - serialize a plan to the .dsplan format --------------===//
//
// The .dsplan format (all integers little-endian):
//
//   header, 32 bytes:
//     magic "DSPLAN\0\0" | u32 format version | u32 section count |
//     u64 payload bytes | u32 CRC-32 (IEEE) of the payload | u32 zero
//   payload: `section count` sections, each
//     str name | u64 content bytes | content
//
// where str is a u32 byte count followed by the bytes. Sections, each exactly once:
//   "meta":     u32 n, then n entries `str key | attr value` (the attr encoding below):
//               model_type, spec (strings), batch, seq, vocab_size, mtp_depth,
//               persistent_bytes, arena_bytes (ints), initializer_range (float)
//   "buffers":  u32 n, then per buffer: str name | str role | str dtype | u32 rank |
//               i64 dims[rank] | i64 offset | str init | i32 view_of (-1: not a view)
//   "launches": u32 n, then per launch: str kernel | u32 n_in | i32 ids[n_in] |
//               u32 n_out | i32 ids[n_out] | u32 n_attrs | n_attrs x (str name | attr value)
//   "updates":  u32 n, then per update: i32 source | i32 target
// attr value: u8 kind (0 ints, 1 float, 2 string) then u32 n | i64[n], or f64, or str.
//
// Kernel, role, dtype and attribute names are stored as strings so a plan can be read and
// checked without a table of codes, and so an unknown kernel is reported by name.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_PLAN_PLANWRITER_H
#define DS_RUNTIME_PLAN_PLANWRITER_H

#include "runtime/plan/Plan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// The file's bytes for `plan`, after verifyPlan accepts it (without the kernel check,
/// which belongs to the runtime that will run it).
Expected<std::vector<uint8_t>> serializePlan(const Plan &plan);

/// Serializes `plan` and writes it to `path` through a temporary file renamed into place,
/// so a reader never sees a half-written plan.
Status writePlanFile(const Plan &plan, const std::string &path);

} // namespace ds::rt

#endif
