//===- ArenaLayout.cpp - greedy-by-size arena layout ----------------------===//
#include "passes/plan/ArenaLayout.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <numeric>

namespace ds::plan {

int64_t alignTo(int64_t bytes, int64_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

namespace {

/// Most aligned bytes live at any one step: a sweep over range starts and ends.
int64_t peakLive(const std::vector<LiveRange> &ranges, int64_t alignment) {
  std::map<int64_t, int64_t> delta; // step -> change of live bytes when it begins
  for (const LiveRange &range : ranges) {
    int64_t bytes = alignTo(range.bytes, alignment);
    delta[range.firstStep] += bytes;
    delta[range.lastStep + 1] -= bytes;
  }
  int64_t live = 0, peak = 0;
  for (auto [step, change] : delta) {
    live += change;
    peak = std::max(peak, live);
  }
  return peak;
}

} // namespace

ArenaLayout layoutArena(const std::vector<LiveRange> &ranges, int64_t alignment) {
  assert(alignment > 0 && "alignment must be positive");
  ArenaLayout layout;
  layout.offsets.assign(ranges.size(), 0);
  layout.peakLiveBytes = peakLive(ranges, alignment);

  // Largest first: big buffers are the hard ones to fit, and small ones fill the gaps they
  // leave. Ties go to the earlier start, then the given order, so layouts are reproducible.
  std::vector<size_t> order(ranges.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (ranges[a].bytes != ranges[b].bytes)
      return ranges[a].bytes > ranges[b].bytes;
    if (ranges[a].firstStep != ranges[b].firstStep)
      return ranges[a].firstStep < ranges[b].firstStep;
    return a < b;
  });

  // Placed ranges ordered by offset; a candidate offset moves up past each one it is live
  // with and collides with, and the first gap that fits wins.
  std::vector<size_t> placed;
  placed.reserve(ranges.size());
  for (size_t id : order) {
    const LiveRange &range = ranges[id];
    int64_t bytes = alignTo(range.bytes, alignment);
    layout.totalBytes += bytes;
    int64_t offset = 0;
    for (size_t other : placed) {
      int64_t otherBegin = layout.offsets[other];
      if (otherBegin >= offset + bytes)
        break; // placed is sorted by offset: nothing further can collide
      if (!liveTogether(range, ranges[other]))
        continue;
      int64_t otherEnd = otherBegin + alignTo(ranges[other].bytes, alignment);
      offset = std::max(offset, otherEnd);
    }
    layout.offsets[id] = offset;
    layout.arenaBytes = std::max(layout.arenaBytes, offset + bytes);
    auto at = std::upper_bound(placed.begin(), placed.end(), offset, [&](int64_t value, size_t p) {
      return value < layout.offsets[p];
    });
    placed.insert(at, id);
  }
  return layout;
}

} // namespace ds::plan
