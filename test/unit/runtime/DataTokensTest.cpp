// Token files, the byte tokenizer, vocabulary checks and training windows.
#include "runtime/train/TokenData.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

using namespace ds::rt;

namespace {

std::string tempPath(const std::string &name) { return ::testing::TempDir() + "/" + name; }

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(DataTokens, ByteTokenizerMapsEveryByte) {
  std::vector<int32_t> tokens = tokenizeBytes(std::string("Hi\xff\0", 4));
  EXPECT_EQ(tokens, (std::vector<int32_t>{'H', 'i', 255, 0}));
}

TEST(DataTokens, U16AndU32RoundTrip) {
  std::vector<int32_t> tokens = {0, 1, 255, 65535, 7};
  for (const char *name : {"round.u16", "round.u32"}) {
    std::string path = tempPath(name);
    ASSERT_TRUE(writeTokenFile(tokens, path).isOk());
    Expected<std::vector<int32_t>> back = loadTokens(path);
    ASSERT_TRUE(back.isOk()) << back.status().message();
    EXPECT_EQ(*back, tokens);
    std::remove(path.c_str());
  }
  std::vector<int32_t> wide = {70000};
  EXPECT_FALSE(writeTokenFile(wide, tempPath("wide.u16")).isOk());
  ASSERT_TRUE(writeTokenFile(wide, tempPath("wide.u32")).isOk());
  EXPECT_EQ(*loadTokens(tempPath("wide.u32")), wide);
}

TEST(DataTokens, LittleEndianLayout) {
  std::string path = tempPath("le.u16");
  writeBytes(path, std::string("\x01\x02\x03\x00", 4));
  Expected<std::vector<int32_t>> tokens = loadTokens(path);
  ASSERT_TRUE(tokens.isOk());
  EXPECT_EQ(*tokens, (std::vector<int32_t>{0x0201, 3}));
}

TEST(DataTokens, TextIsByteTokenized) {
  std::string path = tempPath("corpus.txt");
  writeBytes(path, "abc");
  EXPECT_EQ(*loadTokens(path), (std::vector<int32_t>{'a', 'b', 'c'}));
}

TEST(DataTokens, ClearErrors) {
  Expected<std::vector<int32_t>> missing = loadTokens(tempPath("absent.u16"));
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("cannot open data file"), std::string::npos);

  std::string odd = tempPath("odd.u32");
  writeBytes(odd, "12345");
  Expected<std::vector<int32_t>> truncated = loadTokens(odd);
  ASSERT_FALSE(truncated.isOk());
  EXPECT_NE(truncated.status().message().find("not a whole number of 32-bit"), std::string::npos);

  Expected<std::vector<int32_t>> unknown = loadTokens(tempPath("data.bin"));
  ASSERT_FALSE(unknown.isOk());
  EXPECT_NE(unknown.status().message().find("unknown data file type"), std::string::npos);
}

TEST(DataTokens, VocabularyCheckNamesTheToken) {
  Status status = checkVocabulary({1, 2, 300, 4}, 256, "corpus.u16");
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(status.message(), "corpus.u16: token 2 has id 300, outside the model's vocabulary "
                              "of 256 (tokenized for another model?)");
  EXPECT_TRUE(checkVocabulary({0, 255}, 256, "x").isOk());
}

TEST(DataTokens, WindowsAreDeterministicConsecutiveAndSeeded) {
  std::vector<int32_t> tokens(1000);
  for (int i = 0; i < 1000; ++i)
    tokens[i] = i;
  std::vector<int32_t> a(4 * 10), b(4 * 10), c(4 * 10), d(4 * 10);
  ASSERT_TRUE(fillWindows(tokens, 4, 10, 1, 5, a.data()).isOk());
  ASSERT_TRUE(fillWindows(tokens, 4, 10, 1, 5, b.data()).isOk());
  ASSERT_TRUE(fillWindows(tokens, 4, 10, 1, 6, c.data()).isOk());
  ASSERT_TRUE(fillWindows(tokens, 4, 10, 2, 5, d.data()).isOk());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  for (int w = 0; w < 4; ++w)
    for (int k = 1; k < 10; ++k)
      EXPECT_EQ(a[w * 10 + k], a[w * 10] + k);
  // The last possible window is reachable and nothing reads past the end.
  std::vector<int32_t> exact(10);
  ASSERT_TRUE(fillWindows(std::vector<int32_t>(tokens.begin(), tokens.begin() + 10), 1, 10, 0, 1,
                          exact.data())
                  .isOk());
  EXPECT_EQ(exact[9], 9);
  EXPECT_FALSE(fillWindows(std::vector<int32_t>(9), 1, 10, 0, 1, exact.data()).isOk());
}

} // namespace
