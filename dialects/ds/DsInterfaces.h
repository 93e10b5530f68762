//===- DsInterfaces.h - op interfaces of the ds dialect -------------------===//
#ifndef DS_DIALECTS_DS_DSINTERFACES_H
#define DS_DIALECTS_DS_DSINTERFACES_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OpDefinition.h"

#include "dialects/ds/DsInterfaces.h.inc"

namespace ds {
/// Attaches the interface implementations kept outside the op definitions (the VJPs of
/// DsVjp*.cpp). Every tool that builds a context for ds calls this.
void registerDsInterfaceModels(mlir::DialectRegistry &registry);

namespace detail {
/// The VJP models, one group per file; registerDsInterfaceModels calls both once the ds
/// dialect is loaded into a context.
void attachDenseVjpModels(mlir::MLIRContext *context);
void attachMoeVjpModels(mlir::MLIRContext *context);

/// Base of every VJP model: checks the arity contract of buildVjp once, answers "no
/// gradient" for every operand when no result has one, and hands the concrete model a
/// typed op and an operand-gradient list pre-filled with nulls, so each model says only
/// its own calculus in `Derived::vjp`.
template <typename Derived, typename OpTy>
struct VjpModel
    : public DifferentiableOpInterface::ExternalModel<Derived, OpTy> {
  mlir::LogicalResult
  buildVjp(mlir::Operation *op, mlir::OpBuilder &builder,
           mlir::ArrayRef<mlir::Value> resultGrads,
           llvm::SmallVectorImpl<mlir::Value> &operandGrads) const {
    if (resultGrads.size() != op->getNumResults())
      return op->emitOpError("buildVjp got ")
             << resultGrads.size() << " result gradients for "
             << op->getNumResults() << " results";
    operandGrads.assign(op->getNumOperands(), mlir::Value());
    if (llvm::all_of(resultGrads, [](mlir::Value grad) { return !grad; }))
      return mlir::success();
    return Derived::vjp(mlir::cast<OpTy>(op), builder, resultGrads,
                        operandGrads);
  }
};
} // namespace detail
} // namespace ds

#endif
