//===- FusionSupport.cpp - replacing a group of dsx launches by one -------===//
#include "passes/fuse/FusionSupport.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;

namespace ds::fuse {

namespace {

/// Who reads a buffer's bytes: launches taking it (or a view of it) as an input, and
/// whether a dsx.update copies it after the last launch.
struct Readers {
  SmallVector<dsx::LaunchOp> launches;
  bool byUpdate = false;
};

bool isInputUse(OpOperand &use, dsx::LaunchOp launch) {
  // ODS orders a launch's operands as its inputs, then its outputs.
  return use.getOperandNumber() < launch.getInputs().size();
}

void collectReaders(Value buffer, Readers &readers) {
  for (OpOperand &use : buffer.getUses()) {
    Operation *user = use.getOwner();
    if (auto launch = dyn_cast<dsx::LaunchOp>(user)) {
      if (isInputUse(use, launch))
        readers.launches.push_back(launch);
    } else if (auto view = dyn_cast<dsx::ViewOp>(user)) {
      collectReaders(view.getResult(), readers);
    } else {
      readers.byUpdate = true;
    }
  }
}

} // namespace

dsx::LaunchOp writerOf(Value buffer) {
  dsx::BufferOp bytes = dsx::underlyingBuffer(buffer);
  if (!bytes)
    return {};
  for (OpOperand &use : bytes.getResult().getUses())
    if (auto launch = dyn_cast<dsx::LaunchOp>(use.getOwner()))
      if (!isInputUse(use, launch))
        return launch;
  return {};
}

dsx::LaunchOp soleReader(Value buffer) {
  if (!isTemporary(buffer))
    return {};
  dsx::LaunchOp reader;
  for (OpOperand &use : buffer.getUses()) {
    auto launch = dyn_cast<dsx::LaunchOp>(use.getOwner());
    if (!launch)
      return {};
    if (!isInputUse(use, launch))
      continue;
    if (reader)
      return {};
    reader = launch;
  }
  return reader;
}

bool isTemporary(Value buffer) {
  auto op = buffer.getDefiningOp<dsx::BufferOp>();
  return op && op.isTemporary();
}

SmallVector<dsx::LaunchOp> launchesOf(dsx::ProgramOp program, StringRef kernel) {
  SmallVector<dsx::LaunchOp> launches;
  for (auto launch : program.getBody().front().getOps<dsx::LaunchOp>())
    if (launch.getKernel() == kernel)
      launches.push_back(launch);
  return launches;
}

bool isLaunchOf(dsx::LaunchOp launch, StringRef kernel, unsigned inputs, unsigned outputs) {
  return launch && launch.getKernel() == kernel && launch.getInputs().size() == inputs &&
         launch.getOutputs().size() == outputs;
}

std::optional<int64_t> intAttr(dsx::LaunchOp launch, StringRef name) {
  if (auto value = launch.getKernelAttrs().getAs<IntegerAttr>(name))
    return value.getInt();
  return std::nullopt;
}

std::optional<int64_t> dimAttr(dsx::LaunchOp launch, int64_t rank) {
  std::optional<int64_t> dim = intAttr(launch, "dim");
  if (!dim)
    return std::nullopt;
  int64_t resolved = *dim < 0 ? *dim + rank : *dim;
  if (resolved < 0 || resolved >= rank)
    return std::nullopt;
  return resolved;
}

Type elementType(Value buffer) { return cast<MemRefType>(buffer.getType()).getElementType(); }

int64_t rankOf(Value buffer) { return cast<MemRefType>(buffer.getType()).getRank(); }

bool replaceByFusedLaunch(const Fusion &fusion) {
  llvm::SmallPtrSet<Operation *, 8> members;
  for (dsx::LaunchOp member : fusion.members)
    members.insert(member);
  auto isMember = [&](dsx::LaunchOp launch) { return members.contains(launch); };

  // Buffers the members write that the fused launch will not: they must die with it.
  SmallVector<Value> vanishing;
  for (dsx::LaunchOp member : fusion.members)
    for (Value written : member.getOutputs()) {
      if (llvm::is_contained(fusion.outputs, written))
        continue;
      Readers readers;
      collectReaders(written, readers);
      if (!isTemporary(written) || readers.byUpdate || !llvm::all_of(readers.launches, isMember))
        return false;
      vanishing.push_back(written);
    }
  for (Value output : fusion.outputs) {
    dsx::LaunchOp writer = writerOf(output);
    if (!writer || !isMember(writer))
      return false;
  }

  // The first member after the last writer of an input: every input is ready there.
  Operation *lastInputWriter = nullptr;
  for (Value input : fusion.inputs) {
    dsx::LaunchOp writer = writerOf(input);
    if (!writer)
      continue;
    if (isMember(writer))
      return false;
    if (!lastInputWriter || lastInputWriter->isBeforeInBlock(writer))
      lastInputWriter = writer;
  }
  SmallVector<dsx::LaunchOp> ordered(fusion.members);
  llvm::sort(ordered,
             [](dsx::LaunchOp a, dsx::LaunchOp b) { return a->isBeforeInBlock(b.getOperation()); });
  auto place = llvm::find_if(ordered, [&](dsx::LaunchOp member) {
    return !lastInputWriter || lastInputWriter->isBeforeInBlock(member);
  });
  if (place == ordered.end())
    return false;
  // Outputs are written at `place`, possibly earlier than before, never later than a
  // reader outside the group.
  for (Value output : fusion.outputs) {
    Readers readers;
    collectReaders(output, readers);
    for (dsx::LaunchOp reader : readers.launches)
      if (!isMember(reader) && reader->isBeforeInBlock(*place))
        return false;
  }

  // ds-lower-to-exec declares each buffer just before its writer, so an output (or a view
  // made where a reshape was) may be declared after `place`; hoist the declarations. A
  // view's source is declared before its writer, which precedes `place`.
  for (bool views : {false, true})
    for (Value buffer : llvm::concat<const Value>(fusion.inputs, fusion.outputs)) {
      Operation *declaration = buffer.getDefiningOp();
      if (isa<dsx::ViewOp>(declaration) == views && !declaration->isBeforeInBlock(*place))
        declaration->moveBefore(*place);
    }

  OpBuilder builder(*place);
  SmallVector<Location> locations;
  for (dsx::LaunchOp member : ordered)
    locations.push_back(member.getLoc());
  dsx::LaunchOp::create(builder, builder.getFusedLoc(locations),
                        builder.getStringAttr(fusion.kernel), fusion.inputs, fusion.outputs,
                        builder.getDictionaryAttr(fusion.attrs));
  for (dsx::LaunchOp member : ordered)
    member.erase();
  for (Value buffer : vanishing) {
    for (Operation *user : llvm::make_early_inc_range(buffer.getUsers()))
      user->erase(); // views nothing reads any more
    buffer.getDefiningOp()->erase();
  }
  return true;
}

} // namespace ds::fuse
