//===- FlashAttention.cu - fused BF16 attention forward and backward ------===//
//
// FlashAttention-2 (Dao 2023) on mma.sync.m16n8k16 BF16 tensor cores with FP32
// accumulation, fragments read with ldmatrix from padded shared-memory tiles that cp.async
// fills (Attention.cu's top comment gives the arithmetic and its rounding points). Query and
// key tiles are kTile = 64 rows; each warp owns 16 query rows of a forward tile.
//
//   forward        one CTA per (pair, query tile), keys in tiles up to the diagonal: the
//                  online softmax (running max and sum in FP32, exp2 with scale * log2(e)
//                  folded into the scores) rescales the O accumulator in registers.
//   backward  (1)  statistics: the same loop without P V gives each row's logsumexp, and
//                  D_i = rowsum(dO_i * O_i) from `result` and `result_grad` in FP32.
//             (2)  one CTA per (pair, key tile) over the query tiles from the diagonal
//                  down: P = exp2(scale' S - lse), dP = dO V^T, dS' = scale P (dP - D),
//                  dV += P^T dO and dK += dS'^T Q in registers; dS' (BF16) to scratch.
//             (3)  one CTA per (pair, query tile): dQ = sum over key tiles of dS' K.
// (3) is a separate pass rather than FA2's atomicAdd of dQ into FP32 scratch because
// every CUDA kernel here is deterministic (run to run bit-identical) and atomic FP32 sums
// are not; reading dS' back (2 bytes per score, the causal half) costs less than
// recomputing S and dP for dQ. dS' scratch is bounded by kDScoreScratchBytes: the
// backward runs (2) and (3) per group of (batch, head) pairs.
//
// The tensors are read in their [B, S, H, D] layout (row stride H·D), no head-major
// copies. cp.async moves bytes and cannot convert, so F32 operands are first rounded
// (nearest even) into BF16 copies of the same layout (Bf16Convert.h); BF16 operands are
// read in place.
//
// Causal key tiles above the diagonal are never visited; only the diagonal tile and tiles
// holding rows or keys past S (zero-filled on load) are masked. Grids put the
// (batch, head) pair on x and the tile on y, so the hardware issues the longest causal
// tiles of every pair first.
//
// Cost (H100, B=4, S=2048, H=8, Dqk 192, Dv 128, causal; AttentionThroughputTest): forward
// 0.22 ms (200 TFLOP/s) with BF16 tensors, 0.29 ms with F32 ones (the rounding copies);
// backward 0.96 / 1.04 ms. Per visible score the backward does 4·Dqk + 2·Dv
// multiply-adds (statistics Q K^T; S, dP, dV, dK; dQ), 1024 at MLA dims against FA2's
// 3·Dqk + 2·Dv = 832 with a saved logsumexp: the statistics pass repeats the forward's
// Q K^T because ds.attention has no logsumexp output. Per-kernel times are not measured.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/FlashAttention.h"

#include "runtime/kernels/cuda/Bf16Convert.h"
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <utility>

namespace ds::rt::cuda {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kTile = 64;
/// Shared-memory rows are padded by 8 BF16 (16 bytes): a row stride that is an odd
/// multiple of 16 bytes puts ldmatrix's eight row addresses in distinct bank groups.
constexpr int kPad = 8;
constexpr int kScoreStride = kTile + kPad;
constexpr float kLog2e = 1.4426950408889634f;
/// Bound on the dS' scratch of one group of (batch, head) pairs in the backward.
constexpr int64_t kDScoreScratchBytes = int64_t(256) << 20;

// ---------------------------------------------------------------------------------------
// PTX: cp.async, ldmatrix, mma.sync m16n8k16 (BF16 in, FP32 accumulate).
// ---------------------------------------------------------------------------------------

__device__ __forceinline__ uint32_t sharedAddress(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

/// 16 bytes global -> shared; zero-filled when !valid (src is then not read).
__device__ __forceinline__ void copyAsync16(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sharedAddress(dst)),
               "l"(src), "r"(valid ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void commitAsync() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int Pending> __device__ __forceinline__ void waitAsync() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}

__device__ __forceinline__ void loadMatrices(uint32_t r[4], const bf16 *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(p)));
}
__device__ __forceinline__ void loadMatricesTransposed(uint32_t r[4], const bf16 *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(p)));
}

/// c += a b for a 16x16 A fragment and a 16x8 B fragment (b0, b1).
__device__ __forceinline__ void mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
               "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/// Two FP32 values as a BF16 pair (nearest even), `lo` in the low half as mma reads it.
__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

// Fragment addresses (PTX ISA, "mma.m16n8k16" and "ldmatrix"): lane l of an x4 ldmatrix
// names a row of matrix l / 8. For the A operand of rows [m0, m0+16) x k [k0, k0+16):
//   stored [m][k]:  row m0 + l % 16,               column k0 + (l / 16) * 8
//   stored [k][m]:  row k0 + l % 8 + (l / 16) * 8, column m0 + (l / 8 % 2) * 8  (.trans)
// For the B operands of two n-tiles [n0, n0+16) x k [k0, k0+16), registers {0, 1} the
// first n-tile, {2, 3} the second:
//   stored [n][k]:  row n0 + l % 8 + (l / 16) * 8, column k0 + (l / 8 % 2) * 8
//   stored [k][n]:  row k0 + l % 8 + (l / 8 % 2) * 8, column n0 + (l / 16) * 8  (.trans)

__device__ __forceinline__ const bf16 *aRowMajor(const bf16 *s, int stride, int m0, int k0,
                                                 int lane) {
  return s + (m0 + lane % 16) * stride + k0 + (lane / 16) * 8;
}
__device__ __forceinline__ const bf16 *aColMajor(const bf16 *s, int stride, int m0, int k0,
                                                 int lane) {
  return s + (k0 + lane % 8 + (lane / 16) * 8) * stride + m0 + (lane / 8 % 2) * 8;
}
__device__ __forceinline__ const bf16 *bRowsN(const bf16 *s, int stride, int n0, int k0,
                                              int lane) {
  return s + (n0 + lane % 8 + (lane / 16) * 8) * stride + k0 + (lane / 8 % 2) * 8;
}
__device__ __forceinline__ const bf16 *bRowsK(const bf16 *s, int stride, int n0, int k0,
                                              int lane) {
  return s + (k0 + lane % 8 + (lane / 8 % 2) * 8) * stride + n0 + (lane / 16) * 8;
}

/// acc (four 16x8 fragments) += A[m0, m0+16) x [0, K) times B[n0, n0+32) x [0, K)^T, one
/// warp's 16 x 32 product with both operands stored k-contiguous ([m][k], [n][k]).
template <int K>
__device__ __forceinline__ void warpProduct16x32(float acc[4][4], const bf16 *a, int aStride,
                                                 int m0, const bf16 *b, int bStride, int n0,
                                                 int lane) {
#pragma unroll
  for (int ks = 0; ks < K / 16; ++ks) {
    uint32_t aFrag[4], bFrag[4];
    loadMatrices(aFrag, aRowMajor(a, aStride, m0, ks * 16, lane));
#pragma unroll
    for (int n = 0; n < 2; ++n) {
      loadMatrices(bFrag, bRowsN(b, bStride, n0 + n * 16, ks * 16, lane));
      mma(acc[2 * n], aFrag, bFrag[0], bFrag[1]);
      mma(acc[2 * n + 1], aFrag, bFrag[2], bFrag[3]);
    }
  }
}

/// acc[0, 2 Pairs) += the A fragment `a` times B's n-tiles [n0, n0 + 16 Pairs) at k
/// [k0, k0+16), B stored k-major ([k][n]) and read transposed.
template <int Pairs>
__device__ __forceinline__ void fragmentTimesKnTiles(float (*acc)[4], const uint32_t a[4],
                                                     const bf16 *b, int stride, int n0, int k0,
                                                     int lane) {
#pragma unroll
  for (int n = 0; n < Pairs; ++n) {
    uint32_t bFrag[4];
    loadMatricesTransposed(bFrag, bRowsK(b, stride, n0 + n * 16, k0, lane));
    mma(acc[2 * n], a, bFrag[0], bFrag[1]);
    mma(acc[2 * n + 1], a, bFrag[2], bFrag[3]);
  }
}

// ---------------------------------------------------------------------------------------
// Parameters and tile loads.
// ---------------------------------------------------------------------------------------

struct FlashParams {
  // BF16 operands in [B, S, H, D] layout (the tensors or their rounded copies).
  const bf16 *query, *key, *value, *resultGrad;
  // The stored forward output and its gradient, for D.
  FloatIn result, resultGradStored;
  FloatOut out, queryGrad, keyGrad, valueGrad;
  // Backward scratch: lse (log2 units of scaled scores) and D, [pairs, tiles * kTile];
  // dS' tiles [group pairs, tilesPerPair, kTile, kTile].
  float *lse, *rowDot;
  bf16 *dScores;
  int seq, heads, tiles, vDim, firstPair;
  int64_t tilesPerPair;
  float scale, scaleLog2;
  bool causal;

  /// Element offset of row `row`, column 0 of (batch, head) pair `pair` in [B, S, H, dim].
  __device__ __forceinline__ int64_t rowOffset(int pair, int row, int dim) const {
    int b = pair / heads, h = pair % heads;
    return ((int64_t(b) * seq + row) * heads + h) * dim;
  }
  __device__ __forceinline__ int64_t rowStride(int dim) const { return int64_t(heads) * dim; }
  /// Index of dS' tile (query tile, key tile) within its pair.
  __device__ __forceinline__ int64_t scoreTile(int queryTile, int keyTile) const {
    return causal ? int64_t(queryTile) * (queryTile + 1) / 2 + keyTile
                  : int64_t(queryTile) * tiles + keyTile;
  }
};

/// Rows [row0, row0 + kTile) of pair `pair`'s [S, D] matrix into shared [kTile][D + kPad];
/// rows from `seq` on are zero-filled.
template <int D, int Threads>
__device__ __forceinline__ void loadTile(bf16 *tile, const bf16 *x, const FlashParams &p,
                                         int pair, int row0) {
  constexpr int chunksPerRow = D / 8;
  static_assert(kTile * chunksPerRow % Threads == 0, "whole chunks per thread");
  const bf16 *base = x + p.rowOffset(pair, 0, D);
  int64_t stride = p.rowStride(D);
#pragma unroll
  for (int i = 0; i < kTile * chunksPerRow / Threads; ++i) {
    int c = threadIdx.x + i * Threads;
    int r = c / chunksPerRow, col = c % chunksPerRow * 8;
    bool valid = row0 + r < p.seq;
    copyAsync16(tile + r * (D + kPad) + col, valid ? base + (row0 + r) * stride + col : x,
                valid);
  }
}

/// A dense [kTile, kTile] BF16 dS' tile (global) into shared [kTile][kScoreStride].
template <int Threads>
__device__ __forceinline__ void loadScoreTile(bf16 *tile, const bf16 *scores) {
#pragma unroll
  for (int i = 0; i < kTile * kTile / 8 / Threads; ++i) {
    int c = threadIdx.x + i * Threads;
    copyAsync16(tile + c / 8 * kScoreStride + c % 8 * 8, scores + c * 8, true);
  }
}

/// Whether key `key` is visible from query row `row`.
__device__ __forceinline__ bool visible(const FlashParams &p, int row, int key) {
  return key < p.seq && (!p.causal || key <= row);
}

// ---------------------------------------------------------------------------------------
// Forward, and the backward's statistics pass (Stats: no P V; writes lse and D).
// 4 warps, warp w owns query rows [16w, 16w + 16) of the tile; Q fragments stay in
// registers. Forward: single K and V buffers, V_j loading during S = Q K_j^T and K_{j+1}
// during the softmax and P V_j. Stats: K double-buffered.
// ---------------------------------------------------------------------------------------

template <int DQ, int DV, bool Stats>
__global__ void __launch_bounds__(128, 2) flashForwardKernel(FlashParams p) {
  constexpr int qStride = DQ + kPad, vStride = DV + kPad;
  constexpr int outTiles = Stats ? 1 : DV / 8;
  extern __shared__ __align__(16) unsigned char sharedBytes[];
  bf16 *qTileS = reinterpret_cast<bf16 *>(sharedBytes);
  bf16 *kTileS = qTileS + kTile * qStride;
  bf16 *vTileS = kTileS + kTile * qStride; // Stats: the second K buffer
  int pair = blockIdx.x, queryTile = p.tiles - 1 - blockIdx.y;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int keyTiles = p.causal ? queryTile + 1 : p.tiles;

  loadTile<DQ, 128>(qTileS, p.query, p, pair, queryTile * kTile);
  loadTile<DQ, 128>(kTileS, p.key, p, pair, 0);
  commitAsync();

  if constexpr (Stats) {
    // D_i = rowsum(dO_i * O_i), a warp per row, while the first tiles load.
    for (int r = warp; r < kTile; r += 4) {
      int row = queryTile * kTile + r;
      float dot = 0.0f;
      if (row < p.seq) {
        int64_t base = p.rowOffset(pair, row, p.vDim);
        for (int c = lane; c < p.vDim; c += 32)
          dot += p.result[base + c] * p.resultGradStored[base + c];
      }
      dot = warpSum(dot);
      if (lane == 0)
        p.rowDot[int64_t(pair) * p.tiles * kTile + row] = dot;
    }
  }

  uint32_t qFrag[DQ / 16][4];
  float o[outTiles][4];
#pragma unroll
  for (int n = 0; n < outTiles; ++n)
    o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float rowMax[2] = {-INFINITY, -INFINITY}, rowSum[2] = {0.0f, 0.0f};
  int firstRow = queryTile * kTile + warp * 16 + lane / 4; // and firstRow + 8

  for (int j = 0; j < keyTiles; ++j) {
    waitAsync<0>();
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int ks = 0; ks < DQ / 16; ++ks)
        loadMatrices(qFrag[ks], aRowMajor(qTileS, qStride, warp * 16, ks * 16, lane));
    }
    const bf16 *keys = Stats && (j & 1) ? vTileS : kTileS;
    if constexpr (Stats) {
      if (j + 1 < keyTiles)
        loadTile<DQ, 128>((j & 1) ? kTileS : vTileS, p.key, p, pair, (j + 1) * kTile);
    } else {
      loadTile<DV, 128>(vTileS, p.value, p, pair, j * kTile);
    }
    commitAsync();

    float s[kTile / 8][4];
#pragma unroll
    for (int n = 0; n < kTile / 8; ++n)
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < DQ / 16; ++ks)
#pragma unroll
      for (int n = 0; n < kTile / 16; ++n) {
        uint32_t b[4];
        loadMatrices(b, bRowsN(keys, qStride, n * 16, ks * 16, lane));
        mma(s[2 * n], qFrag[ks], b[0], b[1]);
        mma(s[2 * n + 1], qFrag[ks], b[2], b[3]);
      }
    if constexpr (!Stats) {
      __syncthreads(); // every warp is done with K_j
      if (j + 1 < keyTiles)
        loadTile<DQ, 128>(kTileS, p.key, p, pair, (j + 1) * kTile);
      commitAsync();
    }

    // Scores in log2 units: t = scale * log2(e) * q.k, masked to -inf.
    bool masked = (p.causal && j == queryTile) || (j + 1) * kTile > p.seq;
#pragma unroll
    for (int n = 0; n < kTile / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[n][e] *= p.scaleLog2;
        if (masked && !visible(p, firstRow + (e / 2) * 8, j * kTile + n * 8 + lane % 4 * 2 + e % 2))
          s[n][e] = -INFINITY;
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tileMax = rowMax[r];
#pragma unroll
      for (int n = 0; n < kTile / 8; ++n)
        tileMax = fmaxf(tileMax, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
      tileMax = fmaxf(tileMax, __shfl_xor_sync(kFullMask, tileMax, 1));
      tileMax = fmaxf(tileMax, __shfl_xor_sync(kFullMask, tileMax, 2));
      // A row with no visible key yet keeps max -inf; exp2(-inf - 0) = 0 then.
      float base = tileMax == -INFINITY ? 0.0f : tileMax;
      float rescale = exp2f(rowMax[r] - base);
      rowMax[r] = tileMax;
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kTile / 8; ++n)
#pragma unroll
        for (int e = 2 * r; e < 2 * r + 2; ++e) {
          s[n][e] = exp2f(s[n][e] - base);
          sum += s[n][e];
        }
      rowSum[r] = rowSum[r] * rescale + sum;
      if constexpr (!Stats) {
#pragma unroll
        for (int n = 0; n < outTiles; ++n) {
          o[n][2 * r] *= rescale;
          o[n][2 * r + 1] *= rescale;
        }
      }
    }

    if constexpr (!Stats) {
      waitAsync<1>(); // V_j; K_{j+1} may still be in flight
      __syncthreads();
      // The S accumulator's layout is the A fragment's: P never leaves registers.
#pragma unroll
      for (int ks = 0; ks < kTile / 16; ++ks) {
        uint32_t a[4] = {packBf16(s[2 * ks][0], s[2 * ks][1]), packBf16(s[2 * ks][2], s[2 * ks][3]),
                         packBf16(s[2 * ks + 1][0], s[2 * ks + 1][1]),
                         packBf16(s[2 * ks + 1][2], s[2 * ks + 1][3])};
#pragma unroll
        for (int n = 0; n < DV / 16; ++n) {
          uint32_t b[4];
          loadMatricesTransposed(b, bRowsK(vTileS, vStride, n * 16, ks * 16, lane));
          mma(o[2 * n], a, b[0], b[1]);
          mma(o[2 * n + 1], a, b[2], b[3]);
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = rowSum[r];
    sum += __shfl_xor_sync(kFullMask, sum, 1);
    sum += __shfl_xor_sync(kFullMask, sum, 2);
    int row = firstRow + r * 8;
    if constexpr (Stats) {
      if (lane % 4 == 0)
        p.lse[int64_t(pair) * p.tiles * kTile + row] = rowMax[r] + log2f(sum);
    } else if (row < p.seq) {
      float inverse = 1.0f / sum;
      int64_t base = p.rowOffset(pair, row, DV) + lane % 4 * 2;
#pragma unroll
      for (int n = 0; n < outTiles; ++n) {
        p.out.store(base + n * 8, o[n][2 * r] * inverse);
        p.out.store(base + n * 8 + 1, o[n][2 * r + 1] * inverse);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Backward (2): dK and dV of one key tile. 8 warps. For S and dP ([64 queries, 64 keys])
// warp w owns queries 16 (w % 4) and keys 32 (w / 4); P and dS' go through shared memory
// (BF16, [query][key]) to the dV and dK products, where warp w owns keys 16 (w % 4) and
// half the columns (w / 4). Q, dO, lse and D are double-buffered: tile i+1 loads while
// tile i computes.
// ---------------------------------------------------------------------------------------

template <int DQ, int DV> struct KeyValueGradLayout {
  static constexpr int qStride = DQ + kPad, vStride = DV + kPad;
  static constexpr int keyAt = 0, valueAt = keyAt + kTile * qStride;
  static constexpr int queryAt = valueAt + kTile * vStride; // two buffers
  static constexpr int gradAt = queryAt + 2 * kTile * qStride; // two buffers
  static constexpr int probsAt = gradAt + 2 * kTile * vStride;
  static constexpr int dScoresAt = probsAt + kTile * kScoreStride;
  static constexpr int end = dScoresAt + kTile * kScoreStride;
  // Then lse[2][kTile] and D[2][kTile] in FP32.
  static constexpr size_t bytes = size_t(end) * sizeof(bf16) + 4 * kTile * sizeof(float);
};

template <int DQ, int DV>
__global__ void __launch_bounds__(256, 1) flashKeyValueGradKernel(FlashParams p) {
  using L = KeyValueGradLayout<DQ, DV>;
  constexpr int qStride = L::qStride, vStride = L::vStride;
  extern __shared__ __align__(16) unsigned char sharedBytes[];
  bf16 *shared = reinterpret_cast<bf16 *>(sharedBytes);
  bf16 *keyS = shared + L::keyAt, *valueS = shared + L::valueAt;
  bf16 *probsS = shared + L::probsAt, *dScoresS = shared + L::dScoresAt;
  float *lseS = reinterpret_cast<float *>(shared + L::end), *dotS = lseS + 2 * kTile;
  int localPair = blockIdx.x, pair = p.firstPair + localPair, keyTile = blockIdx.y;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int firstQueryTile = p.causal ? keyTile : 0;
  int64_t statsBase = int64_t(pair) * p.tiles * kTile;

  auto loadQueryTile = [&](int queryTile, int buffer) {
    loadTile<DQ, 256>(shared + L::queryAt + buffer * kTile * qStride, p.query, p, pair,
                      queryTile * kTile);
    loadTile<DV, 256>(shared + L::gradAt + buffer * kTile * vStride, p.resultGrad, p, pair,
                      queryTile * kTile);
    if (threadIdx.x < 32) {
      int c = threadIdx.x % 16;
      const float *from = (threadIdx.x < 16 ? p.lse : p.rowDot) + statsBase + queryTile * kTile;
      float *to = (threadIdx.x < 16 ? lseS : dotS) + buffer * kTile;
      copyAsync16(to + 4 * c, from + 4 * c, true);
    }
  };
  loadTile<DQ, 256>(keyS, p.key, p, pair, keyTile * kTile);
  loadTile<DV, 256>(valueS, p.value, p, pair, keyTile * kTile);
  loadQueryTile(firstQueryTile, 0);
  commitAsync();

  constexpr int dvTiles = DV / 16, dkTiles = DQ / 16; // n-tiles of a warp's half
  float dv[dvTiles][4], dk[dkTiles][4];
#pragma unroll
  for (int n = 0; n < dvTiles; ++n)
    dv[n][0] = dv[n][1] = dv[n][2] = dv[n][3] = 0.0f;
#pragma unroll
  for (int n = 0; n < dkTiles; ++n)
    dk[n][0] = dk[n][1] = dk[n][2] = dk[n][3] = 0.0f;
  int scoreQuery = warp % 4 * 16, scoreKey = warp / 4 * 32;
  int gradKey = warp % 4 * 16, gradHalf = warp / 4;

  for (int queryTile = firstQueryTile; queryTile < p.tiles; ++queryTile) {
    int buffer = (queryTile - firstQueryTile) & 1;
    waitAsync<0>();
    __syncthreads(); // tile queryTile landed; every warp is done with the previous one
    if (queryTile + 1 < p.tiles)
      loadQueryTile(queryTile + 1, buffer ^ 1);
    commitAsync();
    const bf16 *queryS = shared + L::queryAt + buffer * kTile * qStride;
    const bf16 *gradS = shared + L::gradAt + buffer * kTile * vStride;
    const float *lse = lseS + buffer * kTile, *dot = dotS + buffer * kTile;

    float s[4][4], dp[4][4];
#pragma unroll
    for (int n = 0; n < 4; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        s[n][e] = dp[n][e] = 0.0f;
    warpProduct16x32<DQ>(s, queryS, qStride, scoreQuery, keyS, qStride, scoreKey, lane);
    warpProduct16x32<DV>(dp, gradS, vStride, scoreQuery, valueS, vStride, scoreKey, lane);

    bool masked = (p.causal && queryTile == keyTile) || (queryTile + 1) * kTile > p.seq ||
                  (keyTile + 1) * kTile > p.seq;
#pragma unroll
    for (int n = 0; n < 4; ++n)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        int query = scoreQuery + lane / 4 + r * 8, key = scoreKey + n * 8 + lane % 4 * 2;
        float prob[2], dScore[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          int row = queryTile * kTile + query, col = keyTile * kTile + key + e;
          bool keep = !masked || (row < p.seq && visible(p, row, col));
          prob[e] = keep ? exp2f(s[n][2 * r + e] * p.scaleLog2 - lse[query]) : 0.0f;
          dScore[e] = prob[e] * (dp[n][2 * r + e] - dot[query]) * p.scale;
        }
        *reinterpret_cast<uint32_t *>(probsS + query * kScoreStride + key) =
            packBf16(prob[0], prob[1]);
        *reinterpret_cast<uint32_t *>(dScoresS + query * kScoreStride + key) =
            packBf16(dScore[0], dScore[1]);
      }
    __syncthreads();

    // dV += P^T dO and dK += dS'^T Q: A = the stored [query][key] tile read transposed.
#pragma unroll
    for (int ks = 0; ks < kTile / 16; ++ks) {
      uint32_t a[4];
      loadMatricesTransposed(a, aColMajor(probsS, kScoreStride, gradKey, ks * 16, lane));
      fragmentTimesKnTiles<dvTiles / 2>(dv, a, gradS, vStride, gradHalf * DV / 2, ks * 16, lane);
      loadMatricesTransposed(a, aColMajor(dScoresS, kScoreStride, gradKey, ks * 16, lane));
      fragmentTimesKnTiles<dkTiles / 2>(dk, a, queryS, qStride, gradHalf * DQ / 2, ks * 16,
                                        lane);
    }

    // dS' for the dQ pass, 16 bytes a thread per step.
    int64_t tileIndex = int64_t(localPair) * p.tilesPerPair + p.scoreTile(queryTile, keyTile);
    bf16 *scores = p.dScores + tileIndex * kTile * kTile;
#pragma unroll
    for (int i = 0; i < kTile * kTile / 8 / 256; ++i) {
      int c = threadIdx.x + i * 256;
      *reinterpret_cast<uint4 *>(scores + c * 8) =
          *reinterpret_cast<const uint4 *>(dScoresS + c / 8 * kScoreStride + c % 8 * 8);
    }
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    int row = keyTile * kTile + gradKey + lane / 4 + r * 8;
    if (row >= p.seq)
      continue;
    int64_t vBase = p.rowOffset(pair, row, DV) + gradHalf * DV / 2 + lane % 4 * 2;
    int64_t kBase = p.rowOffset(pair, row, DQ) + gradHalf * DQ / 2 + lane % 4 * 2;
#pragma unroll
    for (int n = 0; n < dvTiles; ++n) {
      p.valueGrad.store(vBase + n * 8, dv[n][2 * r]);
      p.valueGrad.store(vBase + n * 8 + 1, dv[n][2 * r + 1]);
    }
#pragma unroll
    for (int n = 0; n < dkTiles; ++n) {
      p.keyGrad.store(kBase + n * 8, dk[n][2 * r]);
      p.keyGrad.store(kBase + n * 8 + 1, dk[n][2 * r + 1]);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Backward (3): dQ of one query tile = sum over key tiles of dS' K, dS' and K
// double-buffered; 4 warps, warp w owns query rows [16w, 16w + 16).
// ---------------------------------------------------------------------------------------

template <int DQ> constexpr size_t queryGradBytes() {
  return size_t(2) * kTile * (kScoreStride + DQ + kPad) * sizeof(bf16);
}

template <int DQ>
__global__ void __launch_bounds__(128, 2) flashQueryGradKernel(FlashParams p) {
  constexpr int qStride = DQ + kPad;
  extern __shared__ __align__(16) unsigned char sharedBytes[];
  bf16 *scoresS = reinterpret_cast<bf16 *>(sharedBytes); // two buffers
  bf16 *keyS = scoresS + 2 * kTile * kScoreStride;        // two buffers
  int localPair = blockIdx.x, pair = p.firstPair + localPair;
  int queryTile = p.tiles - 1 - blockIdx.y;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int keyTiles = p.causal ? queryTile + 1 : p.tiles;
  const bf16 *scores = p.dScores + (int64_t(localPair) * p.tilesPerPair) * kTile * kTile;

  auto loadKeyTile = [&](int keyTile, int buffer) {
    loadScoreTile<128>(scoresS + buffer * kTile * kScoreStride,
                       scores + p.scoreTile(queryTile, keyTile) * kTile * kTile);
    loadTile<DQ, 128>(keyS + buffer * kTile * qStride, p.key, p, pair, keyTile * kTile);
  };
  loadKeyTile(0, 0);
  commitAsync();

  float dq[DQ / 8][4];
#pragma unroll
  for (int n = 0; n < DQ / 8; ++n)
    dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.0f;
  for (int keyTile = 0; keyTile < keyTiles; ++keyTile) {
    int buffer = keyTile & 1;
    waitAsync<0>();
    __syncthreads();
    if (keyTile + 1 < keyTiles)
      loadKeyTile(keyTile + 1, buffer ^ 1);
    commitAsync();
    const bf16 *scoreTile = scoresS + buffer * kTile * kScoreStride;
    const bf16 *keyTileS = keyS + buffer * kTile * qStride;
#pragma unroll
    for (int ks = 0; ks < kTile / 16; ++ks) {
      uint32_t a[4], b[4];
      loadMatrices(a, aRowMajor(scoreTile, kScoreStride, warp * 16, ks * 16, lane));
#pragma unroll
      for (int n = 0; n < DQ / 16; ++n) {
        loadMatricesTransposed(b, bRowsK(keyTileS, qStride, n * 16, ks * 16, lane));
        mma(dq[2 * n], a, b[0], b[1]);
        mma(dq[2 * n + 1], a, b[2], b[3]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    int row = queryTile * kTile + warp * 16 + lane / 4 + r * 8;
    if (row >= p.seq)
      continue;
    int64_t base = p.rowOffset(pair, row, DQ) + lane % 4 * 2;
#pragma unroll
    for (int n = 0; n < DQ / 8; ++n) {
      p.queryGrad.store(base + n * 8, dq[n][2 * r]);
      p.queryGrad.store(base + n * 8 + 1, dq[n][2 * r + 1]);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Host side.
// ---------------------------------------------------------------------------------------

using KernelPointer = void (*)(FlashParams);

struct Variant {
  int qkDim, vDim;
  KernelPointer forward, stats, keyValueGrad, queryGrad;
  size_t forwardBytes, statsBytes, keyValueGradBytes, queryGradBytes;
};

template <int DQ, int DV> Variant variant() {
  constexpr size_t qTile = size_t(kTile) * (DQ + kPad) * sizeof(bf16);
  constexpr size_t vTile = size_t(kTile) * (DV + kPad) * sizeof(bf16);
  return {DQ,
          DV,
          flashForwardKernel<DQ, DV, false>,
          flashForwardKernel<DQ, 0, true>,
          flashKeyValueGradKernel<DQ, DV>,
          flashQueryGradKernel<DQ>,
          2 * qTile + vTile,
          3 * qTile,
          KeyValueGradLayout<DQ, DV>::bytes,
          queryGradBytes<DQ>()};
}

const Variant *variantFor(int64_t qkDim, int64_t vDim) {
  static const Variant variants[] = {variant<64, 64>(),  variant<64, 128>(),
                                     variant<128, 64>(), variant<128, 128>(),
                                     variant<192, 64>(), variant<192, 128>()};
  for (const Variant &v : variants)
    if (v.qkDim == qkDim && v.vDim == vDim)
      return &v;
  return nullptr;
}

/// Raises `fn`'s dynamic shared-memory limit, once per device: later calls (a step being
/// captured into a CUDA graph among them) only launch.
Status allowSharedBytes(const char *kernel, const char *name, KernelPointer fn,
                        size_t sharedBytes) {
  static std::mutex mutex;
  static std::set<std::pair<int, KernelPointer>> done;
  int device = 0;
  DS_RETURN_IF_ERROR(cudaCheck(cudaGetDevice(&device), kernel, "cudaGetDevice"));
  std::lock_guard<std::mutex> lock(mutex);
  if (done.count({device, fn}))
    return Status::ok();
  DS_RETURN_IF_ERROR(cudaCheck(cudaFuncSetAttribute(reinterpret_cast<const void *>(fn),
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    int(sharedBytes)),
                               kernel, name));
  done.insert({device, fn});
  return Status::ok();
}

Status launch(const char *kernel, const char *name, KernelPointer fn, dim3 grid, int threads,
              size_t sharedBytes, const FlashParams &params, cudaStream_t stream) {
  DS_RETURN_IF_ERROR(allowSharedBytes(kernel, name, fn, sharedBytes));
  FlashParams copy = params;
  void *args[] = {&copy};
  return cudaCheck(cudaLaunchKernel(reinterpret_cast<const void *>(fn), grid, dim3(threads), args,
                                    sharedBytes, stream),
                   kernel, name);
}

/// The BF16 operands: BF16 tensors in place, F32 ones rounded into scratch copies.
class Operands {
public:
  void add(const TensorView &t) {
    tensors_.push_back(t);
    offsets_.push_back(t.dtype == DType::BF16 ? 0 : carver.reserve(sizeof(bf16) * t.numElements()));
  }
  /// After carving the rest: converts the F32 tensors into `base`.
  Status convert(const char *kernel, void *base, cudaStream_t stream) {
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const TensorView &t = tensors_[i];
      if (t.dtype == DType::BF16) {
        data_.push_back(static_cast<const bf16 *>(t.data));
        continue;
      }
      auto *copy = reinterpret_cast<uint16_t *>(static_cast<char *>(base) + offsets_[i]);
      DS_RETURN_IF_ERROR(
          convertToBf16(kernel, static_cast<const float *>(t.data), copy, t.numElements(), stream));
      data_.push_back(reinterpret_cast<const bf16 *>(copy));
    }
    return Status::ok();
  }
  const bf16 *operator[](size_t i) const { return data_[i]; }

  ScratchCarver carver;

private:
  std::vector<TensorView> tensors_;
  std::vector<size_t> offsets_;
  std::vector<const bf16 *> data_;
};

FlashParams paramsFor(const FlashShape &s) {
  FlashParams p{};
  p.seq = int(s.seq);
  p.heads = int(s.heads);
  p.tiles = int(ceilDiv(s.seq, kTile));
  p.vDim = int(s.vDim);
  p.scale = s.scale;
  p.scaleLog2 = s.scale * kLog2e;
  p.causal = s.causal;
  return p;
}

} // namespace

bool flashAttentionTakes(const FlashShape &shape, const KernelCall &call) {
  if (!variantFor(shape.qkDim, shape.vDim) || shape.seq < 1 ||
      ceilDiv(shape.seq, kTile) > 65535 || shape.batch * shape.heads > (int64_t(1) << 30) ||
      shape.batch * shape.seq * shape.heads > (int64_t(1) << 31))
    return false;
  for (const std::vector<TensorView> *list : {&call.inputs, &call.outputs})
    for (const TensorView &t : *list)
      if (t.dtype == DType::BF16 && reinterpret_cast<uintptr_t>(t.data) % 16 != 0)
        return false;
  return true;
}

Status flashAttention(const char *kernel, const FlashShape &shape, const KernelCall &call,
                      cudaStream_t stream) {
  const Variant &v = *variantFor(shape.qkDim, shape.vDim);
  Operands operands;
  for (int i = 0; i < 3; ++i)
    operands.add(call.inputs[i]);
  void *base = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(kernel, stream, operands.carver.total(), base));
  DS_RETURN_IF_ERROR(operands.convert(kernel, base, stream));
  FlashParams p = paramsFor(shape);
  p.query = operands[0];
  p.key = operands[1];
  p.value = operands[2];
  p.out = floatOut(call.outputs[0]);
  dim3 grid(unsigned(shape.batch * shape.heads), unsigned(p.tiles));
  return launch(kernel, "flashForwardKernel", v.forward, grid, 128, v.forwardBytes, p, stream);
}

Status flashAttentionGrad(const char *kernel, const FlashShape &shape, const KernelCall &call,
                          cudaStream_t stream) {
  const Variant &v = *variantFor(shape.qkDim, shape.vDim);
  FlashParams p = paramsFor(shape);
  int64_t pairs = shape.batch * shape.heads;
  p.tilesPerPair = shape.causal ? int64_t(p.tiles) * (p.tiles + 1) / 2 : int64_t(p.tiles) * p.tiles;
  int64_t pairScoreBytes = p.tilesPerPair * kTile * kTile * int64_t(sizeof(bf16));
  int64_t groupPairs = std::clamp<int64_t>(kDScoreScratchBytes / pairScoreBytes, 1, pairs);
  int64_t groups = ceilDiv(pairs, groupPairs);
  groupPairs = ceilDiv(pairs, groups);

  Operands operands;
  for (int i : {0, 1, 2, 4})
    operands.add(call.inputs[i]);
  size_t statsBytes = sizeof(float) * pairs * p.tiles * kTile;
  size_t lseAt = operands.carver.reserve(statsBytes);
  size_t dotAt = operands.carver.reserve(statsBytes);
  size_t scoresAt = operands.carver.reserve(size_t(groupPairs) * pairScoreBytes);
  void *base = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(kernel, stream, operands.carver.total(), base));
  DS_RETURN_IF_ERROR(operands.convert(kernel, base, stream));
  auto *bytes = static_cast<char *>(base);
  p.query = operands[0];
  p.key = operands[1];
  p.value = operands[2];
  p.resultGrad = operands[3];
  p.result = floatIn(call.inputs[3]);
  p.resultGradStored = floatIn(call.inputs[4]);
  p.queryGrad = floatOut(call.outputs[0]);
  p.keyGrad = floatOut(call.outputs[1]);
  p.valueGrad = floatOut(call.outputs[2]);
  p.lse = reinterpret_cast<float *>(bytes + lseAt);
  p.rowDot = reinterpret_cast<float *>(bytes + dotAt);
  p.dScores = reinterpret_cast<bf16 *>(bytes + scoresAt);

  DS_RETURN_IF_ERROR(launch(kernel, "flashStatsKernel", v.stats,
                            dim3(unsigned(pairs), unsigned(p.tiles)), 128, v.statsBytes, p,
                            stream));
  for (int64_t first = 0; first < pairs; first += groupPairs) {
    p.firstPair = int(first);
    dim3 grid(unsigned(std::min(groupPairs, pairs - first)), unsigned(p.tiles));
    DS_RETURN_IF_ERROR(launch(kernel, "flashKeyValueGradKernel", v.keyValueGrad, grid, 256,
                              v.keyValueGradBytes, p, stream));
    DS_RETURN_IF_ERROR(launch(kernel, "flashQueryGradKernel", v.queryGrad, grid, 128,
                              v.queryGradBytes, p, stream));
  }
  return Status::ok();
}

} // namespace ds::rt::cuda
