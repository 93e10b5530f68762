//===- Registration.cpp - registers every ds pass -------------------------===//
#include "passes/Passes.h"

void ds::registerAllDsPasses() { registerDsPasses(); }
