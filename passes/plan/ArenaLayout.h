//===- ArenaLayout.h - offsets for buffers with known lifetimes -----------===//
//
// The offline memory-planning problem of a static schedule: every buffer has a size and
// the interval of schedule steps during which it holds a value; find offsets such that two
// buffers live at the same step never share a byte, with the smallest total. This is
// dynamic storage allocation, NP-hard in general; greedy-by-size (largest first, each at the
// lowest offset that clears the buffers it is live with) is the heuristic TFLite and
// XLA use and is within a few percent of the lower bound on training graphs.
//
// No MLIR here: ds-plan-memory feeds it lifetimes from a dsx.program, and unit tests feed
// it random ones.
//
//===----------------------------------------------------------------------===//
#ifndef DS_PASSES_PLAN_ARENALAYOUT_H
#define DS_PASSES_PLAN_ARENALAYOUT_H

#include <cstdint>
#include <vector>

namespace ds::plan {

/// A buffer that holds a value from schedule step `firstStep` to `lastStep`, inclusive.
struct LiveRange {
  int64_t bytes = 0;
  int64_t firstStep = 0;
  int64_t lastStep = 0;
};

struct ArenaLayout {
  /// Offset of each range, in the order given, relative to the start of the arena; every
  /// one a multiple of the alignment.
  std::vector<int64_t> offsets;
  /// Bytes the arena needs: the end of the highest buffer, rounded up to the alignment.
  int64_t arenaBytes = 0;
  /// Most bytes live at any one step (each rounded up to the alignment): a lower bound on
  /// arenaBytes for any layout.
  int64_t peakLiveBytes = 0;
  /// Sum of the aligned sizes: the arena without reuse.
  int64_t totalBytes = 0;
};

/// Two ranges overlap in time when some step lies in both.
inline bool liveTogether(const LiveRange &a, const LiveRange &b) {
  return a.firstStep <= b.lastStep && b.firstStep <= a.lastStep;
}

/// Rounds `bytes` up to a multiple of `alignment` (a positive power of two or not).
int64_t alignTo(int64_t bytes, int64_t alignment);

/// Lays out `ranges` greedily by size. `alignment` must be positive; every range must have
/// bytes >= 0 and firstStep <= lastStep.
ArenaLayout layoutArena(const std::vector<LiveRange> &ranges, int64_t alignment);

} // namespace ds::plan

#endif
