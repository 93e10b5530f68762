//===- ExpertPlacementAlgorithm.cpp - logical experts onto physical slots -===//
#include "passes/ExpertPlacementAlgorithm.h"

#include <algorithm>
#include <numeric>
#include <sstream>

namespace ds {
namespace {

/// Packs items into `numPacks` packs of exactly items/numPacks each, heaviest item first
/// into the lightest pack that still has room (longest processing time first). Returns the
/// pack of every item. Ties go to the lower index so the result is deterministic.
std::vector<int64_t> packBalanced(const std::vector<double> &weight, int64_t numPacks) {
  int64_t n = static_cast<int64_t>(weight.size());
  int64_t perPack = n / numPacks;
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return weight[a] > weight[b]; });
  std::vector<double> packLoad(numPacks, 0.0);
  std::vector<int64_t> packCount(numPacks, 0), packOf(n, -1);
  for (int64_t item : order) {
    int64_t best = -1;
    for (int64_t p = 0; p < numPacks; ++p)
      if (packCount[p] < perPack && (best < 0 || packLoad[p] < packLoad[best]))
        best = p;
    packOf[item] = best;
    packLoad[best] += weight[item];
    ++packCount[best];
  }
  return packOf;
}

/// Gives `numSlots` >= experts.size() slots to the experts: one each, then every extra slot
/// to the expert whose per-replica load is currently the largest. This greedy order
/// minimises the largest per-replica load.
std::vector<int64_t> replicate(const std::vector<double> &load, int64_t numSlots) {
  std::vector<int64_t> replicas(load.size(), 1);
  for (int64_t extra = static_cast<int64_t>(load.size()); extra < numSlots; ++extra) {
    size_t hottest = 0;
    for (size_t e = 1; e < load.size(); ++e)
      if (load[e] / replicas[e] > load[hottest] / replicas[hottest])
        hottest = e;
    ++replicas[hottest];
  }
  return replicas;
}

int64_t numExperts(const PlacementProblem &p) {
  return static_cast<int64_t>(p.expertLoad.size());
}

bool groupsDivideNodes(const PlacementProblem &p) {
  return p.numGroups > 1 && p.numGroups % p.numNodes == 0 &&
         numExperts(p) % p.numGroups == 0;
}

/// Moves slots between GPUs of one node while that lowers the busier GPU of the pair: at each
/// round the busiest GPU trades one slot with the partner and slot that give the lowest
/// resulting pair maximum. Stops when no trade improves (a local optimum).
void refineBySwaps(const PlacementProblem &problem, Placement &placement) {
  int64_t gpusPerNode = problem.numGpus / problem.numNodes;
  int64_t slots = placement.slotsPerGpu;
  std::vector<int64_t> replicas(numExperts(problem), 0);
  for (int64_t e : placement.phy2log)
    ++replicas[e];
  auto slotLoad = [&](int64_t slot) {
    int64_t e = placement.phy2log[slot];
    return problem.expertLoad[e] / replicas[e];
  };
  evaluatePlacement(problem, placement);
  std::vector<double> &gpuLoad = placement.gpuLoad;
  // Each accepted swap strictly lowers the pair's maximum; the bound on rounds only guards
  // against floating-point cycling.
  for (int64_t round = 0; round < 100000; ++round) {
    int64_t busiest = std::max_element(gpuLoad.begin(), gpuLoad.end()) - gpuLoad.begin();
    int64_t node = busiest / gpusPerNode;
    double bestPairMax = gpuLoad[busiest];
    int64_t bestA = -1, bestB = -1, bestPartner = -1;
    for (int64_t partner = node * gpusPerNode; partner < (node + 1) * gpusPerNode; ++partner) {
      if (partner == busiest)
        continue;
      for (int64_t a = busiest * slots; a < (busiest + 1) * slots; ++a)
        for (int64_t b = partner * slots; b < (partner + 1) * slots; ++b) {
          double delta = slotLoad(a) - slotLoad(b);
          if (delta <= 0)
            continue;
          double pairMax = std::max(gpuLoad[busiest] - delta, gpuLoad[partner] + delta);
          if (pairMax < bestPairMax - 1e-12 * std::max(1.0, bestPairMax)) {
            bestPairMax = pairMax;
            bestA = a;
            bestB = b;
            bestPartner = partner;
          }
        }
    }
    if (bestA < 0)
      break;
    double delta = slotLoad(bestA) - slotLoad(bestB);
    std::swap(placement.phy2log[bestA], placement.phy2log[bestB]);
    gpuLoad[busiest] -= delta;
    gpuLoad[bestPartner] += delta;
  }
  evaluatePlacement(problem, placement);
}

} // namespace

std::string validatePlacementProblem(const PlacementProblem &p) {
  std::ostringstream os;
  int64_t experts = numExperts(p);
  if (experts == 0)
    os << "there are no experts to place";
  else if (p.numGpus <= 0)
    os << "the expert-parallel size must be positive, got " << p.numGpus;
  else if (p.numNodes <= 0)
    os << "the number of nodes must be positive, got " << p.numNodes;
  else if (p.numGpus % p.numNodes != 0)
    os << "the expert-parallel size (" << p.numGpus << " GPUs) must divide evenly among "
       << p.numNodes << " nodes";
  else if (p.redundantSlots < 0)
    os << "the number of redundant expert slots must not be negative, got " << p.redundantSlots;
  else if ((experts + p.redundantSlots) % p.numGpus != 0)
    os << experts << " experts + " << p.redundantSlots << " redundant slots = "
       << experts + p.redundantSlots << " slots do not divide evenly among " << p.numGpus
       << " GPUs";
  else if (p.redundantSlots > experts * (p.numGpus - 1))
    os << p.redundantSlots << " redundant slots exceed what " << p.numGpus
       << " GPUs can usefully hold (at most " << experts * (p.numGpus - 1)
       << ": every expert once on every GPU)";
  else if (p.numGroups <= 0 || experts % p.numGroups != 0)
    os << "the number of routing groups (" << p.numGroups << ") must divide the " << experts
       << " experts";
  else
    for (size_t e = 0; e < p.expertLoad.size(); ++e)
      if (!(p.expertLoad[e] >= 0)) {
        os << "the load of expert " << e << " is " << p.expertLoad[e]
           << "; loads must be non-negative numbers";
        break;
      }
  return os.str();
}

void evaluatePlacement(const PlacementProblem &problem, Placement &placement) {
  std::vector<int64_t> replicas(numExperts(problem), 0);
  for (int64_t e : placement.phy2log)
    ++replicas[e];
  placement.gpuLoad.assign(problem.numGpus, 0.0);
  for (size_t slot = 0; slot < placement.phy2log.size(); ++slot) {
    int64_t e = placement.phy2log[slot];
    placement.gpuLoad[slot / placement.slotsPerGpu] += problem.expertLoad[e] / replicas[e];
  }
  double total = std::accumulate(placement.gpuLoad.begin(), placement.gpuLoad.end(), 0.0);
  double mean = total / problem.numGpus;
  double max = *std::max_element(placement.gpuLoad.begin(), placement.gpuLoad.end());
  placement.maxOverMean = mean > 0 ? max / mean : 1.0;
}

namespace {

/// Where the groups go decides each node's total load; replication and packing then work
/// inside each node. Without a group structure that divides among the nodes, EPLB's global
/// mode treats the whole cluster as one node holding one group.
struct NodeLayout {
  int64_t nodes, groups, groupSize, gpusPerNode, slotsPerNode;
};

NodeLayout nodeLayout(const PlacementProblem &problem, bool hierarchical) {
  NodeLayout layout;
  int64_t totalSlots = numExperts(problem) + problem.redundantSlots;
  layout.nodes = hierarchical ? problem.numNodes : 1;
  layout.groups = hierarchical ? problem.numGroups : 1;
  layout.groupSize = numExperts(problem) / layout.groups;
  layout.gpusPerNode = problem.numGpus / layout.nodes;
  layout.slotsPerNode = totalSlots / layout.nodes;
  return layout;
}

/// Replicates and packs the experts of every node given the node of every group.
Placement placeOnNodes(const PlacementProblem &problem, bool hierarchical,
                       const std::vector<int64_t> &nodeOfGroup) {
  NodeLayout layout = nodeLayout(problem, hierarchical);
  Placement placement;
  placement.hierarchical = hierarchical;
  placement.slotsPerGpu = layout.slotsPerNode / layout.gpusPerNode;
  placement.phy2log.assign(layout.slotsPerNode * layout.nodes, -1);
  for (int64_t node = 0; node < layout.nodes; ++node) {
    std::vector<int64_t> local; // logical experts on this node
    for (int64_t g = 0; g < layout.groups; ++g)
      if (nodeOfGroup[g] == node)
        for (int64_t e = g * layout.groupSize; e < (g + 1) * layout.groupSize; ++e)
          local.push_back(e);
    std::vector<double> localLoad;
    for (int64_t e : local)
      localLoad.push_back(problem.expertLoad[e]);
    std::vector<int64_t> replicas = replicate(localLoad, layout.slotsPerNode);
    std::vector<int64_t> slotExpert;
    std::vector<double> slotLoad;
    for (size_t i = 0; i < local.size(); ++i)
      for (int64_t r = 0; r < replicas[i]; ++r) {
        slotExpert.push_back(local[i]);
        slotLoad.push_back(localLoad[i] / replicas[i]);
      }
    std::vector<int64_t> gpuOfSlot = packBalanced(slotLoad, layout.gpusPerNode);
    std::vector<int64_t> filled(layout.gpusPerNode, 0);
    for (size_t s = 0; s < slotExpert.size(); ++s) {
      int64_t gpu = node * layout.gpusPerNode + gpuOfSlot[s];
      placement.phy2log[gpu * placement.slotsPerGpu + filled[gpuOfSlot[s]]++] = slotExpert[s];
    }
  }
  evaluatePlacement(problem, placement);
  return placement;
}

std::vector<int64_t> packGroupsOntoNodes(const PlacementProblem &problem, bool hierarchical) {
  NodeLayout layout = nodeLayout(problem, hierarchical);
  std::vector<double> groupLoad(layout.groups, 0.0);
  for (int64_t e = 0; e < numExperts(problem); ++e)
    groupLoad[e / layout.groupSize] += problem.expertLoad[e];
  return packBalanced(groupLoad, layout.nodes);
}

/// Replication, packing and in-node swaps for one assignment of groups to nodes.
Placement placeAndRefine(const PlacementProblem &problem, bool hierarchical,
                         const std::vector<int64_t> &nodeOfGroup) {
  Placement placement = placeOnNodes(problem, hierarchical, nodeOfGroup);
  PlacementProblem swapScope = problem;
  // Swaps stay inside a node in the hierarchical mode (groups stay whole); in the global
  // mode any two GPUs may trade.
  if (!hierarchical)
    swapScope.numNodes = 1;
  refineBySwaps(swapScope, placement);
  return placement;
}

} // namespace

Placement placeExpertsConstructive(const PlacementProblem &problem) {
  bool hierarchical = groupsDivideNodes(problem);
  return placeOnNodes(problem, hierarchical, packGroupsOntoNodes(problem, hierarchical));
}

Placement placeExperts(const PlacementProblem &problem) {
  bool hierarchical = groupsDivideNodes(problem);
  std::vector<int64_t> nodeOfGroup = packGroupsOntoNodes(problem, hierarchical);
  Placement best = placeAndRefine(problem, hierarchical, nodeOfGroup);
  if (!hierarchical)
    return best;
  // The busiest node bounds every GPU placement inside it, so trade groups between nodes
  // while a trade lowers the final max/mean (each trade keeps every group whole).
  for (bool improved = true; improved;) {
    improved = false;
    for (size_t a = 0; a < nodeOfGroup.size() && !improved; ++a)
      for (size_t b = a + 1; b < nodeOfGroup.size() && !improved; ++b) {
        if (nodeOfGroup[a] == nodeOfGroup[b])
          continue;
        std::swap(nodeOfGroup[a], nodeOfGroup[b]);
        Placement candidate = placeAndRefine(problem, hierarchical, nodeOfGroup);
        if (candidate.maxOverMean < best.maxOverMean * (1 - 1e-12)) {
          best = std::move(candidate);
          improved = true;
        } else {
          std::swap(nodeOfGroup[a], nodeOfGroup[b]);
        }
      }
  }
  return best;
}

Placement uniformPlacement(const PlacementProblem &problem) {
  Placement placement;
  placement.slotsPerGpu = numExperts(problem) / problem.numGpus;
  placement.phy2log.resize(numExperts(problem));
  std::iota(placement.phy2log.begin(), placement.phy2log.end(), 0);
  evaluatePlacement(problem, placement);
  return placement;
}

} // namespace ds
