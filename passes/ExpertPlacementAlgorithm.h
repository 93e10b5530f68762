//===- ExpertPlacementAlgorithm.h - logical experts onto physical slots ---===//
//
// The combinatorial core of ds-expert-placement, kept free of MLIR so that it can be tested
// exhaustively on small cases and reused by tools.
//
// Model (V3 report §3.4, DeepSeek's EPLB): an MoE layer has E logical experts with measured
// loads; it runs on G GPUs in N nodes, each GPU holding S physical expert slots (G*S = E + R,
// R redundant slots). Hot experts get replicas; a replicated expert's tokens are split evenly
// among its replicas. A GPU's load is the sum over its slots of load(expert)/replicas(expert).
// With group-limited routing, when the groups divide among the nodes, each group's experts
// and all their replicas stay on one node so a token still reaches at most topk_group nodes.
//
//===----------------------------------------------------------------------===//
#ifndef DS_PASSES_EXPERTPLACEMENTALGORITHM_H
#define DS_PASSES_EXPERTPLACEMENTALGORITHM_H

#include <cstdint>
#include <string>
#include <vector>

namespace ds {

struct PlacementProblem {
  std::vector<double> expertLoad; // tokens per logical expert (E entries)
  int64_t numGroups = 1;          // routing groups (n_group); 1 = no group constraint
  int64_t numNodes = 1;
  int64_t numGpus = 1;            // the expert-parallel size
  int64_t redundantSlots = 0;     // R
};

struct Placement {
  /// Physical slot -> logical expert; slots are numbered GPU by GPU (slot s is on GPU
  /// s / slotsPerGpu).
  std::vector<int64_t> phy2log;
  int64_t slotsPerGpu = 0;
  /// True when groups were kept whole on nodes (the hierarchical mode).
  bool hierarchical = false;
  std::vector<double> gpuLoad;
  double maxOverMean = 0.0;
};

/// Checks the problem and returns an empty string, or a message naming what is wrong.
std::string validatePlacementProblem(const PlacementProblem &problem);

/// The placement ds uses: the construction of DeepSeek's EPLB (groups packed onto nodes,
/// replicas by largest per-replica load, replicas packed onto GPUs by longest-processing-time
/// first), then two local searches that only accept improvements, so the result is never
/// worse than the construction: slot swaps between GPUs of one node, and (hierarchical mode)
/// whole-group trades between nodes, each followed by a fresh in-node placement.
/// Precondition: validatePlacementProblem(problem) is empty.
Placement placeExperts(const PlacementProblem &problem);

/// The construction alone (no swap search): what EPLB's published algorithm reaches; kept
/// as the baseline the tests and the pass report compare against.
Placement placeExpertsConstructive(const PlacementProblem &problem);

/// Per-GPU loads and max/mean for a given slot map (uniform split over replicas).
void evaluatePlacement(const PlacementProblem &problem, Placement &placement);

/// The uniform placement with no replication (expert e on GPU e / (E/G)), for reports of
/// the load before placement. Requires E divisible by G.
Placement uniformPlacement(const PlacementProblem &problem);

} // namespace ds

#endif
