//===- GraphBuilder.cpp - declares @forward's arguments and results -------===//
#include "frontend/GraphBuilder.h"

#include "frontend/SpecJson.h"

using namespace ds;
using namespace mlir;

llvm::StringRef ds::paramInitName(ParamInit init) {
  switch (init) {
  case ParamInit::Normal:
    return "normal";
  case ParamInit::Ones:
    return "ones";
  case ParamInit::Zeros:
    return "zeros";
  }
  return "normal";
}

GraphBuilder::GraphBuilder(MLIRContext &context, llvm::StringRef functionName)
    : opBuilder(&context), currentLocation(UnknownLoc::get(&context)) {
  context.getOrLoadDialect<func::FuncDialect>();
  moduleOp = ModuleOp::create(currentLocation);
  opBuilder.setInsertionPointToEnd(moduleOp->getBody());
  function = func::FuncOp::create(opBuilder, currentLocation, functionName,
                                  opBuilder.getFunctionType({}, {}));
  Block *entry = function.addEntryBlock();
  opBuilder.setInsertionPointToEnd(entry);
}

RankedTensorType GraphBuilder::f32Tensor(llvm::ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, opBuilder.getF32Type());
}

Value GraphBuilder::addArgument(Type type, NamedAttrList attrs, llvm::StringRef name) {
  if (!argumentNames.try_emplace(name, argumentAttrs.size()).second && duplicate.empty())
    duplicate = ("two arguments are named \"" + name + "\"").str();
  argumentAttrs.push_back(attrs.getDictionary(context()));
  return function.getBody().front().addArgument(type, currentLocation);
}

Value GraphBuilder::addInput(llvm::StringRef name, RankedTensorType type) {
  NamedAttrList attrs;
  attrs.append("ds.input", opBuilder.getStringAttr(name));
  return addArgument(type, attrs, name);
}

Value GraphBuilder::addParam(llvm::StringRef name, llvm::ArrayRef<int64_t> shape, ParamInit init,
                             Type element) {
  NamedAttrList attrs;
  attrs.append("ds.param", opBuilder.getStringAttr(name));
  attrs.append("ds.init", opBuilder.getStringAttr(paramInitName(init)));
  Type type = element ? RankedTensorType::get(shape, element) : f32Tensor(shape);
  return addArgument(type, attrs, name);
}

Value GraphBuilder::addBuffer(llvm::StringRef name, llvm::ArrayRef<int64_t> shape, ParamInit init) {
  NamedAttrList attrs;
  attrs.append("ds.buffer", opBuilder.getStringAttr(name));
  attrs.append("ds.init", opBuilder.getStringAttr(paramInitName(init)));
  return addArgument(f32Tensor(shape), attrs, name);
}

void GraphBuilder::addOutput(llvm::StringRef name, Value value) {
  if (!resultNames.try_emplace(name, results.size()).second && duplicate.empty())
    duplicate = ("two results are named \"" + name + "\"").str();
  results.push_back(value);
  resultAttrs.push_back(opBuilder.getDictionaryAttr(
      opBuilder.getNamedAttr("ds.output", opBuilder.getStringAttr(name))));
}

llvm::Expected<OwningOpRef<ModuleOp>> GraphBuilder::finish() {
  if (!duplicate.empty())
    return specError("cannot build @" + function.getName() + ": " + duplicate);
  Block &entry = function.getBody().front();
  opBuilder.setInsertionPointToEnd(&entry);
  func::ReturnOp::create(opBuilder, currentLocation, results);
  llvm::SmallVector<Type> resultTypes;
  for (Value result : results)
    resultTypes.push_back(result.getType());
  function.setFunctionType(opBuilder.getFunctionType(entry.getArgumentTypes(), resultTypes));
  function.setAllArgAttrs(argumentAttrs);
  function.setAllResultAttrs(resultAttrs);
  return std::move(moduleOp);
}
