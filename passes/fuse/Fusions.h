//===- Fusions.h - the rewrites of ds-fuse, one function per kind ---------===//
//
// Each function rewrites every match of its kind in `program` (an unplanned dsx.program)
// through replaceByFusedLaunch (FusionSupport.h), in schedule order. The pass runs them
// in the order below, which matters: views come first so that later patterns see a
// reshape as the view it has become, and the slice_grad sums become concats before the
// RoPE backward patterns look for a concat.
//
//===----------------------------------------------------------------------===//
#ifndef DS_PASSES_FUSE_FUSIONS_H
#define DS_PASSES_FUSE_FUSIONS_H

#include "dialects/dsx/DsxOps.h"

#include <cstdint>

namespace ds::fuse {

/// reshape (same element type, temporary result, temporary or output operand) ->
/// dsx.view of the operand; no launch.
void fuseReshapesIntoViews(dsx::ProgramOp program);

/// add(slice_grad(a), slice_grad(b)) whose slices tile their dimension -> concat(a, b).
void fuseSliceGradSums(dsx::ProgramOp program);

/// concat(slice(x), rope(slice(x))) over the last dimension of x -> rope_partial(x), and
/// the same with rope_grad -> rope_partial_grad.
void fusePartialRope(dsx::ProgramOp program);

/// MLA's shared RoPE key: concat(slice(kv_up), expand(rope(view(slice(kv_a))))) ->
/// mla_rope_key(kv_up, kv_a); and its backward, the slices of the key gradient with
/// expand_grad, rope_grad and the concat with the value gradient -> mla_rope_key_grad.
void fuseMlaRopeKey(dsx::ProgramOp program);

/// add + rms_norm of the sum -> add_rms_norm; rms_norm_grad whose FP32 input gradient only
/// feeds an add -> rms_norm_grad_add.
void fuseNormResiduals(dsx::ProgramOp program);

/// quantize -> dequantize with FP32 scales, read by nothing else -> quantize_dequantize.
void fuseFp8RoundTrips(dsx::ProgramOp program);

/// adamw launches of equal attributes and scalars -> adamw_multi, in groups of at most
/// `groupBytes` parameter bytes (0: one group); bias_update of equal gamma ->
/// bias_update_multi.
void fuseOptimizers(dsx::ProgramOp program, int64_t groupBytes);

} // namespace ds::fuse

#endif
