//===- JsonOutput.cpp - JSON files that the compiler writes ---------------===//
#include "passes/JsonOutput.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

llvm::Error ds::writeJsonFile(const llvm::json::Value &value, llvm::StringRef path) {
  // The temporary lives beside the target so that the rename stays on one file system.
  llvm::SmallString<256> temporary;
  int fd = -1;
  llvm::SmallString<256> model(path);
  model += ".tmp-%%%%%%";
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(model, fd, temporary))
    return llvm::createStringError(ec, "cannot create a temporary file for " + path + ": " +
                                           ec.message());
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << llvm::formatv("{0:2}", value) << "\n";
    os.close();
    if (os.has_error()) {
      std::error_code ec = os.error();
      os.clear_error();
      llvm::sys::fs::remove(temporary);
      return llvm::createStringError(ec, "cannot write " + temporary + ": " + ec.message());
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(temporary, path)) {
    llvm::sys::fs::remove(temporary);
    return llvm::createStringError(ec, "cannot rename " + temporary + " to " + path + ": " +
                                           ec.message());
  }
  return llvm::Error::success();
}
