//===- SafetensorsSet.h - one checkpoint, one file or many shards ---------===//
//
// Large checkpoints are split into shards and indexed by `model.safetensors.index.json`
// (the Hugging Face convention):
//   {"metadata": {...}, "weight_map": {"<tensor>": "model-00001-of-00002.safetensors", ...}}
// SafetensorsSet presents either a single safetensors file or all shards of an index as
// one set of uniquely named tensors. Opening an index checks that it is consistent with
// the shards: every shard opens and validates, each tensor lives in exactly the shard
// the index names, and no shard holds a tensor the index does not list.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_IO_SAFETENSORSSET_H
#define DS_RUNTIME_IO_SAFETENSORSSET_H

#include "runtime/io/Safetensors.h"

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ds::rt {

/// The weight_map of an index, tensor name -> shard file name, in document order. Shard
/// names must be plain file names (no '/'), resolved in the index's folder, so an index
/// cannot point the reader at files elsewhere.
Expected<std::vector<std::pair<std::string, std::string>>>
parseSafetensorsIndex(std::string_view json);

class SafetensorsSet {
public:
  /// Opens `path` as an index if its name ends in ".index.json", else as one file.
  static Expected<SafetensorsSet> open(const std::string &path,
                                       const SafetensorsReadOptions &options = {});

  /// Every tensor of the set, sorted by name; pointers live as long as the set.
  std::vector<const SafetensorsTensorInfo *> tensors() const;
  size_t size() const { return byName_.size(); }
  const std::vector<SafetensorsFile> &shards() const { return shards_; }

  const SafetensorsTensorInfo *find(std::string_view name) const;
  /// The shard that holds `name`, or null.
  const SafetensorsFile *shardOf(std::string_view name) const;

  Expected<ByteSpan> bytes(std::string_view name) const;
  Expected<std::vector<float>> readF32(std::string_view name) const;
  Status readF32(std::string_view name, float *out, size_t count) const;

private:
  struct Location {
    size_t shard;
    size_t tensor;
  };
  static Expected<SafetensorsSet> openIndex(const std::string &path,
                                            const SafetensorsReadOptions &options);
  Status missing(std::string_view name) const;

  std::string path_;
  std::vector<SafetensorsFile> shards_;
  std::unordered_map<std::string, Location> byName_;
};

} // namespace ds::rt

#endif
