//===- FuseRope.cpp - MLA's RoPE chains as one kernel each ----------------===//
//
// MLA (V2 report §2.1.3) applies RoPE to the last qk_rope_head_dim channels of each query
// head and to one key shared by all heads. ds-decompose spells that with slices, rope,
// expand and concat, and ds-autodiff mirrors it with slice_grad, rope_grad, expand_grad
// and adds that ds-fuse has already turned into concats. Every launch here only copies
// or rotates, so the fused kernels are exact copies of the chains when every buffer of
// the chain has one element type (a copy between equal types rounds nothing).
//
//===----------------------------------------------------------------------===//
#include "passes/fuse/FusionSupport.h"
#include "passes/fuse/Fusions.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;

namespace ds::fuse {

namespace {

ArrayRef<int64_t> shapeOf(Value buffer) { return cast<MemRefType>(buffer.getType()).getShape(); }

/// A slice launch along the last dimension of a rank-`rank` tensor.
struct LastDimSlice {
  dsx::LaunchOp launch;
  Value source;
  int64_t offset = 0, size = 0;
};

std::optional<LastDimSlice> matchSliceLaunch(dsx::LaunchOp launch, int64_t rank) {
  if (!isLaunchOf(launch, "slice", 1, 1))
    return std::nullopt;
  Value source = launch.getInputs()[0];
  std::optional<int64_t> dim = dimAttr(launch, rank);
  std::optional<int64_t> offset = intAttr(launch, "offset");
  std::optional<int64_t> size = intAttr(launch, "size");
  if (rankOf(source) != rank || dim != rank - 1 || !offset || !size)
    return std::nullopt;
  return LastDimSlice{launch, source, *offset, *size};
}

/// The slice that wrote `result` itself (not a view of it).
std::optional<LastDimSlice> matchSliceResult(Value result, int64_t rank) {
  dsx::LaunchOp writer = writerOf(result);
  if (!writer || writer.getOutputs().size() != 1 || writer.getOutputs()[0] != result)
    return std::nullopt;
  return matchSliceLaunch(writer, rank);
}

/// The rope launch's attributes (theta, interleaved, YaRN) plus `extra`.
SmallVector<NamedAttribute> ropeAttrs(dsx::LaunchOp rope, ArrayRef<NamedAttribute> extra) {
  SmallVector<NamedAttribute> attrs(rope.getKernelAttrs().getValue());
  attrs.append(extra.begin(), extra.end());
  return attrs;
}

bool sameElementType(ArrayRef<Value> buffers) {
  return llvm::all_of(buffers,
                      [&](Value b) { return elementType(b) == elementType(buffers.front()); });
}

/// concat(slice(x)..., rope(slice(x)), slice(x)...) along the last dimension, the parts
/// covering x in order -> rope_partial(x) {offset, size: the rotated channels}.
void fusePartialRopeAt(dsx::LaunchOp concat) {
  if (concat.getOutputs().size() != 1)
    return;
  Value result = concat.getOutputs()[0];
  if (rankOf(result) != 4 || dimAttr(concat, 4) != 3)
    return;
  Fusion fusion;
  fusion.members.push_back(concat);
  SmallVector<Value> buffers = {result};
  Value x;
  dsx::LaunchOp rope;
  int64_t covered = 0, ropeOffset = 0, ropeSize = 0;
  for (Value part : concat.getInputs()) {
    Value sliced = part;
    dsx::LaunchOp writer = writerOf(part);
    bool rotated = isLaunchOf(writer, "rope", 1, 1) || isLaunchOf(writer, "rope_grad", 1, 1);
    if (rotated) {
      if (rope || writer.getOutputs()[0] != part)
        return; // one rotated window, written by the rope itself
      rope = writer;
      fusion.members.push_back(rope);
      sliced = rope.getInputs()[0];
      buffers.push_back(sliced);
    }
    std::optional<LastDimSlice> slice = matchSliceResult(sliced, 4);
    if (!slice || slice->offset != covered || (x && slice->source != x))
      return;
    if (rotated) {
      ropeOffset = slice->offset;
      ropeSize = slice->size;
    }
    x = slice->source;
    covered += slice->size;
    buffers.push_back(part);
    fusion.members.push_back(slice->launch);
  }
  if (!rope || shapeOf(x) != shapeOf(result) || covered != shapeOf(x)[3])
    return;
  buffers.push_back(x);
  if (!sameElementType(buffers))
    return;
  Builder builder(concat.getContext());
  fusion.kernel = rope.getKernel() == "rope" ? "rope_partial" : "rope_partial_grad";
  fusion.inputs = {x};
  fusion.outputs = {result};
  fusion.attrs =
      ropeAttrs(rope, {builder.getNamedAttr("offset", builder.getI64IntegerAttr(ropeOffset)),
                       builder.getNamedAttr("size", builder.getI64IntegerAttr(ropeSize))});
  replaceByFusedLaunch(fusion);
}

/// k = concat(slice(kv_up)[..., :nope], expand(rope(view(slice(kv_a)[..., R:R+Dr])))) ->
/// mla_rope_key(kv_up, kv_a) {nope_dim, rope_offset = R}.
void fuseMlaRopeKeyAt(dsx::LaunchOp concat) {
  Value key = concat.getOutputs()[0];
  if (concat.getInputs().size() != 2 || rankOf(key) != 4 || dimAttr(concat, 4) != 3)
    return;
  std::optional<LastDimSlice> nope = matchSliceResult(concat.getInputs()[0], 4);
  dsx::LaunchOp expand = writerOf(concat.getInputs()[1]);
  if (!nope || nope->offset != 0 || !isLaunchOf(expand, "expand", 1, 1) ||
      expand.getOutputs()[0] != concat.getInputs()[1])
    return;
  dsx::LaunchOp rope = writerOf(expand.getInputs()[0]);
  if (!isLaunchOf(rope, "rope", 1, 1) || rope.getOutputs()[0] != expand.getInputs()[0])
    return;
  // The rotated key is [B, S, 1, Dr], a view of the [B, S, Dr] slice of kv_a.
  Value rotated = rope.getInputs()[0];
  auto view = rotated.getDefiningOp<dsx::ViewOp>();
  std::optional<LastDimSlice> pe = view ? matchSliceResult(view.getSource(), 3) : std::nullopt;
  if (!pe)
    return;
  ArrayRef<int64_t> keyShape = shapeOf(key), kvUpShape = shapeOf(nope->source);
  ArrayRef<int64_t> ropeShape = shapeOf(rotated), kvAShape = shapeOf(pe->source);
  // [B, S, 1, Dr] rotated once and broadcast over the heads of [B, S, H, nope + Dr].
  int64_t ropeDim = keyShape[3] - nope->size;
  if (ropeShape != ArrayRef<int64_t>{keyShape[0], keyShape[1], 1, ropeDim} ||
      kvUpShape.take_front(3) != keyShape.take_front(3) ||
      kvAShape.take_front(2) != keyShape.take_front(2) || pe->size != ropeDim)
    return;
  if (!sameElementType({key, nope->source, pe->source, rotated, concat.getInputs()[0],
                        concat.getInputs()[1], rope.getOutputs()[0]}))
    return;
  Builder builder(concat.getContext());
  replaceByFusedLaunch(
      {"mla_rope_key",
       {pe->launch, rope, expand, nope->launch, concat},
       {nope->source, pe->source},
       {key},
       ropeAttrs(rope,
                 {builder.getNamedAttr("nope_dim", builder.getI64IntegerAttr(nope->size)),
                  builder.getNamedAttr("rope_offset", builder.getI64IntegerAttr(pe->offset))})});
}

/// The backward of MLA's key, from the key gradient dk [B, S, H, nope + Dr] and the value
/// gradient dv: kv_up_grad = concat(slice(dk)[..., :nope], dv) and pe_grad =
/// rope_grad(expand_grad(slice(dk)[..., nope:])) -> mla_rope_key_grad(dk, dv) {nope_dim}.
void fuseMlaRopeKeyGradAt(dsx::LaunchOp ropeGrad) {
  dsx::LaunchOp expandGrad = writerOf(ropeGrad.getInputs()[0]);
  if (!isLaunchOf(expandGrad, "expand_grad", 1, 1) ||
      expandGrad.getOutputs()[0] != ropeGrad.getInputs()[0])
    return;
  std::optional<LastDimSlice> pe = matchSliceResult(expandGrad.getInputs()[0], 4);
  if (!pe)
    return;
  Value keyGrad = pe->source, peGrad = ropeGrad.getOutputs()[0];
  ArrayRef<int64_t> keyShape = shapeOf(keyGrad);
  int64_t nopeDim = keyShape[3] - pe->size;
  if (pe->offset != nopeDim ||
      shapeOf(peGrad) != ArrayRef<int64_t>{keyShape[0], keyShape[1], 1, pe->size})
    return;
  // The other slice of dk, whose only reader concatenates it with the value gradient.
  for (Operation *user : keyGrad.getUsers()) {
    std::optional<LastDimSlice> nope = matchSliceLaunch(dyn_cast<dsx::LaunchOp>(user), 4);
    if (!nope || nope->source != keyGrad || nope->offset != 0 || nope->size != nopeDim)
      continue;
    Value nopeGrad = nope->launch.getOutputs()[0];
    dsx::LaunchOp concat = soleReader(nopeGrad);
    if (!isLaunchOf(concat, "concat", 2, 1) || concat.getInputs()[0] != nopeGrad ||
        dimAttr(concat, 4) != 3)
      return;
    Value valueGrad = concat.getInputs()[1], kvUpGrad = concat.getOutputs()[0];
    if (!sameElementType({keyGrad, valueGrad, kvUpGrad, nopeGrad, peGrad, expandGrad.getInputs()[0],
                          expandGrad.getOutputs()[0]}))
      return;
    Builder builder(ropeGrad.getContext());
    replaceByFusedLaunch(
        {"mla_rope_key_grad",
         {pe->launch, expandGrad, ropeGrad, nope->launch, concat},
         {keyGrad, valueGrad},
         {kvUpGrad, peGrad},
         ropeAttrs(ropeGrad,
                   {builder.getNamedAttr("nope_dim", builder.getI64IntegerAttr(nopeDim))})});
    return;
  }
}

} // namespace

void fusePartialRope(dsx::ProgramOp program) {
  for (dsx::LaunchOp concat : launchesOf(program, "concat"))
    fusePartialRopeAt(concat);
}

void fuseMlaRopeKey(dsx::ProgramOp program) {
  // Forward first: the backward's fusion erases concats the forward loop would visit.
  for (dsx::LaunchOp concat : launchesOf(program, "concat"))
    fuseMlaRopeKeyAt(concat);
  for (dsx::LaunchOp ropeGrad : launchesOf(program, "rope_grad"))
    fuseMlaRopeKeyGradAt(ropeGrad);
}

} // namespace ds::fuse
