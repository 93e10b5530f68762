//===- Decompose.cpp - composite ds ops into primitives -------------------===//
//
// ds.mla, ds.moe and ds.mtp_head keep the model's structure visible to reports and to
// expert placement; every later stage (autodiff, FP8 casting, lowering) works on the
// primitives. The composites' verifiers (DsVerifyComposite.cpp) check every weight
// against the layer's attributes, so the patterns derive each intermediate shape from
// x and the attributes alone and the result always verifies.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOps.h"
#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace ds {
#define GEN_PASS_DEF_DSDECOMPOSE
#include "passes/Passes.h.inc"
} // namespace ds

using namespace mlir;
using namespace ds;

namespace {

RankedTensorType tensorOf(ArrayRef<int64_t> shape, Type elementType) {
  return RankedTensorType::get(shape, elementType);
}

ArrayRef<int64_t> shapeOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getShape();
}

Type elementTypeOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getElementType();
}

//===----------------------------------------------------------------------===//
// Rewrites
//===----------------------------------------------------------------------===//

/// Builds primitives at one location with the activation element type of the composite.
struct PrimitiveBuilder {
  PatternRewriter &rewriter;
  Location loc;
  Type elementType;

  IntegerAttr i64(int64_t value) { return rewriter.getI64IntegerAttr(value); }

  Value linear(Value input, Value weight, ArrayRef<int64_t> shape) {
    return LinearOp::create(rewriter, loc, tensorOf(shape, elementType), input,
                            weight);
  }
  Value rmsNorm(Value input, Value weight, FloatAttr eps) {
    return RmsNormOp::create(rewriter, loc, input.getType(), input, weight, eps);
  }
  Value reshape(Value input, ArrayRef<int64_t> shape) {
    return ReshapeOp::create(rewriter, loc,
                             tensorOf(shape, elementTypeOf(input)), input);
  }
  Value slice(Value input, int64_t dim, int64_t offset, int64_t size) {
    SmallVector<int64_t> shape(shapeOf(input));
    shape[dim] = size;
    return SliceOp::create(rewriter, loc, tensorOf(shape, elementTypeOf(input)),
                           input, i64(dim), i64(offset), i64(size));
  }
  Value concat(ValueRange inputs, int64_t dim) {
    SmallVector<int64_t> shape(shapeOf(inputs.front()));
    shape[dim] = 0;
    for (Value input : inputs)
      shape[dim] += shapeOf(input)[dim];
    return ConcatOp::create(rewriter, loc, tensorOf(shape, elementType), inputs,
                            i64(dim));
  }
  Value swiglu(Value gateUp) {
    SmallVector<int64_t> shape(shapeOf(gateUp));
    shape.back() /= 2;
    return SwigluOp::create(rewriter, loc, tensorOf(shape, elementType), gateUp);
  }
};

/// DeepSeek-V2 report §2.1.2-2.1.3; HF DeepseekV3Attention.forward. The decoupled RoPE
/// key is computed once per token ([B, S, 1, rope]) and broadcast to every head.
struct DecomposeMla : OpRewritePattern<MlaOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MlaOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb{rewriter, op.getLoc(), elementTypeOf(op.getX())};
    ArrayRef<int64_t> x = shapeOf(op.getX());
    int64_t b = x[0], s = x[1];
    int64_t h = op.getNumHeads();
    int64_t kvLora = op.getKvLoraRank();
    int64_t nope = op.getQkNopeHeadDim(), rope = op.getQkRopeHeadDim();
    int64_t v = op.getVHeadDim();
    FloatAttr eps = op.getRmsNormEpsAttr();

    SmallVector<NamedAttribute> ropeAttrs;
    for (StringRef name : RopeOp::getAttributeNames())
      if (Attribute value = op->getAttr(name))
        ropeAttrs.push_back(rewriter.getNamedAttr(name, value));
    auto applyRope = [&](Value input) -> Value {
      return RopeOp::create(rewriter, op.getLoc(), TypeRange{input.getType()},
                            ValueRange{input}, ropeAttrs);
    };

    // Query: c_q = RMSNorm(W_qa x), q = W_qb c_q; or q = W_q x without compression.
    Value q;
    if (Value qA = op.getQAWeight()) {
      int64_t qLora = op.getQLoraRank();
      Value cq = pb.linear(op.getX(), qA, {b, s, qLora});
      q = pb.linear(pb.rmsNorm(cq, op.getQANorm(), eps), op.getQBWeight(),
                    {b, s, h * (nope + rope)});
    } else {
      q = pb.linear(op.getX(), op.getQBWeight(), {b, s, h * (nope + rope)});
    }
    q = pb.reshape(q, {b, s, h, nope + rope});
    q = pb.concat({pb.slice(q, 3, 0, nope), applyRope(pb.slice(q, 3, nope, rope))},
                  3);

    // Key/value: [c_kv | k_rope] = W_kva x; c_kv <- RMSNorm(c_kv); W_kvb c_kv per head
    // is [k_nope | v].
    Value kvA = pb.linear(op.getX(), op.getKvAWeight(), {b, s, kvLora + rope});
    Value cKv = pb.rmsNorm(pb.slice(kvA, 2, 0, kvLora), op.getKvANorm(), eps);
    Value kvB = pb.reshape(pb.linear(cKv, op.getKvBWeight(), {b, s, h * (nope + v)}),
                           {b, s, h, nope + v});
    Value kRope = applyRope(pb.reshape(pb.slice(kvA, 2, kvLora, rope), {b, s, 1, rope}));
    kRope = ExpandOp::create(rewriter, op.getLoc(),
                             tensorOf({b, s, h, rope}, pb.elementType), kRope);
    Value k = pb.concat({pb.slice(kvB, 3, 0, nope), kRope}, 3);
    Value value = pb.slice(kvB, 3, nope, v);

    Value attention = AttentionOp::create(
        rewriter, op.getLoc(), tensorOf({b, s, h, v}, pb.elementType), q, k,
        value, op.getSoftmaxScaleAttr(), rewriter.getBoolAttr(true));
    Value output = pb.linear(pb.reshape(attention, {b, s, h * v}),
                             op.getOWeight(), x);
    rewriter.replaceOp(op, output);
    return success();
  }
};

/// DeepSeekMoE (V3 report §2.1.2; HF DeepseekV3MoE): tokens are flattened to [T, D],
/// routed through the FP32 gate, permuted so that each expert's rows are contiguous,
/// run through the stacked expert GEMMs and combined with the routing weights; the
/// shared experts see every token.
struct DecomposeMoe : OpRewritePattern<MoeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MoeOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    PrimitiveBuilder pb{rewriter, loc, elementTypeOf(op.getX())};
    ArrayRef<int64_t> x = shapeOf(op.getX());
    int64_t b = x[0], s = x[1], d = x[2], t = b * s;
    int64_t e = shapeOf(op.getGateWeight())[0];
    int64_t topK = op.getTopK();
    int64_t twiceI = shapeOf(op.getExpertsGateUp())[1];
    Type f32 = rewriter.getF32Type();
    Type i32 = rewriter.getI32Type();

    Value tokens = pb.reshape(op.getX(), {t, d});
    // The gate stays in FP32 (V3 report §3.3); HF casts both operands to float32.
    Value gateInput = tokens;
    if (pb.elementType != f32)
      gateInput = ConvertOp::create(rewriter, loc, tensorOf({t, d}, f32), tokens);
    Value logits = LinearOp::create(rewriter, loc, tensorOf({t, e}, f32),
                                    gateInput, op.getGateWeight());
    auto router = RouterOp::create(
        rewriter, loc,
        TypeRange{tensorOf({t, topK}, i32), tensorOf({t, topK}, f32)}, logits,
        op.getScoreBias(), op.getTopKAttr(), op.getNGroupAttr(),
        op.getTopkGroupAttr(), op.getScoreFuncAttr(), op.getGroupScoreAttr(),
        op.getNormTopkProbAttr(), op.getRoutedScaleAttr());
    auto dispatch = DispatchOp::create(
        rewriter, loc,
        TypeRange{tensorOf({t * topK, d}, pb.elementType), tensorOf({e}, i32),
                  tensorOf({t, topK}, i32)},
        tokens, router.getIndices(), pb.i64(e));
    Value gateUp = GroupedLinearOp::create(
        rewriter, loc, tensorOf({t * topK, twiceI}, pb.elementType),
        dispatch.getPermuted(), op.getExpertsGateUp(), dispatch.getCounts());
    Value down = GroupedLinearOp::create(
        rewriter, loc, tensorOf({t * topK, d}, pb.elementType),
        pb.swiglu(gateUp), op.getExpertsDown(), dispatch.getCounts());
    // The routing weights are FP32; combine scales rows in the activation precision.
    Value weights = router.getWeights();
    if (pb.elementType != f32)
      weights = ConvertOp::create(rewriter, loc,
                                  tensorOf({t, topK}, pb.elementType), weights);
    Value y = CombineOp::create(rewriter, loc, tensorOf({t, d}, pb.elementType),
                                down, dispatch.getPositions(), weights);

    if (Value sharedGateUp = op.getSharedGateUp()) {
      Value shared = pb.linear(tokens, sharedGateUp,
                               {t, shapeOf(sharedGateUp)[0]});
      shared = pb.linear(pb.swiglu(shared), op.getSharedDown(), {t, d});
      y = AddOp::create(rewriter, loc, y.getType(), y, shared);
    }

    SmallVector<Value> results{pb.reshape(y, x), dispatch.getCounts()};
    if (Value balanceLoss = op.getBalanceLoss())
      results.push_back(BalanceLossOp::create(
          rewriter, loc, balanceLoss.getType(), logits, router.getIndices(),
          op.getBalanceAlphaAttr(), pb.i64(b), op.getScoreFuncAttr()));
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// V3 report §2.2, eq. 21: h' = M [RMSNorm(h); RMSNorm(Emb(t))]. depth and loss_weight
/// do not enter this computation: the model builder weighs the depth's loss.
struct DecomposeMtpHead : OpRewritePattern<MtpHeadOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MtpHeadOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb{rewriter, op.getLoc(), elementTypeOf(op.getHidden())};
    FloatAttr eps = op.getRmsNormEpsAttr();
    Value hidden = pb.rmsNorm(op.getHidden(), op.getHiddenNorm(), eps);
    Value embedding = pb.rmsNorm(op.getNextEmbedding(), op.getEmbedNorm(), eps);
    Value joined = pb.concat({hidden, embedding}, 2);
    rewriter.replaceOp(op, pb.linear(joined, op.getProj(),
                                     shapeOf(op.getHidden())));
    return success();
  }
};

struct DecomposePass : ds::impl::DsDecomposeBase<DecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeMla, DecomposeMoe, DecomposeMtpHead>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
