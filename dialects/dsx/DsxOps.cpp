//===- DsxOps.cpp - verifiers of the dsx ops ------------------------------===//
//
// The verifiers hold what the runtime relies on without checking twice: buffers the plan
// can store, launches that never write persistent state directly, updates that land on
// state, and (once planned) offsets inside their region.
//
//===----------------------------------------------------------------------===//
#include "dialects/dsx/DsxOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

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
  if (isPersistentRole(getRole()) && (!getName() || getName()->empty()))
    return emitOpError("a ") << stringifyBufferRole(getRole())
                             << " buffer needs a name: the runtime binds it by name";
  if (getInit()) {
    if (getRole() != BufferRole::Param && getRole() != BufferRole::Buffer)
      return emitOpError("only param and buffer buffers take an init, not a ")
             << stringifyBufferRole(getRole()) << " buffer";
    StringRef init = *getInit();
    if (init != "normal" && init != "ones" && init != "zeros")
      return emitOpError("init must be \"normal\", \"ones\" or \"zeros\", not \"") << init << "\"";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// ViewOp
//===----------------------------------------------------------------------===//

BufferOp ViewOp::getRootBuffer() {
  Value source = getSource();
  while (auto view = source.getDefiningOp<ViewOp>())
    source = view.getSource();
  return source.getDefiningOp<BufferOp>();
}

LogicalResult ViewOp::verify() {
  MemRefType from = getSource().getType(), to = getType();
  if (from.getElementType() != to.getElementType())
    return emitOpError("a view keeps the element type: source has ")
           << from.getElementType() << ", result has " << to.getElementType();
  if (!to.hasStaticShape() || !to.getLayout().isIdentity())
    return emitOpError("result type ") << to << " must be static and dense row-major";
  if (from.getNumElements() != to.getNumElements())
    return emitOpError("a view keeps the element count: source has ")
           << from.getNumElements() << " elements, result has " << to.getNumElements();
  if (!getRootBuffer())
    return emitOpError("source must be a dsx.buffer or a view of one");
  return success();
}

//===----------------------------------------------------------------------===//
// LaunchOp
//===----------------------------------------------------------------------===//

/// The attribute kinds the plan format stores (runtime/kernels/Kernel.h, AttrValue).
static bool isPlanAttr(Attribute attr) {
  if (auto integer = dyn_cast<IntegerAttr>(attr))
    return integer.getType().isSignlessInteger() || integer.getType().isIndex();
  return isa<FloatAttr, BoolAttr, StringAttr, DenseI64ArrayAttr>(attr);
}

static BufferOp getRootBuffer(Value buffer) {
  if (auto view = buffer.getDefiningOp<ViewOp>())
    return view.getRootBuffer();
  return buffer.getDefiningOp<BufferOp>();
}

LogicalResult LaunchOp::verify() {
  if (getKernel().empty())
    return emitOpError("kernel name must not be empty");
  for (NamedAttribute attr : getKernelAttrs())
    if (!isPlanAttr(attr.getValue()))
      return emitOpError("kernel attribute '")
             << attr.getName().getValue() << "' is " << attr.getValue()
             << "; a plan stores only integers, floats, booleans, strings and i64 arrays";
  for (Value buffer : llvm::concat<Value>(getInputs(), getOutputs()))
    if (!getRootBuffer(buffer))
      return emitOpError("operands must be dsx.buffer results or views of them");
  llvm::DenseSet<Operation *> written;
  for (auto [index, output] : llvm::enumerate(getOutputs())) {
    BufferOp root = getRootBuffer(output);
    BufferRole role = root.getRole();
    // Launches still read the old value of persistent state; it changes only through
    // dsx.update after the step, so a launch may not overwrite it.
    if (role != BufferRole::Temporary && role != BufferRole::Output)
      return emitOpError("output #")
             << index << " writes the " << stringifyBufferRole(role) << " buffer '"
             << root.getName().value_or("") << "'; persistent state changes only through dsx.update";
    if (!written.insert(root).second)
      return emitOpError("output #") << index << " writes the same buffer as an earlier output";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// UpdateOp
//===----------------------------------------------------------------------===//

LogicalResult UpdateOp::verify() {
  auto target = getTarget().getDefiningOp<BufferOp>();
  if (!target)
    return emitOpError("target must be a dsx.buffer, not a view");
  BufferRole role = target.getRole();
  if (role != BufferRole::Param && role != BufferRole::Buffer && role != BufferRole::State)
    return emitOpError("target must be a param, buffer or state buffer, not a ")
           << stringifyBufferRole(role) << " buffer";
  if (getSource() == getTarget())
    return emitOpError("updates '") << *target.getName() << "' with itself";
  if (!getRootBuffer(getSource()))
    return emitOpError("source must be a dsx.buffer or a view of one");
  return success();
}

//===----------------------------------------------------------------------===//
// ProgramOp
//===----------------------------------------------------------------------===//

LogicalResult ProgramOp::verify() {
  Block &body = getBody().front();
  if (getArenaBytes().has_value() != getPersistentBytes().has_value())
    return emitOpError("arena_bytes and persistent_bytes are set together, by ds-plan-memory");
  bool planned = isPlanned();
  llvm::StringMap<BufferOp> namedBuffers;
  llvm::DenseSet<Value> updatedTargets;
  UpdateOp firstUpdate;
  for (Operation &op : body) {
    if (auto buffer = dyn_cast<BufferOp>(op)) {
      if (buffer.getName() && isPersistentRole(buffer.getRole())) {
        auto [it, inserted] = namedBuffers.try_emplace(*buffer.getName(), buffer);
        if (!inserted)
          return buffer.emitOpError("name '")
                 << *buffer.getName() << "' is already used by another buffer";
      }
      if (!planned)
        continue;
      if (!buffer.getOffset())
        return buffer.emitOpError("has no offset in a planned program");
      int64_t region = buffer.isTemporary() ? *getArenaBytes() : *getPersistentBytes();
      int64_t begin = *buffer.getOffset(), end = begin + buffer.getSizeInBytes();
      if (end > region)
        return buffer.emitOpError("bytes [")
               << begin << ", " << end << ") lie outside its region of " << region << " bytes";
    } else if (auto update = dyn_cast<UpdateOp>(op)) {
      if (!firstUpdate)
        firstUpdate = update;
      if (!updatedTargets.insert(update.getTarget()).second)
        return update.emitOpError("updates a target that an earlier dsx.update already updates");
    } else if (isa<LaunchOp>(op)) {
      if (firstUpdate)
        return op.emitOpError("follows a dsx.update; updates apply after every launch of the step");
    } else if (!isa<ViewOp>(op)) {
      return op.emitOpError("is not allowed in a dsx.program");
    }
  }
  return success();
}
