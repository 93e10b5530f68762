//===- KernelRegistry.cpp - kernel attributes and the name -> kernel tables ===//
//
// Kernels are registered from explicit tables (cpu/CpuKernels.cpp; the CUDA library's
// registerCudaKernels), never from static initializers: a static library's object that
// nothing references is dropped by the linker together with its initializers.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/Kernel.h"
#include "runtime/kernels/cpu/CpuKernels.h"

#include <mutex>

namespace ds::rt {

void KernelAttrs::setInt(const std::string &name, int64_t v) { setInts(name, {v}); }

void KernelAttrs::setInts(const std::string &name, std::vector<int64_t> v) {
  AttrValue value;
  value.kind = AttrValue::Kind::Ints;
  value.ints = std::move(v);
  values_[name] = std::move(value);
}

void KernelAttrs::setFloat(const std::string &name, double v) {
  AttrValue value;
  value.kind = AttrValue::Kind::Float;
  value.real = v;
  values_[name] = std::move(value);
}

void KernelAttrs::setString(const std::string &name, std::string v) {
  AttrValue value;
  value.kind = AttrValue::Kind::String;
  value.text = std::move(v);
  values_[name] = std::move(value);
}

// Numeric lookups accept either numeric kind: a plan writer may store an integral F64
// attribute as an integer, and the value is the same.
int64_t KernelAttrs::getInt(const std::string &name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end())
    return fallback;
  const AttrValue &v = it->second;
  if (v.kind == AttrValue::Kind::Ints && !v.ints.empty())
    return v.ints[0];
  if (v.kind == AttrValue::Kind::Float)
    return static_cast<int64_t>(v.real);
  return fallback;
}

std::vector<int64_t> KernelAttrs::getInts(const std::string &name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.kind != AttrValue::Kind::Ints)
    return {};
  return it->second.ints;
}

double KernelAttrs::getFloat(const std::string &name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end())
    return fallback;
  const AttrValue &v = it->second;
  if (v.kind == AttrValue::Kind::Float)
    return v.real;
  if (v.kind == AttrValue::Kind::Ints && !v.ints.empty())
    return static_cast<double>(v.ints[0]);
  return fallback;
}

std::string KernelAttrs::getString(const std::string &name, const std::string &fallback) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.kind != AttrValue::Kind::String)
    return fallback;
  return it->second.text;
}

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, KernelFn> tables[2];
};

bool insertLocked(Registry &registry, Backend backend, const std::string &name, KernelFn fn) {
  if (name.empty() || fn == nullptr)
    return false;
  return registry.tables[static_cast<int>(backend)].emplace(name, fn).second;
}

/// The registry, with the CPU table in it from the first use on (function-local statics
/// are initialised once, thread-safely).
Registry &registry() {
  static Registry instance;
  static const bool cpuTableLoaded = [] {
    for (const KernelEntry &entry : cpu::cpuKernelTable())
      insertLocked(instance, Backend::Cpu, entry.name, entry.fn);
    return true;
  }();
  (void)cpuTableLoaded;
  return instance;
}

} // namespace

KernelFn lookupKernel(Backend backend, const std::string &name) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const auto &table = r.tables[static_cast<int>(backend)];
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

std::vector<std::string> registeredKernels(Backend backend) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto &entry : r.tables[static_cast<int>(backend)])
    names.push_back(entry.first); // std::map iterates in sorted order
  return names;
}

bool registerKernel(Backend backend, const std::string &name, KernelFn fn) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return insertLocked(r, backend, name, fn);
}

bool registerKernels(Backend backend, const KernelEntry *entries, size_t count) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  bool allRegistered = true;
  for (size_t i = 0; i < count; ++i)
    allRegistered &=
        insertLocked(r, backend, entries[i].name ? entries[i].name : "", entries[i].fn);
  return allRegistered;
}

} // namespace ds::rt
