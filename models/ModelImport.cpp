//===- ModelImport.cpp - a spec file to a verified forward module ---------===//
#include "models/ModelImport.h"

#include "frontend/SpecJson.h"
#include "frontend/SpecParser.h"
#include "models/deepseek/DeepSeekBuilder.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

using namespace ds;
using namespace mlir;

llvm::Expected<OwningOpRef<ModuleOp>> ds::buildModel(MLIRContext &context, const ModelSpec &spec,
                                                     const BuildOptions &options) {
  if (spec.modelType != "deepseek_v3" && spec.modelType != "deepseek_v2")
    return specError("no model builder for model_type \"" + spec.modelType + "\"");
  llvm::Expected<OwningOpRef<ModuleOp>> module = buildDeepSeekModel(context, spec, options);
  if (!module)
    return module.takeError();
  // A builder bug must surface as a message, not as a module that later passes choke on.
  std::string diagnostics;
  {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      diagnostics += "\n  " + diag.str();
      return success();
    });
    if (succeeded(verify(**module)))
      return module;
  }
  return specError("the " + spec.modelType + " graph does not verify:" + diagnostics);
}

llvm::Expected<OwningOpRef<ModuleOp>>
ds::importModelSpec(MLIRContext &context, llvm::StringRef path, const BuildOptions &options) {
  llvm::Expected<ModelSpec> spec = loadModelSpec(path);
  if (!spec)
    return spec.takeError();
  return buildModel(context, *spec, options);
}
