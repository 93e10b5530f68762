#include "runtime/train/Initialize.h"

#include "runtime/kernels/cpu/CpuSupport.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace ds::rt {

uint64_t mixSeed(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

namespace {

uint64_t fnv1a64(const std::string &text) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : text)
    h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// Uniform in (0, 1]: 53 random bits, shifted off zero so that log() below is finite.
double uniformOpenZero(std::mt19937_64 &rng) {
  return (static_cast<double>(rng() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

void fillNormal(float *out, int64_t n, double stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (int64_t i = 0; i < n; i += 2) {
    double radius = std::sqrt(-2.0 * std::log(uniformOpenZero(rng)));
    double angle = kTwoPi * uniformOpenZero(rng);
    out[i] = static_cast<float>(stddev * radius * std::cos(angle));
    if (i + 1 < n)
      out[i + 1] = static_cast<float>(stddev * radius * std::sin(angle));
  }
}

} // namespace

Status initializeState(Executor &executor, uint64_t seed) {
  const Plan &plan = executor.plan();
  // Validate first, then fill: each parameter has its own seed (the run seed mixed with
  // its name), so the tensors are independent and filling them on several threads gives
  // the same bits as one thread. v3-mini's 1.26 B normals take most of the time to the
  // first step on one thread.
  std::vector<size_t> filled;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer &buffer = plan.buffers[i];
    if (buffer.role == BufferRole::Buffer || buffer.role == BufferRole::State) {
      filled.push_back(i);
      continue;
    }
    if (buffer.role != BufferRole::Param)
      continue;
    if (buffer.dtype != DType::F32 && buffer.dtype != DType::BF16)
      return errorf("parameter '", buffer.name, "' is ", dtypeName(buffer.dtype),
                    "; parameters are f32 or bf16");
    if (buffer.init != "normal" && buffer.init != "ones" && buffer.init != "zeros")
      return errorf("parameter '", buffer.name, "' has unknown init '", buffer.init, "'");
    filled.push_back(i);
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t f = 0; f < filled.size(); ++f) {
    const PlanBuffer &buffer = plan.buffers[filled[f]];
    const TensorView &view = executor.view(static_cast<int32_t>(filled[f]));
    int64_t n = view.numElements();
    if (buffer.role != BufferRole::Param) {
      std::memset(view.data, 0, view.sizeInBytes());
      continue;
    }
    // A BF16 parameter gets the FP32 values rounded (nearest even, when the writer goes
    // out of scope), so the two plans start from the same draw.
    cpu::FloatWriter values(view);
    if (buffer.init == "normal")
      fillNormal(values.data(), n, plan.initializerRange, mixSeed(seed ^ fnv1a64(buffer.name)));
    else
      values.fill(buffer.init == "ones" ? 1.0f : 0.0f);
  }
  return Status::ok();
}

} // namespace ds::rt
