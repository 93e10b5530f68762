// libFuzzer target for everything in runtime/io that parses untrusted bytes: the
// safetensors header and its tensors, the JSON reader on its own, and sharded-checkpoint
// indexes. Built with ASan and UBSan, so an out-of-bounds read or undefined behaviour is
// a crash; the checks below also turn a broken reader invariant into one.
#include "runtime/io/Json.h"
#include "runtime/io/Safetensors.h"
#include "runtime/io/SafetensorsSet.h"

#include <cstddef>
#include <cstdint>
#include <vector>

using namespace ds::rt;

namespace {

void check(bool invariant) {
  if (!invariant)
    __builtin_trap();
}

void fuzzSafetensors(const uint8_t *data, size_t size, bool requireFullCoverage) {
  SafetensorsReadOptions options;
  options.requireFullCoverage = requireFullCoverage;
  // A copy of exactly `size` bytes, so ASan flags any read past the end.
  Expected<SafetensorsFile> file =
      SafetensorsFile::fromBytes(std::vector<uint8_t>(data, data + size), options);
  if (!file) {
    check(!file.status().message().empty());
    return;
  }
  for (const SafetensorsTensorInfo &info : file->tensors()) {
    Expected<ByteSpan> bytes = file->bytes(info.name);
    check(bytes.isOk());
    check(bytes->size == info.numElements() * safetensorsDTypeSize(info.dtype));
    check(bytes->size <= size);
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < bytes->size; ++i)
      sum = sum + bytes->data[i];
    Expected<std::vector<float>> values = file->readF32(info.name);
    check(values.isOk() == isSafetensorsFloat(info.dtype));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzzSafetensors(data, size, /*requireFullCoverage=*/true);
  fuzzSafetensors(data, size, /*requireFullCoverage=*/false);

  std::string_view text(reinterpret_cast<const char *>(data), size);
  JsonLimits limits;
  limits.maxDepth = 32;
  Expected<JsonValue> json = parseJson(text, limits);
  check(json.isOk() || json.status().message().find("at byte") != std::string::npos ||
        json.status().message().find("limit") != std::string::npos);

  auto index = parseSafetensorsIndex(text);
  if (index)
    for (const auto &[tensor, shard] : *index)
      check(!shard.empty() && shard.find('/') == std::string::npos);
  return 0;
}
