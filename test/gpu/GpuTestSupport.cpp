#include "test/gpu/GpuTestSupport.h"

#include "runtime/core/Bf16.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

namespace ds::rt::gputest {

bool cudaDeviceAvailable() {
  static const bool available = [] {
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  }();
  return available;
}

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

TensorView HostTensor::view() const {
  TensorView v;
  v.data = const_cast<uint8_t *>(bytes.data());
  v.dtype = dtype;
  v.shape = shape;
  return v;
}

double HostTensor::at(int64_t i) const {
  switch (dtype) {
  case DType::F32: {
    float f;
    std::memcpy(&f, bytes.data() + 4 * i, 4);
    return f;
  }
  case DType::BF16: {
    uint16_t bits;
    std::memcpy(&bits, bytes.data() + 2 * i, 2);
    return bf16ToFloat(bits);
  }
  case DType::I32: {
    int32_t v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return v;
  }
  case DType::F8E4M3:
    break;
  }
  return NAN;
}

HostTensor outputLike(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.bytes.assign(t.numElements() * dtypeSize(dtype), 0);
  return t;
}

HostTensor randomFloats(DType dtype, std::vector<int64_t> shape, std::mt19937 &rng, float lo,
                        float hi) {
  HostTensor t = outputLike(dtype, std::move(shape));
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numElements(); ++i) {
    float v = dist(rng);
    if (dtype == DType::BF16) {
      uint16_t bits = floatToBf16(v);
      std::memcpy(t.bytes.data() + 2 * i, &bits, 2);
    } else {
      std::memcpy(t.bytes.data() + 4 * i, &v, 4);
    }
  }
  return t;
}

HostTensor int32s(std::vector<int64_t> shape, const std::vector<int32_t> &values) {
  HostTensor t = outputLike(DType::I32, std::move(shape));
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

HostTensor scalar(float value) {
  HostTensor t = outputLike(DType::F32, {});
  std::memcpy(t.bytes.data(), &value, 4);
  return t;
}

namespace {

/// Device copies of a case's tensors, freed on destruction.
class DeviceTensors {
public:
  ~DeviceTensors() {
    for (void *p : allocations_)
      cudaFree(p);
  }
  ::testing::AssertionResult add(const HostTensor &t, bool upload, TensorView &view) {
    void *p = nullptr;
    size_t bytes = std::max<size_t>(t.bytes.size(), 1);
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess)
      return ::testing::AssertionFailure() << "cudaMalloc: " << cudaGetErrorString(err);
    allocations_.push_back(p);
    if (upload && !t.bytes.empty())
      err = cudaMemcpy(p, t.bytes.data(), t.bytes.size(), cudaMemcpyHostToDevice);
    if (err != cudaSuccess)
      return ::testing::AssertionFailure() << "cudaMemcpy: " << cudaGetErrorString(err);
    view = t.view();
    view.data = p;
    return ::testing::AssertionSuccess();
  }

private:
  std::vector<void *> allocations_;
};

cudaStream_t testStream() {
  // A non-default stream, so kernels that ignored call.stream would race with the copies.
  static cudaStream_t stream = [] {
    cudaStream_t s = nullptr;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    return s;
  }();
  return stream;
}

::testing::AssertionResult runCudaOnce(const KernelCase &c, std::vector<HostTensor> &outputs) {
  registerCudaKernels();
  KernelFn fn = lookupKernel(Backend::Cuda, c.kernel);
  if (!fn)
    return ::testing::AssertionFailure() << "no CUDA kernel '" << c.kernel << "'";
  DeviceTensors device;
  KernelCall call;
  call.attrs = c.attrs;
  call.stream = testStream();
  for (const HostTensor &t : c.inputs) {
    TensorView v;
    auto ok = device.add(t, /*upload=*/true, v);
    if (!ok)
      return ok;
    call.inputs.push_back(v);
  }
  for (const HostTensor &t : c.outputs) {
    TensorView v;
    auto ok = device.add(t, /*upload=*/false, v);
    if (!ok)
      return ok;
    cudaMemset(v.data, 0xff, t.bytes.size()); // poison: NaN / -1 where nothing was written
    call.outputs.push_back(v);
  }
  if (cudaError_t err = cudaDeviceSynchronize(); err != cudaSuccess)
    return ::testing::AssertionFailure() << "setup: " << cudaGetErrorString(err);
  Status status = fn(call);
  if (!status.isOk())
    return ::testing::AssertionFailure() << "CUDA " << c.kernel << ": " << status.message();
  if (cudaError_t err = cudaStreamSynchronize(testStream()); err != cudaSuccess)
    return ::testing::AssertionFailure()
           << "CUDA " << c.kernel << " at run time: " << cudaGetErrorString(err);
  outputs = c.outputs;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].bytes.empty())
      continue;
    cudaError_t err = cudaMemcpy(outputs[i].bytes.data(), call.outputs[i].data,
                                 outputs[i].bytes.size(), cudaMemcpyDeviceToHost);
    if (err != cudaSuccess)
      return ::testing::AssertionFailure() << "download: " << cudaGetErrorString(err);
  }
  return ::testing::AssertionSuccess();
}

} // namespace

::testing::AssertionResult runCuda(const KernelCase &c, std::vector<HostTensor> &outputs) {
  std::vector<HostTensor> second;
  auto ok = runCudaOnce(c, outputs);
  if (!ok)
    return ok;
  ok = runCudaOnce(c, second);
  if (!ok)
    return ok;
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].bytes != second[i].bytes)
      return ::testing::AssertionFailure()
             << "CUDA " << c.kernel << " output " << i << " differs between two runs";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult runBoth(const KernelCase &c, KernelResults &results) {
  KernelFn cpuFn = lookupKernel(Backend::Cpu, c.kernel);
  if (!cpuFn)
    return ::testing::AssertionFailure() << "no CPU kernel '" << c.kernel << "'";
  std::vector<HostTensor> inputs = c.inputs; // the CPU kernel gets its own copies
  results.cpu = c.outputs;
  KernelCall call;
  call.attrs = c.attrs;
  for (HostTensor &t : inputs)
    call.inputs.push_back(t.view());
  for (HostTensor &t : results.cpu)
    call.outputs.push_back(t.view());
  Status status = cpuFn(call);
  if (!status.isOk())
    return ::testing::AssertionFailure() << "CPU " << c.kernel << ": " << status.message();
  return runCuda(c, results.cuda);
}

double maxAbs(const HostTensor &t) {
  double m = 0.0;
  for (int64_t i = 0; i < t.numElements(); ++i)
    m = std::max(m, std::fabs(t.at(i)));
  return m;
}

::testing::AssertionResult allCloseAbsolute(const std::string &what, const HostTensor &cuda,
                                            const HostTensor &cpu, double rtol, double atol) {
  if (cuda.shape != cpu.shape || cuda.dtype != cpu.dtype)
    return ::testing::AssertionFailure() << what << ": shape or dtype differ";
  double worstExcess = 0.0;
  int64_t worst = -1;
  for (int64_t i = 0; i < cpu.numElements(); ++i) {
    double a = cuda.at(i), b = cpu.at(i);
    double bound = rtol * std::fabs(b) + atol;
    double error = std::fabs(a - b);
    if (error <= bound) // false for NaN
      continue;
    double excess = std::isnan(error) ? INFINITY : error - bound;
    if (worst < 0 || excess > worstExcess) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst < 0)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": element " << worst << " is " << cuda.at(worst) << " on CUDA, "
         << cpu.at(worst) << " on the CPU (rtol " << rtol << ", atol " << atol << ")";
}

::testing::AssertionResult allClose(const std::string &what, const HostTensor &cuda,
                                    const HostTensor &cpu, double rtol, double atol) {
  double maxRef = maxAbs(cpu);
  ::testing::AssertionResult close = allCloseAbsolute(what, cuda, cpu, rtol, atol * maxRef);
  if (!close)
    close << " [atol " << atol << " x max|ref| " << maxRef << "]";
  return close;
}

::testing::AssertionResult identical(const std::string &what, const HostTensor &cuda,
                                     const HostTensor &cpu) {
  if (cuda.shape != cpu.shape || cuda.dtype != cpu.dtype)
    return ::testing::AssertionFailure() << what << ": shape or dtype differ";
  for (int64_t i = 0; i < cpu.numElements(); ++i)
    if (std::memcmp(cuda.bytes.data() + i * dtypeSize(cuda.dtype),
                    cpu.bytes.data() + i * dtypeSize(cpu.dtype), dtypeSize(cpu.dtype)) != 0)
      return ::testing::AssertionFailure() << what << ": element " << i << " is "
                                           << cuda.at(i) << " on CUDA, " << cpu.at(i)
                                           << " on the CPU";
  return ::testing::AssertionSuccess();
}

} // namespace ds::rt::gputest
