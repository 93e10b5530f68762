//===- DsOps.cpp - op definitions and folds of the ds ops -----------------===//
//
// The ODS-generated op classes live here together with the folds. Verifiers and type
// inference are in DsVerify*.cpp, one file per op group, over the shared checks of
// DsOpChecker.h.
//
// Every fold below is exact: it never changes a value, only removes work that is the
// identity (a reshape to its own type, a scale by one, ...).
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOps.h"

#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/APFloat.h"

using namespace mlir;
using namespace ds;

#define GET_OP_CLASSES
#include "dialects/ds/DsOps.cpp.inc"

OpFoldResult ReshapeOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  // reshape(reshape(x)) only reinterprets x's row-major data once.
  if (auto inner = getInput().getDefiningOp<ReshapeOp>()) {
    if (inner.getInput().getType() == getType())
      return inner.getInput();
    getInputMutable().assign(inner.getInput());
    return getResult();
  }
  return {};
}

OpFoldResult ScaleOp::fold(FoldAdaptor) {
  if (getFactor().isExactlyValue(1.0))
    return getInput();
  return {};
}

/// Every value of `narrow` is exactly representable in `wide` (bf16 in f32).
static bool widensExactly(Type narrow, Type wide) {
  auto narrowFloat = dyn_cast<FloatType>(narrow);
  auto wideFloat = dyn_cast<FloatType>(wide);
  return narrowFloat && wideFloat &&
         llvm::APFloatBase::isRepresentableBy(narrowFloat.getFloatSemantics(),
                                              wideFloat.getFloatSemantics());
}

OpFoldResult ConvertOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  // convert(convert(x: A -> B) -> A) is x when B holds every value of A exactly
  // (bf16 -> f32 -> bf16). The other way round (f32 -> bf16 -> f32) rounds, so it stays.
  if (auto inner = getInput().getDefiningOp<ConvertOp>()) {
    Value source = inner.getInput();
    if (source.getType() == getType() &&
        widensExactly(getElementTypeOrSelf(source.getType()),
                      getElementTypeOrSelf(inner.getType())))
      return source;
  }
  return {};
}

OpFoldResult SliceOp::fold(FoldAdaptor) {
  // Same type: the slice covers its whole dimension (offset + size <= size forces
  // offset 0).
  if (getInput().getType() == getType())
    return getInput();
  // slice(slice(x)) along one dimension is one slice at the summed offset.
  if (auto inner = getInput().getDefiningOp<SliceOp>()) {
    if (inner.getDim() == getDim()) {
      setOffset(inner.getOffset() + getOffset());
      getInputMutable().assign(inner.getInput());
      return getResult();
    }
  }
  return {};
}

OpFoldResult ExpandOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  // expand(expand(x)) broadcasts x's size-1 dimensions once.
  if (auto inner = getInput().getDefiningOp<ExpandOp>()) {
    getInputMutable().assign(inner.getInput());
    return getResult();
  }
  return {};
}
