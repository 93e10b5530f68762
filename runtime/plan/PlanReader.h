//===- PlanReader.h - load and check a .dsplan file -----------------------===//
//
// The reader trusts nothing in the file: every length is checked against the bytes that
// remain before anything is read or allocated, the payload's CRC-32 must match, and the
// decoded plan must pass verifyPlan. A malformed file yields an error that names the field
// and its byte offset, never a crash or a huge allocation.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_PLAN_PLANREADER_H
#define DS_RUNTIME_PLAN_PLANREADER_H

#include "runtime/plan/Plan.h"
#include "runtime/plan/PlanVerifier.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace ds::rt {

/// Decodes and verifies the bytes of a .dsplan file.
Expected<Plan> parsePlan(const uint8_t *data, size_t size, const PlanCheckOptions &options = {});

/// Reads `path` and parses it; errors start with the path.
Expected<Plan> readPlanFile(const std::string &path, const PlanCheckOptions &options = {});

} // namespace ds::rt

#endif
