//===- Attention.cpp - ds.attention and ds.attention_grad -----------------===//
//
// softmax(q k^T * scale) v per batch and head, causal by default; q, k [B, S, H, Dqk],
// v [B, S, H, Dv] (MLA has Dqk = nope + rope = 192 and Dv = 128 in V3).
// Each (batch, head) is copied into contiguous [S, D] slabs so that every loop runs along
// contiguous memory; a causal row only ever touches keys j <= i, so a value that is not
// finite in a later position cannot leak into an earlier one.
//
// Backward (as in FlashAttention-2, Dao 2023, Alg. 2, with P recomputed):
//   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(P * dP)),
//   dQ = scale * dS K,  dK = scale * dS^T Q.
// rowsum(P * dP) equals rowsum(dO * O) in exact arithmetic; it is taken from the
// recomputed P so that it stays exact when `result` was stored in BF16.
//
// With math = bf16 or tf32 (ds-gemm-precision) the operands of every product are rounded
// first, as cuBLASLt's tensor-core products read them (runtime/kernels/cuda/Attention.cu
// does these products with cuBLASLt): q, k, v and dO as loaded; P where it multiplies v
// (forward) or dO (dV); dS' = scale * dS (scale applied first) where it multiplies k or q. The softmax, its statistics,
// rowsum(P * dP) and dS itself are computed in FP32 from unrounded P and dP.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"
#include "runtime/kernels/cpu/Gemm.h"

#include <algorithm>
#include <cmath>

namespace ds::rt::cpu {
namespace {

struct Dims {
  int64_t batch, seq, heads, qkDim, vDim;
  GemmMath math = GemmMath::F32;
};

/// Copies head h of batch b from [B, S, H, D] into a contiguous [S, D] slab.
void gather(const float *x, const Dims &d, int64_t width, int64_t b, int64_t h, float *slab) {
  for (int64_t s = 0; s < d.seq; ++s)
    std::copy_n(x + ((b * d.seq + s) * d.heads + h) * width, width, slab + s * width);
}

void scatter(const float *slab, const Dims &d, int64_t width, int64_t b, int64_t h, float *x) {
  for (int64_t s = 0; s < d.seq; ++s)
    std::copy_n(slab + s * width, width, x + ((b * d.seq + s) * d.heads + h) * width);
}

/// [rows, cols] -> [cols, rows].
void transpose(const float *x, int64_t rows, int64_t cols, float *out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[c * rows + r] = x[r * cols + c];
}

/// Number of keys query row i attends to.
int64_t keysOf(int64_t i, int64_t seq, bool causal) { return causal ? i + 1 : seq; }

/// probs[i, :keys(i)] = softmax(scale * q_i . k_j); entries past keys(i) are left zero.
void attentionProbs(const float *q, const float *kT, const Dims &d, double scale, bool causal,
                    float *probs) {
  std::fill(probs, probs + d.seq * d.seq, 0.0f);
  float scaleF = static_cast<float>(scale);
  for (int64_t i = 0; i < d.seq; ++i) {
    int64_t keys = keysOf(i, d.seq, causal);
    float *row = probs + i * d.seq;
    for (int64_t c = 0; c < d.qkDim; ++c) {
      float qc = q[i * d.qkDim + c];
      const float *kRow = kT + c * d.seq;
      for (int64_t j = 0; j < keys; ++j)
        row[j] += qc * kRow[j];
    }
    float maxScore = -INFINITY;
    for (int64_t j = 0; j < keys; ++j) {
      row[j] *= scaleF;
      maxScore = std::max(maxScore, row[j]);
    }
    double sum = 0.0;
    for (int64_t j = 0; j < keys; ++j) {
      row[j] = std::exp(row[j] - maxScore);
      sum += row[j];
    }
    float inverse = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < keys; ++j)
      row[j] *= inverse;
  }
}

void forwardHead(const Dims &d, int64_t b, int64_t h, double scale, bool causal, const float *query,
                 const float *key, const float *value, float *result) {
  std::vector<float> q(d.seq * d.qkDim), kSlab(d.seq * d.qkDim), kT(d.seq * d.qkDim);
  std::vector<float> v(d.seq * d.vDim), o(d.seq * d.vDim, 0.0f), probs(d.seq * d.seq);
  gather(query, d, d.qkDim, b, h, q.data());
  gather(key, d, d.qkDim, b, h, kSlab.data());
  gather(value, d, d.vDim, b, h, v.data());
  for (std::vector<float> *slab : {&q, &kSlab, &v})
    roundForGemm(slab->data(), int64_t(slab->size()), d.math);
  transpose(kSlab.data(), d.seq, d.qkDim, kT.data());
  attentionProbs(q.data(), kT.data(), d, scale, causal, probs.data());
  // The forward reads P only as the left operand of P v.
  roundForGemm(probs.data(), int64_t(probs.size()), d.math);
  for (int64_t i = 0; i < d.seq; ++i) {
    float *oRow = o.data() + i * d.vDim;
    for (int64_t j = 0; j < keysOf(i, d.seq, causal); ++j) {
      float p = probs[i * d.seq + j];
      const float *vRow = v.data() + j * d.vDim;
      for (int64_t c = 0; c < d.vDim; ++c)
        oRow[c] += p * vRow[c];
    }
  }
  scatter(o.data(), d, d.vDim, b, h, result);
}

struct HeadGradients {
  float *query, *key, *value;
};

void backwardHead(const Dims &d, int64_t b, int64_t h, double scale, bool causal,
                  const float *query, const float *key, const float *value, const float *resultGrad,
                  const HeadGradients &out) {
  int64_t qkSize = d.seq * d.qkDim, vSize = d.seq * d.vDim;
  std::vector<float> q(qkSize), kSlab(qkSize), kT(qkSize), v(vSize), vT(vSize), dO(vSize);
  std::vector<float> dQ(qkSize, 0.0f), dK(qkSize, 0.0f), dV(vSize, 0.0f);
  std::vector<float> probs(d.seq * d.seq), dP(d.seq);
  float scaleF = static_cast<float>(scale);
  gather(query, d, d.qkDim, b, h, q.data());
  gather(key, d, d.qkDim, b, h, kSlab.data());
  gather(value, d, d.vDim, b, h, v.data());
  gather(resultGrad, d, d.vDim, b, h, dO.data());
  for (std::vector<float> *slab : {&q, &kSlab, &v, &dO})
    roundForGemm(slab->data(), int64_t(slab->size()), d.math);
  transpose(kSlab.data(), d.seq, d.qkDim, kT.data());
  transpose(v.data(), d.seq, d.vDim, vT.data());
  attentionProbs(q.data(), kT.data(), d, scale, causal, probs.data());
  for (int64_t i = 0; i < d.seq; ++i) {
    int64_t keys = keysOf(i, d.seq, causal);
    const float *p = probs.data() + i * d.seq;
    const float *dORow = dO.data() + i * d.vDim;
    std::fill(dP.begin(), dP.begin() + keys, 0.0f);
    for (int64_t c = 0; c < d.vDim; ++c) {
      float g = dORow[c];
      const float *vCol = vT.data() + c * d.seq;
      for (int64_t j = 0; j < keys; ++j)
        dP[j] += g * vCol[j];
    }
    double rowDot = 0.0;
    for (int64_t j = 0; j < keys; ++j)
      rowDot += static_cast<double>(p[j]) * dP[j];
    float rowDotF = static_cast<float>(rowDot);
    const float *qRow = q.data() + i * d.qkDim;
    float *dQRow = dQ.data() + i * d.qkDim;
    for (int64_t j = 0; j < keys; ++j) {
      float dS = roundForGemm(p[j] * (dP[j] - rowDotF) * scaleF, d.math);
      const float *kRow = kSlab.data() + j * d.qkDim;
      float *dKRow = dK.data() + j * d.qkDim;
      for (int64_t c = 0; c < d.qkDim; ++c) {
        dQRow[c] += dS * kRow[c];
        dKRow[c] += dS * qRow[c];
      }
      float *dVRow = dV.data() + j * d.vDim;
      float pForV = roundForGemm(p[j], d.math);
      for (int64_t c = 0; c < d.vDim; ++c)
        dVRow[c] += pForV * dORow[c];
    }
  }
  scatter(dQ.data(), d, d.qkDim, b, h, out.query);
  scatter(dK.data(), d, d.qkDim, b, h, out.key);
  scatter(dV.data(), d, d.vDim, b, h, out.value);
}

Status checkShapes(const char *kernel, const KernelCall &call, Dims &d) {
  const TensorView &q = call.inputs[0], &k = call.inputs[1], &v = call.inputs[2];
  if (q.rank() != 4)
    return errorf(kernel, ": query has shape ", q.shapeString(), ", expected [B, S, H, Dqk]");
  d.batch = q.dim(0);
  d.seq = q.dim(1);
  d.heads = q.dim(2);
  d.qkDim = q.dim(3);
  DS_RETURN_IF_ERROR(expectShape(kernel, "key", k, q.shape));
  if (v.rank() != 4)
    return errorf(kernel, ": value has shape ", v.shapeString(), ", expected [B, S, H, Dv]");
  d.vDim = v.dim(3);
  return expectShape(kernel, "value", v, {d.batch, d.seq, d.heads, d.vDim});
}

} // namespace

Status attention(KernelCall &call) {
  const char *k = "attention";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"query", Elem::Float}, {"key", Elem::Float}, {"value", Elem::Float}},
                {{"result", Elem::Float}}));
  double scale;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "scale", scale));
  bool causal = call.attrs.getBool("causal", true);
  Dims d;
  DS_RETURN_IF_ERROR(checkShapes(k, call, d));
  DS_RETURN_IF_ERROR(readGemmMath(call.attrs, k, d.math));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], call.inputs[2].shape));
  FloatReader query(call.inputs[0]), key(call.inputs[1]), value(call.inputs[2]);
  FloatWriter result(call.outputs[0]);
  // (batch, head) pairs are independent and each writes its own slice of the result.
#pragma omp parallel for schedule(static)
  for (int64_t pair = 0; pair < d.batch * d.heads; ++pair)
    forwardHead(d, pair / d.heads, pair % d.heads, scale, causal, query.data(), key.data(),
                value.data(), result.data());
  return Status::ok();
}

Status attentionGrad(KernelCall &call) {
  const char *k = "attention_grad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k,
      {{"query", Elem::Float},
       {"key", Elem::Float},
       {"value", Elem::Float},
       {"result", Elem::Float},
       {"result_grad", Elem::Float}},
      {{"query_grad", Elem::Float}, {"key_grad", Elem::Float}, {"value_grad", Elem::Float}}));
  double scale;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "scale", scale));
  bool causal = call.attrs.getBool("causal", true);
  Dims d;
  DS_RETURN_IF_ERROR(checkShapes(k, call, d));
  DS_RETURN_IF_ERROR(readGemmMath(call.attrs, k, d.math));
  const std::vector<int64_t> &vShape = call.inputs[2].shape;
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.inputs[3], vShape));
  DS_RETURN_IF_ERROR(expectShape(k, "result_grad", call.inputs[4], vShape));
  DS_RETURN_IF_ERROR(expectShape(k, "query_grad", call.outputs[0], call.inputs[0].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "key_grad", call.outputs[1], call.inputs[0].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "value_grad", call.outputs[2], vShape));
  FloatReader query(call.inputs[0]), key(call.inputs[1]), value(call.inputs[2]);
  FloatReader resultGrad(call.inputs[4]);
  FloatWriter queryGrad(call.outputs[0]), keyGrad(call.outputs[1]), valueGrad(call.outputs[2]);
  HeadGradients grads{queryGrad.data(), keyGrad.data(), valueGrad.data()};
#pragma omp parallel for schedule(static)
  for (int64_t pair = 0; pair < d.batch * d.heads; ++pair)
    backwardHead(d, pair / d.heads, pair % d.heads, scale, causal, query.data(), key.data(),
                 value.data(), resultGrad.data(), grads);
  return Status::ok();
}

} // namespace ds::rt::cpu
