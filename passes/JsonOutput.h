//===- JsonOutput.h - JSON files that the compiler writes -----------------===//
#ifndef DS_PASSES_JSONOUTPUT_H
#define DS_PASSES_JSONOUTPUT_H

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace ds {

/// Writes `value` (pretty-printed) to `path` through a temporary file beside it and a
/// rename, so that a reader never sees a half-written file.
llvm::Error writeJsonFile(const llvm::json::Value &value, llvm::StringRef path);

} // namespace ds

#endif
