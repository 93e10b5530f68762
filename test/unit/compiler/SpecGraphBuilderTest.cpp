// GraphBuilder, the frontend API model builders declare @forward's signature with:
// arguments and results carry the ds.* attributes of docs/ir-conventions.md, and a
// name bound twice is an error rather than a module the runtime cannot bind.
#include "frontend/GraphBuilder.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>

using namespace ds;

TEST(SpecGraphBuilder, DeclaresArgumentsAndResultsWithTheirAttributes) {
  mlir::MLIRContext context;
  GraphBuilder graph(context);
  mlir::Value tokens =
      graph.addInput("tokens", mlir::RankedTensorType::get({2, 5}, graph.builder().getI32Type()));
  mlir::Value weight = graph.addParam("model.norm.weight", {8}, ParamInit::Ones);
  mlir::Value bias = graph.addBuffer("gate.e_score_correction_bias", {4}, ParamInit::Zeros);
  graph.addOutput("weight", weight);
  graph.addOutput("bias", bias);
  graph.addOutput("tokens", tokens);
  llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> module = graph.finish();
  ASSERT_TRUE(bool(module)) << llvm::toString(module.takeError());
  ASSERT_TRUE(mlir::succeeded(mlir::verify(**module)));
  auto forward = (*module)->lookupSymbol<mlir::func::FuncOp>("forward");
  ASSERT_TRUE(forward);
  ASSERT_EQ(forward.getNumArguments(), 3u);
  ASSERT_EQ(forward.getNumResults(), 3u);
  EXPECT_EQ(forward.getArgAttrOfType<mlir::StringAttr>(0, "ds.input").getValue(), "tokens");
  EXPECT_EQ(forward.getArgAttrOfType<mlir::StringAttr>(1, "ds.param").getValue(),
            "model.norm.weight");
  EXPECT_EQ(forward.getArgAttrOfType<mlir::StringAttr>(1, "ds.init").getValue(), "ones");
  EXPECT_EQ(forward.getArgAttrOfType<mlir::StringAttr>(2, "ds.buffer").getValue(),
            "gate.e_score_correction_bias");
  EXPECT_EQ(forward.getArgAttrOfType<mlir::StringAttr>(2, "ds.init").getValue(), "zeros");
  EXPECT_EQ(forward.getResultAttrOfType<mlir::StringAttr>(1, "ds.output").getValue(), "bias");
  EXPECT_EQ(forward.getFunctionType().getInput(1),
            mlir::RankedTensorType::get({8}, graph.builder().getF32Type()));
}

TEST(SpecGraphBuilder, DuplicateNamesAreAnError) {
  mlir::MLIRContext context;
  GraphBuilder graph(context);
  graph.addParam("lm_head.weight", {4, 2}, ParamInit::Normal);
  graph.addParam("lm_head.weight", {4, 2}, ParamInit::Normal);
  llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> module = graph.finish();
  ASSERT_FALSE(bool(module));
  EXPECT_EQ(llvm::toString(module.takeError()),
            "cannot build @forward: two arguments are named \"lm_head.weight\"");

  GraphBuilder results(context);
  mlir::Value w = results.addParam("w", {1}, ParamInit::Zeros);
  results.addOutput("loss", w);
  results.addOutput("loss", w);
  llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> twice = results.finish();
  ASSERT_FALSE(bool(twice));
  EXPECT_EQ(llvm::toString(twice.takeError()),
            "cannot build @forward: two results are named \"loss\"");
}
