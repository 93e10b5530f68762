//===- ExpertPlacement.cpp - the ds-expert-placement pass -----------------===//
//
// Maps each MoE layer's logical experts onto the physical expert slots of an expert-
// parallel deployment (ExpertPlacementAlgorithm.h), from measured loads when a stats file
// is given and uniform loads otherwise, and records the map on the ds.moe op.
//
//===----------------------------------------------------------------------===//
#include "passes/ExpertPlacementAlgorithm.h"
#include "passes/JsonOutput.h"
#include "passes/Passes.h"

#include "dialects/ds/DsOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <map>

namespace ds {
#define GEN_PASS_DEF_DSEXPERTPLACEMENT
#include "passes/Passes.h.inc"
} // namespace ds

using namespace mlir;

namespace {

using LayerLoads = std::map<int64_t, std::vector<double>>;

/// The layer index of an MoE op, read from its gate's parameter name
/// (`model.layers.L.mlp.gate.weight`), which is also the key ds-train uses in
/// `expert_load`.
FailureOr<int64_t> layerOf(ds::MoeOp moe) {
  auto arg = dyn_cast<BlockArgument>(moe.getGateWeight());
  auto func = arg ? dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp()) : func::FuncOp();
  auto name = func ? func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "ds.param")
                   : StringAttr();
  llvm::SmallVector<StringRef> parts;
  if (name)
    name.getValue().split(parts, '.');
  int64_t layer = -1;
  if (parts.size() < 3 || parts[0] != "model" || parts[1] != "layers" ||
      parts[2].getAsInteger(10, layer)) {
    moe.emitOpError("gate_weight must be a function argument with a ds.param name "
                    "'model.layers.<L>.mlp.gate.weight' so that its layer's loads can be found");
    return failure();
  }
  return layer;
}

/// Adds one `expert_load` object ({"<L>": [tokens per expert]}) into `loads`.
llvm::Error addExpertLoad(const llvm::json::Object &record, LayerLoads &loads) {
  const llvm::json::Object *perLayer = record.getObject("expert_load");
  if (!perLayer)
    return llvm::createStringError("has no \"expert_load\" object");
  for (const auto &[key, value] : *perLayer) {
    int64_t layer;
    if (StringRef(key).getAsInteger(10, layer))
      return llvm::createStringError("expert_load key \"" + key.str() +
                                     "\" is not a layer number");
    const llvm::json::Array *counts = value.getAsArray();
    if (!counts)
      return llvm::createStringError("expert_load of layer " + key.str() +
                                     " is not a list of numbers");
    std::vector<double> &sum = loads[layer];
    if (!sum.empty() && sum.size() != counts->size())
      return llvm::createStringError(llvm::formatv(
          "expert_load of layer {0} has {1} entries here but {2} elsewhere", layer,
          counts->size(), sum.size()));
    sum.resize(counts->size(), 0.0);
    for (size_t e = 0; e < counts->size(); ++e) {
      std::optional<double> n = (*counts)[e].getAsNumber();
      if (!n || *n < 0)
        return llvm::createStringError(llvm::formatv(
            "expert_load of layer {0}, expert {1} is not a non-negative number", layer, e));
      sum[e] += *n;
    }
  }
  return llvm::Error::success();
}

/// Reads a stats file: one JSON object with `expert_load`, or ds-train's metrics (JSON
/// lines), whose per-step loads are summed.
llvm::Expected<LayerLoads> readExpertStats(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(buffer.getError(), "cannot read expert stats file " + path +
                                                          ": " + buffer.getError().message());
  StringRef text = (*buffer)->getBuffer();
  LayerLoads loads;
  llvm::SmallVector<StringRef> lines;
  if (llvm::Expected<llvm::json::Value> whole = llvm::json::parse(text))
    lines.push_back(text);
  else {
    llvm::consumeError(whole.takeError());
    text.split(lines, '\n', -1, /*KeepEmpty=*/false);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string where = lines.size() == 1 ? path.str() : llvm::formatv("{0}:{1}", path, i + 1);
    llvm::Expected<llvm::json::Value> value = llvm::json::parse(lines[i]);
    if (!value)
      return llvm::createStringError(where + ": not JSON: " + llvm::toString(value.takeError()));
    const llvm::json::Object *record = value->getAsObject();
    if (!record)
      return llvm::createStringError(where + ": expected a JSON object");
    if (llvm::Error error = addExpertLoad(*record, loads))
      return llvm::createStringError(where + ": " + llvm::toString(std::move(error)));
  }
  if (loads.empty())
    return llvm::createStringError("expert stats file " + path + " holds no expert_load");
  return loads;
}

struct ExpertPlacementPass : ds::impl::DsExpertPlacementBase<ExpertPlacementPass> {
  using DsExpertPlacementBase::DsExpertPlacementBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    LayerLoads measured;
    if (!expertStats.empty()) {
      llvm::Expected<LayerLoads> loads = readExpertStats(expertStats);
      if (!loads) {
        module.emitError("ds-expert-placement: ") << llvm::toString(loads.takeError());
        return signalPassFailure();
      }
      measured = std::move(*loads);
    }
    llvm::json::Array layersJson;
    WalkResult walk = module.walk([&](ds::MoeOp moe) {
      if (failed(placeLayer(moe, measured, layersJson)))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();
    if (!placementJson.empty()) {
      llvm::json::Object root{{"ep", int64_t(ep)},
                              {"nodes", int64_t(nodes)},
                              {"redundant_experts", int64_t(redundantExperts)},
                              {"layers", std::move(layersJson)}};
      if (llvm::Error error = ds::writeJsonFile(std::move(root), placementJson)) {
        module.emitError("ds-expert-placement: ") << llvm::toString(std::move(error));
        return signalPassFailure();
      }
    }
  }

  LogicalResult placeLayer(ds::MoeOp moe, const LayerLoads &measured,
                           llvm::json::Array &layersJson) {
    FailureOr<int64_t> layer = layerOf(moe);
    if (failed(layer))
      return failure();
    int64_t experts = cast<RankedTensorType>(moe.getGateWeight().getType()).getDimSize(0);
    ds::PlacementProblem problem;
    problem.numGroups = moe.getNGroup();
    problem.numNodes = nodes;
    problem.numGpus = ep;
    problem.redundantSlots = redundantExperts;
    if (expertStats.empty()) {
      problem.expertLoad.assign(experts, 1.0);
    } else {
      auto found = measured.find(*layer);
      if (found == measured.end())
        return moe.emitOpError() << "expert stats file " << expertStats
                                 << " has no expert_load for MoE layer " << *layer;
      if (static_cast<int64_t>(found->second.size()) != experts)
        return moe.emitOpError() << "expert stats file " << expertStats << " gives "
                                 << found->second.size() << " experts for layer " << *layer
                                 << " but the layer has " << experts;
      problem.expertLoad = found->second;
    }
    std::string problemError = ds::validatePlacementProblem(problem);
    if (!problemError.empty())
      return moe.emitOpError() << "cannot place the experts of layer " << *layer << ": "
                               << problemError;

    ds::Placement placement = ds::placeExperts(problem);
    double baseline = ds::placeExpertsConstructive(problem).maxOverMean;
    // Before placement means expert e on GPU e / (E/G), which exists when G divides E.
    std::optional<double> before;
    if (experts % ep == 0)
      before = ds::uniformPlacement(problem).maxOverMean;

    Builder b(moe.getContext());
    llvm::SmallVector<NamedAttribute> fields = {
        b.getNamedAttr("phy2log", b.getDenseI64ArrayAttr(placement.phy2log)),
        b.getNamedAttr("slots_per_gpu", b.getI64IntegerAttr(placement.slotsPerGpu)),
        b.getNamedAttr("ep", b.getI64IntegerAttr(ep)),
        b.getNamedAttr("nodes", b.getI64IntegerAttr(nodes)),
        b.getNamedAttr("hierarchical", b.getBoolAttr(placement.hierarchical)),
        b.getNamedAttr("gpu_load_max_over_mean", b.getF64FloatAttr(placement.maxOverMean))};
    if (before)
      fields.push_back(
          b.getNamedAttr("gpu_load_max_over_mean_before", b.getF64FloatAttr(*before)));
    moe.setPlacementAttr(b.getDictionaryAttr(fields));

    if (report)
      llvm::outs() << llvm::formatv(
          "layer {0}: {1} experts on {2} GPUs x {3} slots ({4}): GPU load max/mean {5} -> "
          "{6:F4} (EPLB construction {7:F4})\n",
          *layer, experts, ep, placement.slotsPerGpu,
          placement.hierarchical ? "groups kept on nodes" : "global",
          before ? llvm::formatv("{0:F4}", *before).str() : std::string("n/a"),
          placement.maxOverMean, baseline);

    llvm::json::Object layerJson{
        {"layer", *layer},
        {"phy2log", llvm::json::Array(placement.phy2log)},
        {"slots_per_gpu", placement.slotsPerGpu},
        {"hierarchical", placement.hierarchical},
        {"gpu_load_max_over_mean", placement.maxOverMean},
        {"gpu_load_max_over_mean_eplb_construction", baseline}};
    if (before)
      layerJson["gpu_load_max_over_mean_before"] = *before;
    layersJson.push_back(std::move(layerJson));
    return success();
  }
};

} // namespace
