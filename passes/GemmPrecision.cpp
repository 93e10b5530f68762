//===- GemmPrecision.cpp - the step's GEMMs on BF16 tensor cores ----------===//
//
// Mixed precision the way Hopper runs it: storage, master weights, gradients and every
// non-GEMM op stay FP32, and each matrix product reads its two operands rounded to BF16
// and accumulates in FP32 (cuBLASLt's CUBLAS_COMPUTE_32F_FAST_16BF; the CPU kernels
// round the same operands, runtime/kernels/cpu/Gemm.h). That covers the linear layers'
// Fprop, Dgrad and Wgrad, the grouped expert GEMMs, and the products inside attention
// (q k^T and P v, and their backward products); the router's top-k, norms, softmax
// statistics and the optimizer never see a rounded value.
//
// The mark is the discardable attribute ds.math, which ds-lower-to-exec hands to the
// kernel as `math`. GEMMs that ds-fp8-cast already quantized keep their FP8 emulation
// and get no mark, so the pass composes with the FP8 recipe (whose high-precision
// GEMMs, V3 report §3.3.1, are exactly the ones left for BF16).
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOps.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"

namespace ds {
#define GEN_PASS_DEF_DSGEMMPRECISION
#include "passes/Passes.h.inc"
} // namespace ds

using namespace mlir;
using namespace ds;

namespace {

constexpr StringLiteral kMathAttr = "ds.math";
constexpr StringLiteral kFp8Attr = "ds.fp8_promote_interval";

bool isTensorCoreProduct(Operation *op) {
  return isa<LinearOp, LinearDgradOp, LinearWgradOp, GroupedLinearOp, GroupedLinearDgradOp,
             GroupedLinearWgradOp, AttentionOp, AttentionGradOp>(op);
}

struct GemmPrecisionPass : ds::impl::DsGemmPrecisionBase<GemmPrecisionPass> {
  using DsGemmPrecisionBase::DsGemmPrecisionBase;

  void runOnOperation() override {
    if (math != "bf16" && math != "tf32") {
      getOperation().emitError("ds-gemm-precision: unknown math '")
          << math << "'; expected bf16 or tf32";
      return signalPassFailure();
    }
    StringAttr mark = StringAttr::get(&getContext(), math);
    getOperation().walk([&](Operation *op) {
      if (isTensorCoreProduct(op) && !op->hasAttr(kFp8Attr))
        op->setAttr(kMathAttr, mark);
    });
  }
};

} // namespace
