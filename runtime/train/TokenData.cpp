#include "runtime/train/TokenData.h"

#include "runtime/train/Initialize.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <unistd.h>

namespace ds::rt {

namespace {

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Bytes per id for a token file's extension, or 0 when it is not a token file.
int tokenWidth(const std::string &path) {
  if (endsWith(path, ".u16"))
    return 2;
  if (endsWith(path, ".u32"))
    return 4;
  return 0;
}

Expected<std::string> readFile(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return errorf(path, ": cannot open data file: ", std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad())
    return errorf(path, ": cannot read data file: ", std::strerror(errno));
  return bytes;
}

} // namespace

std::vector<int32_t> tokenizeBytes(const std::string &text) {
  std::vector<int32_t> tokens(text.size());
  for (size_t i = 0; i < text.size(); ++i)
    tokens[i] = static_cast<unsigned char>(text[i]);
  return tokens;
}

Expected<std::vector<int32_t>> loadTokens(const std::string &path) {
  int width = tokenWidth(path);
  if (width == 0 && !endsWith(path, ".txt"))
    return errorf(path, ": unknown data file type; expected a token file (.u16 or .u32, raw "
                        "little-endian ids) or text (.txt, byte-tokenized)");
  Expected<std::string> bytes = readFile(path);
  if (!bytes)
    return bytes.status();
  if (width == 0)
    return tokenizeBytes(*bytes);
  if (bytes->size() % width != 0)
    return errorf(path, ": ", bytes->size(), " bytes is not a whole number of ", width * 8,
                  "-bit token ids (truncated file?)");
  std::vector<int32_t> tokens(bytes->size() / width);
  const auto *raw = reinterpret_cast<const unsigned char *>(bytes->data());
  for (size_t i = 0; i < tokens.size(); ++i) {
    uint32_t id = 0;
    for (int b = 0; b < width; ++b)
      id |= static_cast<uint32_t>(raw[i * width + b]) << (8 * b);
    if (id > static_cast<uint32_t>(INT32_MAX))
      return errorf(path, ": token ", i, " has id ", id, ", beyond any vocabulary");
    tokens[i] = static_cast<int32_t>(id);
  }
  return tokens;
}

Status writeTokenFile(const std::vector<int32_t> &tokens, const std::string &path) {
  int width = tokenWidth(path);
  if (width == 0)
    return errorf(path, ": a token file must end in .u16 or .u32");
  std::string bytes(tokens.size() * width, '\0');
  for (size_t i = 0; i < tokens.size(); ++i) {
    int64_t id = tokens[i];
    if (id < 0 || (width == 2 && id > 0xFFFF))
      return errorf(path, ": token ", i, " (id ", id, ") does not fit ", width * 8, " bits");
    for (int b = 0; b < width; ++b)
      bytes[i * width + b] = static_cast<char>((id >> (8 * b)) & 0xFF);
  }
  std::string temporary = path + ".tmp." + std::to_string(::getpid());
  FILE *file = std::fopen(temporary.c_str(), "wb");
  if (!file)
    return errorf(temporary, ": cannot write token file: ", std::strerror(errno));
  bool written = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  written &= std::fflush(file) == 0;
  written &= std::fclose(file) == 0;
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    return errorf(path, ": cannot write token file: ", reason);
  }
  return Status::ok();
}

Status checkVocabulary(const std::vector<int32_t> &tokens, int64_t vocabSize,
                       const std::string &source) {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocabSize)
      return errorf(source, ": token ", i, " has id ", tokens[i],
                    ", outside the model's vocabulary of ", vocabSize,
                    " (tokenized for another model?)");
  return Status::ok();
}

Status fillWindows(const std::vector<int32_t> &tokens, int64_t batch, int64_t window, uint64_t seed,
                   int64_t step, int32_t *out) {
  int64_t total = static_cast<int64_t>(tokens.size());
  if (window <= 0 || total < window)
    return errorf("the data has ", total, " tokens but one training window needs ", window);
  std::mt19937_64 rng(mixSeed(seed ^ mixSeed(static_cast<uint64_t>(step))));
  // Modulo bias is below (total / 2^64), far under any effect on training.
  uint64_t starts = static_cast<uint64_t>(total - window + 1);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t start = static_cast<int64_t>(rng() % starts);
    std::memcpy(out + b * window, tokens.data() + start, window * sizeof(int32_t));
  }
  return Status::ok();
}

} // namespace ds::rt
