//===- Fp8Policy.h - which GEMM operands ds-fp8-cast quantizes, and how ---===//
//
// The precision policy of ds-fp8-cast, kept apart from the IR rewrite so that the rules
// read as one table: the six GEMM ops of the linear layers, the axis each of their
// operands is reduced along, the scaling block that follows from it at each granularity,
// and the parameters whose GEMMs stay in high precision (V3 report §3.3.1).
//
//===----------------------------------------------------------------------===//
#ifndef DS_PASSES_FP8POLICY_H
#define DS_PASSES_FP8POLICY_H

#include "mlir/IR/Operation.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <array>
#include <optional>
#include <string>

namespace ds::fp8 {

/// How finely scales are shared (the pass's `granularity` option).
enum class Granularity {
  /// V3's fine-grained recipe: 1x128 tiles along the reduced axis for activations and
  /// gradients, 128x128 blocks for weights (V3 report §3.3.2, Figure 7a).
  Block,
  /// One scale per row of the GEMM's left operand and per column of its right operand
  /// (each spanning the whole reduced axis): cuBLAS's row-wise FP8 scaling.
  PerRow,
  /// One scale per operand matrix (per expert for stacked expert weights).
  PerTensor,
};

std::optional<Granularity> parseGranularity(llvm::StringRef name);

/// The six GEMM op kinds the pass rewrites (ds.linear, ds.linear_dgrad, ...).
enum class GemmKind {
  Linear,
  LinearDgrad,
  LinearWgrad,
  GroupedLinear,
  GroupedLinearDgrad,
  GroupedLinearWgrad,
};

/// The GEMM kind of `op`, or nullopt for every other op.
std::optional<GemmKind> gemmKindOf(mlir::Operation *op);

/// The op's mnemonic without `ds.` ("linear_dgrad"): the name keep-high-precision uses.
llvm::StringRef gemmKindName(GemmKind kind);

/// The op kinds kept in high precision, from the keep-high-precision entries: an op
/// mnemonic ("linear_wgrad", "grouped_linear") or a GEMM role covering the dense and
/// grouped op ("fprop", "dgrad", "wgrad"). Returns the first unknown entry on failure.
struct KeptKinds {
  std::array<bool, 6> kept{};

  bool contains(GemmKind kind) const { return kept[static_cast<unsigned>(kind)]; }
};
std::optional<std::string> parseKeptKinds(llvm::ArrayRef<std::string> entries,
                                          KeptKinds &kinds);
/// The entries parseKeptKinds accepts, for the error message.
llvm::StringRef keptKindsHelp();

/// How one GEMM operand is laid out against the GEMM's reduction.
enum class OperandRole {
  /// [..., tokens, C] reduced along C (Fprop's x reduced over K; Dgrad's dy over N).
  ActivationAlongChannels,
  /// [..., tokens, C] reduced along the tokens (Wgrad's dy and x: dW = dy^T x).
  ActivationAlongTokens,
  /// [E?, N, K] reduced along K (Fprop: y = x W^T).
  WeightAlongColumns,
  /// [E?, N, K] reduced along N (Dgrad: dx = dy W).
  WeightAlongRows,
};

/// The two quantized operands of a GEMM op: operand indices 0 and 1 (the counts of the
/// grouped ops, operand 2, are routing data and stay as they are).
std::array<OperandRole, 2> operandRoles(GemmKind kind);

/// A block size meaning "the whole extent of this axis" (per-row and per-tensor scales).
constexpr int64_t kWholeAxis = -1;

/// The [rows, columns] scaling block of an operand's last two dimensions at a
/// granularity; entries may be kWholeAxis, which the pass replaces by the extent of the
/// operand's matrix view.
std::array<int64_t, 2> scalingBlock(OperandRole role, Granularity granularity);

/// Whether the GEMM that reads (or, for a Wgrad, produces the gradient of) the
/// parameter `name` stays in high precision: the output head (`lm_head.weight`, or the
/// embedding table `model.embed_tokens.weight` when it is tied to the head) and every
/// MoE router gate (`*.mlp.gate.weight`), V3 report §3.3.1.
bool isHighPrecisionParam(llvm::StringRef name);

} // namespace ds::fp8

#endif
