//===- DsInterfaces.cpp - op interfaces of the ds dialect -----------------===//
#include "dialects/ds/DsInterfaces.h"

#include "dialects/ds/DsInterfaces.cpp.inc"
