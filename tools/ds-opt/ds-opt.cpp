//===- ds-opt.cpp - mlir-opt-style driver for ds --------------------------===//
//
// Parses .mlir files, runs ds passes and prints the result, like mlir-opt.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsDialect.h"
#include "dialects/ds/DsInterfaces.h"
#include "dialects/dsx/DsxDialect.h"
#include "models/SpecOptMain.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<ds::DsDialect, ds::dsx::DsxDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect,
                  mlir::tensor::TensorDialect>();
  ds::registerDsInterfaceModels(registry);
  mlir::registerTransformsPasses();
  ds::registerAllDsPasses();
  return mlir::asMainReturnCode(
      ds::specAwareOptMain(argc, argv, "ds optimizer driver\n", registry));
}
