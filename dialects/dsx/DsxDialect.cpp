//===- DsxDialect.cpp - the dsx execution dialect -------------------------===//
#include "dialects/dsx/DsxDialect.h"
#include "dialects/dsx/DsxOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace ds::dsx;

#include "dialects/dsx/DsxDialect.cpp.inc"
#include "dialects/dsx/DsxEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/dsx/DsxAttrs.cpp.inc"

void DsxDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/dsx/DsxOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/dsx/DsxAttrs.cpp.inc"
      >();
}
