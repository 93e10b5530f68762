// AtomicFile (runtime/io), the write path of safetensors checkpoints: readers see the old
// file or the complete new one, and nothing is left behind on failure.
#include "runtime/io/AtomicFile.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace ds::rt;
namespace fs = std::filesystem;

namespace {

class ScratchDir {
public:
  ScratchDir() {
    std::string pattern = (fs::path(testing::TempDir()) / "ds-atomic-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string &name) const { return path_ + "/" + name; }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const fs::directory_entry &entry : fs::directory_iterator(path_))
      names.push_back(entry.path().filename().string());
    return names;
  }

private:
  std::string path_;
};

std::string contentsOf(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(SafetensorsAtomicFile, CommitReplacesTheFile) {
  ScratchDir dir;
  std::string path = dir.file("metrics.json");
  ASSERT_TRUE(writeFileAtomically(path, "old").isOk());
  EXPECT_EQ(contentsOf(path), "old");

  Expected<AtomicFile> file = AtomicFile::create(path);
  ASSERT_TRUE(file.isOk()) << file.status().message();
  EXPECT_EQ(fs::path(file->temporaryPath()).parent_path(), fs::path(path).parent_path());
  ASSERT_TRUE(file->write("new ").isOk());
  ASSERT_TRUE(file->write("contents").isOk());
  EXPECT_EQ(contentsOf(path), "old"); // nothing visible before commit
  EXPECT_EQ(dir.entries().size(), 2u);
  ASSERT_TRUE(file->commit().isOk());
  EXPECT_EQ(contentsOf(path), "new contents");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"metrics.json"});

  Status late = file->write("more");
  EXPECT_NE(late.message().find("already committed"), std::string::npos);
  EXPECT_FALSE(file->commit().isOk());
}

TEST(SafetensorsAtomicFile, AbandonedWriteLeavesTheOldFile) {
  ScratchDir dir;
  std::string path = dir.file("ckpt.safetensors");
  ASSERT_TRUE(writeFileAtomically(path, "complete").isOk());
  {
    Expected<AtomicFile> file = AtomicFile::create(path);
    ASSERT_TRUE(file.isOk());
    ASSERT_TRUE(file->write("torn").isOk());
    AtomicFile moved = file.take(); // ownership of the temp file moves with the object
  }
  EXPECT_EQ(contentsOf(path), "complete");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
}

TEST(SafetensorsAtomicFile, ErrorsNameThePath) {
  ScratchDir dir;
  Status noFolder = writeFileAtomically(dir.file("absent/x.json"), "x");
  ASSERT_FALSE(noFolder.isOk());
  EXPECT_NE(noFolder.message().find("absent/x.json"), std::string::npos) << noFolder.message();

  Status notAFile = writeFileAtomically(dir.file("folder/"), "x");
  EXPECT_NE(notAFile.message().find("not a file name"), std::string::npos);

  fs::create_directory(dir.file("folder"));
  Status overFolder = writeFileAtomically(dir.file("folder"), "x");
  ASSERT_FALSE(overFolder.isOk());
  EXPECT_NE(overFolder.message().find("cannot rename"), std::string::npos) << overFolder.message();
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"folder"});
}

TEST(SafetensorsAtomicFile, BareFileNamesUseTheWorkingFolder) {
  ScratchDir dir;
  fs::path previous = fs::current_path();
  fs::current_path(dir.file(""));
  Status status = writeFileAtomically("bare.txt", "in cwd");
  fs::current_path(previous);
  ASSERT_TRUE(status.isOk()) << status.message();
  EXPECT_EQ(contentsOf(dir.file("bare.txt")), "in cwd");
}

} // namespace
