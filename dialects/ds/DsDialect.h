//===- DsDialect.h - the ds graph dialect ---------------------------------===//
#ifndef DS_DIALECTS_DS_DSDIALECT_H
#define DS_DIALECTS_DS_DSDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/ds/DsDialect.h.inc"

#endif
