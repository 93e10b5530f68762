//===- Passes.td - every ds pass, its options and summary --*- tablegen -*-===//
#ifndef DS_PASSES_TD
#define DS_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Decompose and autodiff (issue 4)
//===----------------------------------------------------------------------===//

def DsDecompose : Pass<"ds-decompose", "mlir::ModuleOp"> {
  let summary = "rewrite the composite ops (ds.mla, ds.moe, ds.mtp_head) into primitives";
  let description = [{
    ds.mla becomes the MLA dataflow of the DeepSeek-V2 report §2.1 (optional query
    compression, the compressed KV with its decoupled RoPE key shared by all heads,
    causal attention, output projection); ds.moe becomes the gate linear (FP32), router,
    dispatch, the two grouped expert GEMMs around SwiGLU, combine, the shared experts
    and, when balance_alpha > 0, ds.balance_loss; ds.mtp_head becomes two RMSNorms, the
    concatenation [h; e] (V3 report eq. 21) and the projection. Intermediate shapes
    follow from x and the attributes, which the composites' verifiers check.
  }];
  let dependentDialects = ["::ds::DsDialect"];
}

def DsAutodiff : Pass<"ds-autodiff", "mlir::ModuleOp"> {
  let summary = "build @train_step (forward, backward, AdamW, bias update) from @forward";
  let description = [{
    Clones @forward into @train_step (signature in docs/ir-conventions.md), seeds
    d(loss) = 1, walks the ops in reverse asking each for its vector-Jacobian product
    (DifferentiableOpInterface) and sums the gradients of a value used several times
    with ds.add. Only values that depend on a ds.param get gradients: the tokens path and
    the routing indices get none. Then ds.grad_norm over every parameter gradient (a
    parameter the loss does not reach gets a zero gradient), one ds.adamw per parameter
    and one ds.bias_update per router bias buffer, driven by the expert_counts output of
    its layer. Requires decomposed input. @forward is kept by default, for evaluation
    and reports. With gradients-only it builds @gradients instead: @forward's arguments,
    @forward's results and one {ds.output = "grad.P"} per ds.param P, with no optimizer.
  }];
  let dependentDialects = ["::ds::DsDialect", "::mlir::arith::ArithDialect"];
  let options = [
    Option<"beta1", "beta1", "double", "0.9", "AdamW first-moment decay">,
    Option<"beta2", "beta2", "double", "0.95", "AdamW second-moment decay (V3 report §4.2)">,
    Option<"epsilon", "epsilon", "double", "1e-8", "AdamW denominator epsilon">,
    Option<"weightDecay", "weight-decay", "double", "0.1", "AdamW decoupled weight decay">,
    Option<"maxGradNorm", "max-grad-norm", "double", "1.0",
           "global gradient-norm clipping threshold (<= 0 disables clipping)">,
    Option<"biasUpdateGamma", "bias-update-gamma", "double", "0.001",
           "bias update speed of auxiliary-loss-free balancing (V3 report §2.1.2)">,
    Option<"momentDtype", "moment-dtype", "std::string", "\"f32\"",
           "element type of the AdamW moments exp_avg and exp_avg_sq: f32, or bf16 as "
           "in V3's recipe (report §3.3.3); the master weights stay FP32">,
    Option<"keepForward", "keep-forward", "bool", "true",
           "keep @forward beside @train_step (evaluation, reports)">,
    Option<"gradientsOnly", "gradients-only", "bool", "false",
           "build @gradients (the loss's gradient of every parameter, no optimizer step) "
           "instead of @train_step">
  ];
}

//===----------------------------------------------------------------------===//
// Lowering to the execution dialect and memory planning (issue 4)
//===----------------------------------------------------------------------===//

def DsLowerToExec : Pass<"ds-lower-to-exec", "mlir::ModuleOp"> {
  let summary = "bufferize the entry function into a dsx.program of kernel launches";
  let description = [{
    Replaces the entry function (@train_step by default, @forward for evaluation) with a
    dsx.program of the same name. Every argument becomes a named buffer whose role comes
    from its ds.input / ds.param / ds.buffer / ds.state attribute (params keep their
    ds.init); every other tensor value becomes a temporary buffer. Every ds op becomes one
    dsx.launch of the kernel named after it (without `ds.`), operands as inputs and
    results as outputs in ODS order, with its inherent attributes (defaults filled in).
    A splat arith.constant becomes a launch of the "fill" kernel (attribute `value`).
    Results marked ds.output are written into output buffers of that name ("copy" when
    the value is an argument or is returned twice); results marked ds.update become
    dsx.update ops onto the argument of that name. Composite ops (run ds-decompose first)
    and ops of other dialects are reported by name.
  }];
  let dependentDialects = ["::ds::dsx::DsxDialect"];
  let options = [
    Option<"entry", "entry", "std::string", "\"train_step\"",
           "the function to lower: train_step, or forward for an evaluation plan">
  ];
}

def DsFuse : Pass<"ds-fuse", "mlir::ModuleOp"> {
  let summary = "fuse chains of dsx launches into one kernel each; reshapes become views";
  let description = [{
    Runs on every dsx.program after ds-lower-to-exec and before ds-plan-memory. DESIGN.md
    places fusion on the ds graph; it works on launches instead because the launch is the
    unit it removes, the same launch list is what the runtime executes and what the report
    counts, and the buffers of the launches it removes simply vanish before memory is
    planned. Every rewrite is bit-identical by construction: a fused kernel performs the
    same FP32 operations in the same order as the launches it replaces, and a buffer it
    no longer writes is one whose rounding would have been exact (same element type) or,
    where rounding could differ, the fusion requires an FP32 intermediate. In order:
      1. views: a reshape whose result is a temporary and whose operand is a temporary or
         output becomes a dsx.view of the operand (no launch, no bytes moved);
      2. concat: add(slice_grad(a), slice_grad(b)) whose two slices tile the dimension
         becomes concat(a, b) (a zero added to x is x; only the sign of a zero result
         may differ, -0 + 0 being +0);
      3. rope_partial(_grad): concat(slice(x), rope(slice(x))) along the last dimension,
         the parts covering x in order, becomes one rope over a channel window of x that
         copies the other channels (MLA's query, V2 report §2.1.3), and likewise for
         rope_grad;
      4. mla_rope_key(_grad): MLA's key, concat(slice(kv_up), expand(rope(view(slice(
         kv_a))))), becomes one kernel, and its backward (the slices of the key gradient,
         expand_grad, rope_grad and the concat that rebuilds kv_up's gradient) another;
      5. add_rms_norm: a residual add and the rms_norm of its sum become one kernel writing
         both; rms_norm_grad_add: rms_norm_grad whose FP32 input gradient only feeds an add
         becomes one kernel writing the sum;
      6. quantize_dequantize: ds-fp8-cast's quantize -> dequantize pair with FP32 scales,
         the FP8 values and scales read by nothing else, becomes one FP8 round trip that
         never stores them;
      7. adamw_multi / bias_update_multi: the optimizer launches of equal attributes, in
         schedule order, become one multi-tensor launch per group of at most
         optimizer-group-bytes of parameters (each parameter's update is unchanged).
    An intermediate fuses away only when it is a temporary read by nothing outside the
    group, and the fused launch takes the place of the group's first launch after its
    inputs are written, provided no launch outside the group reads an output earlier.
    With `report`, a remark gives the launches and the bytes moved per step (the bytes
    every launch reads and writes) before and after, and the rewrites of each kind.
  }];
  let options = [
    Option<"optimizerGroupBytes", "optimizer-group-bytes", "int64_t", "268435456",
           "parameter bytes one adamw_multi launch updates at most (0: no limit); its "
           "outputs and the gradients it reads are live together, so a larger group "
           "raises the arena's peak by up to this much">,
    Option<"report", "report", "bool", "false",
           "emit a remark with launches and bytes moved per step before and after fusion">
  ];
}

def DsPlanMemory : Pass<"ds-plan-memory", "mlir::ModuleOp"> {
  let summary = "give every dsx buffer an offset: persistent region, then a reused arena";
  let description = [{
    Inputs, params, buffers and state are laid out one after another in the persistent
    region [0, persistent_bytes). Temporaries and outputs share the rest of the arena:
    each lives from its first to its last launch (outputs and dsx.update sources until
    the end of the step), and buffers whose lifetimes do not overlap may share bytes.
    Placement is greedy by size: the largest buffer first, each at the lowest aligned
    offset clear of every placed buffer it is live with. Sets `offset` on every buffer
    and arena_bytes / persistent_bytes on the program.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", "64",
           "byte alignment of every offset and region size (the plan format's)">,
    Option<"report", "report", "bool", "false",
           "emit a remark with the arena size, its lower bound and the bytes saved by reuse">
  ];
}

//===----------------------------------------------------------------------===//
// Analysis (issue 3)
//===----------------------------------------------------------------------===//

def DsReport : Pass<"ds-report", "mlir::ModuleOp"> {
  let summary = "report parameters, FLOPs per token and KV cache of @forward";
  let description = [{
    Reads @forward's ds.param arguments and the composite ops that use them (run it
    before ds-decompose) and prints, per layer and in total: parameters (total: main
    model without buffers and MTP; activated per token: top_k of the routed experts,
    without the embedding table; MTP), FLOPs per token (2 x activated matmul weights plus
    causal attention at the graph's seq; training = 3 x forward including MTP), the MLA
    KV cache per token against an MHA of the same heads (BF16), and the f32 training
    state. The conventions are spelled out in passes/analysis/Report.h. The IR is not
    changed.
  }];
  let options = [
    Option<"jsonFile", "json", "std::string", /*default=*/"\"\"",
           "also write the report as JSON to this file (via a temporary file and rename)">,
    Option<"printText", "print", "bool", /*default=*/"true",
           "print the report table on stdout">
  ];
}

//===----------------------------------------------------------------------===//
// Precision (issue 7)
//===----------------------------------------------------------------------===//

def DsFp8Cast : Pass<"ds-fp8-cast", "mlir::ModuleOp"> {
  let summary = "put the linear layers' GEMMs in FP8 (the V3 recipe by default)";
  let description = [{
    Runs after ds-autodiff on every function (@train_step, and @forward when kept). Each
    Fprop (ds.linear, ds.grouped_linear), Dgrad (*_dgrad) and Wgrad (*_wgrad) GEMM gets
    ds.quantize -> ds.dequantize (FP8 E4M3, FP32 scales) on its two GEMM operands and the
    attribute ds.fp8_promote_interval, by which the runtime emulates the tensor cores'
    limited accumulation promoted to FP32 every that many products (V3 report §3.3.2).
    Scaling follows each GEMM's reduction: at `block` granularity activations and
    output gradients in 1x128 tiles along the reduced channels (Fprop x, Dgrad dy),
    weights in 128x128 blocks, and both Wgrad operands in 128x1 tiles along the tokens;
    the Wgrad re-quantizes the FP8 activation its Fprop read (V3 caches it, §3.3.4).
    `per-row` gives one scale per row of the left and per column of the right operand
    over the whole reduced axis; `per-tensor` one per operand (per expert for stacked
    expert weights). GEMMs on the output head (lm_head.weight, or the tied
    model.embed_tokens.weight) and on the MoE router gates (*.mlp.gate.weight) stay as
    they are: the parameter is traced from the weight operand to its ds.param argument,
    or for a Wgrad from its gradient to the ds.adamw consuming it. Embedding, norms,
    attention and the optimizer are not touched; master weights and gradient sums keep
    their precision.
  }];
  let dependentDialects = ["::ds::DsDialect"];
  let options = [
    Option<"granularity", "granularity", "std::string", "\"block\"",
           "scaling granularity: block (1x128 / 128x128, V3), per-row or per-tensor">,
    ListOption<"keepHighPrecision", "keep-high-precision", "std::string",
               "GEMM kinds left in high precision: fprop, dgrad, wgrad, or op names "
               "(linear, linear_dgrad, linear_wgrad, grouped_linear, "
               "grouped_linear_dgrad, grouped_linear_wgrad)">,
    Option<"promoteInterval", "promote-interval", "int64_t", "128",
           "products summed in the limited FP8 accumulator before each FP32 promotion "
           "(0: no attribute, plain FP32 accumulation)">
  ];
}

def DsGemmPrecision : Pass<"ds-gemm-precision", "mlir::ModuleOp"> {
  let summary = "run the step's GEMMs and attention products on BF16 (or TF32) tensor cores";
  let description = [{
    Marks every matrix product of the step (ds.linear, ds.grouped_linear, their _dgrad
    and _wgrad, ds.attention and ds.attention_grad) with ds.math, which the kernels read
    as `math`: the two operands of each product are rounded to BF16 (or TF32) and
    accumulated in FP32, as Hopper's tensor cores do. Storage, master weights, gradient
    sums, norms, softmax statistics, the router and the optimizer stay FP32. GEMMs that
    ds-fp8-cast quantized (ds.fp8_promote_interval) are left to their FP8 emulation.
  }];
  let dependentDialects = ["::ds::DsDialect"];
  let options = [
    Option<"math", "math", "std::string", "\"bf16\"",
           "operand rounding of every product: bf16 or tf32">
  ];
}

def DsRecompute : Pass<"ds-recompute", "mlir::ModuleOp"> {
  let summary = "recompute cheap values at each use instead of keeping them live";
  let description = [{
    A ds.convert of a function argument (with --activations bf16, the BF16 working copy of
    an FP32 master weight) is recomputed right before each of its users after the first,
    so each copy lives for one op instead of from the forward product to the backward one:
    on v3-mini that is 2.5 GB of BF16 weights not held across the step, for one more read
    of each weight. Runs after canonicalize and CSE (which would merge the copies again),
    just before lowering. Recomputing RMSNorm and the MLA up-projections (V3 report
    §3.2.3) is the next use of this pass.
  }];
  let dependentDialects = ["::ds::DsDialect"];
}

//===----------------------------------------------------------------------===//
// Expert placement (issue 7)
//===----------------------------------------------------------------------===//

def DsExpertPlacement : Pass<"ds-expert-placement", "mlir::ModuleOp"> {
  let summary = "map each MoE layer's logical experts onto expert-parallel GPU slots";
  let description = [{
    For every ds.moe (run it before ds-decompose) places E logical experts on `ep` GPUs in
    `nodes` nodes, each GPU holding (E + redundant-experts) / ep slots: the hottest experts
    get replicas, and with group-limited routing whose groups divide among the nodes each
    group stays on one node (V3 report §3.4; DeepSeek's EPLB). Loads come from
    `expert-stats` (a JSON object with `expert_load`, or ds-train's metrics lines, summed)
    and are uniform without it. Records the map as the op's `placement` attribute
    (phy2log: physical slot -> logical expert, slots numbered GPU by GPU) with the GPU
    load max/mean before and after, and optionally writes it all as JSON.
  }];
  let options = [
    Option<"ep", "ep", "int64_t", "1", "expert-parallel size (GPUs that hold experts)">,
    Option<"nodes", "nodes", "int64_t", "1", "nodes the expert-parallel GPUs span">,
    Option<"redundantExperts", "redundant-experts", "int64_t", "0",
           "extra physical expert slots for replicas of hot experts, over all GPUs">,
    Option<"expertStats", "expert-stats", "std::string", "\"\"",
           "JSON with `expert_load` per MoE layer (as ds-train's metrics write it)">,
    Option<"placementJson", "placement-json", "std::string", "\"\"",
           "write each layer's phy2log and GPU load max/mean to this JSON file">,
    Option<"report", "report", "bool", "false",
           "print each layer's GPU load max/mean before and after placement">
  ];
}

#endif // DS_PASSES_TD
