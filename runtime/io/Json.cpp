#include "runtime/io/Json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <system_error>

namespace ds::rt {

JsonValue JsonValue::makeNull(size_t offset) {
  JsonValue v;
  v.offset_ = offset;
  return v;
}

JsonValue JsonValue::makeBool(bool value, size_t offset) {
  JsonValue v;
  v.kind_ = Kind::Bool;
  v.bool_ = value;
  v.offset_ = offset;
  return v;
}

JsonValue JsonValue::makeNumber(double value, bool isInteger, int64_t integer, size_t offset) {
  JsonValue v;
  v.kind_ = Kind::Number;
  v.number_ = value;
  v.isInteger_ = isInteger;
  v.integer_ = integer;
  v.offset_ = offset;
  return v;
}

JsonValue JsonValue::makeString(std::string value, size_t offset) {
  JsonValue v;
  v.kind_ = Kind::String;
  v.string_ = std::move(value);
  v.offset_ = offset;
  return v;
}

JsonValue JsonValue::makeArray(size_t offset) {
  JsonValue v;
  v.kind_ = Kind::Array;
  v.offset_ = offset;
  return v;
}

JsonValue JsonValue::makeObject(size_t offset) {
  JsonValue v;
  v.kind_ = Kind::Object;
  v.offset_ = offset;
  return v;
}

const JsonValue *JsonValue::find(std::string_view key) const {
  for (const JsonMember &member : members_)
    if (member.key == key)
      return &member.value;
  return nullptr;
}

const char *jsonKindName(JsonValue::Kind kind) {
  switch (kind) {
  case JsonValue::Kind::Null:
    return "null";
  case JsonValue::Kind::Bool:
    return "boolean";
  case JsonValue::Kind::Number:
    return "number";
  case JsonValue::Kind::String:
    return "string";
  case JsonValue::Kind::Array:
    return "array";
  case JsonValue::Kind::Object:
    return "object";
  }
  return "?";
}

namespace {

/// Length of the UTF-8 sequence starting at text[pos], or 0 if it is malformed
/// (Unicode 15, table 3-7: well-formed byte sequences).
size_t utf8SequenceLength(std::string_view text, size_t pos) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(pos);
  if (lead < 0x80)
    return 1;
  size_t length;
  unsigned char low = 0x80, high = 0xbf; // the range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0)
      low = 0xa0; // overlong
    if (lead == 0xed)
      high = 0x9f; // UTF-16 surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0)
      low = 0x90; // overlong
    if (lead == 0xf4)
      high = 0x8f; // past U+10FFFF
  } else {
    return 0;
  }
  if (text.size() - pos < length)
    return 0;
  if (byte(pos + 1) < low || byte(pos + 1) > high)
    return 0;
  for (size_t i = 2; i < length; ++i)
    if (byte(pos + i) < 0x80 || byte(pos + i) > 0xbf)
      return 0;
  return length;
}

void appendUtf8(std::string &out, uint32_t codePoint) {
  if (codePoint < 0x80) {
    out += static_cast<char>(codePoint);
  } else if (codePoint < 0x800) {
    out += static_cast<char>(0xc0 | (codePoint >> 6));
    out += static_cast<char>(0x80 | (codePoint & 0x3f));
  } else if (codePoint < 0x10000) {
    out += static_cast<char>(0xe0 | (codePoint >> 12));
    out += static_cast<char>(0x80 | ((codePoint >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (codePoint & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (codePoint >> 18));
    out += static_cast<char>(0x80 | ((codePoint >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((codePoint >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (codePoint & 0x3f));
  }
}

class Parser {
public:
  Parser(std::string_view text, const JsonLimits &limits) : text_(text), limits_(limits) {}

  Expected<JsonValue> parse();

private:
  // A container whose members are still being read; `key` is the key of the member
  // whose value comes next.
  struct Frame {
    JsonValue container;
    std::string key;
    size_t keyOffset = 0;
  };

  Status error(size_t offset, const std::string &what) const {
    return errorf("invalid JSON at byte ", offset, ": ", what);
  }
  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  void skipWhitespace() {
    while (!atEnd() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
      ++pos_;
  }
  std::string describeHere() const;

  Status parseScalar(JsonValue &out);
  Status parseString(std::string &out);
  Status parseHex4(uint32_t &out);
  Status parseNumber(JsonValue &out);
  Status parseLiteral(std::string_view word, JsonValue value, JsonValue &out);
  Status parseKey(Frame &frame);
  Status checkDuplicateKeys(const JsonValue &object) const;

  std::string_view text_;
  const JsonLimits &limits_;
  size_t pos_ = 0;
  size_t valueCount_ = 0;
  std::vector<Frame> stack_;
};

std::string Parser::describeHere() const {
  if (atEnd())
    return "the end of the input";
  unsigned char c = static_cast<unsigned char>(peek());
  if (c >= 0x20 && c < 0x7f)
    return std::string("'") + static_cast<char>(c) + "'";
  static const char hex[] = "0123456789abcdef";
  return std::string("byte 0x") + hex[c >> 4] + hex[c & 0xf];
}

Expected<JsonValue> Parser::parse() {
  if (text_.size() > limits_.maxBytes)
    return errorf("JSON text is ", text_.size(), " bytes, more than the limit of ",
                  limits_.maxBytes);
  for (;;) {
    // A value is expected at pos_: either a scalar, or a container to open.
    skipWhitespace();
    if (atEnd())
      return error(pos_, "expected a value but found the end of the input");
    if (++valueCount_ > limits_.maxValues)
      return error(pos_, "more than the limit of " + std::to_string(limits_.maxValues) + " values");
    JsonValue value;
    char c = peek();
    if (c == '{' || c == '[') {
      if (stack_.size() >= limits_.maxDepth)
        return error(pos_, "nesting deeper than the limit of " + std::to_string(limits_.maxDepth) +
                               " levels");
      bool isObject = c == '{';
      Frame frame;
      frame.container = isObject ? JsonValue::makeObject(pos_) : JsonValue::makeArray(pos_);
      ++pos_;
      skipWhitespace();
      if (!atEnd() && peek() == (isObject ? '}' : ']')) {
        ++pos_;
        value = std::move(frame.container);
      } else {
        if (isObject)
          DS_RETURN_IF_ERROR(parseKey(frame));
        stack_.push_back(std::move(frame));
        continue;
      }
    } else {
      DS_RETURN_IF_ERROR(parseScalar(value));
    }

    // Attach the finished value to its container; closing a container finishes another
    // value, so this repeats until a container wants its next member.
    for (;;) {
      if (stack_.empty()) {
        skipWhitespace();
        if (!atEnd())
          return error(pos_, "unexpected " + describeHere() + " after the JSON value");
        return value;
      }
      Frame &top = stack_.back();
      bool isObject = top.container.isObject();
      if (isObject)
        top.container.members().push_back(
            JsonMember{std::move(top.key), top.keyOffset, std::move(value)});
      else
        top.container.elements().push_back(std::move(value));
      skipWhitespace();
      if (!atEnd() && peek() == ',') {
        ++pos_;
        if (isObject)
          DS_RETURN_IF_ERROR(parseKey(top));
        break;
      }
      if (!atEnd() && peek() == (isObject ? '}' : ']')) {
        ++pos_;
        if (isObject && !limits_.allowDuplicateKeys)
          DS_RETURN_IF_ERROR(checkDuplicateKeys(top.container));
        value = std::move(top.container);
        stack_.pop_back();
        continue;
      }
      return error(pos_, std::string("expected ',' or '") + (isObject ? '}' : ']') +
                             "' but found " + describeHere());
    }
  }
}

Status Parser::parseKey(Frame &frame) {
  skipWhitespace();
  if (atEnd() || peek() != '"')
    return error(pos_, "expected a string key but found " + describeHere());
  frame.keyOffset = pos_;
  frame.key.clear();
  DS_RETURN_IF_ERROR(parseString(frame.key));
  skipWhitespace();
  if (atEnd() || peek() != ':')
    return error(pos_, "expected ':' after the object key but found " + describeHere());
  ++pos_;
  return Status::ok();
}

Status Parser::checkDuplicateKeys(const JsonValue &object) const {
  // Sorting pointers keeps this O(n log n): a hostile header with many keys must not
  // cost quadratic time.
  const std::vector<JsonMember> &members = object.members();
  std::vector<const JsonMember *> sorted;
  sorted.reserve(members.size());
  for (const JsonMember &member : members)
    sorted.push_back(&member);
  std::sort(sorted.begin(), sorted.end(), [](const JsonMember *a, const JsonMember *b) {
    return a->key != b->key ? a->key < b->key : a->keyOffset < b->keyOffset;
  });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->key == sorted[i - 1]->key) {
      std::string quoted;
      appendJsonString(quoted, sorted[i]->key);
      return error(sorted[i]->keyOffset, "duplicate key " + quoted + " in the object at byte " +
                                             std::to_string(object.offset()));
    }
  return Status::ok();
}

Status Parser::parseScalar(JsonValue &out) {
  size_t start = pos_;
  char c = peek();
  if (c == '"') {
    std::string s;
    DS_RETURN_IF_ERROR(parseString(s));
    out = JsonValue::makeString(std::move(s), start);
    return Status::ok();
  }
  if (c == '-' || (c >= '0' && c <= '9'))
    return parseNumber(out);
  if (c == 't')
    return parseLiteral("true", JsonValue::makeBool(true, start), out);
  if (c == 'f')
    return parseLiteral("false", JsonValue::makeBool(false, start), out);
  if (c == 'n')
    return parseLiteral("null", JsonValue::makeNull(start), out);
  return error(pos_, "expected a value but found " + describeHere());
}

Status Parser::parseLiteral(std::string_view word, JsonValue value, JsonValue &out) {
  if (text_.substr(pos_, word.size()) != word)
    return error(pos_, "invalid literal (expected '" + std::string(word) + "')");
  pos_ += word.size();
  out = std::move(value);
  return Status::ok();
}

Status Parser::parseHex4(uint32_t &out) {
  out = 0;
  for (int i = 0; i < 4; ++i, ++pos_) {
    if (atEnd())
      return error(pos_, "truncated \\u escape");
    char c = peek();
    uint32_t digit;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (c >= 'a' && c <= 'f')
      digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      digit = c - 'A' + 10;
    else
      return error(pos_, "expected a hex digit in the \\u escape but found " + describeHere());
    out = out * 16 + digit;
  }
  return Status::ok();
}

Status Parser::parseString(std::string &out) {
  size_t start = pos_;
  ++pos_; // the opening quote
  for (;;) {
    if (atEnd())
      return error(start, "unterminated string");
    unsigned char c = static_cast<unsigned char>(peek());
    if (c == '"') {
      ++pos_;
      return Status::ok();
    }
    if (c < 0x20)
      return error(pos_, "unescaped control character " + describeHere() + " in a string");
    if (c != '\\') {
      size_t length = utf8SequenceLength(text_, pos_);
      if (length == 0)
        return error(pos_, "invalid UTF-8 in a string");
      out.append(text_.data() + pos_, length);
      pos_ += length;
      continue;
    }
    size_t escapeStart = pos_;
    ++pos_;
    if (atEnd())
      return error(escapeStart, "unterminated escape sequence");
    char escape = peek();
    ++pos_;
    switch (escape) {
    case '"':
    case '\\':
    case '/':
      out += escape;
      break;
    case 'b':
      out += '\b';
      break;
    case 'f':
      out += '\f';
      break;
    case 'n':
      out += '\n';
      break;
    case 'r':
      out += '\r';
      break;
    case 't':
      out += '\t';
      break;
    case 'u': {
      uint32_t unit;
      DS_RETURN_IF_ERROR(parseHex4(unit));
      if (unit >= 0xdc00 && unit <= 0xdfff)
        return error(escapeStart, "lone low surrogate in a \\u escape");
      if (unit >= 0xd800 && unit <= 0xdbff) {
        // RFC 8259 §7: characters outside the BMP are a surrogate pair of escapes.
        if (text_.substr(pos_, 2) != "\\u")
          return error(escapeStart, "high surrogate not followed by a low surrogate");
        pos_ += 2;
        uint32_t low;
        DS_RETURN_IF_ERROR(parseHex4(low));
        if (low < 0xdc00 || low > 0xdfff)
          return error(escapeStart, "high surrogate not followed by a low surrogate");
        unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
      }
      appendUtf8(out, unit);
      break;
    }
    default:
      return error(escapeStart, "invalid escape sequence");
    }
  }
}

Status Parser::parseNumber(JsonValue &out) {
  size_t start = pos_;
  auto digits = [&] {
    size_t first = pos_;
    while (!atEnd() && peek() >= '0' && peek() <= '9')
      ++pos_;
    return pos_ - first;
  };
  if (peek() == '-')
    ++pos_;
  if (atEnd() || peek() < '0' || peek() > '9')
    return error(pos_, "expected a digit but found " + describeHere());
  if (peek() == '0') {
    ++pos_;
    if (!atEnd() && peek() >= '0' && peek() <= '9')
      return error(start, "leading zeros are not allowed in numbers");
  } else {
    digits();
  }
  bool isInteger = true;
  if (!atEnd() && peek() == '.') {
    isInteger = false;
    ++pos_;
    if (digits() == 0)
      return error(pos_, "expected a digit after the decimal point but found " + describeHere());
  }
  if (!atEnd() && (peek() == 'e' || peek() == 'E')) {
    isInteger = false;
    ++pos_;
    if (!atEnd() && (peek() == '+' || peek() == '-'))
      ++pos_;
    if (digits() == 0)
      return error(pos_, "expected a digit in the exponent but found " + describeHere());
  }
  const char *first = text_.data() + start;
  const char *last = text_.data() + pos_;
  // from_chars is locale-independent, unlike strtod.
  double value = 0.0;
  auto [doubleEnd, doubleError] = std::from_chars(first, last, value);
  if (doubleError != std::errc() || doubleEnd != last || !std::isfinite(value))
    return error(start, "number " + std::string(first, last) + " does not fit in a double");
  int64_t integer = 0;
  if (isInteger) {
    auto [intEnd, intError] = std::from_chars(first, last, integer);
    isInteger = intError == std::errc() && intEnd == last;
    if (!isInteger)
      integer = 0;
  }
  out = JsonValue::makeNumber(value, isInteger, integer, start);
  return Status::ok();
}

} // namespace

Expected<JsonValue> parseJson(std::string_view text, const JsonLimits &limits) {
  return Parser(text, limits).parse();
}

bool isValidUtf8(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    size_t length = utf8SequenceLength(text, pos);
    if (length == 0)
      return false;
    pos += length;
  }
  return true;
}

void appendJsonString(std::string &out, std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xf];
      } else {
        out += ch;
      }
    }
  }
  out += '"';
}

} // namespace ds::rt
