//===- LowerToExec.cpp - the step function into a dsx.program -------------===//
//
// Bufferizes one function of ds ops (docs/ir-conventions.md, @train_step or @forward)
// into the execution dialect: one buffer per tensor value, one kernel launch per op, and
// the state updates the runtime applies after the step. The kernel calling convention of
// runtime/kernels/Kernel.h (kernel = op name without `ds.`, operands then results in ODS
// order, attributes by ODS name) makes this one rule for every op instead of a table.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsDialect.h"
#include "dialects/dsx/DsxOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"

namespace ds {
#define GEN_PASS_DEF_DSLOWERTOEXEC
#include "passes/Passes.h.inc"
} // namespace ds

using namespace mlir;
using namespace ds;
using dsx::BufferRole;

namespace {

/// Composite ops have no kernel of their own: ds-decompose rewrites them into primitives.
bool isComposite(Operation *op) {
  StringRef name = op->getName().getStringRef();
  return name == "ds.mla" || name == "ds.moe" || name == "ds.mtp_head";
}

/// The kernel attributes of `op`: its inherent (ODS) attributes, with defaults filled in
/// so that a kernel never has to repeat an ODS default, in the kinds a plan can store.
FailureOr<DictionaryAttr> kernelAttributes(Operation *op) {
  NamedAttrList attrs(op->getAttrDictionary());
  op->getName().populateDefaultAttrs(attrs);
  ArrayRef<StringAttr> inherent = op->getName().getAttributeNames();
  NamedAttrList kept;
  for (NamedAttribute attr : attrs) {
    // Passes annotate ops for the kernels with discardable `ds.`-prefixed attributes
    // (ds-fp8-cast's ds.fp8_promote_interval); the kernel sees them without the prefix.
    StringRef name = attr.getName().getValue();
    bool forKernel = name.consume_front("ds.");
    if ((!forKernel && !llvm::is_contained(inherent, attr.getName())) ||
        name == "operandSegmentSizes" || name == "resultSegmentSizes")
      continue;
    Attribute value = attr.getValue();
    auto integer = dyn_cast<IntegerAttr>(value);
    bool storable = integer ? integer.getType().isSignlessInteger() || integer.getType().isIndex()
                            : isa<FloatAttr, StringAttr, DenseI64ArrayAttr>(value);
    if (!storable)
      return op->emitOpError("attribute '")
             << attr.getName().getValue() << "' = " << value
             << " has no kernel-attribute form (integers, booleans, floats, strings and i64 "
                "arrays only)";
    kept.push_back(NamedAttribute(StringAttr::get(op->getContext(), name), value));
  }
  return kept.getDictionary(op->getContext());
}

/// Builds the dsx.program of one function, replacing it.
class ProgramLowering {
public:
  explicit ProgramLowering(func::FuncOp func) : func(func), builder(func) {}

  LogicalResult run();

private:
  LogicalResult lowerArguments();
  LogicalResult planOutputs();
  LogicalResult lowerOp(Operation &op);
  LogicalResult lowerResults();

  FailureOr<MemRefType> bufferType(Value value, Operation *where);
  /// The buffer a launch writes `value` into: the output buffer it is returned under,
  /// or a fresh temporary.
  FailureOr<Value> createResultBuffer(Value value, Operation *where);
  Value createBuffer(Location loc, MemRefType type, BufferRole role, StringAttr name,
                     StringAttr init = {});
  void createLaunch(Location loc, StringRef kernel, ValueRange inputs, ValueRange outputs,
                    DictionaryAttr attrs);

  func::FuncOp func;
  OpBuilder builder;
  DenseMap<Value, Value> bufferOf;
  /// Values written straight into the output buffer of this name by their producer.
  DenseMap<Value, StringAttr> directOutputs;
  /// Outputs whose value needs a copy: an argument, or a value returned twice.
  SmallVector<std::pair<Value, StringAttr>> copiedOutputs;
};

LogicalResult ProgramLowering::run() {
  if (!func.getBody().hasOneBlock())
    return func.emitError("ds-lower-to-exec: @")
           << func.getName() << " has control flow; a step is one straight-line block";
  if (failed(planOutputs()))
    return failure();
  auto program = dsx::ProgramOp::create(builder, func.getLoc(), func.getSymNameAttr(),
                                        /*arena_bytes=*/nullptr, /*persistent_bytes=*/nullptr);
  builder.createBlock(&program.getBody());
  if (failed(lowerArguments()))
    return failure();
  for (Operation &op : func.getBody().front().without_terminator())
    if (failed(lowerOp(op)))
      return failure();
  if (failed(lowerResults()))
    return failure();
  func.erase();
  return success();
}

FailureOr<MemRefType> ProgramLowering::bufferType(Value value, Operation *where) {
  auto tensor = dyn_cast<RankedTensorType>(value.getType());
  if (!tensor || !tensor.hasStaticShape())
    return where->emitOpError("has a value of type ")
           << value.getType() << "; only statically shaped tensors become buffers";
  if (dsx::elementSizeInBytes(tensor.getElementType()) == 0)
    return where->emitOpError("has a value of element type ")
           << tensor.getElementType() << ", which the runtime cannot store (f32, bf16, "
           << "f8E4M3FN, i32)";
  return MemRefType::get(tensor.getShape(), tensor.getElementType());
}

Value ProgramLowering::createBuffer(Location loc, MemRefType type, BufferRole role,
                                    StringAttr name, StringAttr init) {
  return dsx::BufferOp::create(builder, loc, type,
                               dsx::BufferRoleAttr::get(builder.getContext(), role), name,
                               /*offset=*/nullptr, init);
}

void ProgramLowering::createLaunch(Location loc, StringRef kernel, ValueRange inputs,
                                   ValueRange outputs, DictionaryAttr attrs) {
  dsx::LaunchOp::create(builder, loc, builder.getStringAttr(kernel), inputs, outputs, attrs);
}

LogicalResult ProgramLowering::lowerArguments() {
  static const std::pair<StringLiteral, BufferRole> kBindings[] = {
      {"ds.input", BufferRole::Input},
      {"ds.param", BufferRole::Param},
      {"ds.buffer", BufferRole::Buffer},
      {"ds.state", BufferRole::State}};
  for (BlockArgument arg : func.getArguments()) {
    unsigned index = arg.getArgNumber();
    std::optional<std::pair<StringAttr, BufferRole>> binding;
    for (auto [attrName, role] : kBindings) {
      auto name = func.getArgAttrOfType<StringAttr>(index, attrName);
      if (!name)
        continue;
      if (binding)
        return func.emitError("argument #")
               << index << " of @" << func.getName() << " has two of ds.input, ds.param, "
               << "ds.buffer and ds.state";
      binding = {name, role};
    }
    if (!binding)
      return func.emitError("argument #")
             << index << " of @" << func.getName()
             << " has none of ds.input, ds.param, ds.buffer, ds.state: the runtime could not "
                "bind it";
    StringAttr init;
    if (binding->second == BufferRole::Param) {
      init = func.getArgAttrOfType<StringAttr>(index, "ds.init");
      if (!init)
        return func.emitError("parameter '")
               << binding->first.getValue() << "' (argument #" << index
               << ") has no ds.init: a fresh run would not know how to fill it";
    }
    FailureOr<MemRefType> type = bufferType(arg, func);
    if (failed(type))
      return failure();
    bufferOf[arg] = createBuffer(arg.getLoc(), *type, binding->second, binding->first, init);
  }
  return success();
}

LogicalResult ProgramLowering::planOutputs() {
  Operation *terminator = func.getBody().front().getTerminator();
  for (auto [index, value] : llvm::enumerate(terminator->getOperands())) {
    auto output = func.getResultAttrOfType<StringAttr>(index, "ds.output");
    auto update = func.getResultAttrOfType<StringAttr>(index, "ds.update");
    if (!output && !update)
      return func.emitError("result #")
             << index << " of @" << func.getName()
             << " has neither ds.output nor ds.update: the runtime would not know where it goes";
    if (!output)
      continue;
    if (isa<OpResult>(value) && directOutputs.try_emplace(value, output).second)
      continue;
    copiedOutputs.push_back({value, output});
  }
  return success();
}

FailureOr<Value> ProgramLowering::createResultBuffer(Value value, Operation *where) {
  FailureOr<MemRefType> type = bufferType(value, where);
  if (failed(type))
    return failure();
  StringAttr output = directOutputs.lookup(value);
  Value buffer = createBuffer(value.getLoc(), *type,
                              output ? BufferRole::Output : BufferRole::Temporary, output);
  bufferOf[value] = buffer;
  return buffer;
}

LogicalResult ProgramLowering::lowerOp(Operation &op) {
  if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
    auto splat = dyn_cast<SplatElementsAttr>(constant.getValue());
    if (!splat)
      return op.emitOpError("is not a splat; ds-lower-to-exec lowers only splat constants "
                            "(to the \"fill\" kernel)");
    Attribute element = splat.getSplatValue<Attribute>();
    double value = 0.0;
    if (auto real = dyn_cast<FloatAttr>(element))
      value = real.getValueAsDouble();
    else
      value = static_cast<double>(cast<IntegerAttr>(element).getInt());
    FailureOr<Value> buffer = createResultBuffer(constant.getResult(), &op);
    if (failed(buffer))
      return failure();
    createLaunch(op.getLoc(), "fill", {}, *buffer,
                 builder.getDictionaryAttr(
                     builder.getNamedAttr("value", builder.getF64FloatAttr(value))));
    return success();
  }
  if (!isa<DsDialect>(op.getDialect()))
    return op.emitOpError("has no kernel; ds-lower-to-exec lowers ds ops and splat "
                          "arith.constant only");
  if (isComposite(&op))
    return op.emitOpError("is a composite op; run ds-decompose before ds-lower-to-exec");
  FailureOr<DictionaryAttr> attrs = kernelAttributes(&op);
  if (failed(attrs))
    return failure();
  SmallVector<Value> inputs, outputs;
  for (Value operand : op.getOperands())
    inputs.push_back(bufferOf.lookup(operand));
  for (Value result : op.getResults()) {
    FailureOr<Value> buffer = createResultBuffer(result, &op);
    if (failed(buffer))
      return failure();
    outputs.push_back(*buffer);
  }
  createLaunch(op.getLoc(), op.getName().stripDialect(), inputs, outputs, *attrs);
  return success();
}

LogicalResult ProgramLowering::lowerResults() {
  Operation *terminator = func.getBody().front().getTerminator();
  for (auto [value, name] : copiedOutputs) {
    FailureOr<MemRefType> type = bufferType(value, terminator);
    if (failed(type))
      return failure();
    Value output = createBuffer(terminator->getLoc(), *type, BufferRole::Output, name);
    createLaunch(terminator->getLoc(), "copy", bufferOf.lookup(value), output,
                 builder.getDictionaryAttr({}));
  }
  llvm::StringMap<Value> stateByName;
  for (BlockArgument arg : func.getArguments())
    for (StringRef attrName : {"ds.param", "ds.buffer", "ds.state"})
      if (auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), attrName))
        stateByName[name.getValue()] = bufferOf.lookup(arg);
  for (auto [index, value] : llvm::enumerate(terminator->getOperands())) {
    auto update = func.getResultAttrOfType<StringAttr>(index, "ds.update");
    if (!update)
      continue;
    Value target = stateByName.lookup(update.getValue());
    if (!target)
      return func.emitError("result #")
             << index << " updates '" << update.getValue()
             << "', which is no ds.param, ds.buffer or ds.state argument of @" << func.getName();
    Value source = bufferOf.lookup(value);
    if (source == target)
      continue; // returned unchanged: nothing to copy
    if (source.getType() != target.getType())
      return func.emitError("result #")
             << index << " updates '" << update.getValue() << "' of type " << target.getType()
             << " with a value of type " << source.getType();
    dsx::UpdateOp::create(builder, terminator->getLoc(), source, target);
  }
  return success();
}

struct LowerToExecPass : ds::impl::DsLowerToExecBase<LowerToExecPass> {
  using DsLowerToExecBase::DsLowerToExecBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto func = module.lookupSymbol<func::FuncOp>(entry);
    if (!func) {
      module.emitError("ds-lower-to-exec: no function @") << entry << " to lower";
      return signalPassFailure();
    }
    if (failed(ProgramLowering(func).run()))
      signalPassFailure();
  }
};

} // namespace
