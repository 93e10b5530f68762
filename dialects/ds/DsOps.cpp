//===- DsOps.cpp - verifiers and folds of the ds ops ----------------------===//
#include "dialects/ds/DsOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace ds;

#define GET_OP_CLASSES
#include "dialects/ds/DsOps.cpp.inc"
