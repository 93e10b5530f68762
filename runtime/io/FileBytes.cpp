#include "runtime/io/FileBytes.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ds::rt {

namespace {

/// Closes a file descriptor on every return path of FileBytes::open.
struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

Status readAll(int fd, const std::string &path, uint8_t *out, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t got = ::read(fd, out + done, size - done);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return errorf("cannot read '", path, "': ", std::strerror(errno));
    if (got == 0)
      return errorf("cannot read '", path, "': it shrank from ", size, " to ", done,
                    " bytes while being read");
    done += static_cast<size_t>(got);
  }
  return Status::ok();
}

} // namespace

FileBytes::FileBytes(FileBytes &&other) noexcept
    : owned_(std::move(other.owned_)), mapped_(other.mapped_), mappedSize_(other.mappedSize_) {
  other.mapped_ = nullptr;
  other.mappedSize_ = 0;
}

FileBytes &FileBytes::operator=(FileBytes &&other) noexcept {
  if (this != &other) {
    release();
    owned_ = std::move(other.owned_);
    mapped_ = other.mapped_;
    mappedSize_ = other.mappedSize_;
    other.mapped_ = nullptr;
    other.mappedSize_ = 0;
  }
  return *this;
}

FileBytes::~FileBytes() { release(); }

void FileBytes::release() {
  if (mapped_)
    ::munmap(const_cast<uint8_t *>(mapped_), mappedSize_);
  mapped_ = nullptr;
  mappedSize_ = 0;
  owned_.clear();
}

FileBytes FileBytes::fromVector(std::vector<uint8_t> bytes) {
  FileBytes result;
  result.owned_ = std::move(bytes);
  return result;
}

Expected<FileBytes> FileBytes::open(const std::string &path, Mode mode) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errorf("cannot open '", path, "': ", std::strerror(errno));
  FdCloser closer{fd};
  struct stat info;
  if (::fstat(fd, &info) != 0)
    return errorf("cannot stat '", path, "': ", std::strerror(errno));
  if (!S_ISREG(info.st_mode))
    return errorf("cannot read '", path, "': not a regular file");
  size_t size = static_cast<size_t>(info.st_size);

  FileBytes result;
  // mmap of zero bytes fails with EINVAL; an empty file is simply an empty buffer.
  if (mode == Mode::Mmap && size > 0) {
    void *address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (address == MAP_FAILED)
      return errorf("cannot map '", path, "' (", size, " bytes): ", std::strerror(errno));
    result.mapped_ = static_cast<const uint8_t *>(address);
    result.mappedSize_ = size;
    return result;
  }
  result.owned_.resize(size);
  DS_RETURN_IF_ERROR(readAll(fd, path, result.owned_.data(), size));
  return result;
}

} // namespace ds::rt
