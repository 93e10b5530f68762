//===- DsInterfaces.td - behaviour shared by many ds ops ---*- tablegen -*-===//
#ifndef DS_INTERFACES_TD
#define DS_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Ds_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::ds";
  let description = [{
    An op that knows its vector-Jacobian product. ds-autodiff walks the forward graph in
    reverse and asks each op for the gradients of its operands given the gradients of its
    results. Implementations are attached as external models (DsVjp.cpp, DsVjpMoe.cpp)
    so that the dialect's op definitions stay about what the ops are.

    A gradient has the type of the value it differentiates, so that the gradients of a
    value used several times can be summed with ds.add. Integer operands (ids, labels,
    routing indices, counts, positions) get no gradient. The FP8 pair is differentiated
    with a straight-through estimator: dequantize(quantize(x)) passes the gradient of its
    result to x unchanged, carried in the dequantized element type; block scales get
    none.
  }];
  let methods = [
    InterfaceMethod<[{
        Emits, at the builder's insertion point, the gradients of this op's operands.
        `resultGrads` has one entry per result; a null Value means no gradient reaches that
        result (treat it as zero). Fill `operandGrads` with one entry per operand; a null
        Value means the operand gets no gradient (indices, counts, labels).
      }],
      "::mlir::LogicalResult", "buildVjp",
      (ins "::mlir::OpBuilder &":$builder,
           "::mlir::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>
  ];
}

#endif // DS_INTERFACES_TD
