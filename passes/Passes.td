//===- Passes.td - every ds pass, its options and summary --*- tablegen -*-===//
#ifndef DS_PASSES_TD
#define DS_PASSES_TD

include "mlir/Pass/PassBase.td"

#endif // DS_PASSES_TD
