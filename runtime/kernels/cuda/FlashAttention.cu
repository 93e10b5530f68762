//===- FlashAttention.cu - fused BF16 attention forward and backward ------===//
//
// FlashAttention-2 (Dao 2023) on Hopper's warpgroup tensor cores (wgmma, sm_90a): BF16
// operands, FP32 accumulation, the scores never leave the chip (Attention.cu's top comment
// gives the arithmetic and its rounding points). Every kernel runs two warpgroups of 128
// threads; a warpgroup owns 64 rows (kTile) of the tile its wgmma accumulates (M = 64).
//
//   forward        one CTA per (pair, 128 queries), keys in 64-row tiles up to the
//                  diagonal: S = Q K^T (Q in registers), the online softmax (running max
//                  and sum in FP32, exp2 with scale * log2(e) folded into the scores)
//                  rescales the O accumulator, O += P V with P in registers.
//   backward  (1)  statistics: the same loop without P V gives each row's logsumexp, and
//                  D_i = rowsum(dO_i * O_i) from `result` and `result_grad` in FP32.
//             (2)  one CTA per (pair, 128 keys) over the 64-query tiles from the diagonal
//                  down, transposed so the keys are wgmma's M: S^T = K Q^T, dP^T = V dO^T,
//                  P^T = exp2(scale' S^T - lse), dS'^T = scale P^T (dP^T - D), then
//                  dV += P^T dO and dK += dS'^T Q with P^T and dS'^T straight from the
//                  accumulators as register operands; dS'^T (BF16) to scratch.
//             (3)  one CTA per (pair, 128 queries): dQ = sum over key tiles of dS' K.
// (3) is a separate pass rather than FA2's atomicAdd of dQ into FP32 scratch because
// every CUDA kernel here is deterministic (run to run bit-identical) and atomic FP32 sums
// are not; reading dS' back (2 bytes per score, the causal half) costs less than
// recomputing S and dP for dQ. dS' scratch is bounded by kDScoreScratchBytes: the
// backward runs (2) and (3) per group of (batch, head) pairs.
//
// Shared-memory tiles use the layout wgmma reads with the 128-byte swizzle: a [rows, D]
// tile is D/64 blocks of [rows, 64] BF16, row r of a block at 128 r bytes and its 16-byte
// chunk c at chunk c ^ (r % 8), every block 1024-byte aligned. One tile serves as a K-major
// operand ([m or n][k], S = Q K^T) and as an MN-major one ([k][n], O += P V, dK += dS'^T Q).
// A CTA's two warpgroups share the tiles they load: a key/value tile feeds 128 queries, a
// query tile 128 keys, which halves the L2 traffic of one-warpgroup CTAs. dS' scratch holds
// each 64 x 64 tile as the byte image of its swizzled shared tile ([key][query]), which the
// dQ pass copies back verbatim.
//
// The tensors are read in their [B, S, H, D] layout (row stride H·D), no head-major
// copies. cp.async moves bytes and cannot convert, so F32 operands are first rounded
// (nearest even) into BF16 copies of the same layout (Bf16Convert.h); BF16 operands are
// read in place.
//
// Causal key tiles past a block's diagonal are never visited (the forward's first
// warpgroup runs one fully masked tile, a no-op, rather than idle at the barrier); only
// the diagonal tiles and tiles holding rows or keys past S (zero-filled on load) are
// masked. Grids put the (batch, head) pair on x and the block on y, so the hardware issues
// the longest causal blocks of every pair first. No kernel lets a wgmma run across a
// branch that skips work: the compiler would serialize the wgmma pipeline (ptxas C7515).
//
// Cost (H100, B=4, S=2048, H=8, Dqk 192, Dv 128, causal; AttentionThroughputTest, ncu
// per kernel): forward 0.137 ms (314 TFLOP/s) with BF16 tensors, 0.210 ms with F32 ones
// (the rounding copies); backward 0.444 / 0.548 ms: statistics 95 us, dK/dV 240 us, dQ
// 107 us (the mma.sync kernels these replace: forward 0.213 ms; 197 + 605 + 166 us). Per
// visible score the backward does 4·Dqk + 2·Dv multiply-adds (statistics Q K^T; S, dP,
// dV, dK; dQ), 1024 at MLA dims against FA2's 3·Dqk + 2·Dv = 832 with a saved logsumexp:
// the statistics pass repeats the forward's Q K^T because ds.attention has no logsumexp
// output. The dK/dV kernel keeps its tensor cores busy about a third of the time: its two
// warpgroups meet at a barrier every tile, so their softmax phases coincide instead of
// overlapping each other's products, and at 252 registers a warpgroup has no room for a
// second S^T and dP^T to overlap its own. dQ is bound by reading dS' (2 bytes per visible
// score, 138 MB here, written by the dK/dV kernel) and the key tiles.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/FlashAttention.h"

#include "runtime/kernels/cuda/Bf16Convert.h"
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaSupport.h"
#include "runtime/kernels/cuda/HopperAsync.cuh"

#include <cuda_bf16.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <utility>

namespace ds::rt::cuda {
namespace {

using bf16 = __nv_bfloat16;

/// Rows of a warpgroup's accumulator (wgmma's M), of a score tile and of lse/D blocks.
constexpr int kTile = 64;
/// Rows per CTA: two warpgroups.
constexpr int kBlock = 2 * kTile;
constexpr int kThreads = 256;
constexpr int kGroupThreads = 128;
/// The swizzle width: one shared-memory row of a 64-column block.
constexpr int kRowBytes = 128;
constexpr int kScoreTileBytes = kTile * kTile * int(sizeof(bf16));
constexpr float kLog2e = 1.4426950408889634f;
/// Bound on the dS' scratch of one group of (batch, head) pairs in the backward.
constexpr int64_t kDScoreScratchBytes = int64_t(256) << 20;

// ---------------------------------------------------------------------------------------
// PTX: cp.async, ldmatrix/stmatrix, proxy fences, named barriers, wgmma (PTX ISA 8.0,
// "Asynchronous Warpgroup Level Matrix Multiply-Accumulate").
// ---------------------------------------------------------------------------------------

// The Hopper building blocks shared with the grouped GEMM (HopperAsync.cuh).
using hopper::descriptor;
using hopper::fenceProxyAsync;
using hopper::sharedAddress;
using hopper::wgmmaCommit;
using hopper::wgmmaFence;
using hopper::wgmmaWait;

/// 16 bytes global -> shared; zero-filled when !valid (src is then not read).
__device__ __forceinline__ void copyAsync16(uint32_t dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void commitAsync() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int Pending> __device__ __forceinline__ void waitAsync() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}
/// A barrier among one warpgroup's 128 threads (ids 1 and 2; 0 is __syncthreads).
__device__ __forceinline__ void groupBarrier(int group) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(1 + group), "n"(kGroupThreads) : "memory");
}

__device__ __forceinline__ void loadMatrices(uint32_t r[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void loadMatricesTransposed(uint32_t r[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void storeMatrices(uint32_t address, const uint32_t r[4]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(address),
               "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3])
               : "memory");
}

/// Two FP32 values as a BF16 pair (nearest even), `lo` in the low half as mma reads it.
__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

/// Pins accumulator registers in program order around wgmma issue and wait: the compiler
/// sees them read and written here, so it neither reads them before the wait nor moves
/// writes past the issue.
template <int N> __device__ __forceinline__ void fenceAccumulators(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
    asm volatile("" : "+f"(d[i])::"memory");
}

// A 64 x 64 x 16 product into a warpgroup's 64 x 64 FP32 accumulator: warp w of the group
// holds rows [16w, 16w + 16) as mma.sync's m16n8 C fragments side by side, d[4i + e] being
// row lane / 4 + 8 (e / 2), column 8i + 2 (lane % 4) + e % 2. `accumulate` 0 overwrites d.
// TransB 0 reads B K-major ([n][k]), 1 MN-major ([k][n]).

/// d (+)= A B, both operands in shared memory (A K-major).
template <int TransB>
__device__ __forceinline__ void wgmma64(float (&d)[32], uint64_t a, uint64_t b, int accumulate) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, "
               "%17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
               "%32, %33, p, 1, 1, 0, %35;\n}\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
                 "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]),
                 "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]),
                 "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
                 "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),
                 "+f"(d[31])
               : "l"(a), "l"(b), "r"(accumulate), "n"(TransB));
}

/// d (+)= A B with A in registers: the 16 x 16 m16n8k16 A fragment of the warp's rows.
template <int TransB>
__device__ __forceinline__ void wgmma64(float (&d)[32], const uint32_t (&a)[4], uint64_t b,
                                        int accumulate) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, "
               "%17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
               "{%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
                 "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]),
                 "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]),
                 "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
                 "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),
                 "+f"(d[31])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(TransB));
}

/// The A fragments of k-step kk (columns [16 kk, 16 kk + 16)) from a 64-column accumulator,
/// rounded to BF16: the accumulator layout is the A operand's (FlashAttention-2's
/// register-resident P).
__device__ __forceinline__ void accumulatorAsA(uint32_t (&a)[4], const float (&d)[32], int kk) {
  a[0] = packBf16(d[8 * kk], d[8 * kk + 1]);
  a[1] = packBf16(d[8 * kk + 2], d[8 * kk + 3]);
  a[2] = packBf16(d[8 * kk + 4], d[8 * kk + 5]);
  a[3] = packBf16(d[8 * kk + 6], d[8 * kk + 7]);
}

// ---------------------------------------------------------------------------------------
// Swizzled tiles and their wgmma descriptors.
// ---------------------------------------------------------------------------------------

/// Byte offset of 16-byte chunk `chunk` (columns [8 chunk, 8 chunk + 8)) of row `row` in a
/// swizzled tile of `rows` rows.
__device__ __forceinline__ uint32_t tileOffset(int rows, int row, int chunk) {
  return uint32_t((chunk >> 3) * rows + row) * kRowBytes + (((chunk ^ row) & 7) << 4);
}

/// `d` with its start address moved by `bytes` (the address field stays under 2^14, so
/// nothing carries into the offsets).
__device__ __forceinline__ uint64_t descriptorPlus(uint64_t d, uint32_t bytes) {
  return d + (bytes >> 4);
}
/// The descriptor of a tile starting at shared address `tile`, read as [m or n][k]
/// (K-major: 8-row groups 1024 bytes apart) or as [k][n] (MN-major: 64-column blocks
/// rows * 128 bytes apart, 8-row groups of k 1024 bytes apart). A step's descriptor is
/// this plus a constant (the start address is the low field and never carries out).
__device__ __forceinline__ uint64_t kMajorTile(uint32_t tile) {
  return descriptor(tile, 16, 8 * kRowBytes);
}
__device__ __forceinline__ uint64_t mnMajorTile(uint32_t tile, int rows) {
  return descriptor(tile, rows * kRowBytes, 8 * kRowBytes);
}
/// Rows [0, 64) by k [k0, k0 + 16) of a K-major tile of `rows` rows: a k step inside the
/// 128-byte row moves the start by 32 bytes.
__device__ __forceinline__ uint64_t kMajorStep(uint64_t tile, int rows, int k0) {
  return descriptorPlus(tile, (k0 / 64) * rows * kRowBytes + (k0 % 64) * 2);
}
/// k [k0, k0 + 16) by columns [n0, n0 + 64) of an MN-major tile of `rows` rows.
__device__ __forceinline__ uint64_t mnMajorStep(uint64_t tile, int rows, int k0, int n0) {
  return descriptorPlus(tile, ((n0 / 64) * rows + k0) * kRowBytes);
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
  // tiles: 64-row tiles of the sequence; blocks: 128-row blocks.
  int seq, heads, tiles, blocks, vDim, firstPair;
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
  /// Stats rows [row, ...) of pair `pair`.
  __device__ __forceinline__ int64_t statsOffset(int pair, int row) const {
    return int64_t(pair) * tiles * kTile + row;
  }
};

/// Whether key `key` is visible from query row `row`.
__device__ __forceinline__ bool visible(const FlashParams &p, int row, int key) {
  return key < p.seq && (!p.causal || key <= row);
}

/// threadIdx.x / 128, broadcast from lane 0 so that the compiler knows it is the same across
/// the warp and can keep descriptors derived from it in uniform registers (in the backward
/// kernels this frees the regular registers that the dK/dV accumulators need; the
/// statistics pass, capped at 128 registers, does better without it).
__device__ __forceinline__ int warpgroupIndex() {
  return __shfl_sync(kFullMask, int(threadIdx.x) / kGroupThreads, 0);
}

/// The dynamic shared memory, its start rounded up to 1024 bytes (the swizzle's period;
/// every layout below reserves the slack).
__device__ __forceinline__ unsigned char *alignedShared(unsigned char *shared) {
  return shared + ((1024 - (sharedAddress(shared) & 1023)) & 1023);
}

/// Rows [row0, row0 + Rows) of pair `pair`'s [S, D] matrix into a swizzled tile at shared
/// address `tile`, by all kThreads threads; rows from `seq` on are zero-filled. Thread t
/// copies chunk t % 8 of rows t / 8 + 32 m in every 64-column block: the row's swizzle
/// (r % 8) is the same for all its copies, so every address is one base plus a constant
/// and few registers stay live across the caller's loop.
template <int D, int Rows>
__device__ __forceinline__ void loadRows(uint32_t tile, const bf16 *x, const FlashParams &p,
                                         int pair, int row0) {
  static_assert(kThreads == 256 && Rows % 32 == 0, "32 rows of 8 chunks per pass");
  int chunk = threadIdx.x % 8, row = threadIdx.x / 8;
  const bf16 *from = x + p.rowOffset(pair, row0 + row, D) + chunk * 8;
  int64_t stride = p.rowStride(D) * 32;
  uint32_t to = tile + tileOffset(Rows, row, chunk);
#pragma unroll
  for (int m = 0; m < Rows / 32; ++m) {
    bool valid = row0 + row + 32 * m < p.seq;
#pragma unroll
    for (int block = 0; block < D / 64; ++block)
      copyAsync16(to + (block * Rows + 32 * m) * kRowBytes,
                  valid ? from + m * stride + block * 64 : x, valid);
  }
}

/// out[i], out[i + 1] = a, b (one 8-byte or 4-byte store; i is even and rows are even).
__device__ __forceinline__ void storePair(const FloatOut &out, int64_t i, float a, float b) {
  if (out.bf16)
    *reinterpret_cast<__nv_bfloat162 *>(static_cast<bf16 *>(out.data) + i) =
        __floats2bfloat162_rn(a, b);
  else
    *reinterpret_cast<float2 *>(static_cast<float *>(out.data) + i) = make_float2(a, b);
}

/// Stores a warpgroup's [64, N] accumulators (`Blocks` of 64 columns) as rows row0 + ...
/// of pair `pair`'s [S, N] matrix, rows past S skipped.
template <int Blocks>
__device__ __forceinline__ void storeRows(const FloatOut &out, const FlashParams &p, int pair,
                                          int row0, const float (&acc)[Blocks][32], float rowScale0,
                                          float rowScale1) {
  int lane = threadIdx.x % 32, warp = threadIdx.x % kGroupThreads / 32;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    int row = row0 + warp * 16 + lane / 4 + r * 8;
    if (row >= p.seq)
      continue;
    float rowScale = r ? rowScale1 : rowScale0;
    int64_t base = p.rowOffset(pair, row, Blocks * 64) + lane % 4 * 2;
#pragma unroll
    for (int nb = 0; nb < Blocks; ++nb)
#pragma unroll
      for (int i = 0; i < 8; ++i)
        storePair(out, base + nb * 64 + i * 8, acc[nb][4 * i + 2 * r] * rowScale,
                  acc[nb][4 * i + 2 * r + 1] * rowScale);
  }
}

// ---------------------------------------------------------------------------------------
// Forward, and the backward's statistics pass (Stats: no P V; writes lse and D).
// Warpgroup g owns queries [64 g, 64 g + 64) of the block; K is loaded two tiles ahead, V
// one. The statistics pass issues S = Q K^T of tile j+1 before the softmax of tile j, so
// the tensor cores run it meanwhile (FlashAttention-3's intra-warpgroup overlap), and reads
// Q from shared memory, which keeps it under 128 registers and two CTAs per SM. The
// forward keeps Q in registers (A fragments) and issues S of tile j+1 after P V of tile j:
// issued before the softmax, the O accumulators would be rescaled while a product is in
// flight, which makes the compiler serialize the wgmma pipeline (measured 4% slower).
// ---------------------------------------------------------------------------------------

template <int DQ, int DV, bool Stats> struct ForwardLayout {
  static constexpr uint32_t keyBytes = kTile * DQ * sizeof(bf16);
  static constexpr uint32_t valueBytes = Stats ? 0 : kTile * DV * sizeof(bf16);
  static constexpr uint32_t queryAt = 0, keyAt = kBlock * DQ * sizeof(bf16); // two buffers
  static constexpr uint32_t valueAt = keyAt + 2 * keyBytes;                  // two buffers
  static constexpr size_t bytes = valueAt + 2 * valueBytes + 1024;
};

/// 4 consecutive elements from i (a multiple of 4) as floats: 8 bytes of BF16 or 16 of
/// FP32.
__device__ __forceinline__ float4 load4(const FloatIn &x, int64_t i) {
  if (x.bf16) {
    uint2 v = *reinterpret_cast<const uint2 *>(static_cast<const uint16_t *>(x.data) + i);
    return make_float4(__uint_as_float(v.x << 16), __uint_as_float(v.x & 0xffff0000u),
                       __uint_as_float(v.y << 16), __uint_as_float(v.y & 0xffff0000u));
  }
  return *reinterpret_cast<const float4 *>(static_cast<const float *>(x.data) + i);
}

/// D_i = rowsum(dO_i * O_i) for the block's rows from row0, warp w taking rows
/// [16 w, 16 w + 16): a lane multiplies 4 adjacent elements per load, DV / 4 lanes to a
/// row, every load of the warp in flight at once; then a shuffle sum over the row's lanes.
template <int DV>
__device__ __forceinline__ void blockRowDots(const FlashParams &p, int pair, int row0) {
  constexpr int lanesPerRow = DV / 4, rowsPerLoad = 32 / lanesPerRow;
  constexpr int loads = 16 / rowsPerLoad;
  int lane = threadIdx.x % 32;
  int firstRow = row0 + threadIdx.x / 32 * 16 + lane / lanesPerRow;
  float dot[loads];
#pragma unroll
  for (int i = 0; i < loads; ++i) {
    int row = firstRow + i * rowsPerLoad;
    dot[i] = 0.0f;
    if (row < p.seq) {
      int64_t at = p.rowOffset(pair, row, DV) + lane % lanesPerRow * 4;
      float4 o = load4(p.result, at), g = load4(p.resultGradStored, at);
      dot[i] = o.x * g.x + o.y * g.y + o.z * g.z + o.w * g.w;
    }
  }
#pragma unroll
  for (int i = 0; i < loads; ++i) {
#pragma unroll
    for (int offset = lanesPerRow / 2; offset > 0; offset /= 2)
      dot[i] += __shfl_xor_sync(kFullMask, dot[i], offset);
    int row = firstRow + i * rowsPerLoad;
    if (lane % lanesPerRow == 0 && row < p.tiles * kTile)
      p.rowDot[p.statsOffset(pair, row)] = dot[i];
  }
}

/// exp2 on the special-function unit (ex2.approx, subnormal results flushed to 0; exp2(-inf)
/// is 0).
__device__ __forceinline__ float exp2Fast(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

template <int DQ, int DV, bool Stats>
__global__ void __launch_bounds__(kThreads, Stats ? 2 : 1) flashForwardKernel(FlashParams p) {
  using L = ForwardLayout<DQ, DV, Stats>;
  // Whether S of tile j+1 is issued before the softmax of tile j (see above).
  constexpr bool Overlap = Stats;
  constexpr int outBlocks = Stats ? 1 : DV / 64;
  extern __shared__ unsigned char sharedBytes[];
  uint32_t shared = sharedAddress(alignedShared(sharedBytes));
  int pair = blockIdx.x, queryBlock = p.blocks - 1 - blockIdx.y;
  int group = threadIdx.x / kGroupThreads, warp = threadIdx.x % kGroupThreads / 32;
  int lane = threadIdx.x % 32;
  int query0 = queryBlock * kBlock + group * kTile; // this warpgroup's first query
  // Both warpgroups visit every key tile of the block: a tile past a warpgroup's causal
  // diagonal is fully masked, which leaves its softmax state and O unchanged (rescale
  // exp2(0) = 1, P = 0), and skipping it would only idle the warpgroup at the next barrier.
  int keyTiles = p.causal ? min(p.tiles, 2 * queryBlock + 2) : p.tiles;
  // The loop below runs two tiles an iteration; an odd count gets one more, fully masked
  // (its keys are past S or past the diagonal).
  int paddedKeyTiles = keyTiles + keyTiles % 2;

  auto keyTileAt = [&](int j) { return shared + L::keyAt + (j & 1) * L::keyBytes; };
  auto valueTileAt = [&](int j) { return shared + L::valueAt + (j & 1) * L::valueBytes; };
  loadRows<DQ, kBlock>(shared + L::queryAt, p.query, p, pair, queryBlock * kBlock);
  loadRows<DQ, kTile>(keyTileAt(0), p.key, p, pair, 0);
  loadRows<DQ, kTile>(keyTileAt(1), p.key, p, pair, kTile);
  if constexpr (!Stats)
    loadRows<DV, kTile>(valueTileAt(0), p.value, p, pair, 0);
  commitAsync();
  if constexpr (Stats)
    blockRowDots<DV>(p, pair, queryBlock * kBlock); // while the first tiles load

  uint32_t queryFrag[DQ / 16][4];
  uint64_t queryD = kMajorTile(shared + L::queryAt + group * kTile * kRowBytes);
  // S = Q K_j^T into `s`, issued and committed, not waited for.
  auto issueScores = [&](float(&s)[32], int j) {
    uint64_t keyD = kMajorTile(keyTileAt(j));
    wgmmaFence();
#pragma unroll
    for (int ks = 0; ks < DQ / 16; ++ks) {
      if constexpr (Stats)
        wgmma64<0>(s, kMajorStep(queryD, kBlock, ks * 16), kMajorStep(keyD, kTile, ks * 16), ks);
      else
        wgmma64<0>(s, queryFrag[ks], kMajorStep(keyD, kTile, ks * 16), ks);
    }
    wgmmaCommit();
  };
  waitAsync<0>();
  fenceProxyAsync();
  __syncthreads();
  if constexpr (!Stats) {
    // ldmatrix x4: lanes [8m, 8m + 8) address matrix m's rows; matrices (rows +0/+8,
    // k +0/+8) in the A fragment's register order.
    int row = group * kTile + warp * 16 + (lane / 8 % 2) * 8 + lane % 8;
#pragma unroll
    for (int ks = 0; ks < DQ / 16; ++ks)
      loadMatrices(queryFrag[ks],
                   shared + L::queryAt + tileOffset(kBlock, row, 2 * ks + lane / 16));
  }
  // S of tile j lands in scores[j % 2]; the loop is unrolled by two so that both arrays
  // keep their registers (a copy between them while a product is in flight would make
  // the compiler serialize the wgmma pipeline).
  float scores[2][32];
  issueScores(scores[0], 0);
  wgmmaWait<0>();
  fenceAccumulators(scores[0]);

  float o[outBlocks][32];
  if constexpr (!Stats) {
#pragma unroll
    for (int nb = 0; nb < outBlocks; ++nb)
#pragma unroll
      for (int i = 0; i < 32; ++i)
        o[nb][i] = 0.0f;
  }
  float rowMax[2] = {-INFINITY, -INFINITY}, rowSum[2] = {0.0f, 0.0f};
  int firstRow = query0 + warp * 16 + lane / 4; // and firstRow + 8

  auto step = [&](int j, float(&s)[32], float(&next)[32]) {
    if constexpr (!Overlap) {
      wgmmaWait<0>(); // S of tile j
      fenceAccumulators(s);
    }
    waitAsync<0>();
    fenceProxyAsync();
    __syncthreads(); // K j+1 and V j landed; every warp is done with K j and V j-1
    if (j + 2 < paddedKeyTiles)
      loadRows<DQ, kTile>(keyTileAt(j + 2), p.key, p, pair, (j + 2) * kTile);
    if (!Stats && j + 1 < paddedKeyTiles)
      loadRows<DV, kTile>(valueTileAt(j + 1), p.value, p, pair, (j + 1) * kTile);
    commitAsync();
    // The last step's product reads a stale key tile and is never used.
    if constexpr (Overlap)
      issueScores(next, j + 1);

      // Scores in log2 units: t = scale * log2(e) * q.k, masked to -inf.
#pragma unroll
    for (int i = 0; i < 32; ++i)
      s[i] *= p.scaleLog2;
    if ((p.causal && j * kTile + kTile - 1 > query0) || (j + 1) * kTile > p.seq) {
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (!visible(p, firstRow + (e / 2) * 8, j * kTile + i * 8 + lane % 4 * 2 + e % 2))
            s[4 * i + e] = -INFINITY;
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tileMax = rowMax[r];
#pragma unroll
      for (int i = 0; i < 8; ++i)
        tileMax = fmaxf(tileMax, fmaxf(s[4 * i + 2 * r], s[4 * i + 2 * r + 1]));
      tileMax = fmaxf(tileMax, __shfl_xor_sync(kFullMask, tileMax, 1));
      tileMax = fmaxf(tileMax, __shfl_xor_sync(kFullMask, tileMax, 2));
      // A row with no visible key yet keeps max -inf; exp2(-inf - 0) = 0 then.
      float base = tileMax == -INFINITY ? 0.0f : tileMax;
      float rescale = exp2Fast(rowMax[r] - base);
      rowMax[r] = tileMax;
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int e = 2 * r; e < 2 * r + 2; ++e) {
          s[4 * i + e] = exp2Fast(s[4 * i + e] - base);
          sum += s[4 * i + e];
        }
      rowSum[r] = rowSum[r] * rescale + sum;
      if constexpr (!Stats) {
#pragma unroll
        for (int nb = 0; nb < outBlocks; ++nb)
#pragma unroll
          for (int i = 0; i < 8; ++i) {
            o[nb][4 * i + 2 * r] *= rescale;
            o[nb][4 * i + 2 * r + 1] *= rescale;
          }
      }
    }

    if constexpr (!Stats) {
      uint64_t valueD = mnMajorTile(valueTileAt(j), kTile);
      uint32_t a[kTile / 16][4];
#pragma unroll
      for (int kk = 0; kk < kTile / 16; ++kk)
        accumulatorAsA(a[kk], s, kk);
#pragma unroll
      for (int nb = 0; nb < outBlocks; ++nb)
        fenceAccumulators(o[nb]);
      wgmmaFence();
#pragma unroll
      for (int kk = 0; kk < kTile / 16; ++kk)
#pragma unroll
        for (int nb = 0; nb < outBlocks; ++nb)
          wgmma64<1>(o[nb], a[kk], mnMajorStep(valueD, kTile, kk * 16, nb * 64), 1);
      wgmmaCommit();
    }
    if constexpr (Overlap) {
      wgmmaWait<0>(); // S of tile j+1
      fenceAccumulators(next);
    } else {
      issueScores(next, j + 1);
      wgmmaWait<1>(); // P V of tile j (S of tile j+1 may run on)
#pragma unroll
      for (int nb = 0; nb < outBlocks; ++nb)
        fenceAccumulators(o[nb]);
    }
  };
  for (int j = 0; j < paddedKeyTiles; j += 2) {
    step(j, scores[0], scores[1]);
    step(j + 1, scores[1], scores[0]);
  }
  wgmmaWait<0>();
#pragma unroll
  for (int nb = 0; nb < outBlocks; ++nb)
    fenceAccumulators(o[nb]);

  float sum[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    sum[r] = rowSum[r];
    sum[r] += __shfl_xor_sync(kFullMask, sum[r], 1);
    sum[r] += __shfl_xor_sync(kFullMask, sum[r], 2);
  }
  if constexpr (Stats) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      int row = firstRow + r * 8;
      if (lane % 4 == 0 && row < p.tiles * kTile)
        p.lse[p.statsOffset(pair, row)] = rowMax[r] + log2f(sum[r]);
    }
  } else {
    storeRows<outBlocks>(p.out, p, pair, query0, o, 1.0f / sum[0], 1.0f / sum[1]);
  }
}

// ---------------------------------------------------------------------------------------
// Backward (2): dK and dV of 128 keys, warpgroup g owning keys [64 g, 64 g + 64) of the
// block as wgmma's M. Per query tile: S^T and dP^T [64 keys, 64 queries] in FP32
// accumulators, P^T and dS'^T formed in place and rounded into A fragments, dV and dK
// accumulated over the query tiles; dS'^T goes through a per-warpgroup shared tile
// (stmatrix) to scratch. Q, dO, lse and D are double-buffered: tile i+1 loads while tile
// i computes.
// ---------------------------------------------------------------------------------------

template <int DQ, int DV> struct KeyValueGradLayout {
  static constexpr uint32_t queryBytes = kTile * DQ * sizeof(bf16);
  static constexpr uint32_t gradBytes = kTile * DV * sizeof(bf16);
  static constexpr uint32_t keyAt = 0, valueAt = keyAt + kBlock * DQ * sizeof(bf16);
  static constexpr uint32_t queryAt = valueAt + kBlock * DV * sizeof(bf16); // two buffers
  static constexpr uint32_t gradAt = queryAt + 2 * queryBytes;              // two buffers
  static constexpr uint32_t stagingAt = gradAt + 2 * gradBytes; // a score tile per group
  // Then lse[2][kTile] and D[2][kTile] in FP32.
  static constexpr uint32_t statsAt = stagingAt + 2 * kScoreTileBytes;
  static constexpr size_t bytes = statsAt + 4 * kTile * sizeof(float) + 1024;
};

template <int DQ, int DV>
__global__ void __launch_bounds__(kThreads, 1) flashKeyValueGradKernel(FlashParams p) {
  using L = KeyValueGradLayout<DQ, DV>;
  extern __shared__ unsigned char sharedBytes[];
  unsigned char *sharedPtr = alignedShared(sharedBytes);
  uint32_t shared = sharedAddress(sharedPtr);
  const float *lseS = reinterpret_cast<const float *>(sharedPtr + L::statsAt);
  int localPair = blockIdx.x, pair = p.firstPair + localPair, keyBlock = blockIdx.y;
  int group = warpgroupIndex(), warp = threadIdx.x % kGroupThreads / 32;
  int lane = threadIdx.x % 32;
  int key0 = keyBlock * kBlock + group * kTile; // this warpgroup's first key
  int firstQueryTile = p.causal ? 2 * keyBlock : 0;

  auto loadQueryTile = [&](int queryTile, int buffer) {
    loadRows<DQ, kTile>(shared + L::queryAt + buffer * L::queryBytes, p.query, p, pair,
                        queryTile * kTile);
    loadRows<DV, kTile>(shared + L::gradAt + buffer * L::gradBytes, p.resultGrad, p, pair,
                        queryTile * kTile);
    if (threadIdx.x < 32) {
      int c = threadIdx.x % 16;
      const float *from =
          (threadIdx.x < 16 ? p.lse : p.rowDot) + p.statsOffset(pair, queryTile * kTile);
      uint32_t to = shared + L::statsAt + ((threadIdx.x < 16 ? 0 : 2) + buffer) * kTile * 4;
      copyAsync16(to + 16 * c, from + 4 * c, true);
    }
  };
  loadRows<DQ, kBlock>(shared + L::keyAt, p.key, p, pair, keyBlock * kBlock);
  loadRows<DV, kBlock>(shared + L::valueAt, p.value, p, pair, keyBlock * kBlock);
  loadQueryTile(firstQueryTile, 0);
  commitAsync();

  float dv[DV / 64][32], dk[DQ / 64][32];
#pragma unroll
  for (int i = 0; i < 32; ++i) {
#pragma unroll
    for (int nb = 0; nb < DV / 64; ++nb)
      dv[nb][i] = 0.0f;
#pragma unroll
    for (int nb = 0; nb < DQ / 64; ++nb)
      dk[nb][i] = 0.0f;
  }
  int keyRow = key0 + warp * 16 + lane / 4; // and keyRow + 8
  uint32_t staging = shared + L::stagingAt + group * kScoreTileBytes;

  for (int queryTile = firstQueryTile; queryTile < p.tiles; ++queryTile) {
    int buffer = (queryTile - firstQueryTile) & 1;
    waitAsync<0>();
    fenceProxyAsync();
    __syncthreads(); // tile i landed; every warp is done with tile i-1's buffers
    if (queryTile + 1 < p.tiles)
      loadQueryTile(queryTile + 1, buffer ^ 1);
    commitAsync();
    int query0 = queryTile * kTile;
    // Keys past S, or causal keys after every query of the tile, contribute nothing (and
    // the dQ pass never reads their dS' tile).
    if (key0 >= p.seq || (p.causal && key0 > query0 + kTile - 1))
      continue;

    uint32_t queryS = shared + L::queryAt + buffer * L::queryBytes;
    uint32_t gradS = shared + L::gradAt + buffer * L::gradBytes;
    const float *lse = lseS + buffer * kTile, *dot = lseS + (2 + buffer) * kTile;
    bool masked =
        (p.causal && key0 + kTile - 1 > query0) || key0 + kTile > p.seq || query0 + kTile > p.seq;
    float s[32], dp[32];
    {
      // This warpgroup's 64 rows of the key and value blocks.
      uint64_t keyD = kMajorTile(shared + L::keyAt + group * kTile * kRowBytes);
      uint64_t valueD = kMajorTile(shared + L::valueAt + group * kTile * kRowBytes);
      uint64_t queryD = kMajorTile(queryS), gradD = kMajorTile(gradS);
      wgmmaFence();
#pragma unroll
      for (int ks = 0; ks < DQ / 16; ++ks)
        wgmma64<0>(s, kMajorStep(keyD, kBlock, ks * 16), kMajorStep(queryD, kTile, ks * 16), ks);
#pragma unroll
      for (int ks = 0; ks < DV / 16; ++ks)
        wgmma64<0>(dp, kMajorStep(valueD, kBlock, ks * 16), kMajorStep(gradD, kTile, ks * 16), ks);
    }
    wgmmaCommit();
    wgmmaWait<0>();
    fenceAccumulators(s);
    fenceAccumulators(dp);

    // P^T = exp2(scale' S^T - lse) (0 where a key is not visible), dS'^T =
    // scale P^T (dP^T - D), in place.
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      int column = i * 8 + lane % 4 * 2;
      float2 rowLse = *reinterpret_cast<const float2 *>(lse + column);
      float2 rowDot = *reinterpret_cast<const float2 *>(dot + column);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int query = query0 + column + e % 2, key = keyRow + (e / 2) * 8;
        bool keep = !masked || (query < p.seq && visible(p, query, key));
        float prob =
            keep ? exp2Fast(s[4 * i + e] * p.scaleLog2 - (e % 2 ? rowLse.y : rowLse.x)) : 0.0f;
        s[4 * i + e] = prob;
        dp[4 * i + e] = prob * (dp[4 * i + e] - (e % 2 ? rowDot.y : rowDot.x)) * p.scale;
      }
    }
    uint32_t probA[kTile / 16][4], dScoreA[kTile / 16][4];
#pragma unroll
    for (int kk = 0; kk < kTile / 16; ++kk) {
      accumulatorAsA(probA[kk], s, kk);
      accumulatorAsA(dScoreA[kk], dp, kk);
    }

    // dV += P^T dO and dK += dS'^T Q: k runs over the tile's queries.
    uint64_t gradD = mnMajorTile(gradS, kTile), queryD = mnMajorTile(queryS, kTile);
    wgmmaFence();
#pragma unroll
    for (int kk = 0; kk < kTile / 16; ++kk) {
#pragma unroll
      for (int nb = 0; nb < DV / 64; ++nb)
        wgmma64<1>(dv[nb], probA[kk], mnMajorStep(gradD, kTile, kk * 16, nb * 64), 1);
#pragma unroll
      for (int nb = 0; nb < DQ / 64; ++nb)
        wgmma64<1>(dk[nb], dScoreA[kk], mnMajorStep(queryD, kTile, kk * 16, nb * 64), 1);
    }
    wgmmaCommit();

    // dS'^T into the staging tile ([key][query], swizzled): the A fragment of k-step kk
    // is the four 8x8 matrices (keys +0/+8, queries 16 kk +0/+8).
#pragma unroll
    for (int kk = 0; kk < kTile / 16; ++kk) {
      int row = warp * 16 + (lane / 8 % 2) * 8 + lane % 8;
      storeMatrices(staging + tileOffset(kTile, row, 2 * kk + lane / 16), dScoreA[kk]);
    }
    groupBarrier(group);
    // Then the tile's bytes to scratch, 16 a thread per step.
    int64_t tileIndex = int64_t(localPair) * p.tilesPerPair + p.scoreTile(queryTile, key0 / kTile);
    auto *scores = reinterpret_cast<uint4 *>(p.dScores + tileIndex * kTile * kTile);
    const auto *stagingPtr =
        reinterpret_cast<const uint4 *>(sharedPtr + L::stagingAt + group * kScoreTileBytes);
#pragma unroll
    for (int i = 0; i < kScoreTileBytes / 16 / kGroupThreads; ++i) {
      int c = threadIdx.x % kGroupThreads + i * kGroupThreads;
      scores[c] = stagingPtr[c];
    }
    wgmmaWait<0>(); // before the next tile's loads overwrite this tile's buffers
#pragma unroll
    for (int nb = 0; nb < DV / 64; ++nb)
      fenceAccumulators(dv[nb]);
#pragma unroll
    for (int nb = 0; nb < DQ / 64; ++nb)
      fenceAccumulators(dk[nb]);
  }

  storeRows<DV / 64>(p.valueGrad, p, pair, key0, dv, 1.0f, 1.0f);
  storeRows<DQ / 64>(p.keyGrad, p, pair, key0, dk, 1.0f, 1.0f);
}

// ---------------------------------------------------------------------------------------
// Backward (3): dQ of 128 queries = sum over key tiles of dS' K, warpgroup g owning query
// tile 2 (block) + g. The key tile (shared by both groups) and each group's dS' tile are
// double-buffered; dS' enters as A fragments (ldmatrix .trans of the [key][query] tile).
// ---------------------------------------------------------------------------------------

template <int DQ> struct QueryGradLayout {
  static constexpr uint32_t keyBytes = kTile * DQ * sizeof(bf16);
  static constexpr uint32_t keyAt = 0;               // two buffers
  static constexpr uint32_t scoresAt = 2 * keyBytes; // [buffer][group] score tiles
  static constexpr size_t bytes = scoresAt + 4 * kScoreTileBytes + 1024;
};

template <int DQ>
__global__ void __launch_bounds__(kThreads, 1) flashQueryGradKernel(FlashParams p) {
  using L = QueryGradLayout<DQ>;
  extern __shared__ unsigned char sharedBytes[];
  uint32_t shared = sharedAddress(alignedShared(sharedBytes));
  int localPair = blockIdx.x, pair = p.firstPair + localPair;
  int queryBlock = p.blocks - 1 - blockIdx.y;
  int group = warpgroupIndex(), warp = threadIdx.x % kGroupThreads / 32;
  int lane = threadIdx.x % 32;
  int keyTiles = p.causal ? min(p.tiles, 2 * queryBlock + 2) : p.tiles;
  const bf16 *pairScores = p.dScores + int64_t(localPair) * p.tilesPerPair * kTile * kTile;
  // Whether group g's query tile takes key tile kt (its dS' tile exists).
  auto takes = [&](int g, int keyTile) {
    int queryTile = 2 * queryBlock + g;
    return queryTile < p.tiles && (!p.causal || keyTile <= queryTile);
  };

  auto loadKeyTile = [&](int keyTile, int buffer) {
    loadRows<DQ, kTile>(shared + L::keyAt + buffer * L::keyBytes, p.key, p, pair, keyTile * kTile);
#pragma unroll
    for (int g = 0; g < 2; ++g) {
      if (!takes(g, keyTile))
        continue;
      const bf16 *from = pairScores + p.scoreTile(2 * queryBlock + g, keyTile) * kTile * kTile;
      uint32_t to = shared + L::scoresAt + (2 * buffer + g) * kScoreTileBytes;
#pragma unroll
      for (int i = 0; i < kScoreTileBytes / 16 / kThreads; ++i) {
        int c = threadIdx.x + i * kThreads;
        copyAsync16(to + 16 * c, from + 8 * c, true);
      }
    }
  };
  loadKeyTile(0, 0);
  commitAsync();

  float dq[DQ / 64][32];
#pragma unroll
  for (int nb = 0; nb < DQ / 64; ++nb)
#pragma unroll
    for (int i = 0; i < 32; ++i)
      dq[nb][i] = 0.0f;
  for (int keyTile = 0; keyTile < keyTiles; ++keyTile) {
    int buffer = keyTile & 1;
    waitAsync<0>();
    fenceProxyAsync();
    __syncthreads();
    if (keyTile + 1 < keyTiles)
      loadKeyTile(keyTile + 1, buffer ^ 1);
    commitAsync();
    if (!takes(group, keyTile))
      continue;

    // A = dS' [queries, keys] from the [key][query] tile: matrices (queries +0/+8 of the
    // warp's 16, keys 16 kk +0/+8), read transposed.
    uint32_t scoreS = shared + L::scoresAt + (2 * buffer + group) * kScoreTileBytes;
    uint32_t a[kTile / 16][4];
#pragma unroll
    for (int kk = 0; kk < kTile / 16; ++kk) {
      int keyRow = kk * 16 + (lane / 16) * 8 + lane % 8;
      loadMatricesTransposed(a[kk], scoreS + tileOffset(kTile, keyRow, 2 * warp + lane / 8 % 2));
    }
    uint64_t keyD = mnMajorTile(shared + L::keyAt + buffer * L::keyBytes, kTile);
    wgmmaFence();
#pragma unroll
    for (int kk = 0; kk < kTile / 16; ++kk)
#pragma unroll
      for (int nb = 0; nb < DQ / 64; ++nb)
        wgmma64<1>(dq[nb], a[kk], mnMajorStep(keyD, kTile, kk * 16, nb * 64), 1);
    wgmmaCommit();
    wgmmaWait<0>();
#pragma unroll
    for (int nb = 0; nb < DQ / 64; ++nb)
      fenceAccumulators(dq[nb]);
  }
  if (2 * queryBlock + group < p.tiles)
    storeRows<DQ / 64>(p.queryGrad, p, pair, (2 * queryBlock + group) * kTile, dq, 1.0f, 1.0f);
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
  return {DQ,
          DV,
          flashForwardKernel<DQ, DV, false>,
          flashForwardKernel<DQ, DV, true>,
          flashKeyValueGradKernel<DQ, DV>,
          flashQueryGradKernel<DQ>,
          ForwardLayout<DQ, DV, false>::bytes,
          ForwardLayout<DQ, DV, true>::bytes,
          KeyValueGradLayout<DQ, DV>::bytes,
          QueryGradLayout<DQ>::bytes};
}

const Variant *variantFor(int64_t qkDim, int64_t vDim) {
  static const Variant variants[] = {variant<64, 64>(),   variant<64, 128>(), variant<128, 64>(),
                                     variant<128, 128>(), variant<192, 64>(), variant<192, 128>()};
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
  DS_RETURN_IF_ERROR(
      cudaCheck(cudaFuncSetAttribute(reinterpret_cast<const void *>(fn),
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, int(sharedBytes)),
                kernel, name));
  done.insert({device, fn});
  return Status::ok();
}

Status launch(const char *kernel, const char *name, KernelPointer fn, dim3 grid, size_t sharedBytes,
              const FlashParams &params, cudaStream_t stream) {
  DS_RETURN_IF_ERROR(allowSharedBytes(kernel, name, fn, sharedBytes));
  FlashParams copy = params;
  void *args[] = {&copy};
  return cudaCheck(cudaLaunchKernel(reinterpret_cast<const void *>(fn), grid, dim3(kThreads), args,
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
  p.blocks = int(ceilDiv(s.seq, kBlock));
  p.vDim = int(s.vDim);
  p.scale = s.scale;
  p.scaleLog2 = s.scale * kLog2e;
  p.causal = s.causal;
  return p;
}

} // namespace

bool flashAttentionTakes(const FlashShape &shape, const KernelCall &call) {
  if (!variantFor(shape.qkDim, shape.vDim) || shape.seq < 1 || ceilDiv(shape.seq, kTile) > 65535 ||
      shape.batch * shape.heads > (int64_t(1) << 30) ||
      shape.batch * shape.seq * shape.heads > (int64_t(1) << 31))
    return false;
  // BF16 operands load with cp.async, the result and its gradient with 16-byte loads.
  for (const std::vector<TensorView> *list : {&call.inputs, &call.outputs})
    for (const TensorView &t : *list)
      if (reinterpret_cast<uintptr_t>(t.data) % 16 != 0)
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
  dim3 grid(unsigned(shape.batch * shape.heads), unsigned(p.blocks));
  return launch(kernel, "flashForwardKernel", v.forward, grid, v.forwardBytes, p, stream);
}

Status flashAttentionGrad(const char *kernel, const FlashShape &shape, const KernelCall &call,
                          cudaStream_t stream) {
  const Variant &v = *variantFor(shape.qkDim, shape.vDim);
  FlashParams p = paramsFor(shape);
  int64_t pairs = shape.batch * shape.heads;
  p.tilesPerPair = shape.causal ? int64_t(p.tiles) * (p.tiles + 1) / 2 : int64_t(p.tiles) * p.tiles;
  int64_t pairScoreBytes = p.tilesPerPair * kScoreTileBytes;
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
                            dim3(unsigned(pairs), unsigned(p.blocks)), v.statsBytes, p, stream));
  for (int64_t first = 0; first < pairs; first += groupPairs) {
    p.firstPair = int(first);
    dim3 grid(unsigned(std::min(groupPairs, pairs - first)), unsigned(p.blocks));
    DS_RETURN_IF_ERROR(launch(kernel, "flashKeyValueGradKernel", v.keyValueGrad, grid,
                              v.keyValueGradBytes, p, stream));
    DS_RETURN_IF_ERROR(
        launch(kernel, "flashQueryGradKernel", v.queryGrad, grid, v.queryGradBytes, p, stream));
  }
  return Status::ok();
}

} // namespace ds::rt::cuda
