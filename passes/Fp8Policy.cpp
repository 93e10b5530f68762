//===- Fp8Policy.cpp - the operand and parameter rules of ds-fp8-cast -----===//
//
// Scaling blocks follow the reduction, as in DeepGEMM: a scale must be constant along
// the run of the inner dimension that one promotion sums (128 elements, V3 report
// §3.3.2), so tiles are 1x128 along the reduced axis of activations and gradients, and
// 128x128 for weights, whose square blocks serve Fprop (reduced along K) and Dgrad
// (reduced along N) alike. The Wgrad reduces over tokens, so its operands are tiled
// 128x1: 128 tokens of one channel (V3 report §3.3.4 converts the cached 1x128
// activations to 128x1 tiles for the backward pass).
//
//===----------------------------------------------------------------------===//
#include "passes/Fp8Policy.h"
#include "dialects/ds/DsOps.h"

#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

namespace ds::fp8 {

/// The tile edge of the V3 recipe: the promotion interval of the accumulation and the
/// extent of every scaling block along the reduced axis.
constexpr int64_t kTile = 128;

std::optional<Granularity> parseGranularity(StringRef name) {
  return llvm::StringSwitch<std::optional<Granularity>>(name)
      .Case("block", Granularity::Block)
      .Case("per-row", Granularity::PerRow)
      .Case("per-tensor", Granularity::PerTensor)
      .Default(std::nullopt);
}

std::optional<GemmKind> gemmKindOf(Operation *op) {
  if (isa<LinearOp>(op))
    return GemmKind::Linear;
  if (isa<LinearDgradOp>(op))
    return GemmKind::LinearDgrad;
  if (isa<LinearWgradOp>(op))
    return GemmKind::LinearWgrad;
  if (isa<GroupedLinearOp>(op))
    return GemmKind::GroupedLinear;
  if (isa<GroupedLinearDgradOp>(op))
    return GemmKind::GroupedLinearDgrad;
  if (isa<GroupedLinearWgradOp>(op))
    return GemmKind::GroupedLinearWgrad;
  return std::nullopt;
}

StringRef gemmKindName(GemmKind kind) {
  switch (kind) {
  case GemmKind::Linear:
    return "linear";
  case GemmKind::LinearDgrad:
    return "linear_dgrad";
  case GemmKind::LinearWgrad:
    return "linear_wgrad";
  case GemmKind::GroupedLinear:
    return "grouped_linear";
  case GemmKind::GroupedLinearDgrad:
    return "grouped_linear_dgrad";
  case GemmKind::GroupedLinearWgrad:
    return "grouped_linear_wgrad";
  }
  llvm_unreachable("every GemmKind has a name");
}

std::optional<std::string> parseKeptKinds(ArrayRef<std::string> entries, KeptKinds &kinds) {
  auto keep = [&](GemmKind kind) { kinds.kept[static_cast<unsigned>(kind)] = true; };
  for (const std::string &entry : entries) {
    StringRef name = StringRef(entry).trim();
    if (name == "fprop") {
      keep(GemmKind::Linear);
      keep(GemmKind::GroupedLinear);
    } else if (name == "dgrad") {
      keep(GemmKind::LinearDgrad);
      keep(GemmKind::GroupedLinearDgrad);
    } else if (name == "wgrad") {
      keep(GemmKind::LinearWgrad);
      keep(GemmKind::GroupedLinearWgrad);
    } else {
      bool found = false;
      for (unsigned i = 0; i < kinds.kept.size(); ++i)
        if (name == gemmKindName(static_cast<GemmKind>(i))) {
          kinds.kept[i] = true;
          found = true;
        }
      if (!found)
        return entry;
    }
  }
  return std::nullopt;
}

StringRef keptKindsHelp() {
  return "fprop, dgrad, wgrad, linear, linear_dgrad, linear_wgrad, grouped_linear, "
         "grouped_linear_dgrad, grouped_linear_wgrad";
}

std::array<OperandRole, 2> operandRoles(GemmKind kind) {
  switch (kind) {
  case GemmKind::Linear:
  case GemmKind::GroupedLinear:
    return {OperandRole::ActivationAlongChannels, OperandRole::WeightAlongColumns};
  case GemmKind::LinearDgrad:
  case GemmKind::GroupedLinearDgrad:
    return {OperandRole::ActivationAlongChannels, OperandRole::WeightAlongRows};
  case GemmKind::LinearWgrad:
  case GemmKind::GroupedLinearWgrad:
    return {OperandRole::ActivationAlongTokens, OperandRole::ActivationAlongTokens};
  }
  llvm_unreachable("every GemmKind has operand roles");
}

std::array<int64_t, 2> scalingBlock(OperandRole role, Granularity granularity) {
  switch (granularity) {
  case Granularity::Block:
    switch (role) {
    case OperandRole::ActivationAlongChannels:
      return {1, kTile};
    case OperandRole::ActivationAlongTokens:
      return {kTile, 1};
    case OperandRole::WeightAlongColumns:
    case OperandRole::WeightAlongRows:
      return {kTile, kTile};
    }
    break;
  case Granularity::PerRow:
    // A row-wise scale spans the whole reduced axis, so that each output element
    // y[i, j] is one FP8 dot product times scaleA[i] * scaleB[j].
    switch (role) {
    case OperandRole::ActivationAlongChannels:
    case OperandRole::WeightAlongColumns:
      return {1, kWholeAxis};
    case OperandRole::ActivationAlongTokens:
    case OperandRole::WeightAlongRows:
      return {kWholeAxis, 1};
    }
    break;
  case Granularity::PerTensor:
    return {kWholeAxis, kWholeAxis};
  }
  llvm_unreachable("every role has a block at every granularity");
}

bool isHighPrecisionParam(StringRef name) {
  return name == "lm_head.weight" || name == "model.embed_tokens.weight" ||
         name.ends_with(".mlp.gate.weight");
}

} // namespace ds::fp8
