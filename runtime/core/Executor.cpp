#include "runtime/core/Executor.h"

#include <cstring>

namespace ds::rt {

namespace {

std::string label(const PlanBuffer &buffer, size_t id) {
  return "buffer " + std::to_string(id) + " ('" + buffer.name + "')";
}

} // namespace

Expected<Executor> Executor::create(Plan plan, const KernelResolver &resolve) {
  Executor executor;
  Expected<Arena> arena = Arena::allocate(plan.arenaBytes);
  if (!arena)
    return arena.status();
  executor.arena_ = arena.take();

  executor.views_.reserve(plan.buffers.size());
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer &buffer = plan.buffers[i];
    TensorView view;
    view.dtype = buffer.dtype;
    view.shape = buffer.shape;
    int64_t bytes = dtypeSize(buffer.dtype);
    for (int64_t d : buffer.shape)
      if (d < 0 || __builtin_mul_overflow(bytes, d, &bytes))
        return errorf("executor: ", label(buffer, i), " has an invalid shape");
    if (buffer.offset < 0 || buffer.offset > plan.arenaBytes - bytes)
      return errorf("executor: ", label(buffer, i), " lies outside the arena of ", plan.arenaBytes,
                    " bytes");
    view.data = executor.arena_.data() + buffer.offset;
    executor.views_.push_back(std::move(view));
  }

  auto inRange = [&](int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < plan.buffers.size();
  };
  for (size_t l = 0; l < plan.launches.size(); ++l) {
    const PlanLaunch &launch = plan.launches[l];
    KernelFn fn = resolve ? resolve(launch.kernel) : nullptr;
    if (!fn)
      return errorf("executor: launch ", l, " uses kernel '", launch.kernel,
                    "', which this runtime does not provide");
    KernelCall call;
    call.attrs = launch.attrs;
    for (auto [ids, views] : {std::make_pair(&launch.inputs, &call.inputs),
                              std::make_pair(&launch.outputs, &call.outputs)}) {
      for (int32_t id : *ids) {
        if (!inRange(id))
          return errorf("executor: launch ", l, " ('", launch.kernel, "') names buffer ", id,
                        ", out of range");
        views->push_back(executor.views_[id]);
      }
    }
    executor.kernels_.push_back(fn);
    executor.calls_.push_back(std::move(call));
  }

  for (size_t u = 0; u < plan.updates.size(); ++u) {
    const PlanUpdate &update = plan.updates[u];
    if (!inRange(update.source) || !inRange(update.target) ||
        executor.views_[update.source].sizeInBytes() !=
            executor.views_[update.target].sizeInBytes())
      return errorf("executor: update ", u, " has an invalid source or target");
  }
  executor.plan_ = std::move(plan);
  return executor;
}

Expected<TensorView> Executor::find(BufferRole role, const std::string &name) const {
  int32_t id = plan_.findBuffer(role, name);
  if (id < 0)
    return errorf("the plan has no buffer named '", name, "' in this role");
  return views_[id];
}

Status Executor::run() {
  for (size_t l = 0; l < calls_.size(); ++l) {
    Status status = kernels_[l](calls_[l]);
    if (!status)
      return errorf("launch ", l, " ('", plan_.launches[l].kernel, "'): ", status.message());
  }
  for (const PlanUpdate &update : plan_.updates) {
    const TensorView &source = views_[update.source];
    std::memcpy(views_[update.target].data, source.data, source.sizeInBytes());
  }
  return Status::ok();
}

} // namespace ds::rt
