//===- DsxOps.cpp - verifiers of the dsx ops ------------------------------===//
//
// The verifiers hold what the runtime's plan verifier (runtime/plan/PlanVerifier.h) will
// demand of the serialized plan, so that a bad program is reported here, at its op, rather
// than as a rejected file: storable buffers, named bindings unique per role, views of one
// arena buffer that no launch writes, launches that never write persistent state directly,
// updates that land on state, and (once planned) offsets inside their region.
//
//===----------------------------------------------------------------------===//
#include "dialects/dsx/DsxOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

#include <set>
#include <string>
#include <utility>

using namespace mlir;
using namespace ds::dsx;

#define GET_OP_CLASSES
#include "dialects/dsx/DsxOps.cpp.inc"

int64_t ds::dsx::elementSizeInBytes(Type type) {
  if (type.isF32() || type.isInteger(32))
    return 4;
  if (type.isBF16())
    return 2;
  if (isa<Float8E4M3FNType>(type))
    return 1;
  return 0;
}

//===----------------------------------------------------------------------===//
// BufferOp
//===----------------------------------------------------------------------===//

int64_t BufferOp::getSizeInBytes() {
  MemRefType type = getType();
  return type.getNumElements() * elementSizeInBytes(type.getElementType());
}

LogicalResult BufferOp::verify() {
  MemRefType type = getType();
  if (!type.hasStaticShape())
    return emitOpError("buffer type ") << type << " must have a static shape";
  if (!type.getLayout().isIdentity())
    return emitOpError("buffer type ") << type << " must be dense row-major (identity layout)";
  BufferRole role = getRole();
  if (role != BufferRole::Temporary && (!getName() || getName()->empty()))
    return emitOpError("a ") << stringifyBufferRole(role)
                             << " buffer needs a name: the runtime binds it by name";
  if (role != BufferRole::Param) {
    if (getInit())
      return emitOpError("only param buffers take an init, not a ")
             << stringifyBufferRole(role) << " buffer";
    return success();
  }
  if (!getInit())
    return emitOpError("param '") << *getName() << "' needs an init (normal, ones or zeros)";
  StringRef init = *getInit();
  if (init != "normal" && init != "ones" && init != "zeros")
    return emitOpError("init must be \"normal\", \"ones\" or \"zeros\", not \"") << init << "\"";
  return success();
}

//===----------------------------------------------------------------------===//
// ViewOp
//===----------------------------------------------------------------------===//

LogicalResult ViewOp::verify() {
  BufferOp source = getSourceBuffer();
  if (!source)
    return emitOpError("source must be a dsx.buffer result; a view of a view names the "
                       "buffer they both view");
  if (isPersistentRole(source.getRole()))
    return emitOpError("views the ") << stringifyBufferRole(source.getRole()) << " buffer '"
                                     << *source.getName()
                                     << "'; only temporary and output buffers can be viewed";
  MemRefType from = getSource().getType(), to = getType();
  if (from.getElementType() != to.getElementType())
    return emitOpError("element type ") << to.getElementType() << " differs from the source's "
                                        << from.getElementType();
  if (!to.hasStaticShape() || !to.getLayout().isIdentity())
    return emitOpError("view type ") << to << " must have a static shape and identity layout";
  if (from.getNumElements() != to.getNumElements())
    return emitOpError("has ") << to.getNumElements() << " elements but its source has "
                               << from.getNumElements();
  return success();
}

BufferOp ds::dsx::underlyingBuffer(Value buffer) {
  if (auto view = buffer.getDefiningOp<ViewOp>())
    return view.getSourceBuffer();
  return buffer.getDefiningOp<BufferOp>();
}

//===----------------------------------------------------------------------===//
// LaunchOp
//===----------------------------------------------------------------------===//

/// The attribute kinds the plan format stores (runtime/kernels/Kernel.h, AttrValue).
static bool isPlanAttr(Attribute attr) {
  if (auto integer = dyn_cast<IntegerAttr>(attr))
    return integer.getType().isSignlessInteger() || integer.getType().isIndex();
  return isa<FloatAttr, StringAttr, DenseI64ArrayAttr>(attr);
}

LogicalResult LaunchOp::verify() {
  if (getKernel().empty())
    return emitOpError("kernel name must not be empty");
  for (NamedAttribute attr : getKernelAttrs())
    if (!isPlanAttr(attr.getValue()))
      return emitOpError("kernel attribute '")
             << attr.getName().getValue() << "' is " << attr.getValue()
             << "; a plan stores only integers, booleans, floats, strings and i64 arrays";
  for (auto [index, input] : llvm::enumerate(getInputs()))
    if (!input.getDefiningOp<BufferOp>() && !input.getDefiningOp<ViewOp>())
      return emitOpError("input #") << index << " must be a dsx.buffer or dsx.view result";
  for (auto [index, output] : llvm::enumerate(getOutputs())) {
    if (output.getDefiningOp<ViewOp>())
      return emitOpError("output #") << index
                                     << " is a dsx.view; views are read-only, write their source";
    if (!output.getDefiningOp<BufferOp>())
      return emitOpError("output #") << index << " must be a dsx.buffer result";
  }
  llvm::DenseSet<Value> written;
  for (auto [index, output] : llvm::enumerate(getOutputs())) {
    auto buffer = output.getDefiningOp<BufferOp>();
    BufferRole role = buffer.getRole();
    // Launches of a step read the old value of persistent state; it changes only through
    // dsx.update once the step is done. Inputs belong to the runtime.
    if (isPersistentRole(role))
      return emitOpError("output #")
             << index << " writes the " << stringifyBufferRole(role) << " buffer '"
             << *buffer.getName() << "'; persistent buffers change only through dsx.update";
    if (!written.insert(output).second)
      return emitOpError("output #") << index << " writes the same buffer as an earlier output";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// UpdateOp
//===----------------------------------------------------------------------===//

LogicalResult UpdateOp::verify() {
  auto source = getSource().getDefiningOp<BufferOp>();
  auto target = getTarget().getDefiningOp<BufferOp>();
  if (!source || !target)
    return emitOpError("source and target must be dsx.buffer results");
  BufferRole role = target.getRole();
  if (role != BufferRole::Param && role != BufferRole::Buffer && role != BufferRole::State)
    return emitOpError("target must be a param, buffer or state buffer, not a ")
           << stringifyBufferRole(role) << " buffer";
  if (source == target)
    return emitOpError("updates '") << *target.getName() << "' with itself";
  return success();
}

//===----------------------------------------------------------------------===//
// ProgramOp
//===----------------------------------------------------------------------===//

LogicalResult ProgramOp::verify() {
  if (getArenaBytes().has_value() != getPersistentBytes().has_value())
    return emitOpError("arena_bytes and persistent_bytes are set together, by ds-plan-memory");
  bool planned = isPlanned();
  if (planned && *getPersistentBytes() > *getArenaBytes())
    return emitOpError("persistent_bytes ")
           << *getPersistentBytes() << " exceeds arena_bytes " << *getArenaBytes()
           << "; the persistent region is the start of the arena";
  std::set<std::pair<BufferRole, std::string>> names;
  llvm::DenseSet<Value> updatedTargets;
  UpdateOp firstUpdate;
  for (Operation &op : getBody().front()) {
    if (auto buffer = dyn_cast<BufferOp>(op)) {
      if (!buffer.isTemporary() &&
          !names.insert({buffer.getRole(), buffer.getName()->str()}).second)
        return buffer.emitOpError("another ")
               << stringifyBufferRole(buffer.getRole()) << " buffer is named '"
               << *buffer.getName() << "'";
      if (!planned)
        continue;
      if (!buffer.getOffset())
        return buffer.emitOpError("has no offset in a planned program");
      bool persistent = isPersistentRole(buffer.getRole());
      int64_t lo = persistent ? 0 : *getPersistentBytes();
      int64_t hi = persistent ? *getPersistentBytes() : *getArenaBytes();
      int64_t begin = *buffer.getOffset(), end = begin + buffer.getSizeInBytes();
      if (begin < lo || end > hi)
        return buffer.emitOpError("bytes [")
               << begin << ", " << end << ") lie outside its region [" << lo << ", " << hi
               << ")";
    } else if (auto update = dyn_cast<UpdateOp>(op)) {
      if (!firstUpdate)
        firstUpdate = update;
      if (!updatedTargets.insert(update.getTarget()).second)
        return update.emitOpError("updates a target that an earlier dsx.update already updates");
    } else if (isa<ViewOp>(op)) {
      continue;
    } else if (isa<LaunchOp>(op)) {
      if (firstUpdate)
        return op.emitOpError("follows a dsx.update; updates apply after every launch of the step");
    } else {
      return op.emitOpError("is not allowed in a dsx.program");
    }
  }
  return success();
}
