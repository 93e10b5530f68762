//===- Report.cpp - parameters, FLOPs and KV cache of a forward graph -----===//
#include "passes/analysis/Report.h"

#include "dialects/ds/DsOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace ds;

namespace {

llvm::Error reportError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

int64_t elementsOf(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && type.hasStaticShape() ? type.getNumElements() : 0;
}

/// What one op costs per token of the batch (see Report.h for the conventions).
struct OpCost {
  /// Each parameter operand with the elements of it one token uses.
  llvm::SmallVector<std::pair<Value, int64_t>> params;
  int64_t flops = 0;
  int64_t kvCacheBytes = 0;
  int64_t kvCacheBytesMha = 0;
};

class ModelAnalysis {
public:
  explicit ModelAnalysis(func::FuncOp forward) : forward(forward) {}
  llvm::Expected<ModelReport> run();

private:
  llvm::Error readArguments();
  void findMtpRegions();
  llvm::Expected<OpCost> costOf(Operation *op);
  std::string groupOf(Operation *op, const OpCost &cost);
  LayerReport &layer(const std::string &name);

  /// Rows of `input` per token: x [B, S, K] gives 1.
  double rowsPerToken(Value input, int64_t width) const {
    return width > 0 ? double(elementsOf(input) / width) / double(tokens) : 0.0;
  }
  /// Adds a matmul whose weight one token uses `used` elements of, over `rows` rows.
  void matmul(OpCost &cost, Value weight, int64_t used, double rows) {
    addParam(cost, weight, used);
    cost.flops += static_cast<int64_t>(2.0 * double(used) * rows);
  }
  void addParam(OpCost &cost, Value value, int64_t used) {
    if (value && paramNames.count(value))
      cost.params.push_back({value, used});
  }

  func::FuncOp forward;
  int64_t tokens = 1;
  ModelReport report;
  llvm::DenseMap<Value, std::string> paramNames;
  /// MTP depth of each op downstream of a ds.mtp_head (the head included).
  llvm::DenseMap<Operation *, int64_t> mtpDepthOf;
  llvm::DenseMap<int64_t, std::string> mtpGroupOf;
  llvm::StringMap<size_t> layerIndex;
};

llvm::Error ModelAnalysis::readArguments() {
  for (BlockArgument arg : forward.getArguments()) {
    if (auto name = forward.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "ds.param"))
      paramNames[arg] = name.str();
    else if (forward.getArgAttr(arg.getArgNumber(), "ds.buffer"))
      report.bufferElements += elementsOf(arg);
  }
  if (paramNames.empty())
    return reportError("@forward has no argument marked ds.param");
  return llvm::Error::success();
}

/// The ops of MTP depth k are those that depend on its ds.mtp_head (V3 report §2.2):
/// they run only in training and cost nothing at inference.
void ModelAnalysis::findMtpRegions() {
  forward.walk([&](MtpHeadOp head) {
    int64_t depth = static_cast<int64_t>(head.getDepth());
    llvm::SmallVector<Operation *> work{head};
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      if (!mtpDepthOf.try_emplace(op, depth).second)
        continue;
      for (Operation *user : op->getUsers())
        work.push_back(user);
    }
  });
}

llvm::Expected<OpCost> ModelAnalysis::costOf(Operation *op) {
  OpCost cost;
  auto fail = [&](const llvm::Twine &why) {
    return reportError("cannot cost '" + op->getName().getStringRef() + "': " + why);
  };
  // After ds-decompose the composites are gone and with them which experts a token
  // activates and which attention a layer runs; counting the primitives would be wrong.
  if (isa<AttentionOp, RouterOp, DispatchOp, GroupedLinearOp>(op))
    return fail("the graph is decomposed; run ds-report before ds-decompose, on the "
                "ds.mla/ds.moe composites");
  bool ok =
      llvm::TypeSwitch<Operation *, bool>(op)
          .Case([&](EmbeddingOp embed) {
            // A row lookup: no FLOPs, and the table is not an activated parameter.
            addParam(cost, embed.getTable(), 0);
            return true;
          })
          .Case([&](RmsNormOp norm) {
            addParam(cost, norm.getWeight(), elementsOf(norm.getWeight()));
            return true;
          })
          .Case([&](LinearOp linear) {
            auto weight = cast<RankedTensorType>(linear.getWeight().getType());
            matmul(cost, linear.getWeight(), weight.getNumElements(),
                   rowsPerToken(linear.getInput(), weight.getDimSize(1)));
            return true;
          })
          .Case([&](MtpHeadOp head) {
            auto proj = cast<RankedTensorType>(head.getProj().getType());
            addParam(cost, head.getHiddenNorm(), elementsOf(head.getHiddenNorm()));
            addParam(cost, head.getEmbedNorm(), elementsOf(head.getEmbedNorm()));
            matmul(cost, head.getProj(), proj.getNumElements(),
                   rowsPerToken(head.getHidden(), proj.getDimSize(0)));
            return true;
          })
          .Case([&](MlaOp mla) {
            auto x = cast<RankedTensorType>(mla.getX().getType());
            double rows = rowsPerToken(mla.getX(), x.getDimSize(2));
            for (Value weight : {mla.getQAWeight(), mla.getQBWeight(), mla.getKvAWeight(),
                                 mla.getKvBWeight(), mla.getOWeight()})
              if (weight)
                matmul(cost, weight, elementsOf(weight), rows);
            for (Value norm : {mla.getQANorm(), mla.getKvANorm()})
              if (norm)
                addParam(cost, norm, elementsOf(norm));
            int64_t heads = static_cast<int64_t>(mla.getNumHeads());
            int64_t qk = static_cast<int64_t>(mla.getQkNopeHeadDim() + mla.getQkRopeHeadDim());
            int64_t v = static_cast<int64_t>(mla.getVHeadDim());
            int64_t seq = x.getDimSize(1);
            // Causal: query i attends to i + 1 keys, (S + 1) / 2 on average; q.k and p.v
            // each cost 2 FLOPs per multiply-add.
            cost.flops += static_cast<int64_t>(rows * double(heads * (qk + v) * (seq + 1)));
            cost.kvCacheBytes =
                2 * static_cast<int64_t>(mla.getKvLoraRank() + mla.getQkRopeHeadDim());
            cost.kvCacheBytesMha = 2 * heads * (qk + v);
            return true;
          })
          .Case([&](MoeOp moe) {
            auto x = cast<RankedTensorType>(moe.getX().getType());
            double rows = rowsPerToken(moe.getX(), x.getDimSize(2));
            int64_t experts = cast<RankedTensorType>(moe.getGateWeight().getType()).getDimSize(0);
            int64_t topK = static_cast<int64_t>(moe.getTopK());
            if (experts <= 0 || topK > experts)
              return false;
            matmul(cost, moe.getGateWeight(), elementsOf(moe.getGateWeight()), rows);
            // A token runs top_k of the E stacked experts (V3 report §2.1.2, eq. 12).
            for (Value stacked : {moe.getExpertsGateUp(), moe.getExpertsDown()})
              matmul(cost, stacked, elementsOf(stacked) / experts * topK, rows);
            for (Value shared : {moe.getSharedGateUp(), moe.getSharedDown()})
              if (shared)
                matmul(cost, shared, elementsOf(shared), rows);
            return true;
          })
          .Default([&](Operation *other) {
            // Other ops (elementwise, loss, slices) cost no parameters and are not counted
            // in FLOPs; a parameter reaching one is still counted in the totals.
            for (Value operand : other->getOperands())
              addParam(cost, operand, 0);
            return true;
          });
  if (!ok)
    return fail("top_k exceeds the number of experts");
  return cost;
}

/// The row an op belongs to: the decoder layer of its first `model.layers.N.` parameter;
/// for MTP ops without one (the shared head), the row of their MTP module; otherwise
/// the embedding or the head.
std::string ModelAnalysis::groupOf(Operation *op, const OpCost &cost) {
  for (auto &[param, used] : cost.params) {
    llvm::StringRef name = paramNames[param];
    if (!name.consume_front("model.layers."))
      continue;
    llvm::StringRef index = name.take_until([](char c) { return c == '.'; });
    return ("model.layers." + index).str();
  }
  auto depth = mtpDepthOf.find(op);
  if (depth != mtpDepthOf.end() && mtpGroupOf.count(depth->second))
    return mtpGroupOf[depth->second];
  return isa<EmbeddingOp>(op) ? "model.embed_tokens" : "lm_head";
}

LayerReport &ModelAnalysis::layer(const std::string &name) {
  auto [it, inserted] = layerIndex.try_emplace(name, report.layers.size());
  if (inserted) {
    report.layers.push_back({});
    report.layers.back().name = name;
  }
  return report.layers[it->second];
}

llvm::Expected<ModelReport> ModelAnalysis::run() {
  ModuleOp module = forward->getParentOfType<ModuleOp>();
  if (auto type = module->getAttrOfType<StringAttr>("ds.model_type"))
    report.modelType = type.str();
  if (auto batch = module->getAttrOfType<IntegerAttr>("ds.batch"))
    report.batch = batch.getInt();
  if (auto seq = module->getAttrOfType<IntegerAttr>("ds.seq"))
    report.seq = seq.getInt();
  if (report.batch <= 0 || report.seq <= 0)
    return reportError("the module has no positive ds.batch and ds.seq attributes "
                       "(docs/ir-conventions.md)");
  tokens = report.batch * report.seq;
  if (llvm::Error error = readArguments())
    return std::move(error);
  findMtpRegions();

  // Each parameter counts once: in the row of its first use, activated as much as its
  // most demanding use (a tied table: not by the lookup, fully by the head).
  llvm::DenseMap<Value, int64_t> activated;
  llvm::DenseMap<Value, std::string> home;
  llvm::DenseMap<Value, bool> usedByMain;
  llvm::SetVector<Value> order;
  llvm::Error error = llvm::Error::success();
  forward.walk([&](Operation *op) {
    if (error || isa<func::FuncOp, func::ReturnOp>(op))
      return;
    llvm::Expected<OpCost> cost = costOf(op);
    if (!cost) {
      error = cost.takeError();
      return;
    }
    // Ops without parameters or FLOPs (slices, residual adds, the loss) belong to no
    // row.
    if (cost->params.empty() && cost->flops == 0)
      return;
    auto head = dyn_cast<MtpHeadOp>(op);
    std::string group = groupOf(op, *cost);
    if (head)
      mtpGroupOf[static_cast<int64_t>(head.getDepth())] = group;
    bool inMtp = mtpDepthOf.count(op);
    LayerReport &row = layer(group);
    if (inMtp)
      row.kind = "mtp";
    else if (isa<MoeOp>(op))
      row.kind = "moe";
    else if (row.kind.empty() || row.kind == "head")
      row.kind = isa<EmbeddingOp>(op)                   ? "embedding"
                 : group.rfind("model.layers.", 0) == 0 ? "dense"
                                                        : "head";
    row.flopsPerTokenForward += cost->flops;
    row.kvCacheBytesPerToken += inMtp ? 0 : cost->kvCacheBytes;
    row.kvCacheBytesPerTokenMha += inMtp ? 0 : cost->kvCacheBytesMha;
    (inMtp ? report.flopsPerTokenMtpForward : report.flopsPerTokenForward) += cost->flops;
    for (auto &[param, used] : cost->params) {
      order.insert(param);
      home.try_emplace(param, group);
      activated[param] = std::max(activated.lookup(param), used);
      usedByMain[param] = usedByMain.lookup(param) || !inMtp;
    }
  });
  if (error)
    return std::move(error);

  for (Value param : order) {
    int64_t elements = elementsOf(param);
    LayerReport &row = layer(home[param]);
    row.params += elements;
    row.paramsActivated += activated[param];
    if (!usedByMain[param]) {
      report.paramsMtp += elements;
      continue;
    }
    report.paramsTotal += elements;
    report.paramsActivated += activated[param];
    if (row.kind == "embedding")
      report.paramsEmbedding += elements;
  }
  for (const LayerReport &row : report.layers) {
    report.kvCacheBytesPerToken += row.kvCacheBytesPerToken;
    report.kvCacheBytesPerTokenMha += row.kvCacheBytesPerTokenMha;
  }
  report.flopsPerTokenTraining = 3 * (report.flopsPerTokenForward + report.flopsPerTokenMtpForward);
  report.trainStateBytes = 16 * (report.paramsTotal + report.paramsMtp);
  return std::move(report);
}

} // namespace

llvm::Expected<ModelReport> ds::analyzeModel(ModuleOp module) {
  auto forward = module.lookupSymbol<func::FuncOp>("forward");
  if (!forward || forward.isExternal())
    return reportError("the module has no func.func @forward with a body to report on");
  return ModelAnalysis(forward).run();
}
