//===- DsDialect.td - the ds graph dialect -----------------*- tablegen -*-===//
//
// ds describes the training graph of a sparse Mixture-of-Experts model: composite ops that
// keep the model's structure visible (MLA, MoE, the MTP projection) and the primitives they
// decompose into, together with the backward ops of the primitives.
//
//===----------------------------------------------------------------------===//

#ifndef DS_DIALECT_TD
#define DS_DIALECT_TD

include "mlir/IR/OpBase.td"

def Ds_Dialect : Dialect {
  let name = "ds";
  let cppNamespace = "::ds";
  let summary = "graph dialect for DeepSeek-style MoE training";
  let description = [{
    Tensors are builtin ranked tensors (bf16, f32, f8E4M3FN, i32). Activations are laid out
    [batch, seq, ...]; routed experts of one layer are one stacked tensor [E, ...].
    Linear weights follow the PyTorch convention [out, in] (y = x * W^T).
  }];
  let useDefaultAttributePrinterParser = 0;
}

class Ds_Op<string mnemonic, list<Trait> traits = []>
    : Op<Ds_Dialect, mnemonic, traits>;

#endif // DS_DIALECT_TD
