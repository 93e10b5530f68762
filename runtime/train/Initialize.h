//===- Initialize.h - the state of a fresh training run -------------------===//
//
// Parameters are filled as their plan entry says: "normal" draws N(0, initializer_range),
// "ones" and "zeros" are constants. Non-trained buffers (the router bias) and optimizer
// state start at zero. Inputs and temporaries are left alone.
//
// Reproducibility: each parameter draws from its own std::mt19937_64 (whose output the C++
// standard fixes) seeded with splitmix64(seed ^ fnv1a64(name)), and normal samples come
// from our own Box-Muller transform (std::normal_distribution differs between standard
// libraries). So one seed gives the same weights on every platform, and a parameter's
// values do not depend on which other parameters the plan has or in which order.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_INITIALIZE_H
#define DS_RUNTIME_TRAIN_INITIALIZE_H

#include "runtime/core/Executor.h"

#include <cstdint>

namespace ds::rt {

Status initializeState(Executor &executor, uint64_t seed);

/// splitmix64's finalizer: a bijective mix of 64 bits, used to derive independent seeds.
uint64_t mixSeed(uint64_t x);

} // namespace ds::rt

#endif
