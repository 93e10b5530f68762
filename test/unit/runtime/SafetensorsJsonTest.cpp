// The strict JSON reader under runtime/io (used by the safetensors header parser).
#include "runtime/io/Json.h"

#include <gtest/gtest.h>

using namespace ds::rt;

namespace {

/// Parses `text`, expecting failure, and returns the error message.
std::string errorOf(std::string_view text, const JsonLimits &limits = {}) {
  Expected<JsonValue> value = parseJson(text, limits);
  EXPECT_FALSE(value.isOk()) << "accepted: " << text;
  return value.isOk() ? std::string() : value.status().message();
}

TEST(SafetensorsJson, ParsesEveryKind) {
  Expected<JsonValue> value = parseJson(
      R"( {"a": [1, -2.5, 3e2, true, false, null], "b": {"c": "d\n\u00e9\ud83d\ude00"}} )");
  ASSERT_TRUE(value.isOk()) << value.status().message();
  ASSERT_TRUE(value->isObject());
  ASSERT_EQ(value->members().size(), 2u);
  const JsonValue *a = value->find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->elements().size(), 6u);
  EXPECT_TRUE(a->elements()[0].isInteger());
  EXPECT_EQ(a->elements()[0].asInteger(), 1);
  EXPECT_FALSE(a->elements()[1].isInteger());
  EXPECT_DOUBLE_EQ(a->elements()[1].asNumber(), -2.5);
  EXPECT_FALSE(a->elements()[2].isInteger()); // an exponent makes it a double
  EXPECT_DOUBLE_EQ(a->elements()[2].asNumber(), 300.0);
  EXPECT_TRUE(a->elements()[3].asBool());
  EXPECT_FALSE(a->elements()[4].asBool());
  EXPECT_TRUE(a->elements()[5].isNull());
  EXPECT_EQ(a->offset(), 7u);
  const JsonValue *c = value->find("b")->find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->asString(), "d\n\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(SafetensorsJson, IntegersKeepFullInt64Precision) {
  Expected<JsonValue> value = parseJson("[9223372036854775807, -9223372036854775808, "
                                        "9223372036854775808]");
  ASSERT_TRUE(value.isOk());
  EXPECT_EQ(value->elements()[0].asInteger(), INT64_MAX);
  EXPECT_EQ(value->elements()[1].asInteger(), INT64_MIN);
  EXPECT_FALSE(value->elements()[2].isInteger()); // past int64: only a double
}

TEST(SafetensorsJson, RejectsWhatRfc8259Forbids) {
  EXPECT_NE(errorOf("").find("at byte 0: expected a value"), std::string::npos);
  EXPECT_NE(errorOf("[1,]").find("at byte 3: expected a value but found ']'"), std::string::npos);
  EXPECT_NE(errorOf("{\"a\":1,}").find("at byte 7: expected a string key"), std::string::npos);
  EXPECT_NE(errorOf("{\"a\" 1}").find("expected ':'"), std::string::npos);
  EXPECT_NE(errorOf("[1 2]").find("at byte 3: expected ',' or ']'"), std::string::npos);
  EXPECT_NE(errorOf("01").find("leading zeros"), std::string::npos);
  EXPECT_NE(errorOf("1.").find("after the decimal point"), std::string::npos);
  EXPECT_NE(errorOf("1e").find("exponent"), std::string::npos);
  EXPECT_NE(errorOf("-").find("expected a digit"), std::string::npos);
  EXPECT_NE(errorOf("NaN").find("expected a value"), std::string::npos);
  EXPECT_NE(errorOf("1e999").find("does not fit in a double"), std::string::npos);
  EXPECT_NE(errorOf("tru").find("invalid literal"), std::string::npos);
  EXPECT_NE(errorOf("// c\n1").find("at byte 0"), std::string::npos);
  EXPECT_NE(errorOf("1 2").find("at byte 2: unexpected '2' after the JSON value"),
            std::string::npos);
  EXPECT_NE(errorOf("\"abc").find("at byte 0: unterminated string"), std::string::npos);
  EXPECT_NE(errorOf("\"a\tb\"").find("unescaped control character"), std::string::npos);
  EXPECT_NE(errorOf("\"\\x\"").find("invalid escape"), std::string::npos);
  EXPECT_NE(errorOf("\"\\u12G4\"").find("hex digit"), std::string::npos);
  EXPECT_NE(errorOf("\"\\ud800\"").find("high surrogate"), std::string::npos);
  EXPECT_NE(errorOf("\"\\udc00\"").find("lone low surrogate"), std::string::npos);
  EXPECT_NE(errorOf("\"\xff\"").find("at byte 1: invalid UTF-8"), std::string::npos);
  EXPECT_NE(errorOf("\"\xc0\xaf\"").find("invalid UTF-8"), std::string::npos);     // overlong
  EXPECT_NE(errorOf("\"\xed\xa0\x80\"").find("invalid UTF-8"), std::string::npos); // surrogate
  EXPECT_NE(errorOf("\"\xe2\x82\"").find("invalid UTF-8"), std::string::npos);     // truncated
  EXPECT_NE(errorOf(std::string("[1,\0]", 5)).find("byte 0x00"), std::string::npos);
}

TEST(SafetensorsJson, RejectsDuplicateKeysUnlessAllowed) {
  std::string message = errorOf(R"({"x": 1, "y": 2, "x": 3})");
  EXPECT_NE(message.find("at byte 17: duplicate key \"x\" in the object at byte 0"),
            std::string::npos)
      << message;
  JsonLimits lenient;
  lenient.allowDuplicateKeys = true;
  EXPECT_TRUE(parseJson(R"({"x": 1, "x": 3})", lenient).isOk());
}

TEST(SafetensorsJson, BoundsDepthAndSize) {
  JsonLimits limits;
  limits.maxDepth = 4;
  EXPECT_TRUE(parseJson("[[[[1]]]]", limits).isOk());
  EXPECT_NE(errorOf("[[[[[1]]]]]", limits).find("at byte 4: nesting deeper than the limit of 4"),
            std::string::npos);
  limits.maxBytes = 8;
  EXPECT_NE(errorOf("[1, 2, 3, 4]", limits).find("more than the limit of 8"), std::string::npos);
  limits = JsonLimits();
  limits.maxValues = 3;
  EXPECT_TRUE(parseJson("[1, 2]", limits).isOk());
  EXPECT_NE(errorOf("[1, 2, 3]", limits).find("at byte 7: more than the limit of 3 values"),
            std::string::npos);
  // Deep nesting fails fast and without recursion, however deep the input goes.
  std::string deep(1 << 20, '[');
  EXPECT_NE(errorOf(deep).find("nesting deeper than the limit of 64"), std::string::npos);
}

TEST(SafetensorsJson, AppendJsonStringRoundTrips) {
  std::string text = "q\"b\\n\n\x01\x1f t\xc3\xa9";
  std::string encoded;
  appendJsonString(encoded, text);
  EXPECT_EQ(encoded, "\"q\\\"b\\\\n\\n\\u0001\\u001f t\xc3\xa9\"");
  Expected<JsonValue> decoded = parseJson(encoded);
  ASSERT_TRUE(decoded.isOk()) << decoded.status().message();
  EXPECT_EQ(decoded->asString(), text);
}

TEST(SafetensorsJson, ValidatesUtf8) {
  EXPECT_TRUE(isValidUtf8("plain \xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(isValidUtf8("\xf4\x90\x80\x80")); // past U+10FFFF
  EXPECT_FALSE(isValidUtf8("\x80"));
}

} // namespace
