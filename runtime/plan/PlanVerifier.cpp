#include "runtime/plan/PlanVerifier.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <set>
#include <utility>

namespace ds::rt {

namespace {

// No arena may exceed 2^60 bytes; the bound keeps every sum below int64's range.
constexpr int64_t kMaxArenaBytes = int64_t(1) << 60;

std::string describe(const Plan &plan, int32_t id) {
  return "buffer " + std::to_string(id) + " ('" + plan.buffers[id].name + "')";
}

bool knownDType(DType dtype) {
  switch (dtype) {
  case DType::F32:
  case DType::BF16:
  case DType::F8E4M3:
  case DType::I32:
    return true;
  }
  return false;
}

Status verifyMeta(const Plan &plan) {
  if (plan.version != kPlanFormatVersion)
    return errorf("plan format version ", plan.version, " is not supported (this runtime reads ",
                  kPlanFormatVersion, "); recompile the model with a matching ds-compile");
  if (plan.batch <= 0 || plan.seq <= 0)
    return errorf("plan batch ", plan.batch, " and seq ", plan.seq, " must be positive");
  if (plan.vocabSize <= 0)
    return errorf("plan vocab_size ", plan.vocabSize, " must be positive");
  if (plan.mtpDepth < 0)
    return errorf("plan mtp_depth ", plan.mtpDepth, " must not be negative");
  if (!std::isfinite(plan.initializerRange) || plan.initializerRange < 0)
    return errorf("plan initializer_range ", plan.initializerRange,
                  " must be finite and non-negative");
  if (plan.persistentBytes < 0 || plan.arenaBytes < plan.persistentBytes ||
      plan.arenaBytes > kMaxArenaBytes)
    return errorf("plan persistent_bytes ", plan.persistentBytes, " and arena_bytes ",
                  plan.arenaBytes, " must satisfy 0 <= persistent <= arena <= 2^60");
  if (plan.persistentBytes % kPlanAlignment || plan.arenaBytes % kPlanAlignment)
    return errorf("plan persistent_bytes ", plan.persistentBytes, " and arena_bytes ",
                  plan.arenaBytes, " must be multiples of ", kPlanAlignment);
  return Status::ok();
}

Status verifyBuffer(const Plan &plan, int32_t id, int64_t &bytes) {
  const PlanBuffer &buffer = plan.buffers[id];
  if (!knownDType(buffer.dtype))
    return errorf("plan ", describe(plan, id), ": unknown dtype code ",
                  static_cast<int>(buffer.dtype));
  if (buffer.role != BufferRole::Temporary && buffer.name.empty())
    return errorf("plan buffer ", id, ": a ", bufferRoleName(buffer.role),
                  " buffer needs a name to bind it by");
  int64_t elements = 1;
  for (size_t d = 0; d < buffer.shape.size(); ++d) {
    int64_t extent = buffer.shape[d];
    if (extent < 0)
      return errorf("plan ", describe(plan, id), ": dimension ", d, " is negative (", extent, ")");
    if (extent != 0 && elements > kMaxArenaBytes / extent)
      return errorf("plan ", describe(plan, id), ": shape is too large (over 2^60 elements)");
    elements *= extent;
  }
  bytes = elements * dtypeSize(buffer.dtype);
  if (bytes > kMaxArenaBytes)
    return errorf("plan ", describe(plan, id), ": size is too large (over 2^60 bytes)");
  if (buffer.offset < 0 || buffer.offset % kPlanAlignment)
    return errorf("plan ", describe(plan, id), ": offset ", buffer.offset,
                  " is not a non-negative multiple of ", kPlanAlignment);
  bool persistent = isPersistentRole(buffer.role);
  int64_t lo = persistent ? 0 : plan.persistentBytes;
  int64_t hi = persistent ? plan.persistentBytes : plan.arenaBytes;
  // A view lies within its source's bytes (verifyViews), so its source's region holds it.
  if (bytes > 0 && buffer.viewOf == -1 && (buffer.offset < lo || buffer.offset > hi - bytes))
    return errorf("plan ", describe(plan, id), ": bytes [", buffer.offset, ", ",
                  buffer.offset + bytes, ") of a ", bufferRoleName(buffer.role),
                  " buffer lie outside its region [", lo, ", ", hi, ")");
  if (buffer.role == BufferRole::Param) {
    if (buffer.init != "normal" && buffer.init != "ones" && buffer.init != "zeros")
      return errorf("plan ", describe(plan, id), ": init '", buffer.init,
                    "' is not one of normal, ones, zeros");
  } else if (!buffer.init.empty()) {
    return errorf("plan ", describe(plan, id), ": only parameters have an init, found '",
                  buffer.init, "'");
  }
  return Status::ok();
}

// Two persistent buffers never share bytes: each holds its value across steps.
Status verifyPersistentDisjoint(const Plan &plan, const std::vector<int64_t> &bytes) {
  std::vector<std::pair<int64_t, int32_t>> byOffset;
  for (size_t i = 0; i < plan.buffers.size(); ++i)
    if (isPersistentRole(plan.buffers[i].role) && bytes[i] > 0)
      byOffset.emplace_back(plan.buffers[i].offset, static_cast<int32_t>(i));
  std::sort(byOffset.begin(), byOffset.end());
  for (size_t k = 1; k < byOffset.size(); ++k) {
    int32_t prev = byOffset[k - 1].second, cur = byOffset[k].second;
    if (plan.buffers[prev].offset + bytes[prev] > plan.buffers[cur].offset)
      return errorf("plan ", describe(plan, prev), " and ", describe(plan, cur),
                    " overlap in the persistent region");
  }
  return Status::ok();
}

// A view names its source's bytes (Plan.h): one level deep, a temporary over a temporary
// or output, same dtype and offset, never larger. Liveness then treats it as its source.
Status verifyViews(const Plan &plan, const std::vector<int64_t> &bytes) {
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer &view = plan.buffers[i];
    int32_t id = static_cast<int32_t>(i), source = view.viewOf;
    if (source == -1)
      continue;
    if (source < 0 || static_cast<size_t>(source) >= plan.buffers.size() || source == id)
      return errorf("plan ", describe(plan, id), ": view_of ", source,
                    " is neither -1 nor the id of another buffer");
    const PlanBuffer &target = plan.buffers[source];
    if (target.viewOf != -1)
      return errorf("plan ", describe(plan, id), " views ", describe(plan, source),
                    ", itself a view; a view names the buffer that holds the bytes");
    if (view.role != BufferRole::Temporary ||
        (target.role != BufferRole::Temporary && target.role != BufferRole::Output))
      return errorf("plan ", describe(plan, id), " is a ", bufferRoleName(view.role),
                    " viewing a ", bufferRoleName(target.role),
                    "; a view is a temporary over a temporary or output");
    if (view.dtype != target.dtype || bytes[i] > bytes[source] || view.offset != target.offset)
      return errorf("plan ", describe(plan, id), " must have the dtype and offset of the ",
                    describe(plan, source), " it views and no more bytes");
  }
  return Status::ok();
}

// Non-persistent buffers may share bytes only when their live ranges (first write to last
// read; outputs and update sources stay live to the end of the step) do not overlap; a read of a
// view is a read of its source. A sweep over launches keeps the live buffers ordered by offset;
// since they are pairwise disjoint, a new buffer need only be compared with its neighbours.
Status verifyTemporariesDisjoint(const Plan &plan, const std::vector<int64_t> &bytes) {
  size_t n = plan.buffers.size();
  auto bytesOwner = [&](int32_t id) {
    return plan.buffers[id].viewOf >= 0 ? plan.buffers[id].viewOf : id;
  };
  std::vector<int64_t> firstRead(n, -1), firstWrite(n, -1), lastUse(n, -1);
  for (size_t l = 0; l < plan.launches.size(); ++l) {
    int64_t at = static_cast<int64_t>(l);
    for (int32_t input : plan.launches[l].inputs) {
      int32_t id = bytesOwner(input);
      if (firstRead[id] < 0)
        firstRead[id] = at;
      lastUse[id] = at;
    }
    for (int32_t id : plan.launches[l].outputs) {
      if (firstWrite[id] < 0)
        firstWrite[id] = at;
      lastUse[id] = at;
    }
  }
  // Updates run after the last launch, so their sources stay live to the end as well.
  std::vector<bool> updateSource(n, false);
  for (const PlanUpdate &update : plan.updates)
    if (update.source >= 0 && static_cast<size_t>(update.source) < n)
      updateSource[bytesOwner(update.source)] = true;
  int64_t end = static_cast<int64_t>(plan.launches.size());
  std::vector<std::vector<int32_t>> startsAt(plan.launches.size()),
      endsAt(plan.launches.size() + 1);
  for (size_t i = 0; i < n; ++i) {
    const PlanBuffer &buffer = plan.buffers[i];
    if (isPersistentRole(buffer.role) || buffer.viewOf >= 0)
      continue;
    int32_t id = static_cast<int32_t>(i);
    if (buffer.role == BufferRole::Output && firstWrite[i] < 0)
      return errorf("plan output ", describe(plan, id), " is written by no launch");
    if (firstRead[i] >= 0 && (firstWrite[i] < 0 || firstRead[i] <= firstWrite[i]))
      return errorf("plan ", describe(plan, id), " is read by launch ", firstRead[i],
                    " before any earlier launch writes it");
    if (firstWrite[i] < 0 || bytes[i] == 0)
      continue; // occupies no bytes while live
    startsAt[firstWrite[i]].push_back(id);
    endsAt[buffer.role == BufferRole::Output || updateSource[i] ? end : lastUse[i]].push_back(id);
  }
  std::map<int64_t, int32_t> live; // offset -> buffer id
  for (size_t l = 0; l < plan.launches.size(); ++l) {
    // An in-place launch (Plan.h) may write its output over an input whose lifetime ends
    // here: same offset, dtype and size, a temporary that is not a view. It leaves first.
    InPlaceOperands inPlace;
    const PlanLaunch &launch = plan.launches[l];
    if (inPlaceOperands(launch.kernel, inPlace) && inPlace.input < launch.inputs.size() &&
        inPlace.output < launch.outputs.size()) {
      int32_t in = launch.inputs[inPlace.input], out = launch.outputs[inPlace.output];
      const PlanBuffer &a = plan.buffers[in], &b = plan.buffers[out];
      auto at = live.find(a.offset);
      if (a.viewOf == -1 && b.viewOf == -1 && a.role == BufferRole::Temporary &&
          !updateSource[in] && lastUse[in] == int64_t(l) && firstWrite[out] == int64_t(l) &&
          a.offset == b.offset && a.dtype == b.dtype && bytes[in] == bytes[out] &&
          at != live.end() && at->second == in)
        live.erase(at);
    }
    for (int32_t id : startsAt[l]) {
      int64_t lo = plan.buffers[id].offset, hi = lo + bytes[id];
      auto next = live.lower_bound(lo);
      if (next != live.end() && next->first < hi)
        return errorf("plan ", describe(plan, id), " overlaps live ", describe(plan, next->second),
                      " at launch ", l);
      if (next != live.begin()) {
        auto prev = std::prev(next);
        if (prev->first + bytes[prev->second] > lo)
          return errorf("plan ", describe(plan, id), " overlaps live ",
                        describe(plan, prev->second), " at launch ", l);
      }
      live.emplace(lo, id);
    }
    for (int32_t id : endsAt[l]) {
      auto at = live.find(plan.buffers[id].offset);
      if (at != live.end() && at->second == id) // an in-place input left already
        live.erase(at);
    }
  }
  return Status::ok();
}

Status verifyLaunches(const Plan &plan, const PlanCheckOptions &options) {
  auto inRange = [&](int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < plan.buffers.size();
  };
  for (size_t l = 0; l < plan.launches.size(); ++l) {
    const PlanLaunch &launch = plan.launches[l];
    if (launch.kernel.empty())
      return errorf("plan launch ", l, " has no kernel name");
    if (options.kernelExists && !options.kernelExists(launch.kernel))
      return errorf("plan launch ", l, " uses kernel '", launch.kernel,
                    "' which this runtime does not provide");
    for (int32_t id : launch.inputs)
      if (!inRange(id))
        return errorf("plan launch ", l, " ('", launch.kernel, "') input buffer id ", id,
                      " is out of range [0, ", plan.buffers.size(), ")");
    for (int32_t id : launch.outputs) {
      if (!inRange(id))
        return errorf("plan launch ", l, " ('", launch.kernel, "') output buffer id ", id,
                      " is out of range [0, ", plan.buffers.size(), ")");
      if (plan.buffers[id].role == BufferRole::Input)
        return errorf("plan launch ", l, " ('", launch.kernel, "') writes input ",
                      describe(plan, id), ", which the runtime owns");
      if (plan.buffers[id].viewOf >= 0)
        return errorf("plan launch ", l, " ('", launch.kernel, "') writes ", describe(plan, id),
                      ", a view; views are read-only");
    }
  }
  return Status::ok();
}

Status verifyUpdates(const Plan &plan) {
  std::set<int32_t> targets;
  for (size_t u = 0; u < plan.updates.size(); ++u) {
    const PlanUpdate &update = plan.updates[u];
    for (int32_t id : {update.source, update.target})
      if (id < 0 || static_cast<size_t>(id) >= plan.buffers.size())
        return errorf("plan update ", u, ": buffer id ", id, " is out of range [0, ",
                      plan.buffers.size(), ")");
    const PlanBuffer &source = plan.buffers[update.source];
    const PlanBuffer &target = plan.buffers[update.target];
    if (target.role != BufferRole::Param && target.role != BufferRole::Buffer &&
        target.role != BufferRole::State)
      return errorf("plan update ", u, ": target ", describe(plan, update.target), " is a ",
                    bufferRoleName(target.role), ", not a param, buffer or state");
    if (update.source == update.target)
      return errorf("plan update ", u, ": source and target are the same buffer");
    if (source.dtype != target.dtype || source.shape != target.shape)
      return errorf("plan update ", u, ": source ", describe(plan, update.source), " and target ",
                    describe(plan, update.target), " differ in dtype or shape");
    if (!targets.insert(update.target).second)
      return errorf("plan update ", u, ": target ", describe(plan, update.target),
                    " is updated twice");
  }
  return Status::ok();
}

} // namespace

Status verifyPlan(const Plan &plan, const PlanCheckOptions &options) {
  DS_RETURN_IF_ERROR(verifyMeta(plan));
  if (plan.buffers.size() > static_cast<size_t>(INT32_MAX))
    return errorf("plan has ", plan.buffers.size(), " buffers, more than ids can name");
  std::vector<int64_t> bytes(plan.buffers.size());
  std::set<std::pair<BufferRole, std::string>> names;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    int32_t id = static_cast<int32_t>(i);
    DS_RETURN_IF_ERROR(verifyBuffer(plan, id, bytes[i]));
    const PlanBuffer &buffer = plan.buffers[i];
    if (buffer.role != BufferRole::Temporary && !names.insert({buffer.role, buffer.name}).second)
      return errorf("plan ", describe(plan, id), ": another ", bufferRoleName(buffer.role),
                    " has the same name");
  }
  DS_RETURN_IF_ERROR(verifyPersistentDisjoint(plan, bytes));
  DS_RETURN_IF_ERROR(verifyViews(plan, bytes));
  DS_RETURN_IF_ERROR(verifyLaunches(plan, options));
  DS_RETURN_IF_ERROR(verifyTemporariesDisjoint(plan, bytes));
  return verifyUpdates(plan);
}

} // namespace ds::rt
