//===- SpecJson.cpp - typed reads of spec keys with user-facing errors ----===//
#include "frontend/SpecJson.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdio>

using namespace ds;
using llvm::json::Value;

llvm::Error ds::specError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

std::string ds::formatNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

std::string ds::describeJsonValue(const Value &value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  switch (value.kind()) {
  case Value::Null:
    return "null";
  case Value::Boolean:
    os << "boolean " << (*value.getAsBoolean() ? "true" : "false");
    return text;
  case Value::Number:
    os << "number " << value;
    return text;
  case Value::String: {
    llvm::StringRef s = *value.getAsString();
    if (s.size() > 40)
      os << "a string of " << s.size() << " characters";
    else
      os << "string " << value;
    return text;
  }
  case Value::Array:
    os << "an array of " << value.getAsArray()->size() << " elements";
    return text;
  case Value::Object:
    return "an object";
  }
  return "a value";
}

bool KeyReader::hasValue(llvm::StringRef key) const {
  const Value *value = object.get(key);
  return value && value->kind() != Value::Null;
}

std::string KeyReader::quoted(llvm::StringRef key) const { return "`" + prefix + key.str() + "`"; }

void KeyReader::fail(const llvm::Twine &message) {
  if (!firstError)
    firstError = message.str();
}

llvm::Error KeyReader::takeError() {
  if (!firstError)
    return llvm::Error::success();
  llvm::Error error = specError(*firstError);
  firstError.reset();
  return error;
}

const Value *KeyReader::lookup(llvm::StringRef key, bool required) {
  const Value *value = object.get(key);
  if (!value && required)
    fail("missing required key " + quoted(key));
  return value;
}

void KeyReader::wrongType(llvm::StringRef key, llvm::StringRef expected, const Value &found) {
  fail(quoted(key) + " must be " + expected + ", got " + describeJsonValue(found));
}

int64_t KeyReader::requiredInt(llvm::StringRef key) {
  const Value *value = lookup(key, /*required=*/true);
  if (!value)
    return 0;
  // getAsInteger also accepts integral doubles (7168.0), which Python writers emit.
  if (std::optional<int64_t> n = value->getAsInteger())
    return *n;
  wrongType(key, "an integer", *value);
  return 0;
}

int64_t KeyReader::optionalInt(llvm::StringRef key, int64_t fallback) {
  if (!has(key))
    return fallback;
  return requiredInt(key);
}

std::optional<int64_t> KeyReader::requiredNullableInt(llvm::StringRef key) {
  const Value *value = lookup(key, /*required=*/true);
  if (!value || value->kind() == Value::Null)
    return std::nullopt;
  if (std::optional<int64_t> n = value->getAsInteger())
    return n;
  wrongType(key, "an integer or null", *value);
  return std::nullopt;
}

std::optional<int64_t> KeyReader::optionalNullableInt(llvm::StringRef key) {
  if (!has(key))
    return std::nullopt;
  return requiredNullableInt(key);
}

double KeyReader::optionalNumber(llvm::StringRef key, double fallback) {
  const Value *value = lookup(key, /*required=*/false);
  if (!value)
    return fallback;
  if (std::optional<double> n = value->getAsNumber())
    return *n;
  wrongType(key, "a number", *value);
  return fallback;
}

bool KeyReader::optionalBool(llvm::StringRef key, bool fallback) {
  const Value *value = lookup(key, /*required=*/false);
  if (!value)
    return fallback;
  if (std::optional<bool> b = value->getAsBoolean())
    return *b;
  wrongType(key, "true or false", *value);
  return fallback;
}

std::string KeyReader::optionalString(llvm::StringRef key, llvm::StringRef fallback) {
  const Value *value = lookup(key, /*required=*/false);
  if (!value)
    return fallback.str();
  if (std::optional<llvm::StringRef> s = value->getAsString())
    return s->str();
  wrongType(key, "a string", *value);
  return fallback.str();
}

const llvm::json::Object *KeyReader::optionalObject(llvm::StringRef key) {
  const Value *value = lookup(key, /*required=*/false);
  if (!value || value->kind() == Value::Null)
    return nullptr;
  if (const llvm::json::Object *nested = value->getAsObject())
    return nested;
  wrongType(key, "an object or null", *value);
  return nullptr;
}
