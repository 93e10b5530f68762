//===- FusionSupport.h - replacing a group of dsx launches by one ---------===//
//
// Every ds-fuse rewrite ends the same way: a group of launches becomes one launch of a
// fused kernel that reads the group's inputs and writes the buffers the rest of the step
// still reads. Whether that is legal depends on the schedule and the buffers, not on the
// kernels, so it is decided here, once:
//   - every buffer a member writes that the fused launch does not is a temporary read by
//     members only (directly or through a dsx.view): it vanishes with the group;
//   - the fused launch takes the place of the group's first member that follows the last
//     writer of its inputs, and no launch outside the group reads one of its outputs
//     before that place.
// ds-lower-to-exec writes every buffer from exactly one launch (one SSA value, one
// buffer) and ds-fuse keeps it so, which makes "the writer of a buffer" well defined.
//
//===----------------------------------------------------------------------===//
#ifndef DS_PASSES_FUSE_FUSIONSUPPORT_H
#define DS_PASSES_FUSE_FUSIONSUPPORT_H

#include "dialects/dsx/DsxOps.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace ds::fuse {

/// The launch that writes the bytes `buffer` names (a view's source's writer), or null
/// when no launch writes them (inputs, parameters, state).
dsx::LaunchOp writerOf(mlir::Value buffer);

/// The launch that reads `buffer` when it is a temporary whose only user is that one
/// launch reading it once (no views, no updates); null otherwise.
dsx::LaunchOp soleReader(mlir::Value buffer);

/// Whether `buffer` is a temporary dsx.buffer (not a view, not an output).
bool isTemporary(mlir::Value buffer);

/// The launches of `kernel`, in schedule order. Rewrites erase launches, so the fusions
/// collect their candidates first and never walk the block while rewriting it.
llvm::SmallVector<dsx::LaunchOp> launchesOf(dsx::ProgramOp program, llvm::StringRef kernel);

/// Whether `launch` runs `kernel` with `inputs` inputs and `outputs` outputs.
bool isLaunchOf(dsx::LaunchOp launch, llvm::StringRef kernel, unsigned inputs, unsigned outputs);

/// Integer kernel attribute `name`, if present.
std::optional<int64_t> intAttr(dsx::LaunchOp launch, llvm::StringRef name);

/// The `dim` attribute of a slice, slice_grad or concat on a tensor of `rank`, negative
/// values counted from the end as the kernels do.
std::optional<int64_t> dimAttr(dsx::LaunchOp launch, int64_t rank);

/// The element type of a buffer or view.
mlir::Type elementType(mlir::Value buffer);
int64_t rankOf(mlir::Value buffer);

/// One fused launch to be: which kernel, what it reads and writes, with which attributes,
/// and the launches it replaces.
struct Fusion {
  std::string kernel;
  llvm::SmallVector<dsx::LaunchOp> members;
  llvm::SmallVector<mlir::Value> inputs, outputs;
  llvm::SmallVector<mlir::NamedAttribute> attrs;
};

/// Replaces `fusion.members` by one launch when the rules above allow it, erasing the
/// buffers and views that only the members used; returns whether it did.
bool replaceByFusedLaunch(const Fusion &fusion);

} // namespace ds::fuse

#endif
