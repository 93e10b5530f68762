//===- Attention.cu - ds.attention and ds.attention_grad ------------------===//
//
// softmax(q k^T * scale) v per batch and head, causal by default; q, k [B, S, H, Dqk],
// v [B, S, H, Dv] (V3's MLA: Dqk 192, Dv 128). Two implementations:
//
//  * math = "bf16" with Dqk in {64, 128, 192}, Dv in {64, 128} (and every tensor 16-byte
//    aligned): fused FlashAttention-2 kernels (FlashAttention.cu), BF16 wgmma tensor
//    cores, the scores never leave the chip. Every other call:
//  * strided-batched cuBLASLt GEMMs (LtGemm.h), one launch for every (batch, head) pair,
//    the scores materialized in FP32 scratch; two small kernels do the row-wise softmax
//    and dS. This file.
//
//   forward:  S = Q K^T, P = softmax(scale * S) (masked), O = P V
//   backward (FlashAttention-2, Dao 2023, Alg. 2, with P recomputed):
//             P as above, dP = dO V^T, D_i = sum_j P_ij dP_ij,
//             dS' = scale * P * (dP - D), dV = P^T dO, dQ = dS' K, dK = dS'^T Q
// The cuBLASLt path takes D from the recomputed P and dP, as the CPU reference does (it
// equals rowsum(dO * O) only in exact arithmetic), so it stays exact when `result` was
// stored in BF16, and never reads `result`. The flash path has no P matrix to sum over
// (the forward keeps no logsumexp, so its backward first recomputes each row's
// logsumexp) and takes D_i = rowsum(dO_i * O_i) from `result` and `result_grad`.
//
// Work and memory (cuBLASLt path): one strided batch cannot span [B, S, H, D]'s (batch,
// head) pairs, so the operands are first copied to head-major [B, H, S, D] FP32 scratch
// (BF16 widened) and the gradients and result are computed there and copied back (one
// rounding to BF16 where stored so); with H = 1 the layouts agree and F32 tensors are used
// in place. The query rows are cut into chunks of R rows and the pairs into groups of G,
// and each (group, chunk) step keeps only its [G, R, keys] scores (and dS) in scratch,
// under kScoreScratchBytes whatever S is. Causal, query chunk [r0, r1) needs keys [0, r1)
// only, so with n = kCausalChunks chunks the GEMMs do (n+1)/2n of the full S x S work
// (9/16 at n = 8); the triangle inside a chunk is computed and masked (P and dS written
// as 0). dK and dV sum over query chunks: a group's last chunk (which sees every key) runs
// first and writes them, the earlier ones add (beta 1), in stream order, so results are
// reproducible.
//
// Arithmetic (the `math` attribute; the rounding points a CPU emulation must match):
//  * "f32" (default): every GEMM in exact FP32 (CUBLAS_COMPUTE_32F).
//  * "tf32" / "bf16" on the cuBLASLt path: each GEMM rounds both of its operands,
//    elementwise, to TF32 / BF16 and accumulates in FP32 (TF32 inside cuBLAS; BF16 into
//    copies, nearest even, LtGemm.h, exactly as the CPU emulation rounds). The rounded
//    operands:
//      forward   Q and K (for S);            P and V (for O)
//      backward  Q and K (for S, then P);    dO and V (for dP);    P and dO (for dV);
//                dS' and K (for dQ);         dS' and Q (for dK)
//    where P is the FP32 softmax output and dS' = scale * P * (dP - D) the FP32 value,
//    scale already applied, computed from FP32 P and the FP32 dP the GEMM returned.
//    Everything else is FP32: the scores, the softmax (its sum of exponentials in FP64, as
//    the CPU does), D (an FP64 sum of FP32 products, rounded to FP32) and dS'.
//  * "bf16" on the flash path: Q, K, V and dO rounded to BF16 (nearest even) once, as
//    loaded; products accumulate in FP32 on the tensor cores. Forward: scores in FP32,
//    online softmax in FP32 (exp2 of scale * log2(e) * s - running max, FP32 sum); the
//    unnormalised exp is rounded to BF16 for P V and the FP32 sum divides the FP32 O at
//    the end (the CPU rounds the normalised P instead: a different rounding of each term,
//    not a bias). Backward: per-row logsumexp recomputed in FP32; P = exp2(... - lse) in
//    FP32, rounded to BF16 for dV = P^T dO; D = rowsum(dO * O) in FP32 from the stored
//    tensors (unrounded); dS' = P * (dP - D) * scale in FP32, rounded to BF16 once for
//    both dK = dS'^T Q and dQ = dS' K; dQ, dK, dV leave FP32 accumulators with one
//    rounding where stored in BF16.
//
// Roofline (B=4, S=2048, H=8, MLA dims): causal forward 2·B·H·S²·(Dqk+Dv)/2 = 43 GFLOP,
// about 0.1 ms of tensor-core time. The cuBLASLt path moves ~300 MB of FP32 scores that
// the GEMM writes, the softmax reads twice and rewrites and the next GEMM reads (the
// backward has two such matrices and five GEMMs): ~1.5 GB, 0.5 ms at 3 TB/s, is that
// design's floor. Measured on an H100 (AttentionThroughputTest): cuBLASLt forward 1.06 ms
// in tf32/bf16 mode (GEMMs ~45%, softmax ~37%, head-major copies ~20%, ncu), forward +
// backward 3.6 ms (f32: 2.0 and 6.5 ms); the flash path forward 0.21 ms, forward +
// backward 0.76 ms with F32 tensors (0.14 and 0.58 ms with BF16 tensors, no rounding
// copies), 204 (266) TFLOP/s against PyTorch SDPA's 370-406.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"
#include "runtime/kernels/cuda/FlashAttention.h"
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

  int64_t pairs() const { return batch * heads; }
};

/// How the work is cut: query chunks of `chunkRows`, groups of `groupPairs` (batch, head)
/// pairs; the scores of one step are [groupPairs, rows, ld] with ld = keys rounded up to 4
/// floats (16-byte rows: cuBLASLt keeps its vectorized kernels, the row kernels use float4).
struct Tiling {
  int64_t chunkRows, groupPairs;
};

int64_t roundUp(int64_t x, int64_t multiple) { return ceilDiv(x, multiple) * multiple; }

Tiling tilingFor(const Problem &p, int scoreBuffers) {
  int64_t rowBytes = int64_t(scoreBuffers) * int64_t(sizeof(float)) * roundUp(p.seq, 4);
  int64_t rows = p.causal ? roundUp(ceilDiv(p.seq, kCausalChunks), kChunkQuantum) : p.seq;
  int64_t rowsInBudget = kScoreScratchBytes / rowBytes / kChunkQuantum * kChunkQuantum;
  rows = std::min(rows, std::max(kChunkQuantum, rowsInBudget));
  rows = std::min(rows, p.seq);
  int64_t pairs = kScoreScratchBytes / (rowBytes * rows);
  // The row kernels put the pairs on grid.y.
  return {rows, std::clamp<int64_t>(pairs, 1, std::min<int64_t>(p.pairs(), 65535))};
}

// ---------------------------------------------------------------------------------------
// Row kernels: one block per (query row, pair) of a step's [pairs, rows, ld] scores. A
// causal row i sees keys [0, i + 1); entries from there to the chunk's key end are
// written 0 so the GEMMs that read whole [rows, keys] blocks see the mask.
// ---------------------------------------------------------------------------------------

struct RowGeometry {
  int64_t ld, pairStride, firstRow, keys, seq;
  bool causal;

  __device__ __forceinline__ int64_t visibleKeys(int64_t row) const {
    return causal ? row + 1 : seq;
  }
};

/// In place: scores -> P = softmax(scale * scores) over the visible keys. One sweep finds
/// each thread's running max and sum of exponentials (rescaled when the max grows,
/// Milakov & Gimelshein 2018), a second writes P. scale * score is rounded on its own
/// (__fmul_rn, never fused into the subtraction), as on the CPU, so the row's maximum
/// gives exp(0) = 1 exactly: a row with one visible key has P = 1 and dS = 0 exactly.
__global__ void softmaxRowsKernel(float *scores, RowGeometry g, float scale) {
  float *row = scores + blockIdx.y * g.pairStride + int64_t(blockIdx.x) * g.ld;
  int64_t visible = g.visibleKeys(g.firstRow + blockIdx.x);
  float threadMax = -INFINITY;
  double threadSum = 0.0;
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x) {
    float s = __fmul_rn(row[j], scale);
    if (s > threadMax) {
      threadSum *= double(expf(threadMax - s));
      threadMax = s;
    }
    threadSum += double(expf(s - threadMax));
  }
  float rowMax = blockMax(threadMax);
  double sum = threadMax == -INFINITY ? 0.0 : threadSum * double(expf(threadMax - rowMax));
  float inverse = float(1.0 / blockSum(sum));
  auto *row4 = reinterpret_cast<float4 *>(row);
  for (int64_t j4 = threadIdx.x; j4 < (g.keys + 3) / 4; j4 += blockDim.x) {
    float4 s = row4[j4];
    float *lanes = &s.x;
#pragma unroll
    for (int e = 0; e < 4; ++e)
      lanes[e] = 4 * j4 + e < visible ? expf(__fmul_rn(lanes[e], scale) - rowMax) * inverse : 0.0f;
    row4[j4] = s;
  }
}

/// In place: dP -> dS' = scale * P * (dP - D), D = sum over visible keys of P * dP.
__global__ void scoreGradRowsKernel(const float *probs, float *dProbs, RowGeometry g, float scale) {
  int64_t offset = blockIdx.y * g.pairStride + int64_t(blockIdx.x) * g.ld;
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

// ---------------------------------------------------------------------------------------
// Layout: the GEMMs want each (batch, head) pair's [S, D] matrix contiguous and the pairs
// at one stride, so that one strided-batched GEMM spans every batch row and head ([B, S,
// H, D] puts head h of batch b at b·S·H·D + h·D, which no single stride reaches). Inputs
// are copied to head-major FP32 [B, H, S, D] scratch (widening BF16) and outputs computed
// there and copied back (rounding to BF16 where stored so); with one head the layouts
// agree and F32 tensors are used in place.
// ---------------------------------------------------------------------------------------

struct LayoutDims {
  int64_t batch, seq, heads, dim;
};

/// [B, S, H, D] (F32 or BF16) -> FP32 [B, H, S, D]; a block per destination row.
__global__ void toHeadMajorKernel(FloatIn x, float *out, LayoutDims d) {
  int64_t rows = d.batch * d.heads * d.seq;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    int64_t pair = row / d.seq, s = row % d.seq;
    int64_t b = pair / d.heads, h = pair % d.heads;
    int64_t from = ((b * d.seq + s) * d.heads + h) * d.dim;
    for (int64_t c = threadIdx.x; c < d.dim; c += blockDim.x)
      out[row * d.dim + c] = x[from + c];
  }
}

/// FP32 [B, H, S, D] -> [B, S, H, D] (F32 or BF16); a block per source row.
__global__ void fromHeadMajorKernel(const float *x, FloatOut out, LayoutDims d) {
  int64_t rows = d.batch * d.heads * d.seq;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    int64_t pair = row / d.seq, s = row % d.seq;
    int64_t b = pair / d.heads, h = pair % d.heads;
    int64_t to = ((b * d.seq + s) * d.heads + h) * d.dim;
    for (int64_t c = threadIdx.x; c < d.dim; c += blockDim.x)
      out.store(to + c, x[row * d.dim + c]);
  }
}

/// A tensor's head-major FP32 view: the tensor itself where the layouts agree, else
/// scratch filled before use (inputs) or copied back after (outputs).
struct HeadMajor {
  TensorView tensor;
  LayoutDims dims;
  float *data;
  bool staged;

  Status load(const char *kernel, cudaStream_t stream) const {
    if (!staged)
      return Status::ok();
    toHeadMajorKernel<<<gridFor(dims.batch * dims.heads * dims.seq, 1), kRowThreads, 0, stream>>>(
        floatIn(tensor), data, dims);
    return launchCheck(kernel, "toHeadMajorKernel");
  }
  Status store(const char *kernel, cudaStream_t stream) const {
    if (!staged)
      return Status::ok();
    fromHeadMajorKernel<<<gridFor(dims.batch * dims.heads * dims.seq, 1), kRowThreads, 0, stream>>>(
        data, floatOut(tensor), dims);
    return launchCheck(kernel, "fromHeadMajorKernel");
  }
};

/// Carves one stream-scratch allocation into the score buffers and the staged tensors.
class AttentionScratch {
public:
  AttentionScratch(const Problem &p, const Tiling &t, int scoreBuffers) : p_(p) {
    int64_t scoreBytes = int64_t(sizeof(float)) * t.groupPairs * t.chunkRows * roundUp(p.seq, 4);
    for (int i = 0; i < scoreBuffers; ++i)
      scoreAt_.push_back(carver_.reserve(scoreBytes));
  }
  /// Adds `t` (an input or output with head dim `dim`) as the next HeadMajor.
  void add(const TensorView &t, int64_t dim) {
    bool staged = p_.heads > 1 || t.dtype != DType::F32;
    LayoutDims dims{p_.batch, p_.seq, p_.heads, dim};
    size_t bytes = sizeof(float) * p_.pairs() * p_.seq * dim;
    tensors_.push_back({t, dims, static_cast<float *>(t.data), staged});
    stagingAt_.push_back(staged ? carver_.reserve(bytes) : 0);
  }
  Status allocate(const char *kernel, cudaStream_t stream) {
    void *base = nullptr;
    DS_RETURN_IF_ERROR(streamScratch(kernel, stream, carver_.total(), base));
    auto *bytes = static_cast<char *>(base);
    for (size_t at : scoreAt_)
      scores_.push_back(reinterpret_cast<float *>(bytes + at));
    for (size_t i = 0; i < tensors_.size(); ++i)
      if (tensors_[i].staged)
        tensors_[i].data = reinterpret_cast<float *>(bytes + stagingAt_[i]);
    return Status::ok();
  }
  float *scores(int i) const { return scores_[i]; }
  const HeadMajor &tensor(int i) const { return tensors_[i]; }

private:
  const Problem &p_;
  ScratchCarver carver_;
  std::vector<size_t> scoreAt_, stagingAt_;
  std::vector<float *> scores_;
  std::vector<HeadMajor> tensors_;
};

// ---------------------------------------------------------------------------------------
// The three GEMM shapes, per (pair group, query chunk). A pair's head-major [S, D] matrix
// is the column-major [D, S] matrix with leading dimension D, pairs S·D apart; a step's
// scores are row-major [rows, keys] per pair (column-major [keys, rows], leading
// dimension ld), pairs rows·ld apart.
// ---------------------------------------------------------------------------------------

struct Step {
  const char *kernel;
  cudaStream_t stream;
  const Problem &p;
  int64_t firstPair, pairs, firstRow, rows, keys, ld;

  LtOptions batched(int64_t strideA, int64_t strideB, int64_t strideD,
                    bool accumulate = false) const {
    LtOptions o;
    o.math = p.math;
    o.batch = pairs;
    o.strideA = strideA;
    o.strideB = strideB;
    o.strideD = strideD;
    o.accumulate = accumulate;
    return o;
  }
  float *rowOf(const HeadMajor &x, int64_t row) const {
    return x.data + (firstPair * p.seq + row) * x.dims.dim;
  }
  int64_t pairStride(const HeadMajor &x) const { return p.seq * x.dims.dim; }

  /// scores[i, j] = x_{firstRow+i} . y_j: column-major [keys, rows] = y^T x.
  Status scores(const HeadMajor &x, const HeadMajor &y, float *out) const {
    int64_t dim = x.dims.dim;
    if (dim == 0)
      return cudaCheck(cudaMemsetAsync(out, 0, sizeof(float) * pairs * rows * ld, stream), kernel,
                       "cudaMemsetAsync(scores)");
    return ltMatmul(kernel, stream, keys, rows, dim, {rowOf(y, 0), DType::F32, dim, true},
                    {rowOf(x, firstRow), DType::F32, dim, false}, out, DType::F32, ld,
                    batched(pairStride(y), pairStride(x), rows * ld));
  }
  /// out_{firstRow+i} = sum_j scores[i, j] y_j: column-major [dim, rows] = y scores.
  Status rowsTimes(const float *scoresIn, const HeadMajor &y, const HeadMajor &out) const {
    int64_t dim = y.dims.dim;
    return ltMatmul(kernel, stream, dim, rows, keys, {rowOf(y, 0), DType::F32, dim, false},
                    {scoresIn, DType::F32, ld, false}, rowOf(out, firstRow), DType::F32, dim,
                    batched(pairStride(y), rows * ld, pairStride(out)));
  }
  /// out_j (+)= sum_i scores[i, j] x_{firstRow+i}: column-major [dim, keys] = x scores^T.
  Status colsTimes(const float *scoresIn, const HeadMajor &x, const HeadMajor &out,
                   bool accumulate) const {
    int64_t dim = x.dims.dim;
    return ltMatmul(kernel, stream, dim, keys, rows, {rowOf(x, firstRow), DType::F32, dim, false},
                    {scoresIn, DType::F32, ld, true}, rowOf(out, 0), DType::F32, dim,
                    batched(pairStride(x), rows * ld, pairStride(out), accumulate));
  }

  RowGeometry geometry() const { return {ld, rows * ld, firstRow, keys, p.seq, p.causal}; }
  Status softmax(float *scoresInOut) const {
    softmaxRowsKernel<<<dim3(unsigned(rows), unsigned(pairs)), kRowThreads, 0, stream>>>(
        scoresInOut, geometry(), p.scale);
    return launchCheck(kernel, "softmaxRowsKernel");
  }
  Status scoreGrad(const float *probs, float *dProbsInOut) const {
    scoreGradRowsKernel<<<dim3(unsigned(rows), unsigned(pairs)), kRowThreads, 0, stream>>>(
        probs, dProbsInOut, geometry(), p.scale);
    return launchCheck(kernel, "scoreGradRowsKernel");
  }
};

/// Calls fn(step, firstOfGroup) for every (pair group, query chunk), the chunks of a group
/// last first: a group's first step is its last chunk, which sees every key, so it writes
/// dK and dV and the later steps add to them.
template <typename Fn>
Status forEachStep(const char *kernel, cudaStream_t stream, const Problem &p, const Tiling &t,
                   Fn fn) {
  for (int64_t p0 = 0; p0 < p.pairs(); p0 += t.groupPairs)
    for (int64_t last = ceilDiv(p.seq, t.chunkRows) - 1, c = last; c >= 0; --c) {
      int64_t r0 = c * t.chunkRows, r1 = std::min(p.seq, r0 + t.chunkRows);
      int64_t keys = p.causal ? r1 : p.seq;
      Step step{kernel, stream,          p, p0, std::min(t.groupPairs, p.pairs() - p0), r0, r1 - r0,
                keys,   roundUp(keys, 4)};
      DS_RETURN_IF_ERROR(fn(step, c == last));
    }
  return Status::ok();
}

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
  return readLtMath(kernel, call.attrs, p.math);
}

/// Whether the fused BF16 kernels (FlashAttention.h) take this call, with its shape.
bool takesFlash(const Problem &p, const KernelCall &call, FlashShape &shape) {
  shape = {p.batch, p.seq, p.heads, p.qkDim, p.vDim, p.scale, p.causal};
  return p.math == LtMath::BF16 && flashAttentionTakes(shape, call);
}

} // namespace

Status attention(KernelCall &call) {
  const char *k = "attention";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"query", Elem::Float}, {"key", Elem::Float}, {"value", Elem::Float}},
                {{"result", Elem::Float}}));
  Problem p;
  DS_RETURN_IF_ERROR(readProblem(k, call, p));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], call.inputs[2].shape));
  if (p.pairs() * p.seq * p.vDim == 0)
    return Status::ok();
  cudaStream_t stream = streamOf(call);
  if (FlashShape shape; takesFlash(p, call, shape))
    return flashAttention(k, shape, call, stream);
  Tiling tiling = tilingFor(p, 1);
  AttentionScratch scratch(p, tiling, 1);
  scratch.add(call.inputs[0], p.qkDim);
  scratch.add(call.inputs[1], p.qkDim);
  scratch.add(call.inputs[2], p.vDim);
  scratch.add(call.outputs[0], p.vDim);
  DS_RETURN_IF_ERROR(scratch.allocate(k, stream));
  const HeadMajor &q = scratch.tensor(0), &key = scratch.tensor(1), &v = scratch.tensor(2);
  const HeadMajor &o = scratch.tensor(3);
  for (const HeadMajor *in : {&q, &key, &v})
    DS_RETURN_IF_ERROR(in->load(k, stream));
  float *probs = scratch.scores(0);
  DS_RETURN_IF_ERROR(forEachStep(k, stream, p, tiling, [&](const Step &s, bool) -> Status {
    DS_RETURN_IF_ERROR(s.scores(q, key, probs));
    DS_RETURN_IF_ERROR(s.softmax(probs));
    return s.rowsTimes(probs, v, o);
  }));
  return o.store(k, stream);
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
  Problem p;
  DS_RETURN_IF_ERROR(readProblem(k, call, p));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.inputs[3], call.inputs[2].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "result_grad", call.inputs[4], call.inputs[2].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "query_grad", call.outputs[0], call.inputs[0].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "key_grad", call.outputs[1], call.inputs[1].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "value_grad", call.outputs[2], call.inputs[2].shape));
  if (p.pairs() * p.seq == 0)
    return Status::ok();
  cudaStream_t stream = streamOf(call);
  if (FlashShape shape; takesFlash(p, call, shape))
    return flashAttentionGrad(k, shape, call, stream);
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
  const HeadMajor &q = scratch.tensor(0), &key = scratch.tensor(1), &v = scratch.tensor(2);
  const HeadMajor &dO = scratch.tensor(3), &dQ = scratch.tensor(4), &dK = scratch.tensor(5);
  const HeadMajor &dV = scratch.tensor(6);
  for (const HeadMajor *in : {&q, &key, &v, &dO})
    DS_RETURN_IF_ERROR(in->load(k, stream));
  float *probs = scratch.scores(0), *dScores = scratch.scores(1);
  DS_RETURN_IF_ERROR(
      forEachStep(k, stream, p, tiling, [&](const Step &s, bool firstOfGroup) -> Status {
        DS_RETURN_IF_ERROR(s.scores(q, key, probs));
        DS_RETURN_IF_ERROR(s.softmax(probs));
        DS_RETURN_IF_ERROR(s.scores(dO, v, dScores));
        DS_RETURN_IF_ERROR(s.scoreGrad(probs, dScores));
        DS_RETURN_IF_ERROR(s.colsTimes(probs, dO, dV, !firstOfGroup));
        DS_RETURN_IF_ERROR(s.colsTimes(dScores, q, dK, !firstOfGroup));
        return s.rowsTimes(dScores, key, dQ);
      }));
  for (const HeadMajor *out : {&dQ, &dK, &dV})
    DS_RETURN_IF_ERROR(out->store(k, stream));
  return Status::ok();
}

} // namespace ds::rt::cuda
