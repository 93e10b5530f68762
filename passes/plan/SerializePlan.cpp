//===- SerializePlan.cpp - a planned dsx.program as the runtime's plan ----===//
#include "passes/plan/SerializePlan.h"

#include "dialects/dsx/DsxOps.h"
#include "runtime/plan/PlanVerifier.h"
#include "runtime/plan/PlanWriter.h"

#include "llvm/ADT/DenseMap.h"

using namespace mlir;

namespace ds {

namespace {

FailureOr<rt::DType> runtimeDType(Operation *buffer, MemRefType memref) {
  Type type = memref.getElementType();
  if (type.isF32())
    return rt::DType::F32;
  if (type.isBF16())
    return rt::DType::BF16;
  if (isa<Float8E4M3FNType>(type))
    return rt::DType::F8E4M3;
  if (type.isInteger(32))
    return rt::DType::I32;
  return buffer->emitOpError("has element type ") << type << ", which a plan cannot store";
}

rt::BufferRole runtimeRole(dsx::BufferRole role) {
  switch (role) {
  case dsx::BufferRole::Temporary:
    return rt::BufferRole::Temporary;
  case dsx::BufferRole::Input:
    return rt::BufferRole::Input;
  case dsx::BufferRole::Param:
    return rt::BufferRole::Param;
  case dsx::BufferRole::Buffer:
    return rt::BufferRole::Buffer;
  case dsx::BufferRole::State:
    return rt::BufferRole::State;
  case dsx::BufferRole::Output:
    return rt::BufferRole::Output;
  }
  llvm_unreachable("every dsx buffer role has a plan role");
}

/// Kernel attributes in the plan's three kinds (runtime/kernels/Kernel.h): booleans and
/// integers as integer lists, floats as f64, strings as strings.
LogicalResult convertAttrs(dsx::LaunchOp launch, rt::KernelAttrs &attrs) {
  for (NamedAttribute attr : launch.getKernelAttrs()) {
    std::string name = attr.getName().str();
    Attribute value = attr.getValue();
    if (auto flag = dyn_cast<BoolAttr>(value))
      attrs.setInt(name, flag.getValue() ? 1 : 0);
    else if (auto integer = dyn_cast<IntegerAttr>(value))
      attrs.setInt(name, integer.getValue().getSExtValue());
    else if (auto real = dyn_cast<FloatAttr>(value))
      attrs.setFloat(name, real.getValueAsDouble());
    else if (auto text = dyn_cast<StringAttr>(value))
      attrs.setString(name, text.str());
    else if (auto ints = dyn_cast<DenseI64ArrayAttr>(value))
      attrs.setInts(name, std::vector<int64_t>(ints.asArrayRef().begin(), ints.asArrayRef().end()));
    else
      return launch.emitOpError("kernel attribute '") << name << "' has no plan form";
  }
  return success();
}

/// Reads the module attributes that describe the model (docs/ir-conventions.md).
LogicalResult readMetadata(ModuleOp module, rt::Plan &plan) {
  auto missing = [&](StringRef name, StringRef kind) {
    return module.emitError("module has no ")
           << kind << " attribute '" << name
           << "'; the plan records it (docs/ir-conventions.md, module attributes)";
  };
  auto text = [&](StringRef name, std::string &out) -> LogicalResult {
    auto attr = module->getAttrOfType<StringAttr>(name);
    if (!attr)
      return missing(name, "string");
    out = attr.str();
    return success();
  };
  auto integer = [&](StringRef name, int64_t &out) -> LogicalResult {
    auto attr = module->getAttrOfType<IntegerAttr>(name);
    if (!attr)
      return missing(name, "integer");
    out = attr.getInt();
    return success();
  };
  auto real = module->getAttrOfType<FloatAttr>("ds.initializer_range");
  if (!real)
    return missing("ds.initializer_range", "float");
  plan.initializerRange = real.getValueAsDouble();
  if (failed(text("ds.model_type", plan.modelType)) || failed(text("ds.spec", plan.specJson)) ||
      failed(integer("ds.batch", plan.batch)) || failed(integer("ds.seq", plan.seq)) ||
      failed(integer("ds.vocab_size", plan.vocabSize)) ||
      failed(integer("ds.mtp_depth", plan.mtpDepth)))
    return failure();
  return success();
}

} // namespace

FailureOr<rt::Plan> buildRuntimePlan(ModuleOp module) {
  auto programs = module.getOps<dsx::ProgramOp>();
  if (programs.empty())
    return module.emitError("no dsx.program to serialize; run ds-lower-to-exec and "
                            "ds-plan-memory first");
  if (std::next(programs.begin()) != programs.end())
    return module.emitError("more than one dsx.program; a plan holds one step");
  dsx::ProgramOp program = *programs.begin();
  if (!program.isPlanned())
    return program.emitOpError("has no memory plan; run ds-plan-memory first");

  rt::Plan plan;
  if (failed(readMetadata(module, plan)))
    return failure();
  plan.persistentBytes = *program.getPersistentBytes();
  plan.arenaBytes = *program.getArenaBytes();

  llvm::DenseMap<Value, int32_t> ids;
  auto idsOf = [&](ValueRange buffers) {
    std::vector<int32_t> result;
    for (Value buffer : buffers)
      result.push_back(ids.lookup(buffer));
    return result;
  };
  for (Operation &op : program.getBody().front()) {
    if (auto buffer = dyn_cast<dsx::BufferOp>(op)) {
      FailureOr<rt::DType> dtype = runtimeDType(buffer, buffer.getType());
      if (failed(dtype))
        return failure();
      rt::PlanBuffer entry;
      entry.name = buffer.getName().value_or("").str();
      entry.role = runtimeRole(buffer.getRole());
      entry.dtype = *dtype;
      entry.shape.assign(buffer.getType().getShape().begin(), buffer.getType().getShape().end());
      entry.offset = static_cast<int64_t>(*buffer.getOffset());
      entry.init = buffer.getInit().value_or("").str();
      ids[buffer.getResult()] = static_cast<int32_t>(plan.buffers.size());
      plan.buffers.push_back(std::move(entry));
    } else if (auto view = dyn_cast<dsx::ViewOp>(op)) {
      FailureOr<rt::DType> dtype = runtimeDType(view, view.getType());
      if (failed(dtype))
        return failure();
      rt::PlanBuffer entry;
      entry.role = rt::BufferRole::Temporary;
      entry.dtype = *dtype;
      entry.shape.assign(view.getType().getShape().begin(), view.getType().getShape().end());
      entry.offset = static_cast<int64_t>(*view.getSourceBuffer().getOffset());
      entry.viewOf = ids.lookup(view.getSource());
      ids[view.getResult()] = static_cast<int32_t>(plan.buffers.size());
      plan.buffers.push_back(std::move(entry));
    } else if (auto launch = dyn_cast<dsx::LaunchOp>(op)) {
      rt::PlanLaunch entry;
      entry.kernel = launch.getKernel().str();
      entry.inputs = idsOf(launch.getInputs());
      entry.outputs = idsOf(launch.getOutputs());
      if (failed(convertAttrs(launch, entry.attrs)))
        return failure();
      plan.launches.push_back(std::move(entry));
    } else if (auto update = dyn_cast<dsx::UpdateOp>(op)) {
      plan.updates.push_back({ids.lookup(update.getSource()), ids.lookup(update.getTarget())});
    }
  }
  // The runtime checks every plan it loads; checking here too reports a compiler bug at
  // compile time, against the program, instead of at the start of a training job.
  if (rt::Status status = rt::verifyPlan(plan); !status.isOk())
    return program.emitOpError("does not make a valid plan: ") << status.message();
  return plan;
}

LogicalResult serializePlan(ModuleOp module, StringRef path) {
  FailureOr<rt::Plan> plan = buildRuntimePlan(module);
  if (failed(plan))
    return failure();
  if (rt::Status status = rt::writePlanFile(*plan, path.str()); !status.isOk())
    return module.emitError("cannot write the plan to '") << path << "': " << status.message();
  return success();
}

} // namespace ds
