//===- DsDialect.cpp - the ds graph dialect -------------------------------===//
#include "dialects/ds/DsDialect.h"
#include "dialects/ds/DsOps.h"

using namespace mlir;
using namespace ds;

#include "dialects/ds/DsDialect.cpp.inc"

void DsDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/ds/DsOps.cpp.inc"
      >();
}
