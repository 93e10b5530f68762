//===- ds-compile.cpp - model spec to report (and plan) -------------------===//
//
//   ds-compile SPEC.json --report                 print parameters, FLOPs, KV cache
//   ds-compile SPEC.json --report-json=FILE       write them as JSON
//   ds-compile SPEC.json --emit-forward           print the imported @forward module
//   ds-compile SPEC.json -o STEP.dsplan           compile the training step to a plan
//   ds-compile SPEC.json --mode eval -o X.dsplan  ... or @forward with its logits
//   ds-compile SPEC.json --mode gradients -o X.dsplan
//                                                 ... or the loss's parameter gradients
//   ds-compile SPEC.json --no-fuse -o STEP.dsplan ... one launch per op (no ds-fuse)
//   ds-compile SPEC.json --report -o STEP.dsplan  ... and print launches and bytes moved
//                                                 per step before and after ds-fuse
//
// Flags only; the stages live in tools/ds-compile/Driver.h.
//
//===----------------------------------------------------------------------===//
#include "tools/ds-compile/Driver.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"

namespace cl = llvm::cl;

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::OptionCategory category("ds-compile options");
  cl::opt<std::string> spec(cl::Positional, cl::Required, cl::desc("<model spec .json>"),
                            cl::cat(category));
  cl::opt<bool> report("report",
                       cl::desc("Print the parameter/FLOP/KV-cache report; with -o also "
                                "the launches and bytes moved per step before and after "
                                "fusion"),
                       cl::cat(category));
  cl::opt<std::string> reportJson("report-json", cl::desc("Write the report as JSON to FILE"),
                                  cl::value_desc("FILE"), cl::cat(category));
  cl::opt<bool> emitForward("emit-forward", cl::desc("Print the imported @forward module"),
                            cl::cat(category));
  cl::opt<std::string> planPath("o", cl::desc("Write the plan to FILE"),
                                cl::value_desc("FILE"), cl::cat(category));
  cl::opt<std::string> mode("mode",
                            cl::desc("What the plan runs: train (the training step), eval "
                                     "(@forward with logits) or gradients (@gradients)"),
                            cl::value_desc("MODE"), cl::init("train"), cl::cat(category));
  cl::opt<int64_t> batch("batch", cl::desc("Batch size of the graph"), cl::init(1),
                         cl::cat(category));
  cl::opt<int64_t> seq("seq", cl::desc("Sequence length of the graph"), cl::init(128),
                       cl::cat(category));
  cl::opt<double> balanceAlpha("balance-alpha",
                               cl::desc("Sequence-wise balance loss weight (overrides the spec)"),
                               cl::cat(category));
  cl::opt<double> mtpLambda("mtp-lambda", cl::desc("MTP loss weight (overrides the spec)"),
                            cl::cat(category));
  cl::opt<int64_t> mtpDepth(
      "mtp-depth",
      cl::desc("MTP modules (overrides the spec's num_nextn_predict_layers; 0 trains the main "
               "model alone, as HF transformers does)"),
      cl::cat(category));
  cl::opt<int64_t> ep("ep", cl::desc("Expert-parallel size: GPUs that hold the routed experts"),
                      cl::init(1), cl::cat(category));
  cl::opt<int64_t> nodes("nodes", cl::desc("Nodes the expert-parallel GPUs span"), cl::init(1),
                         cl::cat(category));
  cl::opt<int64_t> redundantExperts(
      "redundant-experts", cl::desc("Extra expert slots for replicas of hot experts"),
      cl::init(0), cl::cat(category));
  cl::opt<std::string> expertStats(
      "expert-stats", cl::desc("Expert loads to place by (JSON with expert_load, or metrics)"),
      cl::value_desc("FILE"), cl::cat(category));
  cl::opt<std::string> placementJson("placement-json",
                                     cl::desc("Write each MoE layer's phy2log and GPU load"),
                                     cl::value_desc("FILE"), cl::cat(category));
  cl::opt<std::string> precision(
      "precision", cl::desc("fp32; bf16: every GEMM on BF16 tensor cores (FP32 storage and "
                            "accumulation); fp8: the V3 FP8 recipe on every linear GEMM"),
      cl::value_desc("P"), cl::init("fp32"), cl::cat(category));
  cl::opt<bool> noFuse("no-fuse",
                        cl::desc("Do not fuse launch chains (ds-fuse): one launch per op"),
                        cl::cat(category));
  cl::opt<std::string> adamMoments(
      "adam-moments",
      cl::desc("Element type of the AdamW moments: f32, or bf16 as in V3's FP8 recipe "
               "(master weights stay FP32)"),
      cl::value_desc("T"), cl::init("f32"), cl::cat(category));
  cl::opt<std::string> activations(
      "activations",
      cl::desc("Element type of the activations and their gradients: f32, or bf16 (FP32 "
               "master weights converted where read; router gate and loss stay FP32)"),
      cl::value_desc("T"), cl::init("f32"), cl::cat(category));
  cl::opt<std::string> params(
      "params",
      cl::desc("Element type of the parameters and their gradients: f32 (master weights), or "
               "bf16 with no FP32 copy, as PyTorch's model.to(torch.bfloat16) trains; bf16 "
               "implies --activations bf16; the router gate and bias stay FP32"),
      cl::value_desc("T"), cl::init("f32"), cl::cat(category));
  cl::opt<double> biasUpdateGamma(
      "bias-update-gamma", cl::desc("Router-bias update speed (auxiliary-loss-free balancing)"),
      cl::init(0.001), cl::cat(category));
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "ds-compile: model spec to report and plan\n");

  ds::CompileOptions options;
  std::optional<ds::PlanMode> planMode = ds::parsePlanMode(mode);
  if (!planMode) {
    llvm::WithColor::error(llvm::errs(), "ds-compile")
        << "unknown --mode '" << mode << "'; expected train, eval or gradients\n";
    return 1;
  }
  options.mode = *planMode;
  if (precision != "fp32" && precision != "bf16" && precision != "fp8") {
    llvm::WithColor::error(llvm::errs(), "ds-compile")
        << "unknown --precision '" << precision << "'; expected fp32, bf16 or fp8\n";
    return 1;
  }
  options.precision = precision;
  if (adamMoments != "f32" && adamMoments != "bf16") {
    llvm::WithColor::error(llvm::errs(), "ds-compile")
        << "unknown --adam-moments '" << adamMoments << "'; expected f32 or bf16\n";
    return 1;
  }
  options.momentDtype = adamMoments;
  if (std::optional<std::string> bad = ds::setElementTypes(
          options.build, activations, activations.getNumOccurrences() > 0, params)) {
    llvm::WithColor::error(llvm::errs(), "ds-compile") << *bad << "\n";
    return 1;
  }
  options.fuse = !noFuse;
  options.biasUpdateGamma = biasUpdateGamma;
  options.specPath = spec;
  options.build.batch = batch;
  options.build.seq = seq;
  if (balanceAlpha.getNumOccurrences())
    options.build.balanceAlpha = balanceAlpha;
  if (mtpLambda.getNumOccurrences())
    options.build.mtpLambda = mtpLambda;
  if (mtpDepth.getNumOccurrences()) {
    if (mtpDepth < 0) {
      llvm::WithColor::error(llvm::errs(), "ds-compile")
          << "--mtp-depth is " << mtpDepth << "; expected 0 or more\n";
      return 1;
    }
    options.build.mtpDepth = mtpDepth;
  }
  options.printReport = report;
  options.reportJsonPath = reportJson;
  options.printForward = emitForward;
  options.planPath = planPath;
  options.expertParallel = ep;
  options.nodes = nodes;
  options.redundantExperts = redundantExperts;
  options.expertStatsPath = expertStats;
  options.placementJsonPath = placementJson;
  if (llvm::Error error = ds::runCompile(options, llvm::outs())) {
    llvm::WithColor::error(llvm::errs(), "ds-compile") << llvm::toString(std::move(error)) << "\n";
    return 1;
  }
  return 0;
}
