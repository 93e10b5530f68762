#include "runtime/io/SafetensorsSet.h"

#include "runtime/io/Json.h"

#include <algorithm>

namespace ds::rt {

namespace {

std::string quoted(std::string_view text) {
  std::string out;
  appendJsonString(out, text);
  return out;
}

bool endsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string directoryOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

bool isPlainFileName(const std::string &name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

} // namespace

Expected<std::vector<std::pair<std::string, std::string>>>
parseSafetensorsIndex(std::string_view json) {
  JsonLimits limits;
  limits.maxDepth = 8;
  Expected<JsonValue> root = parseJson(json, limits);
  if (!root)
    return root.status();
  if (!root->isObject())
    return errorf("index is a JSON ", jsonKindName(root->kind()), ", expected an object");
  const JsonValue *weightMap = root->find("weight_map");
  if (!weightMap)
    return errorf("index has no \"weight_map\"");
  if (!weightMap->isObject())
    return errorf("weight_map is a JSON ", jsonKindName(weightMap->kind()), ", expected an object");
  std::vector<std::pair<std::string, std::string>> entries;
  for (const JsonMember &member : weightMap->members()) {
    if (!member.value.isString())
      return errorf("weight_map: tensor ", quoted(member.key), " maps to a JSON ",
                    jsonKindName(member.value.kind()), ", expected a shard file name");
    if (!isPlainFileName(member.value.asString()))
      return errorf("weight_map: tensor ", quoted(member.key), " maps to ",
                    quoted(member.value.asString()),
                    ", expected a file name in the index's folder");
    entries.emplace_back(member.key, member.value.asString());
  }
  return entries;
}

Expected<SafetensorsSet> SafetensorsSet::open(const std::string &path,
                                              const SafetensorsReadOptions &options) {
  if (endsWith(path, ".index.json"))
    return openIndex(path, options);
  Expected<SafetensorsFile> file = SafetensorsFile::open(path, options);
  if (!file)
    return file.status();
  SafetensorsSet set;
  set.path_ = path;
  set.shards_.push_back(file.take());
  const std::vector<SafetensorsTensorInfo> &tensors = set.shards_[0].tensors();
  for (size_t i = 0; i < tensors.size(); ++i)
    set.byName_.emplace(tensors[i].name, Location{0, i});
  return set;
}

Expected<SafetensorsSet> SafetensorsSet::openIndex(const std::string &path,
                                                   const SafetensorsReadOptions &options) {
  Expected<FileBytes> text = FileBytes::open(path, FileBytes::Mode::Read);
  if (!text)
    return text.status();
  Expected<std::vector<std::pair<std::string, std::string>>> weightMap = parseSafetensorsIndex(
      std::string_view(reinterpret_cast<const char *>(text->data()), text->size()));
  if (!weightMap)
    return errorf("index '", path, "': ", weightMap.status().message());

  SafetensorsSet set;
  set.path_ = path;
  std::unordered_map<std::string, size_t> shardIndex; // file name -> position in shards_
  std::vector<std::string> shardNames;
  std::unordered_map<std::string, size_t> expectedShard; // tensor -> shard position
  std::string dir = directoryOf(path);
  for (const auto &[tensor, shardName] : *weightMap) {
    auto [it, isNew] = shardIndex.emplace(shardName, set.shards_.size());
    if (isNew) {
      Expected<SafetensorsFile> shard = SafetensorsFile::open(dir + "/" + shardName, options);
      if (!shard)
        return errorf("index '", path, "': shard ", quoted(shardName), " (listed for tensor ",
                      quoted(tensor), "): ", shard.status().message());
      set.shards_.push_back(shard.take());
      shardNames.push_back(shardName);
    }
    expectedShard.emplace(tensor, it->second);
  }

  for (size_t s = 0; s < set.shards_.size(); ++s) {
    const std::vector<SafetensorsTensorInfo> &tensors = set.shards_[s].tensors();
    for (size_t i = 0; i < tensors.size(); ++i) {
      const std::string &name = tensors[i].name;
      auto expected = expectedShard.find(name);
      if (expected == expectedShard.end())
        return errorf("index '", path, "': shard ", quoted(shardNames[s]), " holds tensor ",
                      quoted(name), ", which the index does not list");
      if (expected->second != s)
        return errorf("index '", path, "': tensor ", quoted(name), " is in shard ",
                      quoted(shardNames[s]), " and in shard ", quoted(shardNames[expected->second]),
                      " (where the index maps it)");
      set.byName_.emplace(name, Location{s, i});
    }
  }
  for (const auto &[tensor, shardName] : *weightMap)
    if (set.byName_.find(tensor) == set.byName_.end())
      return errorf("index '", path, "': tensor ", quoted(tensor), " is mapped to shard ",
                    quoted(shardName), ", which does not contain it");
  return set;
}

std::vector<const SafetensorsTensorInfo *> SafetensorsSet::tensors() const {
  std::vector<const SafetensorsTensorInfo *> all;
  all.reserve(byName_.size());
  for (const auto &[name, location] : byName_)
    all.push_back(&shards_[location.shard].tensors()[location.tensor]);
  std::sort(all.begin(), all.end(),
            [](const SafetensorsTensorInfo *a, const SafetensorsTensorInfo *b) {
              return a->name < b->name;
            });
  return all;
}

const SafetensorsTensorInfo *SafetensorsSet::find(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  return it == byName_.end() ? nullptr : &shards_[it->second.shard].tensors()[it->second.tensor];
}

const SafetensorsFile *SafetensorsSet::shardOf(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  return it == byName_.end() ? nullptr : &shards_[it->second.shard];
}

Status SafetensorsSet::missing(std::string_view name) const {
  return errorf("'", path_, "': no tensor named ", quoted(name));
}

Expected<ByteSpan> SafetensorsSet::bytes(std::string_view name) const {
  const SafetensorsFile *shard = shardOf(name);
  if (!shard)
    return missing(name);
  return shard->bytes(name);
}

Expected<std::vector<float>> SafetensorsSet::readF32(std::string_view name) const {
  const SafetensorsFile *shard = shardOf(name);
  if (!shard)
    return missing(name);
  return shard->readF32(name);
}

Status SafetensorsSet::readF32(std::string_view name, float *out, size_t count) const {
  const SafetensorsFile *shard = shardOf(name);
  if (!shard)
    return missing(name);
  return shard->readF32(name, out, count);
}

} // namespace ds::rt
