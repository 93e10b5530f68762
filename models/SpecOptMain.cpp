//===- SpecOptMain.cpp - ds-opt's main, with model specs as inputs --------===//
#include "models/SpecOptMain.h"

#include "models/ModelImport.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

LogicalResult ds::specAwareOptMain(int argc, char **argv, llvm::StringRef toolName,
                                   DialectRegistry &registry) {
  // Registered here rather than at namespace scope so that only the tool that calls
  // this main has them.
  static llvm::cl::opt<int64_t> batch(
      "batch", llvm::cl::desc("Batch size of the graph built from a .json model spec"),
      llvm::cl::init(1));
  static llvm::cl::opt<int64_t> seq(
      "seq", llvm::cl::desc("Sequence length of the graph built from a .json model spec"),
      llvm::cl::init(128));
  static llvm::cl::opt<std::string> activations(
      "activations",
      llvm::cl::desc("Activations of the graph built from a .json model spec: f32 or bf16"),
      llvm::cl::init("f32"));
  static llvm::cl::opt<std::string> params(
      "params",
      llvm::cl::desc("Parameters of the graph built from a .json model spec: f32 or bf16"),
      llvm::cl::init("f32"));
  auto [inputFilename, outputFilename] = registerAndParseCLIOptions(argc, argv, toolName, registry);
  if (!llvm::StringRef(inputFilename).ends_with(".json"))
    return MlirOptMain(argc, argv, inputFilename, outputFilename, registry);

  llvm::StringRef tool = llvm::sys::path::filename(argv[0]);
  std::string text;
  {
    MLIRContext context(registry);
    BuildOptions options;
    options.batch = batch;
    options.seq = seq;
    if (std::optional<std::string> bad = setElementTypes(
            options, activations, activations.getNumOccurrences() > 0, params)) {
      llvm::errs() << tool << ": error: " << *bad << "\n";
      return failure();
    }
    llvm::Expected<OwningOpRef<ModuleOp>> module = importModelSpec(context, inputFilename, options);
    if (!module) {
      llvm::errs() << tool << ": error: " << llvm::toString(module.takeError()) << "\n";
      return failure();
    }
    llvm::raw_string_ostream os(text);
    (*module)->print(os);
  }
  // The imported module goes through MlirOptMain as if it had been read from a file,
  // so every ds-opt option (pass pipelines, -verify-diagnostics, -o) applies unchanged.
  std::string errorMessage;
  std::unique_ptr<llvm::ToolOutputFile> output = openOutputFile(outputFilename, &errorMessage);
  if (!output) {
    llvm::errs() << tool << ": error: " << errorMessage << "\n";
    return failure();
  }
  if (failed(MlirOptMain(output->os(), llvm::MemoryBuffer::getMemBufferCopy(text, inputFilename),
                         registry, MlirOptMainConfig::createFromCLOptions())))
    return failure();
  output->keep();
  return success();
}
