#include "runtime/io/AtomicFile.h"
#include "runtime/io/Directory.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ds::rt {

namespace {

std::string systemError() { return std::strerror(errno); }

std::string baseName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

AtomicFile::AtomicFile(std::string path, std::string tempPath, int fd)
    : path_(std::move(path)), tempPath_(std::move(tempPath)), fd_(fd) {}

AtomicFile::AtomicFile(AtomicFile &&other) noexcept
    : path_(std::move(other.path_)), tempPath_(std::move(other.tempPath_)), fd_(other.fd_) {
  other.fd_ = -1;
}

AtomicFile &AtomicFile::operator=(AtomicFile &&other) noexcept {
  if (this != &other) {
    discard();
    path_ = std::move(other.path_);
    tempPath_ = std::move(other.tempPath_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() {
  if (fd_ < 0)
    return;
  ::close(fd_);
  ::unlink(tempPath_.c_str());
  fd_ = -1;
}

Expected<AtomicFile> AtomicFile::create(const std::string &path) {
  if (path.empty() || path.back() == '/')
    return errorf("cannot write '", path, "': not a file name");
  std::string dir = parentDirectory(path);
  // pid + a process-wide counter + time make the name unique among concurrent writers;
  // O_EXCL turns any remaining collision into a retry instead of a shared file.
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
    std::string tempPath = dir + "/." + baseName(path) + ".tmp." + std::to_string(::getpid()) +
                           "." + std::to_string(counter.fetch_add(1)) + "." +
                           std::to_string(static_cast<unsigned long long>(ticks) % 1000000);
    int fd = ::open(tempPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0)
      return AtomicFile(path, std::move(tempPath), fd);
    if (errno != EEXIST)
      return errorf("cannot create a temporary file in '", dir, "' to write '", path,
                    "': ", systemError());
  }
  return errorf("cannot create a unique temporary file in '", dir, "' to write '", path, "'");
}

Status AtomicFile::write(const void *data, size_t size) {
  if (fd_ < 0)
    return errorf("cannot write '", path_, "': the file is already committed or failed");
  const char *bytes = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t written = ::write(fd_, bytes, size);
    if (written < 0 && errno == EINTR)
      continue;
    if (written <= 0) {
      std::string why = written < 0 ? systemError() : "the device accepted no bytes";
      discard();
      return errorf("cannot write '", path_, "': ", why);
    }
    bytes += written;
    size -= static_cast<size_t>(written);
  }
  return Status::ok();
}

Status AtomicFile::commit() {
  if (fd_ < 0)
    return errorf("cannot commit '", path_, "': the file is already committed or failed");
  int rc;
  do {
    rc = ::fsync(fd_);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    std::string why = systemError();
    discard();
    return errorf("cannot sync '", tempPath_, "' (for '", path_, "'): ", why);
  }
  // close() can report a delayed write error (NFS); the data is not safe if it fails.
  rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    std::string why = systemError();
    ::unlink(tempPath_.c_str());
    return errorf("cannot close '", tempPath_, "' (for '", path_, "'): ", why);
  }
  if (::rename(tempPath_.c_str(), path_.c_str()) != 0) {
    std::string why = systemError();
    ::unlink(tempPath_.c_str());
    return errorf("cannot rename '", tempPath_, "' to '", path_, "': ", why);
  }
  return syncDirectory(parentDirectory(path_));
}

Status writeFileAtomically(const std::string &path, std::string_view contents) {
  Expected<AtomicFile> file = AtomicFile::create(path);
  if (!file)
    return file.status();
  DS_RETURN_IF_ERROR(file->write(contents));
  return file->commit();
}

} // namespace ds::rt
