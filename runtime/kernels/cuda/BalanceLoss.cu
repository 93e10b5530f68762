//===- BalanceLoss.cu - balance_loss(+grad), router_grad, bias_update -----===//
//
// The router's backward and its balancing terms, with the CPU reference's formulas
// (cpu/BalanceLoss.cpp, cpu/Router.cpp's router_grad, cpu/Optimizer.cpp's bias_update
// and bias_update_multi, one block per bias).
// All three are small next to the expert GEMMs ([T, E] with E <= a few hundred), so they
// favour simple, deterministic code: one thread per token, scores recomputed from the
// logits in each pass instead of staged (a thread's E scores would not fit registers),
// per-sequence expert counts in shared memory built with integer atomics (exact, so
// order-independent), and every floating-point sum in a fixed order.
//
// The CPU kernels reject expert indices outside [0, E); doing so here needs a host sync,
// so a device kernel skips such a slot instead (it counts for no expert). The router
// that produced the indices on the device never emits one.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <algorithm>
#include <string>

namespace ds::rt::cuda {
namespace {

constexpr int kThreads = 256;
constexpr double kNormEpsilon = 1e-20;
// Per-sequence expert fractions live in shared memory as doubles.
constexpr int64_t kMaxExperts = 4096;

Status readScoreFunc(const char *k, const KernelAttrs &attrs, bool &softmax) {
  std::string name;
  DS_RETURN_IF_ERROR(requireString(attrs, k, "score_func", name));
  if (name != "sigmoid" && name != "softmax")
    return errorf(k, ": score_func '", name, "' is not 'sigmoid' or 'softmax'");
  softmax = name == "softmax";
  return Status::ok();
}

/// What a token's scores need beyond its logits: the softmax max and 1 / sum (as the CPU,
/// the sum in double, the inverse rounded to float once).
struct RowScale {
  float maxLogit, inverse;
};

__device__ RowScale rowScale(FloatIn logits, int64_t row, int experts, bool softmax) {
  RowScale r{0.0f, 1.0f};
  if (!softmax)
    return r;
  float m = -INFINITY;
  for (int e = 0; e < experts; ++e)
    m = fmaxf(m, logits[row + e]);
  double sum = 0.0;
  for (int e = 0; e < experts; ++e)
    sum += expf(logits[row + e] - m);
  r.maxLogit = m;
  r.inverse = float(1.0 / sum);
  return r;
}

__device__ __forceinline__ float score(FloatIn logits, int64_t row, int e, bool softmax,
                                       RowScale r) {
  if (softmax)
    return expf(logits[row + e] - r.maxLogit) * r.inverse;
  return 1.0f / (1.0f + expf(-logits[row + e]));
}

struct BalanceConfig {
  int64_t tokens, experts, topK, sequences, seqLen;
  double alpha;
  bool softmax;
};

Status readBalance(const char *k, const KernelCall &call, BalanceConfig &c) {
  const TensorView &logits = call.inputs[0], &indices = call.inputs[1];
  if (logits.rank() != 2)
    return errorf(k, ": logits has shape ", logits.shapeString(), ", expected [T, E]");
  c.tokens = logits.dim(0);
  c.experts = logits.dim(1);
  if (indices.rank() != 2 || indices.dim(0) != c.tokens)
    return errorf(k, ": indices has shape ", indices.shapeString(), ", expected [", c.tokens,
                  ", K]");
  c.topK = indices.dim(1);
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "alpha", c.alpha));
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "num_sequences", c.sequences));
  DS_RETURN_IF_ERROR(readScoreFunc(k, call.attrs, c.softmax));
  if (c.sequences < 1 || c.tokens % c.sequences != 0)
    return errorf(k, ": num_sequences ", c.sequences, " does not divide the ", c.tokens, " tokens");
  c.seqLen = c.tokens / c.sequences;
  if (c.topK < 1)
    return errorf(k, ": indices has no slots (K = 0)");
  if (c.experts > kMaxExperts)
    return errorf(k, ": ", c.experts, " experts exceed the CUDA kernel's limit of ", kMaxExperts);
  return Status::ok();
}

/// Fills fraction[0, E) (shared) with f_i of sequence `seq`; ends with a barrier.
__device__ void loadFractions(const int32_t *indices, const BalanceConfig &c, int64_t seq,
                              int *counts, double *fraction) {
  int experts = int(c.experts);
  for (int e = threadIdx.x; e < experts; e += blockDim.x)
    counts[e] = 0;
  __syncthreads();
  const int32_t *slots = indices + seq * c.seqLen * c.topK;
  for (int64_t i = threadIdx.x; i < c.seqLen * c.topK; i += blockDim.x) {
    int e = slots[i];
    if (e >= 0 && e < experts)
      atomicAdd(&counts[e], 1);
  }
  __syncthreads();
  double norm = double(c.experts) / double(c.topK * c.seqLen);
  for (int e = threadIdx.x; e < experts; e += blockDim.x)
    fraction[e] = counts[e] * norm;
  __syncthreads();
}

/// One block per sequence: partial[seq] = alpha * sum_t sum_i f_i s'_{t,i} / Ts.
__global__ void balanceLossKernel(FloatIn logits, const int32_t *indices, BalanceConfig c,
                                  double *partial) {
  extern __shared__ double fraction[];
  int *counts = reinterpret_cast<int *>(fraction + c.experts);
  int64_t seq = blockIdx.x;
  loadFractions(indices, c, seq, counts, fraction);
  int experts = int(c.experts);
  double sum = 0.0;
  for (int64_t t = seq * c.seqLen + threadIdx.x; t < (seq + 1) * c.seqLen; t += blockDim.x) {
    int64_t row = t * c.experts;
    RowScale r = rowScale(logits, row, experts, c.softmax);
    double rowSum = 0.0, weighted = 0.0;
    for (int e = 0; e < experts; ++e) {
      float s = score(logits, row, e, c.softmax, r);
      rowSum += s;
      weighted += fraction[e] * s;
    }
    sum += weighted / rowSum;
  }
  sum = blockSum(sum);
  if (threadIdx.x == 0)
    partial[seq] = c.alpha * sum / double(c.seqLen);
}

/// The mean over sequences, added in sequence order.
__global__ void balanceFinishKernel(const double *partial, int64_t sequences, FloatOut result) {
  double total = 0.0;
  for (int64_t s = 0; s < sequences; ++s)
    total += partial[s];
  result.store(0, float(total / double(sequences)));
}

/// Grid (token chunks, sequences); each block rebuilds its sequence's fractions.
__global__ void balanceLossGradKernel(FloatIn logits, const int32_t *indices, FloatIn resultGrad,
                                      BalanceConfig c, FloatOut logitsGrad) {
  extern __shared__ double fraction[];
  int *counts = reinterpret_cast<int *>(fraction + c.experts);
  int64_t seq = blockIdx.y;
  loadFractions(indices, c, seq, counts, fraction);
  int64_t t = seq * c.seqLen + int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= (seq + 1) * c.seqLen)
    return;
  int experts = int(c.experts);
  double perToken = double(resultGrad[0]) * c.alpha / (double(c.sequences) * double(c.seqLen));
  int64_t row = t * c.experts;
  RowScale r = rowScale(logits, row, experts, c.softmax);
  double rowSum = 0.0, dot = 0.0;
  for (int e = 0; e < experts; ++e)
    rowSum += score(logits, row, e, c.softmax, r);
  for (int e = 0; e < experts; ++e)
    dot += perToken * fraction[e] * score(logits, row, e, c.softmax, r) / rowSum;
  // ds_j = (g_j - sum_i g_i s'_i) / sum(s), then through the score function.
  double softmaxDot = 0.0;
  if (c.softmax)
    for (int e = 0; e < experts; ++e) {
      float g = float((perToken * fraction[e] - dot) / rowSum);
      softmaxDot += double(g) * score(logits, row, e, c.softmax, r);
    }
  float softmaxDotF = float(softmaxDot);
  for (int e = 0; e < experts; ++e) {
    float s = score(logits, row, e, c.softmax, r);
    float g = float((perToken * fraction[e] - dot) / rowSum);
    logitsGrad.store(row + e, c.softmax ? s * (g - softmaxDotF) : g * s * (1.0f - s));
  }
}

struct RouterGradConfig {
  int64_t tokens, experts, topK;
  float routedScale;
  bool softmax, normTopkProb;
};

/// One warp per token: every lane derives the token's normalisation from its K slots (a
/// few loads, broadcast), then the lanes share the E experts, so the row is read and
/// written coalesced (one thread per token left 8192 tokens on 32 blocks and strided rows:
/// 73 us on an H100 for v3-mini's [8192, 64]). Only chosen experts get a score gradient;
/// the slot sums are recomputed per expert (E * K work) so nothing is staged.
__global__ void routerGradKernel(FloatIn logits, const int32_t *indices, FloatIn weightsGrad,
                                 RouterGradConfig c, FloatOut logitsGrad) {
  int64_t t = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  int lane = threadIdx.x & 31;
  if (t >= c.tokens)
    return;
  int experts = int(c.experts), topK = int(c.topK);
  int64_t row = t * c.experts;
  const int32_t *chosen = indices + t * c.topK;
  RowScale r = rowScale(logits, row, experts, c.softmax);
  double z = 1.0, shared = 0.0;
  if (c.normTopkProb) {
    double sum = 0.0, weighted = 0.0;
    for (int slot = 0; slot < topK; ++slot) {
      int e = chosen[slot];
      if (e < 0 || e >= experts)
        continue;
      float s = score(logits, row, e, c.softmax, r);
      sum += s;
      weighted += double(weightsGrad[t * c.topK + slot]) * s;
    }
    z = sum + kNormEpsilon;
    shared = c.routedScale * weighted / (z * z);
  }
  float sharedF = float(shared);
  // The score gradient of expert e: the sum of its slots' terms, in slot order.
  auto scoreGrad = [&](int e) {
    float g = 0.0f;
    for (int slot = 0; slot < topK; ++slot) {
      if (chosen[slot] != e)
        continue;
      float dw = weightsGrad[t * c.topK + slot];
      g += c.normTopkProb ? float(c.routedScale * dw / z) - sharedF : c.routedScale * dw;
    }
    return g;
  };
  float softmaxDot = 0.0f;
  if (c.softmax) {
    double dot = 0.0;
    for (int e = lane; e < experts; e += 32)
      dot += double(scoreGrad(e)) * score(logits, row, e, c.softmax, r);
    softmaxDot = float(warpSum(dot));
  }
  for (int e = lane; e < experts; e += 32) {
    float s = score(logits, row, e, c.softmax, r), g = scoreGrad(e);
    logitsGrad.store(row + e, c.softmax ? s * (g - softmaxDot) : g * s * (1.0f - s));
  }
}

/// One block: the mean load (counts summed in double, exact below 2^53), then each
/// expert's sign step.
/// A negative count has no meaning; it poisons its expert's bias with NaN, visibly, since
/// reporting it would need a host sync.
/// One router bias with its layer's expert counts.
struct BiasTensor {
  FloatIn bias;
  const int32_t *counts;
  int64_t experts;
  FloatOut newBias;
};

/// One block updates one bias; integer counts sum exactly in double, in any order.
__device__ void biasUpdateBlock(const BiasTensor &t, float gamma) {
  double total = 0.0;
  for (int64_t e = threadIdx.x; e < t.experts; e += blockDim.x)
    total += t.counts[e];
  total = blockSum(total);
  double meanLoad = t.experts == 0 ? 0.0 : total / double(t.experts);
  for (int64_t e = threadIdx.x; e < t.experts; e += blockDim.x) {
    int32_t load = t.counts[e];
    float sign = meanLoad > load ? 1.0f : (meanLoad < load ? -1.0f : 0.0f);
    t.newBias.store(e, load < 0 ? NAN : t.bias[e] + gamma * sign);
  }
}

__global__ void biasUpdateKernel(BiasTensor t, float gamma) { biasUpdateBlock(t, gamma); }

// bias_update_multi passes its biases by value: 64 of 48 bytes stay under 4 KB.
constexpr int kMaxBiasesPerBatch = 64;

struct BiasBatch {
  BiasTensor tensors[kMaxBiasesPerBatch];
};

__global__ void biasUpdateMultiKernel(BiasBatch batch, float gamma) {
  biasUpdateBlock(batch.tensors[blockIdx.x], gamma);
}

Status checkBiasUpdate(const char *k, const TensorView &bias, const TensorView &counts,
                       const TensorView &newBias) {
  KernelCall one;
  one.inputs = {bias, counts};
  one.outputs = {newBias};
  DS_RETURN_IF_ERROR(checkCall(one, k, {{"bias", Elem::Float}, {"counts", Elem::Index}},
                               {{"new_bias", Elem::Float}}));
  if (bias.rank() != 1)
    return errorf(k, ": bias has shape ", bias.shapeString(), ", expected [E]");
  DS_RETURN_IF_ERROR(expectShape(k, "counts", counts, {bias.dim(0)}));
  return expectShape(k, "new_bias", newBias, {bias.dim(0)});
}

BiasTensor biasTensor(const TensorView &bias, const TensorView &counts,
                      const TensorView &newBias) {
  return {floatIn(bias), counts.as<const int32_t>(), bias.dim(0), floatOut(newBias)};
}

} // namespace

Status balanceLoss(KernelCall &call) {
  const char *k = "balance_loss";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"logits", Elem::Float}, {"indices", Elem::Index}},
                               {{"result", Elem::Float}}));
  BalanceConfig c;
  DS_RETURN_IF_ERROR(readBalance(k, call, c));
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[0], 1));
  cudaStream_t stream = streamOf(call);
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(k, stream, c.sequences * sizeof(double), scratch));
  auto *partial = static_cast<double *>(scratch);
  size_t sharedBytes = c.experts * (sizeof(double) + sizeof(int));
  balanceLossKernel<<<unsigned(c.sequences), kThreads, sharedBytes, stream>>>(
      floatIn(call.inputs[0]), call.inputs[1].as<const int32_t>(), c, partial);
  DS_RETURN_IF_ERROR(launchCheck(k, "balanceLossKernel"));
  balanceFinishKernel<<<1, 1, 0, stream>>>(partial, c.sequences, floatOut(call.outputs[0]));
  return launchCheck(k, "balanceFinishKernel");
}

Status balanceLossGrad(KernelCall &call) {
  const char *k = "balance_loss_grad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"logits", Elem::Float}, {"indices", Elem::Index}, {"result_grad", Elem::Float}},
      {{"logits_grad", Elem::Float}}));
  BalanceConfig c;
  DS_RETURN_IF_ERROR(readBalance(k, call, c));
  DS_RETURN_IF_ERROR(expectElements(k, "result_grad", call.inputs[2], 1));
  DS_RETURN_IF_ERROR(expectShape(k, "logits_grad", call.outputs[0], call.inputs[0].shape));
  if (c.tokens == 0)
    return Status::ok();
  dim3 grid(unsigned(ceilDiv(c.seqLen, kThreads)), unsigned(c.sequences));
  size_t sharedBytes = c.experts * (sizeof(double) + sizeof(int));
  balanceLossGradKernel<<<grid, kThreads, sharedBytes, streamOf(call)>>>(
      floatIn(call.inputs[0]), call.inputs[1].as<const int32_t>(), floatIn(call.inputs[2]), c,
      floatOut(call.outputs[0]));
  return launchCheck(k, "balanceLossGradKernel");
}

Status routerGrad(KernelCall &call) {
  const char *k = "router_grad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"logits", Elem::Float}, {"indices", Elem::Index}, {"weights_grad", Elem::Float}},
      {{"logits_grad", Elem::Float}}));
  RouterGradConfig c;
  const TensorView &logits = call.inputs[0], &indices = call.inputs[1];
  DS_RETURN_IF_ERROR(expectMatrix(k, "logits", logits, "[T, E]", c.tokens, c.experts));
  if (indices.rank() != 2 || indices.dim(0) != c.tokens)
    return errorf(k, ": indices has shape ", indices.shapeString(), ", expected [", c.tokens,
                  ", K]");
  c.topK = indices.dim(1);
  DS_RETURN_IF_ERROR(expectShape(k, "weights_grad", call.inputs[2], {c.tokens, c.topK}));
  DS_RETURN_IF_ERROR(expectShape(k, "logits_grad", call.outputs[0], logits.shape));
  double routedScale;
  DS_RETURN_IF_ERROR(readScoreFunc(k, call.attrs, c.softmax));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "routed_scale", routedScale));
  if (!call.attrs.has("norm_topk_prob"))
    return errorf(k, ": missing boolean attribute 'norm_topk_prob'");
  c.normTopkProb = call.attrs.getBool("norm_topk_prob");
  c.routedScale = float(routedScale);
  if (c.tokens == 0)
    return Status::ok();
  routerGradKernel<<<unsigned(ceilDiv(c.tokens * 32, kThreads)), kThreads, 0,
                     streamOf(call)>>>(
      floatIn(logits), indices.as<const int32_t>(), floatIn(call.inputs[2]), c,
      floatOut(call.outputs[0]));
  return launchCheck(k, "routerGradKernel");
}

Status biasUpdate(KernelCall &call) {
  const char *k = "bias_update";
  if (call.inputs.size() != 2 || call.outputs.size() != 1)
    return errorf(k, ": expected 2 inputs and 1 output, got ", call.inputs.size(), " and ",
                  call.outputs.size());
  DS_RETURN_IF_ERROR(checkBiasUpdate(k, call.inputs[0], call.inputs[1], call.outputs[0]));
  double gamma;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "gamma", gamma));
  biasUpdateKernel<<<1, kThreads, 0, streamOf(call)>>>(
      biasTensor(call.inputs[0], call.inputs[1], call.outputs[0]), float(gamma));
  return launchCheck(k, "biasUpdateKernel");
}

Status biasUpdateMulti(KernelCall &call) {
  const char *k = "bias_update_multi";
  std::vector<KernelCall> pieces;
  DS_RETURN_IF_ERROR(cpu::splitBiasUpdateMulti(call, pieces));
  size_t tensors = pieces.size();
  double gamma;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "gamma", gamma));
  for (size_t t = 0; t < tensors; ++t)
    if (Status status = checkBiasUpdate("bias_update", pieces[t].inputs[0],
                                        pieces[t].inputs[1], pieces[t].outputs[0]);
        !status.isOk())
      return errorf(k, ": tensor ", t, ": ", status.message());
  for (size_t first = 0; first < tensors; first += kMaxBiasesPerBatch) {
    size_t count = std::min<size_t>(kMaxBiasesPerBatch, tensors - first);
    BiasBatch batch = {};
    for (size_t t = 0; t < count; ++t)
      batch.tensors[t] = biasTensor(pieces[first + t].inputs[0], pieces[first + t].inputs[1],
                                    pieces[first + t].outputs[0]);
    biasUpdateMultiKernel<<<unsigned(count), kThreads, 0, streamOf(call)>>>(batch, float(gamma));
    DS_RETURN_IF_ERROR(launchCheck(k, "biasUpdateMultiKernel"));
  }
  return Status::ok();
}

} // namespace ds::rt::cuda
