//===- DsxDialect.h - the dsx execution dialect ---------------------------===//
#ifndef DS_DIALECTS_DSX_DSXDIALECT_H
#define DS_DIALECTS_DSX_DSXDIALECT_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"

#include "dialects/dsx/DsxDialect.h.inc"
#include "dialects/dsx/DsxEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/dsx/DsxAttrs.h.inc"

#endif
