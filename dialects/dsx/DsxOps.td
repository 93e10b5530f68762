//===- DsxOps.td - ops of the dsx execution dialect --------*- tablegen -*-===//
#ifndef DSX_OPS_TD
#define DSX_OPS_TD

include "dialects/dsx/DsxDialect.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Element types the runtime can store (runtime/core/Tensor.h, DType).
def Dsx_Buffer : MemRefOf<[F32, BF16, F8E4M3FN, I32]>;

def Dsx_ProgramOp : Dsx_Op<"program", [Symbol, IsolatedFromAbove, SingleBlock,
                                       NoTerminator]> {
  let summary = "one step: buffers, launches in schedule order, then state updates";
  let description = [{
    The body's dsx.launch ops run in order. ds-plan-memory gives every buffer an offset
    into one arena, laid out as the runtime's plan is (runtime/plan/Plan.h): inputs,
    parameters, buffers and state in [0, persistent_bytes); temporaries and outputs in
    [persistent_bytes, arena_bytes), sharing bytes where their lifetimes do not overlap.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                   OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$arena_bytes,
                   OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$persistent_bytes);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// True once ds-plan-memory has given every buffer an offset.
    bool isPlanned() { return getArenaBytes().has_value(); }
  }];
}

def Dsx_BufferOp : Dsx_Op<"buffer", [Pure, HasParent<"ProgramOp">]> {
  let summary = "a buffer of the step, with its role and (once planned) its offset";
  let description = [{
    Every role but temporary is bound by `name` to the runtime's tensors
    (docs/ir-conventions.md). Inputs, params, buffers and state persist across steps;
    outputs are read by the runtime after the step. `init` says how a fresh run fills a
    parameter ("normal", "ones", "zeros"); every param has one.
  }];
  let arguments = (ins Dsx_BufferRoleAttr:$role, OptionalAttr<StrAttr>:$name,
                   OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$offset,
                   OptionalAttr<StrAttr>:$init);
  let results = (outs Dsx_Buffer:$result);
  // The role attribute prints its own leading space, hence the empty literal before it.
  let assemblyFormat = "`` $role ($name^)? (`at` $offset^)? attr-dict `:` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    bool isTemporary() { return getRole() == BufferRole::Temporary; }
    /// Size in bytes of the buffer's contents (no alignment padding).
    int64_t getSizeInBytes();
  }];
}

def Dsx_ViewOp : Dsx_Op<"view", [Pure, HasParent<"ProgramOp">]> {
  let summary = "a buffer's bytes under another shape: a reshape that moves nothing";
  let description = [{
    `result` names the bytes of `source`, a temporary or output dsx.buffer (never another
    view), under its own static shape of the same element type and element count. A view
    is read-only: launches take it as an input, never as an output, so its contents are
    whatever the source's writers wrote. ds-plan-memory gives it the source's offset and
    keeps the source live until the view's last reader; the plan records it as a buffer
    that views another (runtime/plan/Plan.h, PlanBuffer::viewOf). ds-fuse turns reshape
    launches into views. Views lie in the arena above the persistent region, where plans
    keep temporaries, hence the source's role.
  }];
  let arguments = (ins Dsx_Buffer:$source);
  let results = (outs Dsx_Buffer:$result);
  let assemblyFormat = "$source attr-dict `:` type($source) `to` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    BufferOp getSourceBuffer() { return getSource().getDefiningOp<BufferOp>(); }
  }];
}

def Dsx_LaunchOp : Dsx_Op<"launch", [HasParent<"ProgramOp">, AttrSizedOperandSegments]> {
  let summary = "one kernel call: reads `inputs`, writes `outputs`";
  let description = [{
    `kernel` names a runtime kernel (runtime/kernels/Kernel.h): a ds op's name without
    `ds.`, a runtime helper ("fill", "copy") or a fused kernel of ds-fuse. Inputs are
    dsx.buffer or dsx.view results, outputs dsx.buffer results. `kernel_attrs` holds the
    kernel's attributes; values are integers, floats, booleans, strings or dense i64
    arrays, the kinds a plan can store.
  }];
  let arguments = (ins StrAttr:$kernel, Variadic<Dsx_Buffer>:$inputs,
                   Variadic<Dsx_Buffer>:$outputs, DictionaryAttr:$kernel_attrs);
  let assemblyFormat = [{
    $kernel `(` $inputs `)` `->` `(` $outputs `)` `attrs` $kernel_attrs attr-dict `:`
    functional-type($inputs, $outputs)
  }];
  let hasVerifier = 1;
}

def Dsx_UpdateOp : Dsx_Op<"update", [HasParent<"ProgramOp">,
                                     AllTypesMatch<["source", "target"]>]> {
  let summary = "after the step, `target` takes the contents of `source`";
  let description = [{
    Records how persistent state advances (a parameter, optimizer state or a buffer such
    as the router bias): the runtime copies `source` into `target` once every launch has
    run, so launches of this step still read the old value.
  }];
  let arguments = (ins Dsx_Buffer:$source, Dsx_Buffer:$target);
  let assemblyFormat = "$source `to` $target attr-dict `:` type($source)";
  let hasVerifier = 1;
}

#endif // DSX_OPS_TD
