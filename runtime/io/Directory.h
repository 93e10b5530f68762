//===- Directory.h - durable folder operations for checkpoints ------------===//
//
// A checkpoint is a folder of files written in a temporary folder and renamed into place,
// so that its name appears only once every file in it is complete. A rename (like a new
// file) is durable only once the folder holding the entry is fsynced (fsync(2) on
// ext4/xfs), which is what these helpers add to the plain POSIX calls.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_IO_DIRECTORY_H
#define DS_RUNTIME_IO_DIRECTORY_H

#include "runtime/core/Status.h"

#include <string>

namespace ds::rt {

/// fsyncs the folder `dir`, making the entries created, renamed or removed in it durable.
Status syncDirectory(const std::string &dir);

/// Renames the folder `from` to `to` (both in one parent folder, `to` absent) and syncs
/// that parent, so that after a crash `to` is either absent or complete.
Status renameDirectoryDurably(const std::string &from, const std::string &to);

/// The folder part of `path` ("." for a bare name, "/" for a name directly under /).
std::string parentDirectory(const std::string &path);

} // namespace ds::rt

#endif
