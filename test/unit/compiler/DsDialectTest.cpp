// The ds dialect loads and its ops parse through the C++ API as well as through ds-opt.
#include "dialects/ds/DsDialect.h"
#include "dialects/ds/DsOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

TEST(DsDialect, ParsesAndCountsOps) {
  mlir::MLIRContext context;
  context.loadDialect<ds::DsDialect, mlir::func::FuncDialect>();
  const char *source = R"mlir(
    func.func @f(%x: tensor<2x4x8xf32>, %w: tensor<8xf32>) -> tensor<2x4x8xf32> {
      %y = ds.rms_norm %x, %w {eps = 1.0e-06 : f64} : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
      return %y : tensor<2x4x8xf32>
    })mlir";
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(source, &context);
  ASSERT_TRUE(module);
  int norms = 0;
  module->walk([&](ds::RmsNormOp) { ++norms; });
  EXPECT_EQ(norms, 1);
}
