//===- FuseOptimizer.cpp - multi-tensor optimizer launches ----------------===//
//
// ds-autodiff ends the step with one adamw per parameter and one bias_update per router
// bias. Launches of equal attributes (and, for adamw, the same lr, step and grad_norm
// buffers) become one multi-tensor launch whose operands repeat the single launch's per
// tensor (runtime/kernels/cpu/CpuKernels.h gives the layout); each tensor's update is
// the single kernel's, element for element.
//
// Grouping costs memory: the gradients a group reads and the new parameter and moments it
// writes are live at once, while the single launches let a later update reuse the bytes
// of an earlier update's gradient. At the end of the step the arena already holds the
// new parameters and both moments of every tensor, so a group adds at most its own
// gradients' bytes to the peak; optimizer-group-bytes caps that.
//
//===----------------------------------------------------------------------===//
#include "passes/fuse/FusionSupport.h"
#include "passes/fuse/Fusions.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace ds::fuse {

namespace {

int64_t bytesOf(Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  return type.getNumElements() * dsx::elementSizeInBytes(type.getElementType());
}

/// adamw: lr, step, grad_norm, then (param, grad, exp_avg, exp_avg_sq) per tensor;
/// outputs (new_param, new_exp_avg, new_exp_avg_sq) per tensor.
void fuseAdamwGroup(ArrayRef<dsx::LaunchOp> group) {
  if (group.size() < 2)
    return;
  dsx::LaunchOp first = group.front();
  Fusion fusion;
  fusion.kernel = "adamw_multi";
  ValueRange scalars = first.getInputs().drop_front(4);
  fusion.inputs.append(scalars.begin(), scalars.end());
  for (dsx::LaunchOp adamw : group) {
    ValueRange tensors = adamw.getInputs().take_front(4);
    fusion.inputs.append(tensors.begin(), tensors.end());
    fusion.outputs.append(adamw.getOutputs().begin(), adamw.getOutputs().end());
    fusion.members.push_back(adamw);
  }
  fusion.attrs.assign(first.getKernelAttrs().begin(), first.getKernelAttrs().end());
  replaceByFusedLaunch(fusion);
}

/// bias_update: (bias, counts) per tensor; outputs new_bias per tensor.
void fuseBiasUpdateGroup(ArrayRef<dsx::LaunchOp> group) {
  if (group.size() < 2)
    return;
  dsx::LaunchOp first = group.front();
  Fusion fusion;
  fusion.kernel = "bias_update_multi";
  for (dsx::LaunchOp update : group) {
    fusion.inputs.append(update.getInputs().begin(), update.getInputs().end());
    fusion.outputs.push_back(update.getOutputs()[0]);
    fusion.members.push_back(update);
  }
  fusion.attrs.assign(first.getKernelAttrs().begin(), first.getKernelAttrs().end());
  replaceByFusedLaunch(fusion);
}

} // namespace

void fuseOptimizers(dsx::ProgramOp program, int64_t groupBytes) {
  // What one multi-tensor launch shares: the attributes and, for adamw, the scalar
  // buffers. A step has one or two such keys, so a linear search finds a group.
  struct Group {
    DictionaryAttr attrs;
    SmallVector<Value, 3> scalars;
    SmallVector<dsx::LaunchOp> members;
    int64_t bytes = 0;
  };
  SmallVector<Group> open;
  SmallVector<SmallVector<dsx::LaunchOp>> full;
  for (dsx::LaunchOp adamw : launchesOf(program, "adamw")) {
    if (!isLaunchOf(adamw, "adamw", 7, 3))
      continue;
    ValueRange scalars = adamw.getInputs().drop_front(4);
    auto *group = llvm::find_if(open, [&](const Group &g) {
      return g.attrs == adamw.getKernelAttrs() && llvm::equal(g.scalars, scalars);
    });
    if (group == open.end()) {
      open.push_back({adamw.getKernelAttrs(), {scalars.begin(), scalars.end()}, {}, 0});
      group = std::prev(open.end());
    }
    int64_t bytes = bytesOf(adamw.getInputs()[0]);
    if (!group->members.empty() && groupBytes > 0 && group->bytes + bytes > groupBytes) {
      full.push_back(std::move(group->members));
      group->members.clear();
      group->bytes = 0;
    }
    group->members.push_back(adamw);
    group->bytes += bytes;
  }
  for (Group &group : open)
    full.push_back(std::move(group.members));
  for (ArrayRef<dsx::LaunchOp> members : full)
    fuseAdamwGroup(members);

  SmallVector<Group> updates;
  for (dsx::LaunchOp update : launchesOf(program, "bias_update")) {
    if (!isLaunchOf(update, "bias_update", 2, 1))
      continue;
    auto *group =
        llvm::find_if(updates, [&](const Group &g) { return g.attrs == update.getKernelAttrs(); });
    if (group == updates.end()) {
      updates.push_back({update.getKernelAttrs(), {}, {}, 0});
      group = std::prev(updates.end());
    }
    group->members.push_back(update);
  }
  for (Group &group : updates)
    fuseBiasUpdateGroup(group.members);
}

} // namespace ds::fuse
