//===- Autodiff.cpp - @forward to @train_step or @gradients ---------------===//
//
// Builds the training step of docs/ir-conventions.md from the forward graph: the
// forward ops (cloned), their backward (AutodiffBackward.cpp, through each op's VJP),
// the global gradient norm, one AdamW update per parameter and the auxiliary-loss-free
// bias update of every router (V3 report §2.1.2). The signature:
//
//   arguments: @forward's arguments, then per ds.param P {ds.state = "exp_avg.P"} and
//              {ds.state = "exp_avg_sq.P"}, then {ds.input = "lr"}, {ds.input = "step"}
//   results:   @forward's results, {ds.output = "grad_norm"}, then per ds.param P
//              {ds.update = "P"}, {ds.update = "exp_avg.P"}, {ds.update = "exp_avg_sq.P"},
//              then {ds.update = "<bias>"} per router bias buffer.
//
// With gradients-only the pass builds @gradients instead, for gradient checks and
// evaluation tools: @forward's arguments, and as results @forward's results then per
// ds.param P {ds.output = "grad.P"} (the gradient of "loss"); no optimizer, no state.
//
// @forward is kept by default (keep-forward): evaluation and ds-report run it, and a
// plan may carry both functions.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOps.h"
#include "passes/AutodiffBackward.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace ds {
#define GEN_PASS_DEF_DSAUTODIFF
#include "passes/Passes.h.inc"
} // namespace ds

using namespace mlir;
using namespace ds;

namespace {

constexpr StringLiteral kParam = "ds.param";
constexpr StringLiteral kBuffer = "ds.buffer";
constexpr StringLiteral kInput = "ds.input";
constexpr StringLiteral kState = "ds.state";
constexpr StringLiteral kOutput = "ds.output";
constexpr StringLiteral kUpdate = "ds.update";

/// A trainable parameter of @forward: its argument index and checkpoint name.
struct Param {
  unsigned argIndex;
  StringRef name;
};

/// A router bias buffer and the expert_counts output of the same layer that drives it.
struct BiasBuffer {
  unsigned argIndex;
  StringRef name;
  unsigned countsResult;
};

/// Returns the layer L of `model.layers.L.mlp.gate.e_score_correction_bias` (HF's name
/// of the aux-loss-free bias), or nullopt for any other buffer.
std::optional<StringRef> routerBiasLayer(StringRef name) {
  if (!name.consume_front("model.layers."))
    return std::nullopt;
  auto [layer, rest] = name.split('.');
  if (layer.empty() || !llvm::all_of(layer, llvm::isDigit) ||
      rest != "mlp.gate.e_score_correction_bias")
    return std::nullopt;
  return layer;
}

std::optional<unsigned> findOutput(func::FuncOp func, StringRef name) {
  for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
    if (auto output = func.getResultAttrOfType<StringAttr>(i, kOutput))
      if (output.getValue() == name)
        return i;
  return std::nullopt;
}

DictionaryAttr namedAttr(Builder &b, StringRef key, const Twine &value) {
  return b.getDictionaryAttr(b.getNamedAttr(key, b.getStringAttr(value)));
}

struct AutodiffPass : ds::impl::DsAutodiffBase<AutodiffPass> {
  using DsAutodiffBase::DsAutodiffBase;

  void runOnOperation() override {
    if (failed(run()))
      signalPassFailure();
  }

  LogicalResult run();
  LogicalResult checkForward(func::FuncOp forward, unsigned &lossResult);
  LogicalResult collectState(func::FuncOp forward, SmallVectorImpl<Param> &params,
                             SmallVectorImpl<BiasBuffer> &biases);
  void appendOptimizer(Block *entry, unsigned numForwardArgs, ArrayRef<Value> paramValues,
                       ArrayRef<Value> grads, ArrayRef<BiasBuffer> biases, OpBuilder &b,
                       Location loc, SmallVectorImpl<Value> &outputs);
};

LogicalResult AutodiffPass::checkForward(func::FuncOp forward,
                                         unsigned &lossResult) {
  if (forward.isExternal() || !llvm::hasSingleElement(forward.getBody()))
    return forward.emitError("ds-autodiff: @forward must have a body of one "
                             "block (a straight-line graph)");
  std::optional<unsigned> loss = findOutput(forward, "loss");
  if (!loss)
    return forward.emitError("ds-autodiff: @forward has no result marked "
                             "{ds.output = \"loss\"} to differentiate");
  auto lossType = dyn_cast<RankedTensorType>(forward.getResultTypes()[*loss]);
  if (!lossType || lossType.getRank() != 0 || !lossType.getElementType().isF32())
    return forward.emitError("ds-autodiff: the loss must be tensor<f32>, found ")
           << forward.getResultTypes()[*loss];
  lossResult = *loss;

  WalkResult composites = forward.walk([](Operation *op) {
    if (!isa<MlaOp, MoeOp, MtpHeadOp>(op))
      return WalkResult::advance();
    op->emitOpError("is a composite op; run ds-decompose before ds-autodiff");
    return WalkResult::interrupt();
  });
  return failure(composites.wasInterrupted());
}

LogicalResult AutodiffPass::collectState(func::FuncOp forward,
                                         SmallVectorImpl<Param> &params,
                                         SmallVectorImpl<BiasBuffer> &biases) {
  for (unsigned i = 0, e = forward.getNumArguments(); i < e; ++i) {
    if (auto name = forward.getArgAttrOfType<StringAttr>(i, kParam)) {
      auto type = dyn_cast<RankedTensorType>(forward.getArgument(i).getType());
      if (!type || !isa<FloatType>(type.getElementType()))
        return forward.emitError("ds-autodiff: parameter '")
               << name.getValue() << "' must be a float tensor, found "
               << forward.getArgument(i).getType();
      params.push_back({i, name.getValue()});
      continue;
    }
    auto name = forward.getArgAttrOfType<StringAttr>(i, kBuffer);
    if (!name)
      continue;
    std::optional<StringRef> layer = routerBiasLayer(name.getValue());
    if (!layer)
      continue;
    std::string countsName = ("expert_counts." + *layer).str();
    std::optional<unsigned> counts = findOutput(forward, countsName);
    if (!counts)
      return forward.emitError("ds-autodiff: router bias '")
             << name.getValue() << "' has no {ds.output = \"" << countsName
             << "\"} result of @forward to update it from";
    biases.push_back({i, name.getValue(), *counts});
  }
  return success();
}

/// The arguments and results of the function ds-autodiff builds, with their attributes.
struct Signature {
  SmallVector<Type> argTypes, resultTypes;
  SmallVector<DictionaryAttr> argAttrs, resultAttrs;
};

/// Starts a signature with @forward's arguments and results, attributes included.
Signature forwardSignature(func::FuncOp forward) {
  Signature sig;
  sig.argTypes.assign(forward.getArgumentTypes().begin(), forward.getArgumentTypes().end());
  sig.resultTypes.assign(forward.getResultTypes().begin(), forward.getResultTypes().end());
  for (unsigned i = 0, e = forward.getNumArguments(); i < e; ++i)
    sig.argAttrs.push_back(forward.getArgAttrDict(i));
  for (unsigned i = 0, e = forward.getNumResults(); i < e; ++i)
    sig.resultAttrs.push_back(forward.getResultAttrDict(i));
  return sig;
}

/// docs/ir-conventions.md, "The training step".
/// The type of a parameter's AdamW moments: its shape, in `momentElement` when given.
Type momentTypeOf(Type paramType, Type momentElement) {
  if (!momentElement)
    return paramType;
  return cast<RankedTensorType>(paramType).clone(momentElement);
}

Signature trainStepSignature(func::FuncOp forward, ArrayRef<Param> params,
                             ArrayRef<BiasBuffer> biases, Type momentElement, Builder &b) {
  Signature sig = forwardSignature(forward);
  auto scalarType = RankedTensorType::get({}, b.getF32Type());
  for (const Param &param : params) {
    Type type = momentTypeOf(forward.getArgument(param.argIndex).getType(), momentElement);
    sig.argTypes.append({type, type});
    sig.argAttrs.push_back(namedAttr(b, kState, "exp_avg." + param.name));
    sig.argAttrs.push_back(namedAttr(b, kState, "exp_avg_sq." + param.name));
  }
  sig.argTypes.append({scalarType, scalarType});
  sig.argAttrs.push_back(namedAttr(b, kInput, "lr"));
  sig.argAttrs.push_back(namedAttr(b, kInput, "step"));

  sig.resultTypes.push_back(scalarType);
  sig.resultAttrs.push_back(namedAttr(b, kOutput, "grad_norm"));
  for (const Param &param : params) {
    Type type = forward.getArgument(param.argIndex).getType();
    Type moment = momentTypeOf(type, momentElement);
    sig.resultTypes.append({type, moment, moment});
    sig.resultAttrs.push_back(namedAttr(b, kUpdate, param.name));
    sig.resultAttrs.push_back(namedAttr(b, kUpdate, "exp_avg." + param.name));
    sig.resultAttrs.push_back(namedAttr(b, kUpdate, "exp_avg_sq." + param.name));
  }
  for (const BiasBuffer &bias : biases) {
    sig.resultTypes.push_back(forward.getArgument(bias.argIndex).getType());
    sig.resultAttrs.push_back(namedAttr(b, kUpdate, bias.name));
  }
  return sig;
}

/// @gradients: @forward's arguments; its results, then {ds.output = "grad.P"} per P.
Signature gradientsSignature(func::FuncOp forward, ArrayRef<Param> params, Builder &b) {
  Signature sig = forwardSignature(forward);
  for (const Param &param : params) {
    sig.resultTypes.push_back(forward.getArgument(param.argIndex).getType());
    sig.resultAttrs.push_back(namedAttr(b, kOutput, "grad." + param.name));
  }
  return sig;
}

LogicalResult AutodiffPass::run() {
  ModuleOp module = getOperation();
  auto forward = module.lookupSymbol<func::FuncOp>("forward");
  if (!forward)
    return module.emitError("ds-autodiff: the module has no func.func @forward");
  StringRef funcName = gradientsOnly ? "gradients" : "train_step";
  if (Operation *existing = module.lookupSymbol(funcName))
    return existing->emitError("ds-autodiff: the module already has a @") << funcName;
  unsigned lossResult;
  SmallVector<Param> params;
  SmallVector<BiasBuffer> biases;
  if (failed(checkForward(forward, lossResult)) ||
      failed(collectState(forward, params, biases)))
    return failure();

  OpBuilder b(module.getContext());
  Type momentElement;
  if (momentDtype == "bf16")
    momentElement = b.getBF16Type();
  else if (momentDtype != "f32")
    return module.emitError("ds-autodiff: moment-dtype is '")
           << momentDtype << "'; expected f32 or bf16";
  Signature sig = gradientsOnly ? gradientsSignature(forward, params, b)
                                : trainStepSignature(forward, params, biases, momentElement, b);
  Location loc = forward.getLoc();
  b.setInsertionPointAfter(forward);
  auto step = func::FuncOp::create(b, loc, funcName,
                                   b.getFunctionType(sig.argTypes, sig.resultTypes));
  step.setAllArgAttrs(sig.argAttrs);
  step.setAllResultAttrs(sig.resultAttrs);
  Block *entry = step.addEntryBlock();

  // Forward: a clone of @forward's body.
  unsigned numForwardArgs = forward.getNumArguments();
  IRMapping mapping;
  mapping.map(forward.getArguments(), entry->getArguments().take_front(numForwardArgs));
  b.setInsertionPointToEnd(entry);
  SmallVector<Operation *> forwardOps;
  for (Operation &op : forward.getBody().front().without_terminator())
    forwardOps.push_back(b.clone(op, mapping));
  SmallVector<Value> outputs;
  for (Value output : forward.getBody().front().getTerminator()->getOperands())
    outputs.push_back(mapping.lookupOrDefault(output));

  // Backward.
  SmallVector<Value> paramValues;
  for (const Param &param : params)
    paramValues.push_back(entry->getArgument(param.argIndex));
  SmallVector<Value> grads;
  if (failed(buildBackward(forwardOps, outputs[lossResult], paramValues, b, grads)))
    return failure();

  // A parameter the loss does not reach gets an explicit zero gradient: in a training
  // step it still decays and keeps its moments in step, and @gradients returns one
  // result per parameter whatever the graph.
  for (auto [grad, param] : llvm::zip(grads, paramValues)) {
    if (!grad)
      grad = arith::ConstantOp::create(b, loc, cast<TypedAttr>(b.getZeroAttr(param.getType())));
    else if (grad.getType() != param.getType())
      return emitError(loc, "ds-autodiff: the gradient of a parameter has type ")
             << grad.getType() << " but the parameter has type " << param.getType();
  }
  if (gradientsOnly)
    outputs.append(grads);
  else
    appendOptimizer(entry, numForwardArgs, paramValues, grads, biases, b, loc, outputs);
  auto terminator = func::ReturnOp::create(b, loc, outputs);

  // A VJP emits the gradients of all its operands; those of operands that do not
  // depend on a parameter (e.g. the dgrad of a linear fed by the tokens path) were not
  // taken and are removed here. Forward ops are left as the model built them.
  Operation *lastForward = forwardOps.empty() ? nullptr : forwardOps.back();
  for (Operation *op = terminator->getPrevNode(); op && op != lastForward;) {
    Operation *previous = op->getPrevNode();
    if (isOpTriviallyDead(op))
      op->erase();
    op = previous;
  }

  if (!keepForward)
    forward.erase();
  return success();
}

/// The optimizer part of @train_step: the global gradient norm, one AdamW per parameter
/// and one bias update per router; appends grad_norm and the updates to `outputs` in the
/// order of trainStepSignature.
void AutodiffPass::appendOptimizer(Block *entry, unsigned numForwardArgs,
                                   ArrayRef<Value> paramValues, ArrayRef<Value> grads,
                                   ArrayRef<BiasBuffer> biases, OpBuilder &b, Location loc,
                                   SmallVectorImpl<Value> &outputs) {
  auto scalarType = RankedTensorType::get({}, b.getF32Type());
  Value gradNorm = GradNormOp::create(b, loc, scalarType, grads);
  unsigned numArgs = entry->getNumArguments();
  Value lr = entry->getArgument(numArgs - 2);
  Value step = entry->getArgument(numArgs - 1);
  SmallVector<Value> updates;
  for (auto [index, param] : llvm::enumerate(paramValues)) {
    Value expAvg = entry->getArgument(numForwardArgs + 2 * index);
    Value expAvgSq = entry->getArgument(numForwardArgs + 2 * index + 1);
    Type type = param.getType();
    auto adamw = AdamwOp::create(
        b, loc, TypeRange{type, expAvg.getType(), expAvgSq.getType()}, param, grads[index], expAvg, expAvgSq, lr, step,
        gradNorm, b.getF64FloatAttr(beta1), b.getF64FloatAttr(beta2),
        b.getF64FloatAttr(epsilon), b.getF64FloatAttr(weightDecay),
        b.getF64FloatAttr(maxGradNorm));
    updates.append(adamw->result_begin(), adamw->result_end());
  }
  for (const BiasBuffer &bias : biases) {
    Value current = entry->getArgument(bias.argIndex);
    updates.push_back(BiasUpdateOp::create(b, loc, current.getType(), current,
                                           outputs[bias.countsResult],
                                           b.getF64FloatAttr(biasUpdateGamma)));
  }
  outputs.push_back(gradNorm);
  outputs.append(updates);
}

} // namespace
