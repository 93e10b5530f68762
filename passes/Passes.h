//===- Passes.h - ds passes -----------------------------------------------===//
#ifndef DS_PASSES_PASSES_H
#define DS_PASSES_PASSES_H

#include "mlir/Pass/Pass.h"

namespace ds {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Registers every ds pass and named pipeline with the global registry.
void registerAllDsPasses();

} // namespace ds

#endif
