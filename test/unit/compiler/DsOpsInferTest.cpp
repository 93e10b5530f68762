// C++ builders of the ds ops may leave the result types out: the ops infer them from
// their operands and attributes (InferTypeOpAdaptor). These tests build ops that way and
// check the types that come out, and that inference and verification report bad operands
// as located diagnostics rather than crashing.
#include "dialects/ds/DsDialect.h"
#include "dialects/ds/DsOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>

#include <string>

using namespace mlir;

namespace {

class DsOpsInferTest : public ::testing::Test {
protected:
  DsOpsInferTest() : builder(&context), loc(UnknownLoc::get(&context)) {
    context.loadDialect<ds::DsDialect, func::FuncDialect>();
    module = ModuleOp::create(loc);
  }

  RankedTensorType f32(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, builder.getF32Type());
  }
  RankedTensorType bf16(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, builder.getBF16Type());
  }
  RankedTensorType i32(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, builder.getI32Type());
  }

  /// A fresh function with arguments of `types`; the builder inserts into its body.
  SmallVector<Value> arguments(ArrayRef<Type> types) {
    builder.setInsertionPointToEnd(module->getBody());
    auto fn = builder.create<func::FuncOp>(loc, "f" + std::to_string(functions++),
                                           builder.getFunctionType(types, {}));
    Block *entry = fn.addEntryBlock();
    builder.setInsertionPointToStart(entry);
    return SmallVector<Value>(entry->getArguments());
  }

  /// Ends the function being built and verifies the module ("" when it verifies).
  std::string verifyFunction() {
    builder.create<func::ReturnOp>(loc);
    return verifyMessage(*module);
  }

  /// Verifies `op`, returning the first error message ("" when it verifies).
  std::string verifyMessage(Operation *op) {
    std::string message;
    ScopedDiagnosticHandler capture(&context, [&](Diagnostic &diag) {
      if (message.empty())
        message = diag.str();
      return success();
    });
    if (succeeded(verify(op)))
      return "";
    return message;
  }

  MLIRContext context;
  OpBuilder builder;
  Location loc;
  OwningOpRef<ModuleOp> module;
  int functions = 0;
};

TEST_F(DsOpsInferTest, DensePrimitives) {
  SmallVector<Value> a =
      arguments({f32({2, 4, 16}), f32({8, 16}), f32({16}), i32({2, 4}), f32({32, 16}),
                 f32({2, 4, 2, 6}), f32({2, 4, 2, 4}), f32({2, 4, 32})});
  Value x = a[0], w = a[1], norm = a[2], ids = a[3], table = a[4], qk = a[5], v = a[6],
        logits = a[7];

  auto linear = builder.create<ds::LinearOp>(loc, x, w);
  EXPECT_EQ(linear.getType(), f32({2, 4, 8}));
  auto rmsNorm = builder.create<ds::RmsNormOp>(loc, x, norm, llvm::APFloat(1e-6));
  EXPECT_EQ(rmsNorm.getType(), f32({2, 4, 16}));
  auto embedding = builder.create<ds::EmbeddingOp>(loc, ids, table);
  EXPECT_EQ(embedding.getType(), f32({2, 4, 16}));
  auto attention = builder.create<ds::AttentionOp>(loc, qk, qk, v, llvm::APFloat(0.5));
  EXPECT_EQ(attention.getType(), f32({2, 4, 2, 4}));
  auto swiglu = builder.create<ds::SwigluOp>(loc, linear);
  EXPECT_EQ(swiglu.getType(), f32({2, 4, 4}));
  auto sum = builder.create<ds::AddOp>(loc, x, rmsNorm);
  EXPECT_EQ(sum.getType(), f32({2, 4, 16}));
  auto scaled = builder.create<ds::ScaleOp>(loc, sum, llvm::APFloat(2.0));
  EXPECT_EQ(scaled.getType(), f32({2, 4, 16}));
  auto loss = builder.create<ds::CrossEntropyOp>(loc, logits, ids);
  EXPECT_EQ(loss.getType(), f32({}));
  EXPECT_EQ(verifyFunction(), "");
}

TEST_F(DsOpsInferTest, RoutingAndExperts) {
  SmallVector<Value> a =
      arguments({f32({8, 8}), f32({8}), f32({8, 16}), f32({8, 8, 16}), f32({8, 16, 4})});
  Value logits = a[0], bias = a[1], x = a[2], gateUp = a[3], down = a[4];

  auto router = builder.create<ds::RouterOp>(loc, logits, bias, /*top_k=*/2,
                                             /*n_group=*/4, /*topk_group=*/2, "sigmoid",
                                             "top2_sum", true, llvm::APFloat(2.5));
  EXPECT_EQ(router.getIndices().getType(), i32({8, 2}));
  EXPECT_EQ(router.getWeights().getType(), f32({8, 2}));
  auto dispatch =
      builder.create<ds::DispatchOp>(loc, x, router.getIndices(), /*num_experts=*/8);
  EXPECT_EQ(dispatch.getPermuted().getType(), f32({16, 16}));
  EXPECT_EQ(dispatch.getCounts().getType(), i32({8}));
  EXPECT_EQ(dispatch.getPositions().getType(), i32({8, 2}));
  auto up = builder.create<ds::GroupedLinearOp>(loc, dispatch.getPermuted(), gateUp,
                                                dispatch.getCounts());
  EXPECT_EQ(up.getType(), f32({16, 8}));
  auto act = builder.create<ds::SwigluOp>(loc, up);
  auto out = builder.create<ds::GroupedLinearOp>(loc, act, down, dispatch.getCounts());
  auto combined = builder.create<ds::CombineOp>(loc, out, dispatch.getPositions(),
                                                router.getWeights());
  EXPECT_EQ(combined.getType(), f32({8, 16}));
  auto wgrad = builder.create<ds::GroupedLinearWgradOp>(loc, up, dispatch.getPermuted(),
                                                        dispatch.getCounts());
  EXPECT_EQ(wgrad.getType(), f32({8, 8, 16}));
  EXPECT_EQ(verifyFunction(), "");
}

TEST_F(DsOpsInferTest, QuantizeSliceConcat) {
  SmallVector<Value> a = arguments({bf16({200, 300}), i32({2, 5}), f32({2, 4, 16})});
  auto quantize = builder.create<ds::QuantizeOp>(loc, a[0], ArrayRef<int64_t>{128, 128});
  EXPECT_EQ(quantize.getValues().getType(),
            RankedTensorType::get({200, 300}, builder.getType<Float8E4M3FNType>()));
  // A partial block at the edge gets its own scale: ceil(200/128) x ceil(300/128).
  EXPECT_EQ(quantize.getScales().getType(), f32({2, 3}));
  auto slice = builder.create<ds::SliceOp>(loc, a[1], /*dim=*/1, /*offset=*/1,
                                           /*size=*/4);
  EXPECT_EQ(slice.getType(), i32({2, 4}));
  auto concat = builder.create<ds::ConcatOp>(loc, ValueRange{a[2], a[2]}, /*dim=*/2);
  EXPECT_EQ(concat.getType(), f32({2, 4, 32}));
  EXPECT_EQ(verifyFunction(), "");
}

TEST_F(DsOpsInferTest, GradientsTakeTheForwardTypes) {
  SmallVector<Value> a = arguments({f32({2, 4, 8}), f32({8, 16}), f32({2, 4, 16}),
                                    f32({8, 16}), bf16({8, 16}), f32({})});
  Value dy = a[0], w = a[1], x = a[2], param = a[3], moment = a[4], scalar = a[5];
  auto dgrad = builder.create<ds::LinearDgradOp>(loc, dy, w);
  EXPECT_EQ(dgrad.getType(), x.getType());
  auto wgrad = builder.create<ds::LinearWgradOp>(loc, dy, x);
  EXPECT_EQ(wgrad.getType(), w.getType());
  auto adamw = builder.create<ds::AdamwOp>(
      loc, param, wgrad, moment, moment, scalar, scalar, scalar, llvm::APFloat(0.9),
      llvm::APFloat(0.95), llvm::APFloat(1e-8), llvm::APFloat(0.1), llvm::APFloat(1.0));
  // BF16 moments stay BF16 next to the FP32 master weight.
  EXPECT_EQ(adamw.getNewParam().getType(), f32({8, 16}));
  EXPECT_EQ(adamw.getNewExpAvg().getType(), bf16({8, 16}));
  auto norm = builder.create<ds::GradNormOp>(loc, ValueRange{wgrad, dgrad});
  EXPECT_EQ(norm.getType(), f32({}));
  EXPECT_EQ(verifyFunction(), "");
}

TEST_F(DsOpsInferTest, MoeBalanceLossResultFollowsAlpha) {
  SmallVector<Value> a = arguments(
      {f32({2, 4, 16}), f32({8, 16}), f32({8}), f32({8, 8, 16}), f32({8, 16, 4})});
  auto build = [&](double alpha) {
    return builder.create<ds::MoeOp>(loc, a[0], a[1], a[2], a[3], a[4], Value(), Value(),
                                     /*top_k=*/2, /*n_group=*/4, /*topk_group=*/2,
                                     "sigmoid", "top2_sum", true, llvm::APFloat(2.5),
                                     llvm::APFloat(alpha), /*placement=*/nullptr);
  };
  ds::MoeOp withoutLoss = build(0.0);
  EXPECT_EQ(withoutLoss->getNumResults(), 2u);
  EXPECT_EQ(withoutLoss.getExpertCounts().getType(), i32({8}));
  ds::MoeOp withLoss = build(1e-4);
  ASSERT_EQ(withLoss->getNumResults(), 3u);
  EXPECT_EQ(withLoss.getBalanceLoss().getType(), f32({}));
  EXPECT_EQ(withLoss.getResult().getType(), f32({2, 4, 16}));
  EXPECT_EQ(verifyFunction(), "");
}

// Inference only needs ranks, so a weight of the wrong size still builds; the verifier
// then names the mismatch.
TEST_F(DsOpsInferTest, BuilderLeavesSizeMismatchToTheVerifier) {
  SmallVector<Value> a = arguments({f32({2, 4, 32}), f32({16, 64})});
  auto linear = builder.create<ds::LinearOp>(loc, a[0], a[1]);
  EXPECT_EQ(linear.getType(), f32({2, 4, 16}));
  EXPECT_EQ(verifyMessage(linear),
            "'ds.linear' op weight dimension 1 (in features) is 64 but the last "
            "dimension of input is 32");
}

TEST_F(DsOpsInferTest, InferenceFailureIsLocated) {
  SmallVector<Value> a = arguments({f32({2, 4, 32}), f32({64})});
  Location at = FileLineColLoc::get(&context, "graph.mlir", 7, 3);
  std::string message;
  {
    ScopedDiagnosticHandler capture(&context, [&](Diagnostic &diag) {
      message = diag.str();
      EXPECT_EQ(diag.getLocation(), at);
      return success();
    });
    SmallVector<Type> types;
    EXPECT_TRUE(failed(ds::LinearOp::inferReturnTypes(
        &context, at, ds::LinearOp::Adaptor(ValueRange{a[0], a[1]}), types)));
  }
  EXPECT_EQ(message, "'ds.linear' op weight must have rank 2 ([N, K]) but has rank 1");

  // Without a location inference fails quietly.
  bool reported = false;
  ScopedDiagnosticHandler capture(&context, [&](Diagnostic &) {
    reported = true;
    return success();
  });
  SmallVector<Type> types;
  EXPECT_TRUE(failed(ds::LinearOp::inferReturnTypes(
      &context, std::nullopt, ds::LinearOp::Adaptor(ValueRange{a[0], a[1]}), types)));
  EXPECT_FALSE(reported);
}

// Builders can hand inference what the parser never would: unranked or missing operands.
TEST_F(DsOpsInferTest, InferenceRejectsUnrankedAndMissingOperands) {
  auto unranked = UnrankedTensorType::get(builder.getF32Type());
  SmallVector<Value> a = arguments({unranked, f32({8, 16})});
  std::string message;
  ScopedDiagnosticHandler capture(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  SmallVector<Type> types;
  EXPECT_TRUE(failed(ds::LinearOp::inferReturnTypes(
      &context, loc, ds::LinearOp::Adaptor(ValueRange{a[0], a[1]}), types)));
  EXPECT_EQ(message,
            "'ds.linear' op input must be a ranked tensor but is 'tensor<*xf32>'");
  EXPECT_TRUE(failed(ds::LinearOp::inferReturnTypes(
      &context, loc, ds::LinearOp::Adaptor(ValueRange{a[1], Value()}), types)));
  EXPECT_EQ(message, "'ds.linear' op operand weight is missing");
  EXPECT_TRUE(types.empty());
}

} // namespace
