// Recreates a folder holding the seed corpus of SafetensorsFuzz: small valid safetensors files
// made by the real writer (so the seeds follow the format as the writer evolves), a few
// near-misses, and JSON documents for the JSON reader and the index parser. Generated at
// test time so the repository holds no binary files.
#include "runtime/io/AtomicFile.h"
#include "runtime/io/Safetensors.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

using namespace ds::rt;

namespace {

std::string asString(const std::vector<uint8_t> &bytes) {
  return std::string(bytes.begin(), bytes.end());
}

std::string rawImage(const std::string &header, size_t dataBytes) {
  std::string image;
  for (int i = 0; i < 8; ++i)
    image += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return image + header + std::string(dataBytes, '\x11');
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const float f32[] = {1.0f, -2.0f, 0.5f, 3.0f};
  const uint16_t halves[] = {0x3c00, 0xc000};
  const uint8_t fp8[] = {0x38, 0x7e, 0x01};
  const int64_t i64[] = {-1, 1};
  std::vector<std::string> seeds;

  Expected<std::vector<uint8_t>> mixed =
      encodeSafetensors({{"model.embed.weight", SafetensorsDType::F32, {2, 2}, f32, 16},
                         {"h", SafetensorsDType::F16, {2}, halves, 4},
                         {"b", SafetensorsDType::BF16, {1, 2}, halves, 4},
                         {"q", SafetensorsDType::F8E4M3, {3}, fp8, 3},
                         {"i", SafetensorsDType::I64, {2}, i64, 16},
                         {"empty", SafetensorsDType::U8, {0}, nullptr, 0}},
                        {{"format", "pt"}});
  Expected<std::vector<uint8_t>> none = encodeSafetensors({});
  if (!mixed || !none) {
    std::fprintf(stderr, "cannot encode the seeds: %s\n",
                 (mixed ? none.status() : mixed.status()).message().c_str());
    return 1;
  }
  seeds.push_back(asString(*mixed));
  seeds.push_back(asString(*none));
  seeds.push_back(rawImage(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                           4));
  seeds.push_back(rawImage(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[4,28]}})", 28));
  seeds.push_back(R"({"metadata":{"total_size":8},"weight_map":{"a":"s1.safetensors",)"
                  R"("b":"s2.safetensors"}})");
  seeds.push_back(R"([1,-2.5e-3,true,false,null,"\u00e9\ud83d\ude00\n",{"k":[[]]}])");

  // The fuzzer adds what it finds to this folder; starting over keeps it small.
  std::error_code error;
  std::filesystem::remove_all(argv[1], error);
  if (!error)
    std::filesystem::create_directories(argv[1], error);
  if (error) {
    std::fprintf(stderr, "cannot recreate %s: %s\n", argv[1], error.message().c_str());
    return 1;
  }
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::string path = std::string(argv[1]) + "/seed-" + std::to_string(i);
    Status status = writeFileAtomically(path, seeds[i]);
    if (!status) {
      std::fprintf(stderr, "%s\n", status.message().c_str());
      return 1;
    }
  }
  std::printf("wrote %zu seeds to %s\n", seeds.size(), argv[1]);
  return 0;
}
