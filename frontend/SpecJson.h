//===- SpecJson.h - typed reads of spec keys with user-facing errors ------===//
//
// A spec is a flat JSON object of hyperparameters. KeyReader reads one key at a time with
// the type the key must have and remembers the first problem (missing key, wrong type) as
// a message that names the key and the value found; later reads return their fallback so
// that a parser reads straight through and checks `takeError()` once at the end.
//
//===----------------------------------------------------------------------===//
#ifndef DS_FRONTEND_SPECJSON_H
#define DS_FRONTEND_SPECJSON_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>

namespace ds {

/// An error whose message is `message` (specs are user input: no error codes).
llvm::Error specError(const llvm::Twine &message);

/// A number as messages show it: shortest %g form ("0.001", "1e-06", "40").
std::string formatNumber(double value);

/// A short rendering of a JSON value for messages: its kind and, when short, its text
/// (`string "7168"`, `boolean true`, `null`).
std::string describeJsonValue(const llvm::json::Value &value);

class KeyReader {
public:
  /// `prefix` qualifies key names in messages (e.g. "rope_scaling.").
  explicit KeyReader(const llvm::json::Object &object, llvm::StringRef prefix = "")
      : object(object), prefix(prefix.str()) {}

  bool has(llvm::StringRef key) const { return object.get(key) != nullptr; }
  /// Present and not null.
  bool hasValue(llvm::StringRef key) const;

  int64_t requiredInt(llvm::StringRef key);
  int64_t optionalInt(llvm::StringRef key, int64_t fallback);
  /// Required key whose value may be null (HF `q_lora_rank`): nullopt for null.
  std::optional<int64_t> requiredNullableInt(llvm::StringRef key);
  /// Optional key that may also be null; absent and null both give nullopt.
  std::optional<int64_t> optionalNullableInt(llvm::StringRef key);
  double optionalNumber(llvm::StringRef key, double fallback);
  bool optionalBool(llvm::StringRef key, bool fallback);
  std::string optionalString(llvm::StringRef key, llvm::StringRef fallback);
  /// A nested object; absent or null give nullptr.
  const llvm::json::Object *optionalObject(llvm::StringRef key);

  /// Records `message` unless an earlier problem is already recorded.
  void fail(const llvm::Twine &message);
  bool failed() const { return firstError.has_value(); }
  /// The first recorded problem, or success.
  llvm::Error takeError();

  /// The qualified name of `key` as messages show it: `prefix.key` in backquotes.
  std::string quoted(llvm::StringRef key) const;

private:
  const llvm::json::Value *lookup(llvm::StringRef key, bool required);
  void wrongType(llvm::StringRef key, llvm::StringRef expected, const llvm::json::Value &found);

  const llvm::json::Object &object;
  std::string prefix;
  std::optional<std::string> firstError;
};

} // namespace ds

#endif
