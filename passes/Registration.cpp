//===- Registration.cpp - registers every ds pass -------------------------===//
#include "passes/Passes.h"
#include "passes/Pipelines.h"

void ds::registerAllDsPasses() {
  registerDsPasses();
  registerDsPipelines();
}
