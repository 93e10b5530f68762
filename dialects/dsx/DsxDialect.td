//===- DsxDialect.td - the dsx execution dialect -----------*- tablegen -*-===//
//
// dsx describes one bufferized step as the runtime runs it: named and temporary buffers,
// a linear schedule of kernel launches over them, and the state updates applied after the
// step. It is what ds-lower-to-exec produces, what ds-plan-memory lays out, and what the
// plan serializer writes; it carries nothing the plan file cannot hold.
//
//===----------------------------------------------------------------------===//

#ifndef DSX_DIALECT_TD
#define DSX_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/EnumAttr.td"

def Dsx_Dialect : Dialect {
  let name = "dsx";
  let cppNamespace = "::ds::dsx";
  let summary = "execution dialect: buffers, kernel launches, state updates";
  let description = [{
    Buffers are SSA values of builtin memref type (static shape, identity layout). A
    program is one step: its body runs top to bottom, each launch reading its inputs and
    writing its outputs; updates copy results into persistent state once the step is done.
  }];
  let useDefaultAttributePrinterParser = 1;
}

class Dsx_Op<string mnemonic, list<Trait> traits = []>
    : Op<Dsx_Dialect, mnemonic, traits>;

// Where a buffer's contents come from and how long they live. The names match the roles of
// the runtime's plan format (runtime/plan/Plan.h); the numbers do not need to.
def Dsx_RoleTemporary : I32EnumAttrCase<"Temporary", 0, "temporary">;
def Dsx_RoleInput : I32EnumAttrCase<"Input", 1, "input">;
def Dsx_RoleParam : I32EnumAttrCase<"Param", 2, "param">;
def Dsx_RoleBuffer : I32EnumAttrCase<"Buffer", 3, "buffer">;
def Dsx_RoleState : I32EnumAttrCase<"State", 4, "state">;
def Dsx_RoleOutput : I32EnumAttrCase<"Output", 5, "output">;

def Dsx_BufferRole : I32EnumAttr<"BufferRole", "what a buffer holds", [
    Dsx_RoleTemporary, Dsx_RoleInput, Dsx_RoleParam, Dsx_RoleBuffer, Dsx_RoleState,
    Dsx_RoleOutput]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::ds::dsx";
}

def Dsx_BufferRoleAttr : EnumAttr<Dsx_Dialect, Dsx_BufferRole, "role">;

#endif // DSX_DIALECT_TD
