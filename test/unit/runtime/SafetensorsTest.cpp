// The safetensors reader and writer: round trips, float conversion, and a catalogue of
// malformed files generated here, each of which must fail with a message that names
// the problem.
#include "runtime/io/Safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

using namespace ds::rt;
namespace fs = std::filesystem;

namespace {

/// A fresh folder under the test temp dir, removed with everything in it at the end.
class ScratchDir {
public:
  ScratchDir() {
    std::string pattern = (fs::path(testing::TempDir()) / "ds-safetensors-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string &name) const { return path_ + "/" + name; }
  size_t entryCount() const {
    return std::distance(fs::directory_iterator(path_), fs::directory_iterator());
  }

private:
  std::string path_;
};

std::vector<uint8_t> littleEndian64(uint64_t value) {
  std::vector<uint8_t> bytes(8);
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<uint8_t>(value >> (8 * i));
  return bytes;
}

/// A safetensors image with the given header text and `dataBytes` bytes of data.
std::vector<uint8_t> image(const std::string &header, size_t dataBytes) {
  std::vector<uint8_t> bytes = littleEndian64(header.size());
  bytes.insert(bytes.end(), header.begin(), header.end());
  for (size_t i = 0; i < dataBytes; ++i)
    bytes.push_back(static_cast<uint8_t>(i * 7 + 1));
  return bytes;
}

/// Parses `bytes`, expecting failure, and returns the message.
std::string errorOf(std::vector<uint8_t> bytes, const SafetensorsReadOptions &options = {}) {
  Expected<SafetensorsFile> file = SafetensorsFile::fromBytes(std::move(bytes), options, "bad");
  EXPECT_FALSE(file.isOk());
  return file.isOk() ? std::string() : file.status().message();
}

constexpr SafetensorsDType kAllDTypes[] = {
    SafetensorsDType::Bool,   SafetensorsDType::U8,     SafetensorsDType::I8,
    SafetensorsDType::F8E5M2, SafetensorsDType::F8E4M3, SafetensorsDType::I16,
    SafetensorsDType::U16,    SafetensorsDType::F16,    SafetensorsDType::BF16,
    SafetensorsDType::I32,    SafetensorsDType::U32,    SafetensorsDType::F32,
    SafetensorsDType::I64,    SafetensorsDType::U64,    SafetensorsDType::F64,
};

TEST(Safetensors, RoundTripsEveryDTypeBitForBit) {
  std::mt19937 random(1234);
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<SafetensorsTensorRef> tensors;
  for (SafetensorsDType dtype : kAllDTypes) {
    std::vector<int64_t> shape = {3, 5};
    std::vector<uint8_t> bytes(15 * safetensorsDTypeSize(dtype));
    for (uint8_t &b : bytes)
      b = static_cast<uint8_t>(random());
    payloads.push_back(std::move(bytes));
    tensors.push_back({std::string("t.") + safetensorsDTypeName(dtype), dtype, shape,
                       payloads.back().data(), payloads.back().size()});
  }
  float scalar = 2.5f;
  tensors.push_back({"scalar", SafetensorsDType::F32, {}, &scalar, sizeof(scalar)});
  tensors.push_back({"empty", SafetensorsDType::BF16, {0, 4}, nullptr, 0});
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "\"quoted\"\n"}};

  ScratchDir dir;
  std::string path = dir.file("model.safetensors");
  ASSERT_TRUE(writeSafetensors(path, tensors, metadata).isOk());
  EXPECT_EQ(dir.entryCount(), 1u); // no temporary file left behind

  Expected<std::vector<uint8_t>> encoded = encodeSafetensors(tensors, metadata);
  ASSERT_TRUE(encoded.isOk());
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> onDisk((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(onDisk, *encoded);

  for (FileBytes::Mode mode : {FileBytes::Mode::Mmap, FileBytes::Mode::Read}) {
    SafetensorsReadOptions options;
    options.mode = mode;
    Expected<SafetensorsFile> file = SafetensorsFile::open(path, options);
    ASSERT_TRUE(file.isOk()) << file.status().message();
    EXPECT_EQ(file->metadata(), metadata);
    ASSERT_EQ(file->tensors().size(), tensors.size());
    for (const SafetensorsTensorRef &tensor : tensors) {
      const SafetensorsTensorInfo *info = file->find(tensor.name);
      ASSERT_NE(info, nullptr) << tensor.name;
      EXPECT_EQ(info->dtype, tensor.dtype);
      EXPECT_EQ(info->shape, tensor.shape);
      // Largest elements first keeps every tensor aligned to its element size.
      EXPECT_EQ(info->begin % safetensorsDTypeSize(tensor.dtype), 0u) << tensor.name;
      Expected<ByteSpan> bytes = file->bytes(tensor.name);
      ASSERT_TRUE(bytes.isOk());
      ASSERT_EQ(bytes->size, tensor.size);
      EXPECT_TRUE(tensor.size == 0 || std::memcmp(bytes->data, tensor.data, tensor.size) == 0)
          << tensor.name;
    }
  }
}

TEST(Safetensors, DataSectionStartsAligned) {
  uint8_t byte = 7;
  Expected<std::vector<uint8_t>> encoded =
      encodeSafetensors({{"b", SafetensorsDType::U8, {1}, &byte, 1}});
  ASSERT_TRUE(encoded.isOk());
  Expected<SafetensorsHeader> header = parseSafetensorsHeader(encoded->data(), encoded->size());
  ASSERT_TRUE(header.isOk());
  EXPECT_EQ(header->dataStart % 8, 0u);
  EXPECT_EQ(header->dataStart + 1, encoded->size());
}

TEST(Safetensors, ConvertsFloatDTypesToF32) {
  const uint16_t f16[] = {0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00, 0x8000};
  const uint16_t bf16[] = {0x3f80, 0xc040, 0x0001};
  const uint8_t e4m3[] = {0x38, 0xb8, 0x7e, 0x01, 0x7f};
  const uint8_t e5m2[] = {0x3c, 0x7b, 0x01};
  const double f64[] = {0.1, -1e300};
  const float f32[] = {1.5f, -0.0f};
  int32_t ints[] = {1, 2};
  Expected<std::vector<uint8_t>> encoded = encodeSafetensors({
      {"f16", SafetensorsDType::F16, {6}, f16, sizeof(f16)},
      {"bf16", SafetensorsDType::BF16, {3}, bf16, sizeof(bf16)},
      {"e4m3", SafetensorsDType::F8E4M3, {5}, e4m3, sizeof(e4m3)},
      {"e5m2", SafetensorsDType::F8E5M2, {3}, e5m2, sizeof(e5m2)},
      {"f64", SafetensorsDType::F64, {2}, f64, sizeof(f64)},
      {"f32", SafetensorsDType::F32, {2}, f32, sizeof(f32)},
      {"ints", SafetensorsDType::I32, {2}, ints, sizeof(ints)},
  });
  ASSERT_TRUE(encoded.isOk());
  Expected<SafetensorsFile> file = SafetensorsFile::fromBytes(encoded.take());
  ASSERT_TRUE(file.isOk()) << file.status().message();

  auto read = [&](const char *name) {
    Expected<std::vector<float>> values = file->readF32(name);
    EXPECT_TRUE(values.isOk()) << name;
    return values.isOk() ? *values : std::vector<float>();
  };
  std::vector<float> halves = read("f16");
  EXPECT_EQ(halves[0], 1.0f);
  EXPECT_EQ(halves[1], -2.0f);
  EXPECT_EQ(halves[2], std::ldexp(1.0f, -24)); // smallest subnormal
  EXPECT_EQ(halves[3], 65504.0f);
  EXPECT_TRUE(std::isinf(halves[4]));
  EXPECT_TRUE(std::signbit(halves[5]));
  EXPECT_EQ(read("bf16"), (std::vector<float>{1.0f, -3.0f, std::ldexp(1.0f, -133)}));
  std::vector<float> fp8 = read("e4m3");
  EXPECT_EQ(fp8[0], 1.0f);
  EXPECT_EQ(fp8[1], -1.0f);
  EXPECT_EQ(fp8[2], 448.0f);
  EXPECT_EQ(fp8[3], std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(fp8[4]));
  EXPECT_EQ(read("e5m2"), (std::vector<float>{1.0f, 57344.0f, std::ldexp(1.0f, -16)}));
  std::vector<float> doubles = read("f64");
  EXPECT_EQ(doubles[0], 0.1f);
  EXPECT_TRUE(std::isinf(doubles[1]));
  EXPECT_EQ(read("f32"), (std::vector<float>{1.5f, -0.0f}));

  Expected<std::vector<float>> notFloat = file->readF32("ints");
  ASSERT_FALSE(notFloat.isOk());
  EXPECT_NE(notFloat.status().message().find("tensor \"ints\" is I32, which does not convert"),
            std::string::npos);
  float two[2];
  Status wrongCount = file->readF32("f16", two, 2);
  EXPECT_NE(wrongCount.message().find("has 6 elements but the destination holds 2"),
            std::string::npos);
  Expected<ByteSpan> absent = file->bytes("nope");
  ASSERT_FALSE(absent.isOk());
  EXPECT_NE(absent.status().message().find("no tensor named \"nope\""), std::string::npos);
}

struct BadFile {
  const char *what;
  std::vector<uint8_t> bytes;
  const char *expected;
};

TEST(Safetensors, RejectsMalformedFilesWithClearErrors) {
  const std::string w = R"("w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";
  std::vector<uint8_t> shortLength = {1, 0, 0, 0, 0};
  std::vector<uint8_t> pastEnd = littleEndian64(100);
  pastEnd.resize(18, '{');
  std::vector<uint8_t> huge = littleEndian64(uint64_t(1) << 63);
  huge.push_back('{');
  const std::vector<BadFile> cases = {
      {"truncated length", shortLength, "file is 5 bytes, too short for the 8-byte header"},
      {"header past end", pastEnd,
       "header length 100 runs past the end of the file (only 10 bytes follow"},
      {"huge header length", huge,
       "header length 9223372036854775808 exceeds the limit of 100000000 bytes"},
      {"invalid JSON", image("{" + w + ",", 24),
       "header (byte offsets count from its start "
       "at file byte 8): invalid JSON at byte 57"},
      {"non-object header", image("[1, 2]", 0), "header is a JSON array, expected a JSON object"},
      {"duplicate key", image("{" + w + "," + w + "}", 24), "duplicate key \"w\""},
      {"unknown dtype", image(R"({"w":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}})", 4),
       "tensor \"w\": unknown dtype \"F31\""},
      {"dtype not a string", image(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4),
       "tensor \"w\": dtype is 4, expected a string"},
      {"size mismatch", image(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20),
       "tensor \"w\": shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] hold 20"},
      {"offsets past end", image("{" + w + "}", 16),
       "tensor \"w\": data_offsets [0, 24] run past the end of the data section (16 bytes)"},
      {"negative dim", image(R"({"w":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,0]}})", 0),
       "tensor \"w\": shape[1] is -3, expected a non-negative integer"},
      {"fractional dim", image(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}})", 0),
       "tensor \"w\": shape[0] is 1.5, expected a non-negative integer"},
      {"shape not array", image(R"({"w":{"dtype":"U8","shape":"3","data_offsets":[0,3]}})", 3),
       "tensor \"w\": shape is the string \"3\", expected an array"},
      {"overflowing shape",
       image(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
       "tensor \"w\": shape [4294967296, 4294967296] of F64 is larger than 2^64 bytes"},
      {"overlap",
       image(R"({"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},)"
             R"("b":{"dtype":"U8","shape":[16],"data_offsets":[8,24]}})",
             24),
       "tensors \"a\" and \"b\" overlap: data_offsets [0, 16] and [8, 24]"},
      {"gap", image(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", 8),
       "data section bytes [0, 4) belong to no tensor"},
      {"trailing bytes", image(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 6),
       "data section bytes [4, 6) belong to no tensor"},
      {"reversed offsets", image(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4),
       "tensor \"a\": data_offsets [4, 0] end before they begin"},
      {"three offsets", image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", 1),
       "tensor \"a\": data_offsets has 3 elements, expected 2"},
      {"negative offset", image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 1),
       "tensor \"a\": data_offsets[0] is -1, expected a non-negative integer"},
      {"missing field", image(R"({"a":{"dtype":"U8","shape":[1]}})", 1),
       "tensor \"a\": missing field \"data_offsets\""},
      {"unknown field", image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", 1),
       "tensor \"a\": unknown field \"x\""},
      {"entry not object", image(R"({"a":[1]})", 0),
       "tensor \"a\": entry is a JSON array, expected an object"},
      {"metadata not strings", image(R"({"__metadata__":{"k":1}})", 0),
       "__metadata__: value of \"k\" is 1, expected a string"},
      {"metadata not object", image(R"({"__metadata__":"x"})", 0),
       "__metadata__ is the string \"x\", expected an object of strings"},
      {"name with control chars",
       image(R"({"a\n":{"dtype":"U8","shape":[1],"data_offsets":[0,2]}})", 2),
       "tensor \"a\\n\": shape [1] of U8 needs 1 bytes"},
  };
  for (const BadFile &bad : cases) {
    std::string message = errorOf(bad.bytes);
    EXPECT_NE(message.find(bad.expected), std::string::npos)
        << bad.what << ": got \"" << message << "\"";
    EXPECT_EQ(message.rfind("'bad': ", 0), 0u) << bad.what << ": " << message;
  }
}

TEST(Safetensors, GapsAreAcceptedWhenCoverageIsNotRequired) {
  SafetensorsReadOptions options;
  options.requireFullCoverage = false;
  Expected<SafetensorsFile> file = SafetensorsFile::fromBytes(
      image(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", 12), options);
  ASSERT_TRUE(file.isOk()) << file.status().message();
  Expected<ByteSpan> bytes = file->bytes("a");
  ASSERT_TRUE(bytes.isOk());
  EXPECT_EQ(bytes->data[0], static_cast<uint8_t>(4 * 7 + 1));
  // Overlap stays an error either way.
  EXPECT_NE(errorOf(image(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})",
                          8),
                    options)
                .find("overlap"),
            std::string::npos);
  // An empty tensor owns no bytes, so it may sit anywhere inside the data section.
  EXPECT_TRUE(
      SafetensorsFile::fromBytes(image(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                       R"("e":{"dtype":"F32","shape":[0],"data_offsets":[2,2]}})",
                                       4))
          .isOk());
}

/// Every proper prefix of a valid file is invalid (with full coverage required), and no
/// prefix or single-byte corruption may crash or read out of bounds, with either option.
TEST(Safetensors, TruncationAndCorruptionNeverCrash) {
  const float weights[] = {1.0f, 2.0f, 3.0f};
  const uint16_t halves[] = {0x3c00, 0x4000};
  Expected<std::vector<uint8_t>> valid =
      encodeSafetensors({{"w", SafetensorsDType::F32, {3}, weights, sizeof(weights)},
                         {"h", SafetensorsDType::BF16, {2, 1}, halves, sizeof(halves)}},
                        {{"k", "v"}});
  ASSERT_TRUE(valid.isOk());
  auto touchEverything = [](const SafetensorsFile &file) {
    for (const SafetensorsTensorInfo &info : file.tensors()) {
      Expected<ByteSpan> bytes = file.bytes(info.name);
      ASSERT_TRUE(bytes.isOk());
      volatile uint8_t sum = 0;
      for (size_t i = 0; i < bytes->size; ++i)
        sum = sum + bytes->data[i];
      if (isSafetensorsFloat(info.dtype))
        ASSERT_TRUE(file.readF32(info.name).isOk());
    }
  };
  SafetensorsReadOptions lenient;
  lenient.requireFullCoverage = false;
  for (size_t length = 0; length < valid->size(); ++length) {
    std::vector<uint8_t> prefix(valid->begin(), valid->begin() + length);
    EXPECT_FALSE(SafetensorsFile::fromBytes(prefix).isOk()) << "prefix " << length;
    Expected<SafetensorsFile> file = SafetensorsFile::fromBytes(prefix, lenient);
    if (file)
      touchEverything(*file);
  }
  for (size_t position = 0; position < valid->size(); ++position)
    for (uint8_t value : {0x00, 0x01, 0x22, 0x2c, 0x30, 0x5b, 0x7b, 0x7d, 0x80, 0xff}) {
      std::vector<uint8_t> corrupt = *valid;
      corrupt[position] = value;
      for (const SafetensorsReadOptions &options : {SafetensorsReadOptions(), lenient}) {
        Expected<SafetensorsFile> file = SafetensorsFile::fromBytes(corrupt, options);
        if (file)
          touchEverything(*file);
        else
          EXPECT_FALSE(file.status().message().empty());
      }
    }
}

TEST(Safetensors, WriterRejectsInvalidTensors) {
  float data[6] = {};
  auto messageOf = [&](std::vector<SafetensorsTensorRef> tensors) {
    Expected<std::vector<uint8_t>> encoded = encodeSafetensors(tensors);
    EXPECT_FALSE(encoded.isOk());
    return encoded.isOk() ? std::string() : encoded.status().message();
  };
  EXPECT_NE(messageOf({{"w", SafetensorsDType::F32, {2, 3}, data, 20}})
                .find("tensor \"w\": shape and dtype F32 need 24 bytes but 20 were given"),
            std::string::npos);
  EXPECT_NE(messageOf({{"w", SafetensorsDType::F32, {1}, data, 4},
                       {"w", SafetensorsDType::F32, {1}, data, 4}})
                .find("two tensors named \"w\""),
            std::string::npos);
  EXPECT_NE(messageOf({{"__metadata__", SafetensorsDType::F32, {1}, data, 4}}).find("reserves"),
            std::string::npos);
  EXPECT_NE(messageOf({{"w", SafetensorsDType::F32, {-1}, data, 4}}).find("negative dimension -1"),
            std::string::npos);
  EXPECT_NE(messageOf({{"w", SafetensorsDType::F32, {1}, nullptr, 4}}).find("data is null"),
            std::string::npos);
  EXPECT_NE(messageOf({{"\xff", SafetensorsDType::F32, {1}, data, 4}}).find("not valid UTF-8"),
            std::string::npos);
}

TEST(Safetensors, FileErrorsNameThePath) {
  ScratchDir dir;
  float value = 1.0f;
  Status status = writeSafetensors(dir.file("missing/model.safetensors"),
                                   {{"w", SafetensorsDType::F32, {1}, &value, 4}});
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("missing"), std::string::npos) << status.message();
  EXPECT_EQ(dir.entryCount(), 0u);

  Expected<SafetensorsFile> absent = SafetensorsFile::open(dir.file("absent.safetensors"));
  ASSERT_FALSE(absent.isOk());
  EXPECT_NE(absent.status().message().find("cannot open '"), std::string::npos);
  Expected<SafetensorsFile> folder = SafetensorsFile::open(dir.file("."));
  ASSERT_FALSE(folder.isOk());
  EXPECT_NE(folder.status().message().find("not a regular file"), std::string::npos);

  std::ofstream(dir.file("empty.safetensors")).close();
  Expected<SafetensorsFile> empty = SafetensorsFile::open(dir.file("empty.safetensors"));
  ASSERT_FALSE(empty.isOk());
  EXPECT_NE(empty.status().message().find("empty.safetensors': file is 0 bytes"), std::string::npos)
      << empty.status().message();
}

} // namespace
