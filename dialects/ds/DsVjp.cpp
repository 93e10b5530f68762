//===- DsVjp.cpp - vector-Jacobian products of the dense ds primitives ----===//
//
// Every gradient carries the type of the value it differentiates, so that ds-autodiff
// can accumulate the gradients of a value used twice with one ds.add and AdamW can
// consume a parameter's gradient beside its FP32 master weight. The one exception is
// the FP8 straight-through estimator at the end of this file.
//
// The MoE primitives (router, balance_loss, dispatch, combine, grouped_linear) live in
// DsVjpMoe.cpp.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsDialect.h"
#include "dialects/ds/DsInterfaces.h"
#include "dialects/ds/DsOps.h"

using namespace mlir;
using ds::detail::VjpModel;

namespace ds {
namespace {

/// Integer tensors (ids, labels, token slices) carry no gradient.
bool isFloatTensor(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && isa<FloatType>(type.getElementType());
}

/// Converts `grad` to `type` when a precision boundary (ds.convert, the FP8 estimator)
/// separates the two; otherwise returns it unchanged.
Value castGrad(OpBuilder &b, Location loc, Value grad, Type type) {
  if (grad.getType() == type)
    return grad;
  return ConvertOp::create(b, loc, type, grad);
}

struct EmbeddingVjp : VjpModel<EmbeddingVjp, EmbeddingOp> {
  static LogicalResult vjp(EmbeddingOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[1] = EmbeddingGradOp::create(b, op.getLoc(), op.getTable().getType(),
                                     op.getIds(), dys[0]);
    return success();
  }
};

struct RmsNormVjp : VjpModel<RmsNormVjp, RmsNormOp> {
  static LogicalResult vjp(RmsNormOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    auto grad = RmsNormGradOp::create(
        b, op.getLoc(),
        TypeRange{op.getInput().getType(), op.getWeight().getType()},
        op.getInput(), op.getWeight(), dys[0], op.getEpsAttr());
    dxs[0] = grad.getInputGrad();
    dxs[1] = grad.getWeightGrad();
    return success();
  }
};

/// y = x W^T: dx = dy W (Dgrad) and dW = dy^T x (Wgrad), kept as two ops because the
/// FP8 recipe quantizes the two GEMMs differently (V3 report §3.3.1, Figure 6).
struct LinearVjp : VjpModel<LinearVjp, LinearOp> {
  static LogicalResult vjp(LinearOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = LinearDgradOp::create(b, op.getLoc(), op.getInput().getType(),
                                   dys[0], op.getWeight());
    dxs[1] = LinearWgradOp::create(b, op.getLoc(), op.getWeight().getType(),
                                   dys[0], op.getInput());
    return success();
  }
};

/// RoPE is an orthogonal rotation per pair times a constant factor, so its VJP is the
/// transposed rotation with the same attributes.
struct RopeVjp : VjpModel<RopeVjp, RopeOp> {
  static LogicalResult vjp(RopeOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = RopeGradOp::create(b, op.getLoc(),
                                TypeRange{op.getInput().getType()},
                                ValueRange{dys[0]}, op->getAttrs());
    return success();
  }
};

struct AttentionVjp : VjpModel<AttentionVjp, AttentionOp> {
  static LogicalResult vjp(AttentionOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    auto grad = AttentionGradOp::create(
        b, op.getLoc(),
        TypeRange{op.getQuery().getType(), op.getKey().getType(),
                  op.getValue().getType()},
        op.getQuery(), op.getKey(), op.getValue(), op.getResult(), dys[0],
        op.getScaleAttr(), op.getCausalAttr());
    dxs[0] = grad.getQueryGrad();
    dxs[1] = grad.getKeyGrad();
    dxs[2] = grad.getValueGrad();
    return success();
  }
};

struct CrossEntropyVjp : VjpModel<CrossEntropyVjp, CrossEntropyOp> {
  static LogicalResult vjp(CrossEntropyOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = CrossEntropyGradOp::create(
        b, op.getLoc(), op.getLogits().getType(), op.getLogits(),
        op.getLabels(), dys[0], op.getIgnoreIndexAttr());
    return success();
  }
};

struct SwigluVjp : VjpModel<SwigluVjp, SwigluOp> {
  static LogicalResult vjp(SwigluOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = SwigluGradOp::create(b, op.getLoc(), op.getGateUp().getType(),
                                  op.getGateUp(), dys[0]);
    return success();
  }
};

struct AddVjp : VjpModel<AddVjp, AddOp> {
  static LogicalResult vjp(AddOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = castGrad(b, op.getLoc(), dys[0], op.getLhs().getType());
    dxs[1] = castGrad(b, op.getLoc(), dys[0], op.getRhs().getType());
    return success();
  }
};

/// d(l * r) = dl * r + l * dr.
struct MulVjp : VjpModel<MulVjp, MulOp> {
  static LogicalResult vjp(MulOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = MulOp::create(b, op.getLoc(), op.getLhs().getType(), dys[0],
                           op.getRhs());
    dxs[1] = MulOp::create(b, op.getLoc(), op.getRhs().getType(), dys[0],
                           op.getLhs());
    return success();
  }
};

struct ScaleVjp : VjpModel<ScaleVjp, ScaleOp> {
  static LogicalResult vjp(ScaleOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = ScaleOp::create(b, op.getLoc(), op.getInput().getType(), dys[0],
                             op.getFactorAttr());
    return success();
  }
};

/// The gradient crosses the precision boundary the other way (bf16 <-> f32).
struct ConvertVjp : VjpModel<ConvertVjp, ConvertOp> {
  static LogicalResult vjp(ConvertOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = castGrad(b, op.getLoc(), dys[0], op.getInput().getType());
    return success();
  }
};

struct SliceVjp : VjpModel<SliceVjp, SliceOp> {
  static LogicalResult vjp(SliceOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    if (!isFloatTensor(op.getInput()))
      return success();
    dxs[0] = SliceGradOp::create(b, op.getLoc(), op.getInput().getType(),
                                 dys[0], op.getDimAttr(), op.getOffsetAttr());
    return success();
  }
};

/// Each input's gradient is the slice of the result gradient it was placed at (shapes
/// are static and verified, so the offsets are known here).
struct ConcatVjp : VjpModel<ConcatVjp, ConcatOp> {
  static LogicalResult vjp(ConcatOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    int64_t dim = op.getDim();
    int64_t offset = 0;
    for (auto [index, input] : llvm::enumerate(op.getInputs())) {
      auto type = cast<RankedTensorType>(input.getType());
      int64_t size = type.getDimSize(dim);
      dxs[index] = SliceOp::create(b, op.getLoc(), type, dys[0],
                                   b.getI64IntegerAttr(dim),
                                   b.getI64IntegerAttr(offset),
                                   b.getI64IntegerAttr(size));
      offset += size;
    }
    return success();
  }
};

/// A reshape keeps the row-major data, so its gradient is the inverse reshape.
struct ReshapeVjp : VjpModel<ReshapeVjp, ReshapeOp> {
  static LogicalResult vjp(ReshapeOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    if (!isFloatTensor(op.getInput()))
      return success();
    dxs[0] = ReshapeOp::create(b, op.getLoc(), op.getInput().getType(), dys[0]);
    return success();
  }
};

struct ExpandVjp : VjpModel<ExpandVjp, ExpandOp> {
  static LogicalResult vjp(ExpandOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = ExpandGradOp::create(b, op.getLoc(), op.getInput().getType(),
                                  dys[0]);
    return success();
  }
};

// FP8 straight-through estimator. Rounding to E4M3 is piecewise constant, so its true
// derivative is zero almost everywhere; like every FP8 training recipe (V3 report §3.3,
// where each quantized GEMM's backward uses the gradient of its unquantized operand) we
// treat dequantize(quantize(x)) as the identity. The gradient of the FP8 `values` is
// carried in the element type of the dequantized result (a gradient in E4M3 would lose
// the precision the recipe keeps for gradients), and the block scales are treated as
// constants: they get no gradient.
struct DequantizeVjp : VjpModel<DequantizeVjp, DequantizeOp> {
  static LogicalResult vjp(DequantizeOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    dxs[0] = dys[0];
    return success();
  }
};

struct QuantizeVjp : VjpModel<QuantizeVjp, QuantizeOp> {
  static LogicalResult vjp(QuantizeOp op, OpBuilder &b, ArrayRef<Value> dys,
                           SmallVectorImpl<Value> &dxs) {
    if (!dys[0])
      return success();
    dxs[0] = castGrad(b, op.getLoc(), dys[0], op.getInput().getType());
    return success();
  }
};

} // namespace
} // namespace ds

void ds::detail::attachDenseVjpModels(MLIRContext *context) {
  EmbeddingOp::attachInterface<EmbeddingVjp>(*context);
  RmsNormOp::attachInterface<RmsNormVjp>(*context);
  LinearOp::attachInterface<LinearVjp>(*context);
  RopeOp::attachInterface<RopeVjp>(*context);
  AttentionOp::attachInterface<AttentionVjp>(*context);
  CrossEntropyOp::attachInterface<CrossEntropyVjp>(*context);
  SwigluOp::attachInterface<SwigluVjp>(*context);
  AddOp::attachInterface<AddVjp>(*context);
  MulOp::attachInterface<MulVjp>(*context);
  ScaleOp::attachInterface<ScaleVjp>(*context);
  ConvertOp::attachInterface<ConvertVjp>(*context);
  SliceOp::attachInterface<SliceVjp>(*context);
  ConcatOp::attachInterface<ConcatVjp>(*context);
  ReshapeOp::attachInterface<ReshapeVjp>(*context);
  ExpandOp::attachInterface<ExpandVjp>(*context);
  QuantizeOp::attachInterface<QuantizeVjp>(*context);
  DequantizeOp::attachInterface<DequantizeVjp>(*context);
}

void ds::registerDsInterfaceModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, DsDialect *) {
    detail::attachDenseVjpModels(context);
    detail::attachMoeVjpModels(context);
  });
}
