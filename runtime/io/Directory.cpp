#include "runtime/io/Directory.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace ds::rt {

Status syncDirectory(const std::string &dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return errorf("cannot open folder '", dir, "' to sync it: ", std::strerror(errno));
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  std::string why = rc != 0 ? std::strerror(errno) : "";
  ::close(fd);
  if (rc != 0)
    return errorf("cannot sync folder '", dir, "': ", why);
  return Status::ok();
}

Status renameDirectoryDurably(const std::string &from, const std::string &to) {
  // rename(2) replaces an empty folder silently; refusing any existing `to` keeps a
  // checkpoint from ever being swapped out under a reader.
  if (::access(to.c_str(), F_OK) == 0)
    return errorf("cannot rename '", from, "' to '", to, "': '", to, "' already exists");
  if (std::rename(from.c_str(), to.c_str()) != 0)
    return errorf("cannot rename '", from, "' to '", to, "': ", std::strerror(errno));
  return syncDirectory(parentDirectory(to));
}

std::string parentDirectory(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

} // namespace ds::rt
