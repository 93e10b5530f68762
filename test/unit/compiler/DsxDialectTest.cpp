//===- DsxDialectTest.cpp - dsx round trip and verifier messages ----------===//
//
// ds-opt does not register the dsx dialect, so its textual form is tested here: a program
// prints and re-parses to the same text, and each verifier rule rejects its case with a
// message naming the problem.
//
//===----------------------------------------------------------------------===//
#include "dialects/dsx/DsxOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <string>

namespace {

constexpr const char *kProgram = R"mlir(
dsx.program @train_step attributes {arena_bytes = 384 : i64, persistent_bytes = 192 : i64} {
  %0 = dsx.buffer input "tokens" at 0 : memref<2x4xi32>
  %1 = dsx.buffer param "w" at 64 {init = "normal"} : memref<4xf32>
  %2 = dsx.buffer state "exp_avg.w" at 128 : memref<4xf32>
  %3 = dsx.buffer temporary at 192 : memref<4xf32>
  dsx.launch "fill"() -> (%3) attrs {value = 0.000000e+00 : f64} : () -> memref<4xf32>
  %4 = dsx.buffer temporary at 256 : memref<4xbf16>
  dsx.launch "quantize"(%1) -> (%4) attrs {block = array<i64: 1, 4>, flag = true, mode = "x"} : (memref<4xf32>) -> memref<4xbf16>
  %5 = dsx.buffer output "loss" at 320 : memref<f32>
  dsx.launch "scale"(%3) -> (%5) attrs {factor = 5.000000e-01 : f64} : (memref<4xf32>) -> memref<f32>
  dsx.update %3 to %2 : memref<4xf32>
}
)mlir";

class DsxDialectTest : public ::testing::Test {
protected:
  DsxDialectTest() { context.loadDialect<ds::dsx::DsxDialect>(); }

  /// The first error parsing and verifying `source` produces, or "" when it is valid.
  std::string firstError(const std::string &source) {
    std::string message;
    mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diag) {
      if (message.empty())
        message = diag.str();
      return mlir::success();
    });
    auto module = mlir::parseSourceString<mlir::ModuleOp>(source, &context);
    if (!module && message.empty())
      message = "parse failed without a diagnostic";
    return message;
  }

  std::string print(mlir::Operation *op) {
    std::string text;
    llvm::raw_string_ostream os(text);
    op->print(os);
    return text;
  }

  mlir::MLIRContext context;
};

TEST_F(DsxDialectTest, RoundTripsThroughItsTextualForm) {
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kProgram, &context);
  ASSERT_TRUE(module);
  std::string printed = print(*module);
  EXPECT_NE(printed.find("dsx.buffer param \"w\" at 64 {init = \"normal\"} : memref<4xf32>"),
            std::string::npos)
      << printed;
  EXPECT_NE(printed.find("dsx.update %3 to %2 : memref<4xf32>"), std::string::npos) << printed;
  auto reparsed = mlir::parseSourceString<mlir::ModuleOp>(printed, &context);
  ASSERT_TRUE(reparsed);
  EXPECT_EQ(print(*reparsed), printed);
}

/// kProgram with `from` replaced by `to` (which must occur once).
std::string edit(const std::string &from, const std::string &to) {
  std::string source = kProgram;
  size_t at = source.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(source.find(from, at + 1), std::string::npos) << from;
  return source.replace(at, from.size(), to);
}

struct InvalidCase {
  const char *what;
  std::string source;
  const char *message;
};

TEST_F(DsxDialectTest, VerifierRejectsEachBrokenRule) {
  const InvalidCase cases[] = {
      {"unnamed param", edit("param \"w\" at 64", "param at 64"),
       "a param buffer needs a name: the runtime binds it by name"},
      {"param without init", edit(" {init = \"normal\"}", ""),
       "param 'w' needs an init (normal, ones or zeros)"},
      {"unknown init", edit("init = \"normal\"", "init = \"uniform\""),
       "init must be \"normal\", \"ones\" or \"zeros\", not \"uniform\""},
      {"init on state", edit("state \"exp_avg.w\" at 128", "state \"exp_avg.w\" at 128 {init = \"zeros\"}"),
       "only param buffers take an init, not a state buffer"},
      {"dynamic shape", "dsx.program @p {\n %0 = dsx.buffer temporary : memref<?xf32>\n}",
       "buffer type 'memref<?xf32>' must have a static shape"},
      {"unstorable dtype", "dsx.program @p {\n %0 = dsx.buffer temporary : memref<4xf16>\n}",
       "must be memref of 32-bit float or bfloat16 type"},
      {"duplicate name", edit("state \"exp_avg.w\"", "param \"w\""),
       "another param buffer is named 'w'"},
      {"launch writes state",
       edit("dsx.launch \"fill\"() -> (%3)", "dsx.launch \"fill\"() -> (%2)"),
       "output #0 writes the state buffer 'exp_avg.w'; persistent buffers change only through "
       "dsx.update"},
      {"empty kernel", edit("dsx.launch \"fill\"", "dsx.launch \"\""),
       "kernel name must not be empty"},
      {"nested attribute", edit("mode = \"x\"", "mode = {a = 1}"),
       "kernel attribute 'mode' is {a = 1 : i64}; a plan stores only integers, booleans, "
       "floats, strings and i64 arrays"},
      {"update of a temporary", edit("dsx.update %3 to %2", "dsx.update %2 to %3"),
       "target must be a param, buffer or state buffer, not a temporary buffer"},
      {"launch after update",
       edit("  dsx.update %3 to %2 : memref<4xf32>\n",
            "  dsx.update %3 to %2 : memref<4xf32>\n  dsx.launch \"fill\"() -> (%3) attrs {} : "
            "() -> memref<4xf32>\n"),
       "follows a dsx.update; updates apply after every launch of the step"},
      {"offset outside region", edit("output \"loss\" at 320", "output \"loss\" at 384"),
       "bytes [384, 388) lie outside its region [192, 384)"},
      {"missing offset", edit("temporary at 256", "temporary"),
       "has no offset in a planned program"},
      {"half a plan", edit("arena_bytes = 384 : i64, ", ""),
       "arena_bytes and persistent_bytes are set together, by ds-plan-memory"},
  };
  for (const InvalidCase &invalid : cases) {
    SCOPED_TRACE(invalid.what);
    std::string message = firstError(invalid.source);
    EXPECT_NE(message.find(invalid.message), std::string::npos) << "got: " << message;
  }
}

} // namespace
