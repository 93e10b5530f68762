//===- GroupedGemm.cu - one-launch grouped GEMM over expert row groups ----===//
//
// See GroupedGemm.h for what is computed. How:
//
// Tiles. A CTA of 8 warps computes a 128 x 128 tile of one expert's output, stepping
// through the reduction 32 at a time; each warp owns 64 x 32 of it and issues BF16
// mma.sync m16n8k16 (FP32 accumulators) on fragments read from shared memory with
// ldmatrix. Global tiles are read 8 elements per thread at a time into registers while the
// tensor cores work on the previous tile, rounded to BF16 (nearest even) and written to the
// other of two shared-memory stages: one barrier per 32-deep step.
//
// Operand layouts. Every product here is C[m, n] = sum_k A(m, k) B(n, k), with each
// operand either K-major (A(m, k) at a[m·ld + k]: activations in forward, the weight in
// forward) or MN-major (A(m, k) at a[k·ld + m]: the weight in dgrad, both operands of
// wgrad, whose reduction runs over token rows). K-major tiles sit in shared memory as
// [128][32 + 8] and MN-major ones as [32][128 + 8]; the 8 elements of padding put the eight
// rows an ldmatrix reads in distinct banks, and MN-major fragments come out of
// ldmatrix.trans already in mma's layout. Reading 8 elements at a time is why the
// contiguous widths must be multiples of 8 (groupedGemmFits).
//
// Scheduling. Forward and dgrad: grid.x walks the output columns, grid.y the row tiles of
// all experts back to back (expert e owns ceil(count_e / 128) of them). The grid is sized
// for the worst case, ceil(rows / 128) + E tiles; warp 0 of each CTA scans the counts
// (E / 32 shuffle scans) to find its expert and rows, and CTAs past the last tile exit.
// Wgrad: one CTA per (128 x 128 tile of dW[e], e), reducing over the expert's rows.
//
// Roofline (v3-mini MoE layer: 49,152 routed rows, 64 experts, Nout 1024 (gate|up) or
// 1024 (down's K), K 1024 or 512): the three products of one layer are 463 GFLOP, 0.47 ms
// at the H100's 989 TFLOP/s; operands move ~0.5 GB (F32 in, F32 out), 0.15 ms at 3.35
// TB/s, so the products are compute-bound and the floor is the tensor cores. mma.sync (not
// Hopper's wgmma) caps this design near two thirds of that rate: with BF16 operands the
// launch functions below hand the work to GroupedGemmWgmma.cu (wgmma fed by the tensor
// copy engine) and keep these kernels for F32 operands and what that path does not take.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/GroupedGemm.h"

#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaSupport.h"
#include "runtime/kernels/cuda/GroupedGemmWgmma.h"

#include <cuda_bf16.h>

namespace ds::rt::cuda {
namespace {

constexpr int kTileM = 128, kTileN = 128, kTileK = 32;
constexpr int kThreads = 256; // 8 warps: 2 along M x 4 along N, 64 x 32 outputs each
constexpr int kWarpM = 64, kWarpN = 32;
constexpr int kChunk = 8;     // elements per thread per global read
constexpr int kPad = 8;
constexpr int kKMajorStride = kTileK + kPad;  // [128][40]
constexpr int kMnMajorStride = kTileM + kPad; // [32][136] (kTileM == kTileN)
constexpr int kStageElements =
    kTileM * kKMajorStride > kTileK * kMnMajorStride ? kTileM * kKMajorStride
                                                     : kTileK * kMnMajorStride;
constexpr int kChunksPerThread = kTileM * kTileK / kChunk / kThreads; // 2
static_assert(kTileM == kTileN, "one shared layout serves both operands");
static_assert(kChunksPerThread * kChunk * kThreads == kTileM * kTileK, "whole chunks");

using bf16 = __nv_bfloat16;

/// One 8-element chunk of an operand, as read from global memory.
template <typename T> struct Chunk;
template <> struct Chunk<float> {
  float4 lo, hi;
  __device__ __forceinline__ void load(const float *p, bool valid) {
    lo = valid ? __ldg(reinterpret_cast<const float4 *>(p)) : make_float4(0, 0, 0, 0);
    hi = valid ? __ldg(reinterpret_cast<const float4 *>(p) + 1) : make_float4(0, 0, 0, 0);
  }
  __device__ __forceinline__ uint4 toBf16() const {
    return make_uint4(pack(lo.x, lo.y), pack(lo.z, lo.w), pack(hi.x, hi.y), pack(hi.z, hi.w));
  }
  static __device__ __forceinline__ uint32_t pack(float low, float high) {
    __nv_bfloat162 two = __floats2bfloat162_rn(low, high); // .x (low address) = low
    return *reinterpret_cast<uint32_t *>(&two);
  }
};
template <> struct Chunk<bf16> {
  uint4 bits;
  __device__ __forceinline__ void load(const bf16 *p, bool valid) {
    bits = valid ? __ldg(reinterpret_cast<const uint4 *>(p)) : make_uint4(0, 0, 0, 0);
  }
  __device__ __forceinline__ uint4 toBf16() const { return bits; }
};

/// An operand as seen by one CTA: A(mn, k) at data[mn·ld + k] (K-major) or data[k·ld + mn]
/// (MN-major), valid for mn < mnExtent and k < kExtent (zero beyond).
template <typename T, bool KMajor> struct Operand {
  const T *data;
  int64_t ld;
  int64_t mnExtent;
  int64_t kExtent;
  int64_t mn0; // first mn of the CTA's tile

  /// The chunk `c` (of the tile's 512) at reduction offset k0: its shared-memory element
  /// offset and its global address, or null past the operand's extent.
  __device__ __forceinline__ const T *address(int c, int64_t k0, int &smemOffset) const {
    int64_t mn, k;
    if (KMajor) {
      int row = c / (kTileK / kChunk), col = (c % (kTileK / kChunk)) * kChunk;
      smemOffset = row * kKMajorStride + col;
      mn = mn0 + row;
      k = k0 + col;
    } else {
      int row = c / (kTileM / kChunk), col = (c % (kTileM / kChunk)) * kChunk;
      smemOffset = row * kMnMajorStride + col;
      mn = mn0 + col;
      k = k0 + row;
    }
    if (mn >= mnExtent || k >= kExtent)
      return nullptr;
    return KMajor ? data + mn * ld + k : data + k * ld + mn;
  }
};

template <typename T, bool KMajor> struct TileStager {
  Chunk<T> chunks[kChunksPerThread];

  __device__ __forceinline__ void load(const Operand<T, KMajor> &op, int64_t k0) {
    for (int i = 0; i < kChunksPerThread; ++i) {
      int offset;
      const T *p = op.address(threadIdx.x + i * kThreads, k0, offset);
      chunks[i].load(p ? p : op.data, p != nullptr);
    }
  }
  __device__ __forceinline__ void store(const Operand<T, KMajor> &op, bf16 *stage) const {
    for (int i = 0; i < kChunksPerThread; ++i) {
      int offset;
      op.address(threadIdx.x + i * kThreads, 0, offset);
      *reinterpret_cast<uint4 *>(stage + offset) = chunks[i].toBf16();
    }
  }
};

__device__ __forceinline__ uint32_t sharedAddress(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

template <bool Transpose>
__device__ __forceinline__ void ldmatrix4(uint32_t (&r)[4], const bf16 *p) {
  if (Transpose)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(sharedAddress(p)));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(sharedAddress(p)));
}

__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4],
                                         uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
               "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

using Accumulators = float[4][4][4]; // [m16 block][n8 block][fragment]

/// The warp's 64 x 32 share of one 32-deep step, from the two operands' shared tiles.
/// Fragment layouts are mma.sync's (PTX ISA, "mma.m16n8k16"); lane l addresses row l % 8
/// of matrix l / 8 of each ldmatrix.x4.
template <bool AKMajor, bool BKMajor>
__device__ __forceinline__ void multiplyStage(const bf16 *sA, const bf16 *sB, Accumulators &acc,
                                              int warpM, int warpN, int lane) {
  int matrix = lane / 8, row = lane % 8;
#pragma unroll
  for (int kk = 0; kk < kTileK; kk += 16) {
    uint32_t a[4][4], b[4][2];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      int m0 = warpM * kWarpM + i * 16;
      // a0..a3 = (m 0-7, k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15, k 8-15)
      if (AKMajor)
        ldmatrix4<false>(a[i], sA + (m0 + (matrix % 2) * 8 + row) * kKMajorStride + kk +
                                   (matrix / 2) * 8);
      else
        ldmatrix4<true>(a[i], sA + (kk + (matrix / 2) * 8 + row) * kMnMajorStride + m0 +
                                  (matrix % 2) * 8);
    }
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      int n0 = warpN * kWarpN + p * 16;
      // (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15): b0, b1 of two
      // n8 blocks.
      uint32_t t[4];
      if (BKMajor)
        ldmatrix4<false>(t, sB + (n0 + (matrix / 2) * 8 + row) * kKMajorStride + kk +
                                (matrix % 2) * 8);
      else
        ldmatrix4<true>(t, sB + (kk + (matrix % 2) * 8 + row) * kMnMajorStride + n0 +
                               (matrix / 2) * 8);
      b[2 * p][0] = t[0];
      b[2 * p][1] = t[1];
      b[2 * p + 1][0] = t[2];
      b[2 * p + 1][1] = t[3];
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
        mma16816(acc[i][j], a[i], b[j][0], b[j][1]);
  }
}

/// acc = sum over k < kExtent of A(tile rows, k) B(tile columns, k), double-buffered.
template <typename TA, bool AKMajor, typename TB, bool BKMajor>
__device__ __forceinline__ void tileProduct(const Operand<TA, AKMajor> &a,
                                            const Operand<TB, BKMajor> &b, int64_t kExtent,
                                            Accumulators &acc) {
  __shared__ __align__(16) bf16 stages[2][2][kStageElements];
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int warpM = warp / (kTileN / kWarpN), warpN = warp % (kTileN / kWarpN);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      for (int f = 0; f < 4; ++f)
        acc[i][j][f] = 0.0f;
  int64_t steps = (kExtent + kTileK - 1) / kTileK;
  if (steps == 0)
    return;
  TileStager<TA, AKMajor> stageA;
  TileStager<TB, BKMajor> stageB;
  stageA.load(a, 0);
  stageB.load(b, 0);
  stageA.store(a, stages[0][0]);
  stageB.store(b, stages[0][1]);
  __syncthreads();
  for (int64_t s = 0; s < steps; ++s) {
    int current = int(s & 1);
    bool more = s + 1 < steps;
    if (more) {
      stageA.load(a, (s + 1) * kTileK);
      stageB.load(b, (s + 1) * kTileK);
    }
    multiplyStage<AKMajor, BKMajor>(stages[current][0], stages[current][1], acc, warpM, warpN,
                                    lane);
    if (more) {
      stageA.store(a, stages[current ^ 1][0]);
      stageB.store(b, stages[current ^ 1][1]);
    }
    __syncthreads();
  }
}

/// Writes the CTA's tile: rows [0, rowsValid) of the tile to out rows rowBase + ...,
/// columns col0 + ... below colExtent. `nan` writes NaN instead (bad counts).
__device__ __forceinline__ void storeTile(const Accumulators &acc, FloatOut out, int64_t ld,
                                         int64_t rowBase, int64_t rowsValid, int64_t col0,
                                         int64_t colExtent, bool nan) {
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int warpM = warp / (kTileN / kWarpN), warpN = warp % (kTileN / kWarpN);
  int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        int64_t m = warpM * kWarpM + i * 16 + g + h * 8;
        int64_t n = col0 + warpN * kWarpN + j * 8 + 2 * t; // even; colExtent % 8 == 0
        if (m >= rowsValid || n >= colExtent)
          continue;
        float x = nan ? NAN : acc[i][j][2 * h], y = nan ? NAN : acc[i][j][2 * h + 1];
        int64_t at = (rowBase + m) * ld + n;
        if (out.bf16)
          *reinterpret_cast<__nv_bfloat162 *>(static_cast<bf16 *>(out.data) + at) =
              __floats2bfloat162_rn(x, y);
        else
          *reinterpret_cast<float2 *>(static_cast<float *>(out.data) + at) = make_float2(x, y);
      }
}

/// What warp 0 learns from the counts for one CTA.
struct ExpertSlot {
  int expert;       // -1: no tile for this CTA
  int tile;         // row tile within the expert (forward / dgrad)
  int64_t rowStart; // the expert's first row
  int64_t rowCount;
  bool bad; // a negative count, or counts not summing to the rows
};

/// Scans the counts (warp 0 only) for either the `targetTile`-th row tile of all experts
/// (targetTile >= 0) or expert `targetExpert`.
__device__ ExpertSlot scanCounts(const int32_t *counts, int experts, int64_t rows,
                                 int64_t targetTile, int targetExpert) {
  int lane = threadIdx.x % 32;
  int64_t tilesBefore = 0, rowsBefore = 0;
  bool bad = false, found = false;
  ExpertSlot mine{-1, 0, 0, 0, false};
  for (int base = 0; base < experts; base += 32) {
    int e = base + lane;
    int count = e < experts ? counts[e] : 0;
    bad |= count < 0;
    count = max(count, 0);
    int64_t tiles = (count + kTileM - 1) / kTileM, tileSum = tiles, rowSum = count;
    warpInclusiveScan(tileSum, rowSum, lane);
    int64_t tileStart = tilesBefore + tileSum - tiles, rowStart = rowsBefore + rowSum - count;
    bool hit = e < experts && (targetTile >= 0 ? targetTile >= tileStart &&
                                                     targetTile < tileStart + tiles
                                               : e == targetExpert);
    if (hit) {
      found = true;
      mine = ExpertSlot{e, int(targetTile - tileStart), rowStart, count, false};
    }
    tilesBefore += __shfl_sync(kFullMask, tileSum, 31);
    rowsBefore += __shfl_sync(kFullMask, rowSum, 31);
  }
  bad = __any_sync(kFullMask, bad) || rowsBefore != rows;
  unsigned holders = __ballot_sync(kFullMask, found);
  int holder = holders ? __ffs(holders) - 1 : 0;
  ExpertSlot slot;
  slot.expert = holders ? __shfl_sync(kFullMask, mine.expert, holder) : -1;
  slot.tile = __shfl_sync(kFullMask, mine.tile, holder);
  slot.rowStart = __shfl_sync(kFullMask, mine.rowStart, holder);
  slot.rowCount = __shfl_sync(kFullMask, mine.rowCount, holder);
  slot.bad = bad;
  return slot;
}

struct RowsArgs {
  const void *in;       // [rows, kExtent]
  const void *weight;   // [E, Nout, K]
  const int32_t *counts;
  FloatOut out;         // [rows, outCols]
  int experts;
  int64_t rows, kExtent, outCols, weightK, weightStride;
};

/// Forward (BKMajor: B(n, k) = W[e][n][k]) and dgrad (B(n, k) = W[e][k][n]).
template <typename TA, typename TB, bool BKMajor>
__global__ void __launch_bounds__(kThreads, 2) expertRowsKernel(RowsArgs args) {
  __shared__ ExpertSlot slot;
  if (threadIdx.x < 32) {
    ExpertSlot s = scanCounts(args.counts, args.experts, args.rows, blockIdx.y, -1);
    if (threadIdx.x == 0)
      slot = s;
  }
  __syncthreads();
  int64_t col0 = int64_t(blockIdx.x) * kTileN;
  Accumulators acc;
  if (slot.bad) {
    int64_t row0 = int64_t(blockIdx.y) * kTileM;
    if (row0 < args.rows)
      storeTile(acc, args.out, args.outCols, row0, min(int64_t(kTileM), args.rows - row0), col0,
                args.outCols, true);
    return;
  }
  if (slot.expert < 0)
    return;
  int64_t row0 = slot.rowStart + int64_t(slot.tile) * kTileM;
  int64_t rowsValid = min(int64_t(kTileM), slot.rowCount - int64_t(slot.tile) * kTileM);
  Operand<TA, true> a{static_cast<const TA *>(args.in) + row0 * args.kExtent, args.kExtent,
                      rowsValid, args.kExtent, 0};
  Operand<TB, BKMajor> b{static_cast<const TB *>(args.weight) + slot.expert * args.weightStride,
                         args.weightK, args.outCols, args.kExtent, col0};
  tileProduct(a, b, args.kExtent, acc);
  storeTile(acc, args.out, args.outCols, row0, rowsValid, col0, args.outCols, false);
}

struct WgradArgs {
  const void *dy; // [rows, nOut]
  const void *x;  // [rows, k]
  const int32_t *counts;
  FloatOut dw; // [E, nOut, k]
  int experts;
  int64_t rows, nOut, k;
};

template <typename TA, typename TB>
__global__ void __launch_bounds__(kThreads, 2) expertWeightGradKernel(WgradArgs args) {
  __shared__ ExpertSlot slot;
  if (threadIdx.x < 32) {
    ExpertSlot s = scanCounts(args.counts, args.experts, args.rows, -1, blockIdx.z);
    if (threadIdx.x == 0)
      slot = s;
  }
  __syncthreads();
  int64_t row0 = int64_t(blockIdx.y) * kTileM, col0 = int64_t(blockIdx.x) * kTileN;
  int64_t rowsValid = min(int64_t(kTileM), args.nOut - row0);
  int64_t dwBase = int64_t(blockIdx.z) * args.nOut; // rows of dw viewed as [E·nOut, k]
  Accumulators acc;
  if (!slot.bad) {
    Operand<TA, false> a{static_cast<const TA *>(args.dy) + slot.rowStart * args.nOut,
                         args.nOut, args.nOut, slot.rowCount, row0};
    Operand<TB, false> b{static_cast<const TB *>(args.x) + slot.rowStart * args.k, args.k,
                         args.k, slot.rowCount, col0};
    tileProduct(a, b, slot.rowCount, acc); // zero for an expert without rows
  }
  storeTile(acc, args.dw, args.k, dwBase + row0, rowsValid, col0, args.k, slot.bad);
}

bool aligned16(const TensorView &t) { return reinterpret_cast<uintptr_t>(t.data) % 16 == 0; }

/// Calls fn with the C++ types of two float tensors' storage.
template <typename Fn> void withTypes(DType a, DType b, Fn &&fn) {
  bool aBf16 = a == DType::BF16, bBf16 = b == DType::BF16;
  if (aBf16 && bBf16)
    fn(bf16{}, bf16{});
  else if (aBf16)
    fn(bf16{}, float{});
  else if (bBf16)
    fn(float{}, bf16{});
  else
    fn(float{}, float{});
}

} // namespace

bool groupedGemmFits(const TensorView &weight, const TensorView &a, const TensorView &b,
                     const TensorView &out) {
  if (weight.rank() != 3 || weight.dim(1) % kChunk != 0 || weight.dim(2) % kChunk != 0)
    return false;
  for (const TensorView *t : {&weight, &a, &b, &out})
    if (!aligned16(*t))
      return false;
  int64_t experts = weight.dim(0), rows = a.dim(0);
  // grid.y of the row kernels and grid.z of wgrad.
  return experts <= 65535 && ceilDiv(rows, kTileM) + experts <= 65535;
}

Status groupedRowsTimesWeightBf16(const char *kernel, cudaStream_t stream,
                                  const TensorView &in, const TensorView &weight,
                                  const TensorView &counts, const TensorView &out,
                                  bool transposeWeight) {
  int64_t experts = weight.dim(0), nOut = weight.dim(1), k = weight.dim(2);
  RowsArgs args{in.data,
                weight.data,
                counts.as<const int32_t>(),
                floatOut(out),
                int(experts),
                in.dim(0),
                transposeWeight ? k : nOut,
                transposeWeight ? nOut : k,
                k,
                nOut * k};
  if (args.rows == 0 || args.outCols == 0)
    return Status::ok();
  bool taken = false;
  Status hopper =
      wgmmaRowsTimesWeight(kernel, stream, in, weight, counts, out, transposeWeight, taken);
  if (taken)
    return hopper;
  dim3 grid(unsigned(ceilDiv(args.outCols, kTileN)),
            unsigned(ceilDiv(args.rows, kTileM) + experts));
  withTypes(in.dtype, weight.dtype, [&](auto aType, auto bType) {
    using TA = decltype(aType);
    using TB = decltype(bType);
    if (transposeWeight)
      expertRowsKernel<TA, TB, true><<<grid, kThreads, 0, stream>>>(args);
    else
      expertRowsKernel<TA, TB, false><<<grid, kThreads, 0, stream>>>(args);
  });
  return launchCheck(kernel, "expertRowsKernel");
}

Status groupedWeightGradBf16(const char *kernel, cudaStream_t stream, const TensorView &dy,
                             const TensorView &x, const TensorView &counts,
                             const TensorView &dw) {
  int64_t experts = dw.dim(0), nOut = dw.dim(1), k = dw.dim(2);
  if (experts * nOut * k == 0)
    return Status::ok();
  bool taken = false;
  Status hopper = wgmmaWeightGrad(kernel, stream, dy, x, counts, dw, taken);
  if (taken)
    return hopper;
  WgradArgs args{dy.data, x.data, counts.as<const int32_t>(), floatOut(dw), int(experts),
                 dy.dim(0), nOut, k};
  dim3 grid(unsigned(ceilDiv(k, kTileN)), unsigned(ceilDiv(nOut, kTileM)), unsigned(experts));
  withTypes(dy.dtype, x.dtype, [&](auto aType, auto bType) {
    expertWeightGradKernel<decltype(aType), decltype(bType)>
        <<<grid, kThreads, 0, stream>>>(args);
  });
  return launchCheck(kernel, "expertWeightGradKernel");
}

} // namespace ds::rt::cuda
