//===- Fp8Cast.cpp - the FP8 precision policy on the training step --------===//
//
// Runs after ds-autodiff, so the forward and backward GEMMs of @train_step are all there
// as separate ops: ds.linear / ds.grouped_linear (Fprop), *_dgrad (Dgrad) and *_wgrad
// (Wgrad), V3 report §3.3.1, Figure 6. Each one the policy puts in FP8 gets a
// ds.quantize -> ds.dequantize pair on its two GEMM operands, so that the GEMM reads FP8
// values times FP32 block scales, and the attribute ds.fp8_promote_interval, which makes
// the runtime emulate the tensor cores' limited accumulation promoted to FP32 every
// `promote-interval` products (§3.3.2). Nothing else changes: the FP32 master weights
// feed the optimizer, gradients are summed in their own precision, and the GEMM's
// result keeps its type. (The VJPs of quantize/dequantize are straight-through, so
// running this before autodiff would give the same forward but an unquantized backward;
// the recipe quantizes all three GEMMs, hence after.)
//
// Which GEMMs stay in high precision is decided by the parameter they multiply, traced
// from the weight operand back to its function argument through view and type changes
// (Fprop, Dgrad), or from the weight gradient forward through gradient sums to the
// ds.adamw that consumes it (Wgrad): see isHighPrecisionParam. The embedding, norms,
// attention core and router are not GEMM ops of the linear layers, so they are never
// touched.
//
// Operand views: ds.quantize scales blocks of the last two dimensions. Activations and
// gradients are [B, S, C] or [T, C], so the last two dims are (tokens, channels) and a
// [1, 128] block is the recipe's per-token 1x128 tile. The Wgrad (dW = dy^T x) reduces
// over tokens, so its operands are tiled [128, 1] on the same view with no transpose;
// on [B, S, C] the tiles restart at each sequence, the same tiles as on the flattened
// tokens when S is a multiple of 128 (V3 trains at 4K). Blocks that span every token
// (per-row Wgrad, per-tensor) and activations of other ranks use a [tokens, C] view made
// with ds.reshape. Grouped Wgrad tiles run over the permuted rows of all experts, so a
// tile may straddle two experts (DeepGEMM pads each expert's rows to 128 instead; the
// counts are only known at run time here): such a tile shares one scale, which is
// still exact for its largest element and at most coarser for the other expert's rows.
//
// The Wgrad's activation is the one the Fprop cached in FP8 (§3.3.4, "activations are
// cached in FP8 for the backward pass"): when the Fprop of that activation was
// quantized, the Wgrad re-quantizes the Fprop's dequantized values into its 128x1 tiles,
// as V3 converts the cached 1x128 tiles, rather than the unquantized activation.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOps.h"
#include "passes/Fp8Policy.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#include <map>
#include <tuple>

namespace ds {
#define GEN_PASS_DEF_DSFP8CAST
#include "passes/Passes.h.inc"
} // namespace ds

using namespace mlir;
using namespace ds;
using namespace ds::fp8;

namespace {

/// The discardable attribute on every GEMM the pass puts in FP8; ds-lower-to-exec hands
/// it to the kernel as `fp8_promote_interval` (runtime/kernels/cpu/Gemm.h).
constexpr StringLiteral kPromoteIntervalAttr = "ds.fp8_promote_interval";

/// The ds.param that `value` is, looking through ops that only change its view or its
/// element type; nullopt for any computed value.
std::optional<StringRef> paramName(Value value) {
  while (true) {
    if (auto arg = dyn_cast<BlockArgument>(value)) {
      auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
      if (!func)
        return std::nullopt;
      auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "ds.param");
      return name ? std::optional<StringRef>(name.getValue()) : std::nullopt;
    }
    Operation *producer = value.getDefiningOp();
    if (!isa<ConvertOp, ReshapeOp, SliceOp>(producer))
      return std::nullopt;
    value = producer->getOperand(0);
  }
}

/// The parameter that the weight gradient `grad` belongs to: its uses are followed
/// through gradient sums (a parameter used twice) and view changes to the ds.adamw that
/// takes it as `grad`. Nullopt when no optimizer consumes it.
std::optional<StringRef> paramOfGradient(Value grad) {
  SmallVector<Value> pending{grad};
  DenseSet<Value> seen;
  while (!pending.empty()) {
    Value value = pending.pop_back_val();
    if (!seen.insert(value).second)
      continue;
    for (OpOperand &use : value.getUses()) {
      Operation *user = use.getOwner();
      if (auto adamw = dyn_cast<AdamwOp>(user)) {
        if (use.getOperandNumber() == adamw.getGradMutable().getOperandNumber())
          return paramName(adamw.getParam());
      } else if (isa<AddOp, ConvertOp, ReshapeOp, SliceGradOp>(user)) {
        pending.push_back(user->getResult(0));
      }
    }
  }
  return std::nullopt;
}

/// Whether `value` is already FP8 values times their scales: a ds.dequantize result, or
/// the reshape back from the [tokens, C] view this pass quantizes some operands in.
bool isDequantized(Value value) {
  if (auto reshape = value.getDefiningOp<ReshapeOp>())
    value = reshape.getInput();
  return static_cast<bool>(value.getDefiningOp<DequantizeOp>());
}

bool isActivation(OperandRole role) {
  return role == OperandRole::ActivationAlongChannels ||
         role == OperandRole::ActivationAlongTokens;
}

struct Policy {
  Granularity granularity = Granularity::Block;
  KeptKinds kept;
  int64_t promoteInterval = 128;
};

/// Rewrites the GEMMs of one function in program order, sharing each quantized operand
/// among the GEMMs that read the same value at the same scaling.
class FunctionRewriter {
public:
  explicit FunctionRewriter(const Policy &policy) : policy(policy) {}

  void rewrite(func::FuncOp func) {
    func.walk([&](Operation *op) {
      if (std::optional<GemmKind> kind = gemmKindOf(op))
        rewriteGemm(op, *kind);
    });
  }

private:
  void rewriteGemm(Operation *op, GemmKind kind);
  /// dequantize(quantize(source)) at `role`'s scaling, with source's type.
  Value fakeQuantize(Operation *gemm, Value source, OperandRole role);

  const Policy &policy;
  /// Fprop input -> the dequantized FP8 activation that the Fprop read (what V3 caches).
  DenseMap<Value, Value> cachedActivation;
  /// (source, block rows, block columns, reshaped) -> the dequantized value.
  std::map<std::tuple<void *, int64_t, int64_t, bool>, Value> quantized;
};

void FunctionRewriter::rewriteGemm(Operation *op, GemmKind kind) {
  bool isWgrad = kind == GemmKind::LinearWgrad || kind == GemmKind::GroupedLinearWgrad;
  bool isFprop = kind == GemmKind::Linear || kind == GemmKind::GroupedLinear;
  std::optional<StringRef> param =
      isWgrad ? paramOfGradient(op->getResult(0)) : paramName(op->getOperand(1));
  if ((param && isHighPrecisionParam(*param)) || policy.kept.contains(kind))
    return;
  std::array<OperandRole, 2> roles = operandRoles(kind);
  for (unsigned index = 0; index < 2; ++index) {
    Value operand = op->getOperand(index);
    // Already FP8 (a second run, or quantized by hand): quantizing again would only
    // add error.
    if (isDequantized(operand))
      continue;
    Value source = operand;
    if (isWgrad && index == 1)
      if (Value cached = cachedActivation.lookup(operand))
        source = cached;
    Value fp8 = fakeQuantize(op, source, roles[index]);
    if (isFprop && index == 0)
      cachedActivation.try_emplace(operand, fp8);
    op->setOperand(index, fp8);
  }
  if (policy.promoteInterval > 0)
    op->setAttr(kPromoteIntervalAttr,
                Builder(op->getContext()).getI64IntegerAttr(policy.promoteInterval));
}

Value FunctionRewriter::fakeQuantize(Operation *gemm, Value source, OperandRole role) {
  auto type = cast<RankedTensorType>(source.getType());
  std::array<int64_t, 2> block = scalingBlock(role, policy.granularity);
  // The [tokens, C] view: ds.quantize blocks the last two dims, which are (tokens,
  // channels) as they are only for rank-2 activations and, for blocks within one
  // sequence, rank-3 [B, S, C] ones. Weights are [N, K] or [E, N, K]: per matrix.
  SmallVector<int64_t> viewShape(type.getShape());
  int64_t rank = type.getRank();
  bool spansSequences = block[0] == kWholeAxis;
  if (isActivation(role) && (rank == 1 || rank > 3 || (rank == 3 && spansSequences))) {
    int64_t channels = viewShape.back();
    viewShape = {type.getNumElements() / std::max<int64_t>(channels, 1), channels};
  }
  bool reshaped = viewShape != ArrayRef<int64_t>(type.getShape());
  int64_t viewRank = viewShape.size();
  for (int axis = 0; axis < 2; ++axis)
    if (block[axis] == kWholeAxis)
      block[axis] = std::max<int64_t>(viewShape[viewRank - 2 + axis], 1);

  auto key = std::make_tuple(source.getAsOpaquePointer(), block[0], block[1], reshaped);
  if (Value existing = quantized[key])
    return existing;

  OpBuilder builder(gemm);
  Location loc = gemm->getLoc();
  auto viewType = RankedTensorType::get(viewShape, type.getElementType());
  Value view = reshaped ? ReshapeOp::create(builder, loc, viewType, source).getResult() : source;
  auto quantize = QuantizeOp::create(builder, loc, view, block);
  Value result = DequantizeOp::create(builder, loc, viewType, quantize.getValues(),
                                      quantize.getScales(), block);
  if (reshaped)
    result = ReshapeOp::create(builder, loc, type, result);
  quantized[key] = result;
  return result;
}

struct Fp8CastPass : ds::impl::DsFp8CastBase<Fp8CastPass> {
  using DsFp8CastBase::DsFp8CastBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Policy policy;
    std::optional<Granularity> parsed = parseGranularity(granularity);
    if (!parsed) {
      module.emitError("ds-fp8-cast: granularity '")
          << granularity << "' is not one of block, per-row, per-tensor";
      return signalPassFailure();
    }
    policy.granularity = *parsed;
    if (std::optional<std::string> unknown = parseKeptKinds(keepHighPrecision, policy.kept)) {
      module.emitError("ds-fp8-cast: keep-high-precision entry '")
          << *unknown << "' is not one of " << keptKindsHelp();
      return signalPassFailure();
    }
    if (promoteInterval < 0) {
      module.emitError("ds-fp8-cast: promote-interval must be >= 0 (0: plain FP32 "
                       "accumulation) but is ")
          << promoteInterval.getValue();
      return signalPassFailure();
    }
    policy.promoteInterval = promoteInterval;

    for (auto func : module.getOps<func::FuncOp>())
      FunctionRewriter(policy).rewrite(func);
  }
};

} // namespace
