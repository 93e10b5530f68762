//===- GraphBuilder.h - declares @forward's arguments and results ---------===//
//
// Model builders emit one `func.func @forward` whose arguments and results carry the
// attributes of docs/ir-conventions.md (ds.input, ds.param + ds.init, ds.buffer,
// ds.output). GraphBuilder owns that bookkeeping so that a builder only says what each
// value is: arguments are appended as the model needs them, in model order, and the
// function type is fixed in finish().
//
//===----------------------------------------------------------------------===//
#ifndef DS_FRONTEND_GRAPHBUILDER_H
#define DS_FRONTEND_GRAPHBUILDER_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

namespace ds {

/// How a fresh run initializes a parameter or buffer (`ds.init`); "normal" draws from
/// N(0, ds.initializer_range^2).
enum class ParamInit { Normal, Ones, Zeros };

llvm::StringRef paramInitName(ParamInit init);

class GraphBuilder {
public:
  /// Creates an empty module holding an empty `func.func @<functionName>`.
  GraphBuilder(mlir::MLIRContext &context, llvm::StringRef functionName = "forward");

  mlir::OpBuilder &builder() { return opBuilder; }
  mlir::MLIRContext *context() { return opBuilder.getContext(); }
  mlir::ModuleOp module() { return *moduleOp; }

  /// The location of ops built from now on (e.g. a NameLoc per layer).
  void setLocation(mlir::Location location) { currentLocation = location; }
  mlir::Location location() const { return currentLocation; }

  /// Appends an argument `{ds.input = name}`.
  mlir::Value addInput(llvm::StringRef name, mlir::RankedTensorType type);
  /// Appends an argument `{ds.param = name, ds.init = init}` of `element` type (f32 when
  /// null).
  mlir::Value addParam(llvm::StringRef name, llvm::ArrayRef<int64_t> shape, ParamInit init,
                       mlir::Type element = {});
  /// Appends an f32 argument `{ds.buffer = name, ds.init = init}`: state without gradient.
  mlir::Value addBuffer(llvm::StringRef name, llvm::ArrayRef<int64_t> shape, ParamInit init);
  /// Appends a result `{ds.output = name}`.
  void addOutput(llvm::StringRef name, mlir::Value value);

  /// The shorthand for an f32 tensor type.
  mlir::RankedTensorType f32Tensor(llvm::ArrayRef<int64_t> shape);

  /// Adds the return, fixes the function type and hands the module over. Fails when
  /// two arguments or two results share a name (each name binds one runtime tensor).
  llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> finish();

private:
  mlir::Value addArgument(mlir::Type type, mlir::NamedAttrList attrs, llvm::StringRef name);

  mlir::OwningOpRef<mlir::ModuleOp> moduleOp;
  mlir::func::FuncOp function;
  mlir::OpBuilder opBuilder;
  mlir::Location currentLocation;
  llvm::SmallVector<mlir::DictionaryAttr> argumentAttrs;
  llvm::SmallVector<mlir::Value> results;
  llvm::SmallVector<mlir::DictionaryAttr> resultAttrs;
  llvm::StringMap<unsigned> argumentNames;
  llvm::StringMap<unsigned> resultNames;
  std::string duplicate;
};

} // namespace ds

#endif
