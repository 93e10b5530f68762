//===- Attention.cu - ds.attention and ds.attention_grad ------------------===//
//
// softmax(q k^T * scale) v per batch and head, causal by default; q, k [B, S, H, Dqk],
// v [B, S, H, Dv] (V3's MLA: Dqk 192, Dv 128). The products run on the tensor cores as
// strided-batched cuBLASLt GEMMs (LtGemm.h) over the heads of one batch row, the scores
// materialized in FP32 scratch; two small kernels do the row-wise softmax and dS.
//
//   forward:  S = Q K^T, P = softmax(scale * S) (masked), O = P V
//   backward (FlashAttention-2, Dao 2023, Alg. 2, with P recomputed):
//             P as above, dP = dO V^T, D_i = sum_j P_ij dP_ij,
//             dS' = scale * P * (dP - D), dV = P^T dO, dQ = dS' K, dK = dS'^T Q
// D is taken from the recomputed P and dP, as the CPU reference does (there it is
// rowsum(dO * O) only in exact arithmetic), so it stays exact when `result` was stored in
// BF16; the kernels never read `result`.
//
// Work and memory: the query rows are cut into chunks of R rows and the heads into groups
// of G, and each (group, chunk) step keeps only its [G, R, keys] scores (and dS) in
// scratch, so scratch stays under kScoreScratchBytes whatever S is, and an R-row chunk's
// scores mostly stay in L2 between their GEMM, the softmax and the next GEMM. Causal,
// query chunk [r0, r1) needs keys [0, r1) only, so with ~kCausalChunks chunks the GEMMs do
// about (n+1)/2n of the full S x S work instead of all of it (9/16 at n = 8); the
// triangle inside a chunk is computed and masked (P and dS written as 0 there). dK and dV
// sum over query chunks: the last chunk (which sees every key) writes them, earlier ones
// add (beta 1), each GEMM in stream order, so results are reproducible.
//
// Arithmetic (the `math` attribute, CPU-matching rounding points):
//  * "f32" (default): every GEMM in exact FP32 (CUBLAS_COMPUTE_32F).
//  * "tf32" / "bf16": each GEMM rounds both of its operands, elementwise, to TF32 / BF16
//    inside cuBLAS and accumulates in FP32. The rounded operands are exactly:
//      forward   Q and K (for S);            P and V (for O)
//      backward  Q and K (for S, then P);    dO and V (for dP);    P and dO (for dV);
//                dS' and K (for dQ);         dS' and Q (for dK)
//    where P is the FP32 softmax output and dS' = scale * P * (dP - D) the FP32 value,
//    scale already applied, computed from FP32 P and the FP32 dP the GEMM returned.
//    Everything else is FP32: the scores, softmax (sum of exponentials in FP64, as the
//    CPU does), D (FP64 sum of FP32 products, rounded to FP32) and dS'.
// BF16-stored inputs are widened to FP32 scratch first, and BF16-stored outputs are
// computed in FP32 scratch and rounded once at the end (round to nearest even).
//
// Roofline (B=4, S=2048, H=8, MLA dims): causal forward 2·B·H·S²·(Dqk+Dv)/2 = 43 GFLOP
// against ~70 MB per batch row of score traffic (written by the GEMM, read and rewritten
// by the softmax, read by the next GEMM), so even on BF16 tensor cores this is bound by
// the materialized scores, not the math; a fused flash kernel (wgmma, scores in
// registers) is the next step.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"
#include "runtime/kernels/cuda/LtGemm.h"

#include <algorithm>

namespace ds::rt::cuda {
namespace {

/// Bound on the FP32 score scratch (P, and dS in backward) of one (group, chunk) step.
constexpr int64_t kScoreScratchBytes = int64_t(256) << 20;
/// Causal query chunks: more skip more of the masked triangle but launch smaller GEMMs.
constexpr int64_t kCausalChunks = 8;
/// Chunk rows are a multiple of this (whole GEMM tiles).
constexpr int64_t kChunkQuantum = 64;
constexpr int kRowThreads = 128;

struct Problem {
  int64_t batch, seq, heads, qkDim, vDim;
  float scale;
  bool causal;
  LtMath math;
};

/// How the work is cut: query chunks of `chunkRows`, head groups of `groupHeads`; the
/// scores of one step are [groupHeads, rows, ld] with ld = keys rounded up to 4 floats
/// (16-byte rows, so cuBLASLt keeps its vectorized kernels and the row kernels use float4).
struct Tiling {
  int64_t chunkRows, groupHeads;
};

int64_t roundUp(int64_t x, int64_t multiple) { return ceilDiv(x, multiple) * multiple; }

Tiling tilingFor(const Problem &p, int scoreBuffers) {
  int64_t rowBytes = int64_t(scoreBuffers) * int64_t(sizeof(float)) * roundUp(p.seq, 4);
  int64_t rows = p.causal ? roundUp(ceilDiv(p.seq, kCausalChunks), kChunkQuantum) : p.seq;
  int64_t rowsInBudget = kScoreScratchBytes / rowBytes / kChunkQuantum * kChunkQuantum;
  rows = std::min(rows, std::max(kChunkQuantum, rowsInBudget));
  rows = std::min(rows, p.seq);
  int64_t heads = kScoreScratchBytes / (rowBytes * rows);
  return {rows, std::clamp<int64_t>(heads, 1, p.heads)};
}

// ---------------------------------------------------------------------------------------
// Row kernels: one block per (query row, head) of a step's [heads, rows, ld] scores. A
// causal row i sees keys [0, i + 1); entries from there to the chunk's key end are
// written 0 so the GEMMs that read whole [rows, keys] blocks see the mask.
// ---------------------------------------------------------------------------------------

struct RowGeometry {
  int64_t ld, headStride, firstRow, keys, seq;
  bool causal;

  __device__ __forceinline__ int64_t visibleKeys(int64_t row) const {
    return causal ? row + 1 : seq;
  }
};

/// In place: scores -> P = softmax(scale * scores) over the visible keys.
__global__ void softmaxRowsKernel(float *scores, RowGeometry g, float scale) {
  float *row = scores + blockIdx.y * g.headStride + int64_t(blockIdx.x) * g.ld;
  int64_t visible = g.visibleKeys(g.firstRow + blockIdx.x);
  float rowMax = -INFINITY;
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x)
    rowMax = fmaxf(rowMax, row[j] * scale);
  rowMax = blockMax(rowMax);
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x)
    sum += expf(row[j] * scale - rowMax);
  float inverse = float(1.0 / blockSum(sum));
  auto *row4 = reinterpret_cast<float4 *>(row);
  for (int64_t j4 = threadIdx.x; j4 < (g.keys + 3) / 4; j4 += blockDim.x) {
    float4 s = row4[j4];
    float *lanes = &s.x;
#pragma unroll
    for (int e = 0; e < 4; ++e)
      lanes[e] = 4 * j4 + e < visible ? expf(lanes[e] * scale - rowMax) * inverse : 0.0f;
    row4[j4] = s;
  }
}

/// In place: dP -> dS' = scale * P * (dP - D), D = sum over visible keys of P * dP.
__global__ void scoreGradRowsKernel(const float *probs, float *dProbs, RowGeometry g,
                                    float scale) {
  int64_t offset = blockIdx.y * g.headStride + int64_t(blockIdx.x) * g.ld;
  const float *p = probs + offset;
  float *dp = dProbs + offset;
  int64_t visible = g.visibleKeys(g.firstRow + blockIdx.x);
  double dot = 0.0;
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x)
    dot += double(p[j]) * double(dp[j]);
  float rowDot = float(blockSum(dot));
  const auto *p4 = reinterpret_cast<const float4 *>(p);
  auto *dp4 = reinterpret_cast<float4 *>(dp);
  for (int64_t j4 = threadIdx.x; j4 < (g.keys + 3) / 4; j4 += blockDim.x) {
    float4 pv = p4[j4], ds = dp4[j4];
    const float *pLanes = &pv.x;
    float *dsLanes = &ds.x;
#pragma unroll
    for (int e = 0; e < 4; ++e)
      dsLanes[e] = 4 * j4 + e < visible ? pLanes[e] * (dsLanes[e] - rowDot) * scale : 0.0f;
    dp4[j4] = ds;
  }
}

__global__ void widenKernel(FloatIn x, float *out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = x[i];
}

__global__ void narrowKernel(const float *x, FloatOut out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out.store(i, x[i]);
}

// ---------------------------------------------------------------------------------------
// The three GEMM shapes, per (head group, query chunk). A batch row's [S, H, D] slab of an
// activation holds head h as the row-major [S, D] matrix at offset h·D with row stride
// H·D, i.e. the column-major [D, S] matrix with leading dimension H·D; the group's heads
// are a strided batch at stride D. A step's scores are row-major [rows, keys] per head
// (column-major [keys, rows], leading dimension ld), heads rows·ld apart.
// ---------------------------------------------------------------------------------------

/// One batch row's FP32 [S, H, dim] activation.
struct Slab {
  float *data;
  int64_t dim;
};

struct Step {
  const char *kernel;
  cudaStream_t stream;
  const Problem &p;
  int64_t firstHead, heads, firstRow, rows, keys, ld;

  LtOptions batched(int64_t strideA, int64_t strideB, int64_t strideD,
                    bool accumulate = false) const {
    LtOptions o;
    o.math = p.math;
    o.batch = heads;
    o.strideA = strideA;
    o.strideB = strideB;
    o.strideD = strideD;
    o.accumulate = accumulate;
    return o;
  }
  float *rowOf(const Slab &x, int64_t row) const {
    return x.data + (row * p.heads + firstHead) * x.dim;
  }
  int64_t ldOf(const Slab &x) const { return p.heads * x.dim; }

  /// scores[i, j] = x_{firstRow+i} . y_j: column-major [keys, rows] = y^T x.
  Status scores(const Slab &x, const Slab &y, float *out) const {
    if (x.dim == 0)
      return cudaCheck(cudaMemsetAsync(out, 0, sizeof(float) * heads * rows * ld, stream),
                       kernel, "cudaMemsetAsync(scores)");
    return ltMatmul(kernel, stream, keys, rows, x.dim,
                    {rowOf(y, 0), DType::F32, ldOf(y), true},
                    {rowOf(x, firstRow), DType::F32, ldOf(x), false}, out, DType::F32, ld,
                    batched(y.dim, x.dim, rows * ld));
  }
  /// out_{firstRow+i} = sum_j scores[i, j] y_j: column-major [dim, rows] = y scores.
  Status rowsTimes(const float *scoresIn, const Slab &y, const Slab &out) const {
    return ltMatmul(kernel, stream, y.dim, rows, keys, {rowOf(y, 0), DType::F32, ldOf(y), false},
                    {scoresIn, DType::F32, ld, false}, rowOf(out, firstRow), DType::F32,
                    ldOf(out), batched(y.dim, rows * ld, out.dim));
  }
  /// out_j (+)= sum_i scores[i, j] x_{firstRow+i}: column-major [dim, keys] = x scores^T.
  Status colsTimes(const float *scoresIn, const Slab &x, const Slab &out,
                   bool accumulate) const {
    return ltMatmul(kernel, stream, x.dim, keys, rows,
                    {rowOf(x, firstRow), DType::F32, ldOf(x), false},
                    {scoresIn, DType::F32, ld, true}, rowOf(out, 0), DType::F32, ldOf(out),
                    batched(x.dim, rows * ld, out.dim, accumulate));
  }

  RowGeometry geometry() const { return {ld, rows * ld, firstRow, keys, p.seq, p.causal}; }
  Status softmax(float *scoresInOut) const {
    softmaxRowsKernel<<<dim3(unsigned(rows), unsigned(heads)), kRowThreads, 0, stream>>>(
        scoresInOut, geometry(), p.scale);
    return launchCheck(kernel, "softmaxRowsKernel");
  }
  Status scoreGrad(const float *probs, float *dProbsInOut) const {
    scoreGradRowsKernel<<<dim3(unsigned(rows), unsigned(heads)), kRowThreads, 0, stream>>>(
        probs, dProbsInOut, geometry(), p.scale);
    return launchCheck(kernel, "scoreGradRowsKernel");
  }
};

/// Calls fn(step) for every (head group, query chunk), the chunks of a group last first
/// (so the first step of a group sees every key: see dK, dV above).
template <typename Fn>
Status forEachStep(const char *kernel, cudaStream_t stream, const Problem &p,
                   const Tiling &t, Fn fn) {
  for (int64_t h0 = 0; h0 < p.heads; h0 += t.groupHeads)
    for (int64_t c = ceilDiv(p.seq, t.chunkRows) - 1; c >= 0; --c) {
      int64_t r0 = c * t.chunkRows, r1 = std::min(p.seq, r0 + t.chunkRows);
      int64_t keys = p.causal ? r1 : p.seq;
      Step step{kernel, stream, p, h0, std::min(t.groupHeads, p.heads - h0),
                r0,     r1 - r0, keys, roundUp(keys, 4)};
      DS_RETURN_IF_ERROR(fn(step));
    }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------
// Host side: FP32 views of each batch row's operands (BF16 tensors go through scratch).
// ---------------------------------------------------------------------------------------

/// A tensor's batch rows as FP32 slabs: F32 tensors in place, BF16 ones through a scratch
/// slab (widened before use for inputs, rounded back after for outputs).
struct BatchRows {
  TensorView tensor;
  int64_t dim, rowElements;
  float *staging; // null for F32 tensors

  Slab slab(int64_t b) const {
    if (staging != nullptr)
      return {staging, dim};
    return {static_cast<float *>(tensor.data) + b * rowElements, dim};
  }
  Status widen(const char *kernel, cudaStream_t stream, int64_t b) const {
    if (staging == nullptr || rowElements == 0)
      return Status::ok();
    FloatIn in = floatIn(tensor);
    in.data = static_cast<const uint16_t *>(tensor.data) + b * rowElements;
    widenKernel<<<gridFor(rowElements, 256), 256, 0, stream>>>(in, staging, rowElements);
    return launchCheck(kernel, "widenKernel");
  }
  Status narrow(const char *kernel, cudaStream_t stream, int64_t b) const {
    if (staging == nullptr || rowElements == 0)
      return Status::ok();
    FloatOut out = floatOut(tensor);
    out.data = static_cast<uint16_t *>(tensor.data) + b * rowElements;
    narrowKernel<<<gridFor(rowElements, 256), 256, 0, stream>>>(staging, out, rowElements);
    return launchCheck(kernel, "narrowKernel");
  }
};

/// Carves one stream-scratch allocation into the score buffers and the BF16 staging slabs.
class AttentionScratch {
public:
  AttentionScratch(const Problem &p, const Tiling &t, int scoreBuffers) : p_(p) {
    int64_t scoreBytes = int64_t(sizeof(float)) * t.groupHeads * t.chunkRows * roundUp(p.seq, 4);
    for (int i = 0; i < scoreBuffers; ++i)
      scoreAt_.push_back(carver_.reserve(scoreBytes));
  }
  /// Adds `t` (an input or output with head dim `dim`) as the next BatchRows.
  void add(const TensorView &t, int64_t dim) {
    int64_t rowElements = p_.seq * p_.heads * dim;
    size_t at = t.dtype == DType::BF16 ? carver_.reserve(sizeof(float) * rowElements) : 0;
    rows_.push_back({t, dim, rowElements, nullptr});
    stagingAt_.push_back(t.dtype == DType::BF16 ? int64_t(at) : -1);
  }
  Status allocate(const char *kernel, cudaStream_t stream) {
    void *base = nullptr;
    DS_RETURN_IF_ERROR(streamScratch(kernel, stream, carver_.total(), base));
    auto *bytes = static_cast<char *>(base);
    for (size_t at : scoreAt_)
      scores_.push_back(reinterpret_cast<float *>(bytes + at));
    for (size_t i = 0; i < rows_.size(); ++i)
      if (stagingAt_[i] >= 0)
        rows_[i].staging = reinterpret_cast<float *>(bytes + stagingAt_[i]);
    return Status::ok();
  }
  float *scores(int i) const { return scores_[i]; }
  const BatchRows &rows(int i) const { return rows_[i]; }

private:
  const Problem &p_;
  ScratchCarver carver_;
  std::vector<size_t> scoreAt_;
  std::vector<float *> scores_;
  std::vector<BatchRows> rows_;
  std::vector<int64_t> stagingAt_;
};

Status readProblem(const char *kernel, const KernelCall &call, Problem &p) {
  const TensorView &q = call.inputs[0], &k = call.inputs[1], &v = call.inputs[2];
  if (q.rank() != 4)
    return errorf(kernel, ": query has shape ", q.shapeString(), ", expected [B, S, H, Dqk]");
  p.batch = q.dim(0);
  p.seq = q.dim(1);
  p.heads = q.dim(2);
  p.qkDim = q.dim(3);
  DS_RETURN_IF_ERROR(expectShape(kernel, "key", k, q.shape));
  if (v.rank() != 4 || v.dim(0) != p.batch || v.dim(1) != p.seq || v.dim(2) != p.heads)
    return errorf(kernel, ": value has shape ", v.shapeString(), ", expected [", p.batch, ", ",
                  p.seq, ", ", p.heads, ", Dv]");
  p.vDim = v.dim(3);
  double scale;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, kernel, "scale", scale));
  p.scale = float(scale);
  p.causal = call.attrs.getBool("causal", true);
  DS_RETURN_IF_ERROR(readLtMath(kernel, call.attrs, p.math));
  if (p.heads > 65535)
    return errorf(kernel, ": ", p.heads, " heads exceed the row kernels' grid limit of 65535");
  return Status::ok();
}

} // namespace

Status attention(KernelCall &call) {
  const char *k = "attention";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"query", Elem::Float}, {"key", Elem::Float}, {"value", Elem::Float}},
      {{"result", Elem::Float}}));
  Problem p;
  DS_RETURN_IF_ERROR(readProblem(k, call, p));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], call.inputs[2].shape));
  if (p.batch * p.seq * p.heads * p.vDim == 0)
    return Status::ok();
  cudaStream_t stream = streamOf(call);
  Tiling tiling = tilingFor(p, 1);
  AttentionScratch scratch(p, tiling, 1);
  scratch.add(call.inputs[0], p.qkDim);
  scratch.add(call.inputs[1], p.qkDim);
  scratch.add(call.inputs[2], p.vDim);
  scratch.add(call.outputs[0], p.vDim);
  DS_RETURN_IF_ERROR(scratch.allocate(k, stream));
  const BatchRows &query = scratch.rows(0), &key = scratch.rows(1), &value = scratch.rows(2);
  const BatchRows &result = scratch.rows(3);
  float *probs = scratch.scores(0);
  for (int64_t b = 0; b < p.batch; ++b) {
    for (const BatchRows *in : {&query, &key, &value})
      DS_RETURN_IF_ERROR(in->widen(k, stream, b));
    Slab q = query.slab(b), kk = key.slab(b), v = value.slab(b), o = result.slab(b);
    DS_RETURN_IF_ERROR(forEachStep(k, stream, p, tiling, [&](const Step &s) -> Status {
      DS_RETURN_IF_ERROR(s.scores(q, kk, probs));
      DS_RETURN_IF_ERROR(s.softmax(probs));
      return s.rowsTimes(probs, v, o);
    }));
    DS_RETURN_IF_ERROR(result.narrow(k, stream, b));
  }
  return Status::ok();
}

Status attentionGrad(KernelCall &call) {
  const char *k = "attention_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k,
                               {{"query", Elem::Float},
                                {"key", Elem::Float},
                                {"value", Elem::Float},
                                {"result", Elem::Float},
                                {"result_grad", Elem::Float}},
                               {{"query_grad", Elem::Float},
                                {"key_grad", Elem::Float},
                                {"value_grad", Elem::Float}}));
  Problem p;
  DS_RETURN_IF_ERROR(readProblem(k, call, p));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.inputs[3], call.inputs[2].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "result_grad", call.inputs[4], call.inputs[2].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "query_grad", call.outputs[0], call.inputs[0].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "key_grad", call.outputs[1], call.inputs[1].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "value_grad", call.outputs[2], call.inputs[2].shape));
  if (p.batch * p.seq * p.heads == 0)
    return Status::ok();
  cudaStream_t stream = streamOf(call);
  Tiling tiling = tilingFor(p, 2);
  AttentionScratch scratch(p, tiling, 2);
  scratch.add(call.inputs[0], p.qkDim);
  scratch.add(call.inputs[1], p.qkDim);
  scratch.add(call.inputs[2], p.vDim);
  scratch.add(call.inputs[4], p.vDim);
  scratch.add(call.outputs[0], p.qkDim);
  scratch.add(call.outputs[1], p.qkDim);
  scratch.add(call.outputs[2], p.vDim);
  DS_RETURN_IF_ERROR(scratch.allocate(k, stream));
  float *probs = scratch.scores(0), *dScores = scratch.scores(1);
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int i = 0; i < 4; ++i)
      DS_RETURN_IF_ERROR(scratch.rows(i).widen(k, stream, b));
    Slab q = scratch.rows(0).slab(b), kk = scratch.rows(1).slab(b);
    Slab v = scratch.rows(2).slab(b), dO = scratch.rows(3).slab(b);
    Slab dQ = scratch.rows(4).slab(b), dK = scratch.rows(5).slab(b);
    Slab dV = scratch.rows(6).slab(b);
    bool firstOfGroup = true;
    int64_t group = -1;
    DS_RETURN_IF_ERROR(forEachStep(k, stream, p, tiling, [&](const Step &s) -> Status {
      firstOfGroup = s.firstHead != group;
      group = s.firstHead;
      DS_RETURN_IF_ERROR(s.scores(q, kk, probs));
      DS_RETURN_IF_ERROR(s.softmax(probs));
      DS_RETURN_IF_ERROR(s.scores(dO, v, dScores));
      DS_RETURN_IF_ERROR(s.scoreGrad(probs, dScores));
      DS_RETURN_IF_ERROR(s.colsTimes(probs, dO, dV, !firstOfGroup));
      DS_RETURN_IF_ERROR(s.colsTimes(dScores, q, dK, !firstOfGroup));
      return s.rowsTimes(dScores, kk, dQ);
    }));
    for (int i = 4; i < 7; ++i)
      DS_RETURN_IF_ERROR(scratch.rows(i).narrow(k, stream, b));
  }
  return Status::ok();
}

} // namespace ds::rt::cuda
