//===- Json.h - a strict, bounded JSON reader for the runtime -------------===//
//
// The runtime cannot use LLVM's JSON support, and it reads JSON from files it does not
// trust (safetensors headers, sharded-checkpoint indexes, configs). This reader follows
// RFC 8259 strictly: no comments, no trailing commas, no NaN/Infinity, no leading zeros,
// strings must be valid UTF-8 with escaped control characters, lone surrogates are
// rejected, and by default an object may not repeat a key. Every error names the byte
// offset where the input stopped making sense.
//
// The parser keeps its own stack instead of recursing, so nesting costs heap memory, and
// JsonLimits bounds the input size and nesting depth. A parsed document is therefore at
// most `maxDepth` levels deep, which also bounds the recursion of JsonValue's destructor.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_IO_JSON_H
#define DS_RUNTIME_IO_JSON_H

#include "runtime/core/Status.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ds::rt {

struct JsonMember;

/// One JSON value. Objects keep their members in document order.
class JsonValue {
public:
  enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };

  JsonValue() = default;
  static JsonValue makeNull(size_t offset);
  static JsonValue makeBool(bool value, size_t offset);
  static JsonValue makeNumber(double value, bool isInteger, int64_t integer, size_t offset);
  static JsonValue makeString(std::string value, size_t offset);
  static JsonValue makeArray(size_t offset);
  static JsonValue makeObject(size_t offset);

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isBool() const { return kind_ == Kind::Bool; }
  bool isNumber() const { return kind_ == Kind::Number; }
  bool isString() const { return kind_ == Kind::String; }
  bool isArray() const { return kind_ == Kind::Array; }
  bool isObject() const { return kind_ == Kind::Object; }

  /// Byte offset of the value's first character in the parsed text.
  size_t offset() const { return offset_; }

  bool asBool() const { return bool_; }
  double asNumber() const { return number_; }
  /// True when the number was written without fraction or exponent and fits in int64.
  bool isInteger() const { return kind_ == Kind::Number && isInteger_; }
  int64_t asInteger() const { return integer_; }
  const std::string &asString() const { return string_; }
  const std::vector<JsonValue> &elements() const { return elements_; }
  std::vector<JsonValue> &elements() { return elements_; }
  const std::vector<JsonMember> &members() const { return members_; }
  std::vector<JsonMember> &members() { return members_; }

  /// The first member named `key` of an object, or null when absent or not an object.
  const JsonValue *find(std::string_view key) const;

private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  bool isInteger_ = false;
  double number_ = 0.0;
  int64_t integer_ = 0;
  size_t offset_ = 0;
  std::string string_;
  std::vector<JsonValue> elements_;
  std::vector<JsonMember> members_;
};

struct JsonMember {
  std::string key;
  size_t keyOffset = 0;
  JsonValue value;
};

/// Bounds on what parseJson accepts, so hostile input costs bounded time and memory.
/// A parsed value takes ~100 bytes while "[0,0,..." spends 2 bytes of input per value,
/// so maxValues, not maxBytes, is what bounds the memory of a tree (~400 MB by default).
struct JsonLimits {
  size_t maxBytes = 64u << 20;
  size_t maxDepth = 64;
  size_t maxValues = 4u << 20;
  bool allowDuplicateKeys = false;
};

/// Parses one JSON document (surrounding whitespace allowed). Errors read
/// "invalid JSON at byte N: <what>".
Expected<JsonValue> parseJson(std::string_view text, const JsonLimits &limits = {});

/// The name of a kind as used in error messages ("object", "string", ...).
const char *jsonKindName(JsonValue::Kind kind);

/// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points
/// past U+10FFFF), i.e. what parseJson accepts inside strings.
bool isValidUtf8(std::string_view text);

/// Appends `text` as a quoted JSON string, escaping quotes, backslashes and control
/// characters. `text` should be valid UTF-8 for the result to be valid JSON.
void appendJsonString(std::string &out, std::string_view text);

} // namespace ds::rt

#endif
