//===- PlanFormat.h - byte-level pieces shared by the plan writer and reader ===//
//
// Internal to runtime/plan: the constants of the .dsplan layout (documented in
// PlanWriter.h) and a CRC-32 over the payload.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_PLAN_PLANFORMAT_H
#define DS_RUNTIME_PLAN_PLANFORMAT_H

#include <cstddef>
#include <cstdint>

namespace ds::rt::plan_format {

constexpr char kMagic[8] = {'D', 'S', 'P', 'L', 'A', 'N', '\0', '\0'};
constexpr size_t kHeaderBytes = 32;
constexpr uint32_t kSectionCount = 4;
constexpr const char *kMetaSection = "meta";
constexpr const char *kBuffersSection = "buffers";
constexpr const char *kLaunchesSection = "launches";
constexpr const char *kUpdatesSection = "updates";

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zlib's crc32().
uint32_t crc32(const uint8_t *data, size_t size);

} // namespace ds::rt::plan_format

#endif
