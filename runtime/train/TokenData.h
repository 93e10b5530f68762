//===- TokenData.h - token files, the byte tokenizer and training windows --===//
//
// Token files are raw little-endian token ids with no header, their width given by the
// extension: `.u16` (uint16, the layout nanoGPT-style `.bin` files use) or `.u32`. A
// `.txt` file is read as UTF-8 text and tokenized on the fly by the byte tokenizer (token
// id = byte value, vocabulary 256), which is what the default corpus under data/ uses.
//
// Windows: step t (1-based) trains on `batch` windows of `window` consecutive tokens whose
// starts are drawn uniformly from [0, tokens - window] by a generator seeded with
// mixSeed(seed ^ mixSeed(t)). A window depends only on (seed, step), so a resumed run needs
// nothing but the step number to continue on the same data.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_TOKENDATA_H
#define DS_RUNTIME_TRAIN_TOKENDATA_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// The byte tokenizer's vocabulary: one token per byte value.
constexpr int64_t kByteVocabulary = 256;

/// Token ids of `text`, one per byte.
std::vector<int32_t> tokenizeBytes(const std::string &text);

/// Reads a `.u16`, `.u32` or `.txt` file (see above).
Expected<std::vector<int32_t>> loadTokens(const std::string &path);

/// Writes `tokens` as a `.u16` or `.u32` file (by the extension of `path`) through a
/// temporary file renamed into place; ids must fit the width.
Status writeTokenFile(const std::vector<int32_t> &tokens, const std::string &path);

/// Every id must lie in [0, vocabSize); the error names the first one that does not.
Status checkVocabulary(const std::vector<int32_t> &tokens, int64_t vocabSize,
                       const std::string &source);

/// Fills `out` ([batch, window] row-major) with the windows of step `step`.
Status fillWindows(const std::vector<int32_t> &tokens, int64_t batch, int64_t window, uint64_t seed,
                   int64_t step, int32_t *out);

} // namespace ds::rt

#endif
