//===- GroupedGemmWgmma.cu - Hopper path of the grouped GEMM --------------===//
//
// See GroupedGemmWgmma.h for when this runs. How:
//
// Tiles. A CTA computes 128 x 256 tiles of the output, 64 deep per pipeline step. Two
// consumer warpgroups own 64 rows each and issue wgmma.m64n256k16 (BF16 in, FP32
// accumulators: 128 registers a thread) straight from shared memory; one thread of a
// ninth, producer warp issues the tensor copies (cp.async.bulk.tensor) that fill a 3-stage
// ring, each stage a "full" mbarrier (the copy engine's byte count) and an "empty" one
// (each consumer warp arrives once its wgmma reading the stage has retired). 288 threads
// leave the compiler 224 registers a thread; a whole producer warpgroup would cap them at
// 168 (setmaxnreg moves registers at run time, not the compiler's budget), and the
// epilogue then spilled. The grid is persistent, one CTA per SM, so the producer fills
// the next tile's stages while the consumers store the last one, and the copy engine
// writes a tile's results (staged in shared memory) while the next tile is multiplied.
//
// Layouts. Every operand tile is held as 128-byte rows swizzled the way wgmma reads them
// (the copy engine's SWIZZLE_128B): a K-major operand (activations in forward and dgrad,
// the weight in forward) as one box of [MN][64 K]; an MN-major one (the weight in dgrad,
// both operands of wgrad, whose reduction runs over token rows) as boxes of [64 K][64 MN],
// which wgmma reads transposed (its imm-trans flag). Descriptors (PTX ISA, "Matrix
// Descriptor Format"): K-major rows are 128 B apart with 8-row groups 1024 B apart (the
// stride offset), and the next 16 of K is 32 B further; MN-major 8-row K groups are also
// 1024 B apart, 64-wide MN blocks are 8 KB apart (the leading offset), and the next 16 of
// K is 2 KB further.
//
// Ragged rows. The copy engine zero-fills whatever lies past a tensor's edge, which covers
// every partial tile of the weight and the last rows of the activations. Forward and
// dgrad may read rows of the next expert into a tile's unused rows: they only reach
// output rows that are not stored. wgrad reduces over the rows, so the consumers zero the
// rows past the expert's end in the last step's stage before multiplying it.
//
// Schedule. Every CTA scans the counts once into shared memory (each expert's first row
// and first row tile); tile t of a forward/dgrad launch is row tile t / colTiles of all
// experts back to back (a binary search finds its expert), column tile t % colTiles; of a
// wgrad launch, tile (m, n) of dW[t / tilesPerExpert]. Bad counts: NaN everywhere the
// launch would write, as the mma.sync kernels do.
//
// Two numbers (one product of the anchor shape, 64 experts x 768 rows, 1024 x 1024, BF16
// results): 103 GFLOP, 104 us at the H100's 989 TFLOP/s; 334 MB moved at least (inputs
// 100 + 134 MB, result 100 MB), 100 us at 3.35 TB/s: the products sit at the ridge, so
// the result writes must overlap the multiplies. Measured on an H100 (DS_GPU_BENCH=1
// DsGpuTests --gtest_filter='CudaGroupedGemmThroughput.*'), TFLOP/s forward / dgrad /
// wgrad: BF16 results 613 / 622 / 589, F32 results 523 / 519 / 466 (the mma.sync kernels:
// 220-231). Writing results straight from registers (4 stages, no staging) ran 463 / 460
// / 403 with BF16 results, whose 4-byte stores half-filled each 32-byte sector; trading
// pairs between lanes to write whole sectors brought it to 609 / 608 / 571, and the
// staged copy-engine writes (at the price of the 4th stage) add a little more, most for
// F32 results with a short reduction (v3-mini down forward 323 -> 382).
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/GroupedGemmWgmma.h"

#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaSupport.h"
#include "runtime/kernels/cuda/HopperAsync.cuh"

#include <cuda.h>
#include <cudaTypedefs.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <mutex>
#include <set>

namespace ds::rt::cuda {
namespace {

constexpr int kBlockM = 128, kBlockN = 256, kBlockK = 64;
constexpr int kStages = 3;
constexpr int kConsumers = 2;                          // warpgroups of 64 output rows each
constexpr int kThreads = 128 * kConsumers + 32;        // consumer warpgroups, producer warp
constexpr int kSwizzleWidth = 64;                      // BF16 elements in a 128-byte row
constexpr int kBoxBytes = kSwizzleWidth * kBlockK * 2; // one [64][64] box: 8 KB
constexpr int kABytes = kBlockM * kBlockK * 2;         // 16 KB
constexpr int kBBytes = kBlockN * kBlockK * 2;         // 32 KB
constexpr int kStageBytes = kABytes + kBBytes;
constexpr int kConsumerWarps = kConsumers * 4; // arrivals that empty a stage
// The epilogue stages each consumer's 64 x 256 results in four [64][128 B] boxes, F32 in
// two passes of 128 columns, BF16 in one of 256.
constexpr int kStagingBoxes = 4;
constexpr int kStagingBytes = kConsumers * kStagingBoxes * kBoxBytes; // 64 KB
static_assert(kBlockM == 64 * kConsumers, "each consumer warpgroup owns 64 rows");
static_assert(kABytes == kConsumers * kBoxBytes, "a consumer's A rows are one 8 KB box");

/// Bytes of dynamic shared memory: 1 KB of slack to align the stages to the swizzle's
/// 1024-byte period, the stages, the output staging, the barriers and flag, the two
/// per-expert prefix tables.
size_t sharedBytes(int experts) {
  return 1024 + size_t(kStages) * kStageBytes + kStagingBytes + 2 * kStages * sizeof(uint64_t) +
         16 + 2 * size_t(experts + 1) * sizeof(int32_t);
}

struct WgmmaArgs {
  const int32_t *counts;
  FloatOut out;
  int experts;
  int rows;              // token rows of all experts
  int outCols;           // the output's row stride
  int reduction;         // forward/dgrad: the reduction width
  int colTiles;          // column tiles of the output
  int weightRows;        // wgrad: rows of dW[e] (Nout)
  int rowTilesPerExpert; // wgrad: ceil(Nout / kBlockM)
  int64_t outElements;   // elements the launch writes (NaN on bad counts)
};

/// One output tile and the pipeline steps that produce it.
struct TileWork {
  int expert;
  int tokenRow0; // forward/dgrad: the tile's first token row; wgrad: the expert's
  int tokenRows; // wgrad: the expert's rows (the reduction)
  int m0;        // wgrad: the tile's first row of dW[e]
  int col0;
  int rowsValid; // output rows of the tile that exist
  int kSteps;
  int64_t outRow0; // first output row, in the [*, outCols] view of the output
};

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)

using namespace hopper;

/// The tile `t` of the launch, from the per-expert prefix tables.
template <bool Wgrad>
__device__ __forceinline__ TileWork decodeTile(int t, const WgmmaArgs &args,
                                               const int32_t *tileStart, const int32_t *rowStart) {
  TileWork w;
  if (Wgrad) {
    int perExpert = args.rowTilesPerExpert * args.colTiles;
    w.expert = t / perExpert;
    int within = t % perExpert;
    w.m0 = within / args.colTiles * kBlockM;
    w.col0 = within % args.colTiles * kBlockN;
    w.tokenRow0 = rowStart[w.expert];
    w.tokenRows = rowStart[w.expert + 1] - w.tokenRow0;
    w.rowsValid = min(kBlockM, args.weightRows - w.m0);
    w.kSteps = (w.tokenRows + kBlockK - 1) / kBlockK;
    w.outRow0 = int64_t(w.expert) * args.weightRows + w.m0;
  } else {
    int rowTile = t / args.colTiles;
    w.col0 = t % args.colTiles * kBlockN;
    // The expert e with tileStart[e] <= rowTile < tileStart[e + 1] (never an empty one).
    int lo = 0, hi = args.experts - 1;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (tileStart[mid + 1] <= rowTile)
        lo = mid + 1;
      else
        hi = mid;
    }
    w.expert = lo;
    int first = (rowTile - tileStart[lo]) * kBlockM;
    w.tokenRow0 = rowStart[lo] + first;
    w.tokenRows = 0;
    w.m0 = 0;
    w.rowsValid = min(kBlockM, rowStart[lo + 1] - rowStart[lo] - first);
    w.kSteps = (args.reduction + kBlockK - 1) / kBlockK;
    w.outRow0 = w.tokenRow0;
  }
  return w;
}

/// Warp 0: each expert's first row and first row tile (exclusive prefix sums of the counts
/// and of their row tiles); returns whether the counts are bad (lane 0's answer counts).
__device__ bool scanCounts(const WgmmaArgs &args, int32_t *tileStart, int32_t *rowStart) {
  int lane = threadIdx.x % 32;
  int64_t tilesBefore = 0, rowsBefore = 0;
  bool negative = false;
  for (int base = 0; base < args.experts; base += 32) {
    int e = base + lane;
    int count = e < args.experts ? args.counts[e] : 0;
    negative |= count < 0;
    count = max(count, 0);
    int64_t tileSum = (count + kBlockM - 1) / kBlockM, rowSum = count;
    warpInclusiveScan(tileSum, rowSum, lane);
    // Only read when the counts are good, so every sum fits the rows (< 2^31).
    if (e < args.experts) {
      tileStart[e + 1] = int32_t(tilesBefore + tileSum);
      rowStart[e + 1] = int32_t(rowsBefore + rowSum);
    }
    tilesBefore += __shfl_sync(kFullMask, tileSum, 31);
    rowsBefore += __shfl_sync(kFullMask, rowSum, 31);
  }
  if (lane == 0) {
    tileStart[0] = 0;
    rowStart[0] = 0;
  }
  return __any_sync(kFullMask, negative) || rowsBefore != args.rows;
}

/// The 64-wide MN-major boxes of a tile `tileWidth` wide that hold any of the `remaining`
/// rows or columns left from the tile's start.
__device__ __forceinline__ int boxesCovering(int remaining, int tileWidth) {
  return min(tileWidth, remaining + kSwizzleWidth - 1) / kSwizzleWidth;
}

/// The producer thread: every stage of every tile of this CTA, in the consumers' order.
template <bool Wgrad, bool BKMajor>
__device__ void produce(const CUtensorMap &mapA, const CUtensorMap &mapB, const WgmmaArgs &args,
                        int tiles, uint32_t stages, uint32_t full, uint32_t empty,
                        const int32_t *tileStart, const int32_t *rowStart) {
  int stage = 0;
  uint32_t phase = 0;
  for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
    TileWork w = decodeTile<Wgrad>(t, args, tileStart, rowStart);
    // MN-major boxes wholly past the output's edge are skipped: what their shared memory
    // holds only reaches output rows or columns that are not stored.
    int boxesA = Wgrad ? boxesCovering(args.weightRows - w.m0, kBlockM) : 0;
    int boxesB = BKMajor ? 0 : boxesCovering(args.outCols - w.col0, kBlockN);
    uint32_t bytes =
        (Wgrad ? boxesA * kBoxBytes : kABytes) + (BKMajor ? kBBytes : boxesB * kBoxBytes);
    for (int ks = 0; ks < w.kSteps; ++ks) {
      uint32_t bar = full + 8 * stage;
      // A fresh barrier counts as having completed the phase before its first, so the
      // first pass over the ring does not wait.
      barrierWait(empty + 8 * stage, phase ^ 1);
      barrierExpectBytes(bar, bytes);
      uint32_t a = stages + stage * kStageBytes, b = a + kABytes;
      int k0 = ks * kBlockK;
      if (Wgrad) {
        for (int i = 0; i < boxesA; ++i)
          copyBox(a + i * kBoxBytes, mapA, bar, w.m0 + i * kSwizzleWidth, w.tokenRow0 + k0, 0);
      } else {
        copyBox(a, mapA, bar, k0, w.tokenRow0, 0);
      }
      if (BKMajor) {
        copyBox(b, mapB, bar, k0, w.col0, w.expert);
      } else {
        int bRow0 = Wgrad ? w.tokenRow0 : 0, batch = Wgrad ? 0 : w.expert;
        for (int j = 0; j < boxesB; ++j)
          copyBox(b + j * kBoxBytes, mapB, bar, w.col0 + j * kSwizzleWidth, bRow0 + k0, batch);
      }
      if (++stage == kStages) {
        stage = 0;
        phase ^= 1;
      }
    }
  }
}

/// wgrad's last step: zero the rows of the stage (every [64 K][64 MN] box) past the
/// expert's `validRows`, which the copy engine read from the next expert.
__device__ __forceinline__ void zeroRowsFrom(uint8_t *stage, int validRows, int thread) {
  int chunksPerBox = (kBlockK - validRows) * 8; // 16-byte chunks of a box's dead rows
  int chunks = chunksPerBox * (kStageBytes / kBoxBytes);
  for (int i = thread; i < chunks; i += 128 * kConsumers) {
    int box = i / chunksPerBox, within = i % chunksPerBox;
    int row = validRows + within / 8, chunk = within % 8;
    *reinterpret_cast<uint4 *>(stage + box * kBoxBytes + row * 128 + chunk * 16) =
        make_uint4(0, 0, 0, 0);
  }
  // The zeros are generic-proxy writes that wgmma (the async proxy) reads next.
  fenceProxyAsync();
  namedBarrier(1, 128 * kConsumers);
}

/// Stores the warpgroup's 64 rows of the tile through its staging boxes (the wgmma
/// accumulator layout: register 4j + 2h + c of lane l holds row 16·warp + l/4 + 8h,
/// column 8j + 2(l%4) + c). The boxes are laid out as the copy engine's SWIZZLE_128B, so
/// the fragment writes are free of bank conflicts and one thread hands whole boxes to the
/// copy engine (cp.async.bulk.tensor), which writes them while the warpgroup goes on with
/// the next tile. The copy engine clips at the tensor's edges, not at an expert's last row:
/// a forward/dgrad slab that ends inside the next expert's rows is written by the threads
/// instead, 16 bytes each, from the same boxes.
template <bool Bf16Out>
__device__ __forceinline__ void storeTile(const Accumulators &acc, const CUtensorMap &mapOut,
                                          const WgmmaArgs &args, const TileWork &w,
                                          uint8_t *staging, uint32_t stagingAddress, int consumer,
                                          int thread, bool wgrad) {
  int slabRows = min(64, w.rowsValid - 64 * consumer);
  if (slabRows <= 0)
    return;
  int64_t slabRow0 = w.outRow0 + 64 * consumer;
  bool copyEngine = wgrad || slabRows == 64 || slabRow0 + slabRows == args.rows;
  int wgThread = thread % 128, warp = wgThread / 32, lane = thread % 32;
  constexpr int elementBytes = Bf16Out ? 2 : 4, boxCols = 128 / elementBytes;
  constexpr int passCols = kStagingBoxes * boxCols, passes = kBlockN / passCols;
#pragma unroll
  for (int pass = 0; pass < passes; ++pass) {
    // The boxes are free once the copy engine has read the last ones handed to it.
    if (wgThread == 0)
      bulkWaitRead();
    namedBarrier(2 + consumer, 128);
#pragma unroll
    for (int j = 0; j < kBlockN / 8; ++j) {
      if (j < pass * passCols / 8 || j >= (pass + 1) * passCols / 8)
        continue;                                         // outside this pass (compile-time)
      int col = 8 * j + 2 * (lane % 4) - pass * passCols; // within the pass
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        int r = warp * 16 + lane / 4 + 8 * h;
        int byte = col % boxCols * elementBytes;
        int at = col / boxCols * kBoxBytes + r * 128 + ((byte / 16) ^ (r % 8)) * 16 + byte % 16;
        float x = acc[4 * j + 2 * h], y = acc[4 * j + 2 * h + 1];
        if (Bf16Out)
          *reinterpret_cast<__nv_bfloat162 *>(staging + at) = __floats2bfloat162_rn(x, y);
        else
          *reinterpret_cast<float2 *>(staging + at) = make_float2(x, y);
      }
    }
    // Generic-proxy writes that the copy engine (the async proxy) reads next.
    fenceProxyAsync();
    namedBarrier(2 + consumer, 128);
    int passCol0 = w.col0 + pass * passCols;
    if (copyEngine) {
      if (wgThread == 0) {
        int y = wgrad ? w.m0 + 64 * consumer : int(slabRow0), z = wgrad ? w.expert : 0;
        for (int b = 0; b < kStagingBoxes; ++b)
          if (passCol0 + b * boxCols < args.outCols)
            storeBox(mapOut, stagingAddress + b * kBoxBytes, passCol0 + b * boxCols, y, z);
        bulkCommit();
      }
    } else {
      // 8 threads a 128-byte row: rows [0, slabRows) of each box, whole 16-byte chunks
      // (outCols % 8 == 0, so a chunk is wholly inside or outside).
      constexpr int chunkCols = 16 / elementBytes;
      for (int i = wgThread; i < kStagingBoxes * 64 * 8; i += 128) {
        int b = i / 512, r = i % 512 / 8, chunk = i % 8;
        int col = passCol0 + b * boxCols + chunk * chunkCols;
        if (r >= slabRows || col >= args.outCols)
          continue;
        uint4 v = *reinterpret_cast<const uint4 *>(staging + b * kBoxBytes + r * 128 +
                                                   (chunk ^ (r % 8)) * 16);
        *reinterpret_cast<uint4 *>(static_cast<uint8_t *>(args.out.data) +
                                   ((slabRow0 + r) * args.outCols + col) * elementBytes) = v;
      }
    }
  }
}

/// The two consumer warpgroups: every tile of this CTA, multiplied and stored.
template <bool Wgrad, bool BKMajor>
__device__ void consume(const CUtensorMap &mapOut, const WgmmaArgs &args, int tiles,
                        uint8_t *stagesGeneric, uint32_t stages, uint32_t full, uint32_t empty,
                        const int32_t *tileStart, const int32_t *rowStart) {
  constexpr bool AKMajor = !Wgrad;
  // The next 16 of K: 32 B along a K-major row, two 8-row groups of an MN-major box.
  constexpr uint32_t aStep = AKMajor ? 32 : 2048, bStep = BKMajor ? 32 : 2048;
  // The leading offset means nothing to a swizzled K-major operand (16 by convention).
  constexpr uint32_t aLeading = AKMajor ? 16 : kBoxBytes, bLeading = BKMajor ? 16 : kBoxBytes;
  constexpr uint32_t groupBytes = 1024;
  int thread = threadIdx.x, consumer = thread / 128, lane = thread % 32;
  uint32_t stagingOffset = kStages * kStageBytes + consumer * kStagingBoxes * kBoxBytes;
  int stage = 0;
  uint32_t phase = 0;
  Accumulators acc;
  for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
    TileWork w = decodeTile<Wgrad>(t, args, tileStart, rowStart);
#pragma unroll
    for (int i = 0; i < 128; ++i)
      acc[i] = 0.0f;
    pin(acc);
    int previous = -1;
    for (int ks = 0; ks < w.kSteps; ++ks) {
      barrierWait(full + 8 * stage, phase);
      int tail = w.tokenRows % kBlockK;
      if (Wgrad && ks == w.kSteps - 1 && tail != 0)
        zeroRowsFrom(stagesGeneric + stage * kStageBytes, tail, thread);
      // A consumer's 64 rows: 64 K-major rows of 128 B, or the consumer's MN-major box.
      uint32_t a = stages + stage * kStageBytes + consumer * kBoxBytes;
      uint32_t b = stages + stage * kStageBytes + kABytes;
      wgmmaFence();
#pragma unroll
      for (int kk = 0; kk < kBlockK / 16; ++kk)
        wgmma64x256<AKMajor ? 0 : 1, BKMajor ? 0 : 1>(
            acc, descriptor(a + kk * aStep, aLeading, groupBytes),
            descriptor(b + kk * bStep, bLeading, groupBytes));
      wgmmaCommit();
      // The step before this one has retired: its stage may be refilled.
      wgmmaWait<1>();
      if (previous >= 0 && lane == 0)
        barrierArrive(empty + 8 * previous);
      previous = stage;
      if (++stage == kStages) {
        stage = 0;
        phase ^= 1;
      }
    }
    wgmmaWait<0>();
    pin(acc);
    if (previous >= 0 && lane == 0)
      barrierArrive(empty + 8 * previous);
    if (args.out.bf16)
      storeTile<true>(acc, mapOut, args, w, stagesGeneric + stagingOffset, stages + stagingOffset,
                      consumer, thread, Wgrad);
    else
      storeTile<false>(acc, mapOut, args, w, stagesGeneric + stagingOffset, stages + stagingOffset,
                       consumer, thread, Wgrad);
  }
  // The copy engine's last writes of this warpgroup are done before the CTA exits.
  if (thread % 128 == 0)
    bulkWaitAll();
}

#endif // sm_90a

/// Wgrad: A = dy (MN-major), B = x (MN-major). Otherwise A = the token rows (K-major) and
/// B = the weight, K-major in forward (BKMajor) and MN-major in dgrad.
template <bool Wgrad, bool BKMajor>
__global__ void __launch_bounds__(kThreads, 1)
    groupedWgmmaKernel(const __grid_constant__ CUtensorMap mapA,
                       const __grid_constant__ CUtensorMap mapB,
                       const __grid_constant__ CUtensorMap mapOut, const WgmmaArgs args) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ uint8_t rawShared[];
  uint32_t rawAddress = sharedAddress(rawShared);
  uint32_t stages = (rawAddress + 1023) & ~1023u;
  uint8_t *stagesGeneric = rawShared + (stages - rawAddress);
  uint8_t *tail = stagesGeneric + kStages * kStageBytes + kStagingBytes;
  uint32_t full = sharedAddress(tail), empty = full + 8 * kStages;
  int *bad = reinterpret_cast<int *>(tail + 16 * kStages);
  int32_t *tileStart = reinterpret_cast<int32_t *>(tail + 16 * kStages + 16);
  int32_t *rowStart = tileStart + args.experts + 1;

  if (threadIdx.x < 32) {
    if (threadIdx.x == 0) {
      for (int s = 0; s < kStages; ++s) {
        barrierInit(full + 8 * s, 1);
        barrierInit(empty + 8 * s, kConsumerWarps);
      }
      fenceBarrierInit();
    }
    bool badCounts = scanCounts(args, tileStart, rowStart);
    if (threadIdx.x == 0)
      *bad = badCounts;
  }
  __syncthreads();
  if (*bad) {
    for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < args.outElements;
         i += int64_t(gridDim.x) * kThreads)
      args.out.store(i, NAN);
    return;
  }
  int tiles = Wgrad ? args.experts * args.rowTilesPerExpert * args.colTiles
                    : tileStart[args.experts] * args.colTiles;
  if (threadIdx.x == 128 * kConsumers)
    produce<Wgrad, BKMajor>(mapA, mapB, args, tiles, stages, full, empty, tileStart, rowStart);
  else if (threadIdx.x < 128 * kConsumers)
    consume<Wgrad, BKMajor>(mapOut, args, tiles, stagesGeneric, stages, full, empty, tileStart,
                            rowStart);
#else
  __trap(); // built without sm_90a: the host never launches this (hopperDevice)
#endif
}

using TensorMapEncoder = PFN_cuTensorMapEncodeTiled_v12000;

/// The driver's cuTensorMapEncodeTiled, found through the runtime (no -lcuda).
TensorMapEncoder tensorMapEncoder() {
  static const TensorMapEncoder encoder = [] {
    void *fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                         &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      return TensorMapEncoder(nullptr);
    return reinterpret_cast<TensorMapEncoder>(fn);
  }();
  return encoder;
}

/// A tensor [batch][outer][inner] (F32 or BF16) moved in boxes of [boxOuter][boxInner],
/// 128-byte swizzled, read as zero and not written past its edges. False where the driver
/// refuses the shape.
bool encodeMap(CUtensorMap &map, const void *data, DType dtype, int64_t inner, int64_t outer,
               int64_t batch, uint32_t boxInner, uint32_t boxOuter) {
  TensorMapEncoder encode = tensorMapEncoder();
  if (encode == nullptr)
    return false;
  cuuint64_t bytes = dtype == DType::BF16 ? 2 : 4;
  cuuint64_t dims[3] = {cuuint64_t(inner), cuuint64_t(outer), cuuint64_t(batch)};
  cuuint64_t strides[2] = {cuuint64_t(inner) * bytes, cuuint64_t(inner * outer) * bytes};
  cuuint32_t box[3] = {boxInner, boxOuter, 1};
  cuuint32_t elementStrides[3] = {1, 1, 1};
  return encode(&map,
                dtype == DType::BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                     : CU_TENSOR_MAP_DATA_TYPE_FLOAT32,
                3, const_cast<void *>(data), dims, strides, box, elementStrides,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

/// A Hopper device (this path's only target), and its multiprocessors.
bool hopperDevice(int &multiprocessors) {
  int device = 0, major = 0;
  return cudaGetDevice(&device) == cudaSuccess &&
         cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
         cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device) ==
             cudaSuccess &&
         major == 9;
}

/// The sizes the launch indexes with 32-bit integers (copy-engine coordinates, tiles).
bool fitsInt32(std::initializer_list<int64_t> sizes) {
  return std::all_of(sizes.begin(), sizes.end(), [](int64_t s) { return s < INT_MAX / 2; });
}

/// Tiles of a forward/dgrad launch at most (each expert may add one partial row tile), and
/// of a wgrad launch.
int64_t rowTilesBound(int64_t rows, int64_t experts, int64_t outCols) {
  return (ceilDiv(rows, kBlockM) + experts) * ceilDiv(outCols, kBlockN);
}
int64_t weightTiles(int64_t experts, int64_t nOut, int64_t k) {
  return experts * ceilDiv(nOut, kBlockM) * ceilDiv(k, kBlockN);
}

/// The output's staging box: 64 rows of 128 bytes.
uint32_t outputBoxCols(const TensorView &out) { return out.dtype == DType::BF16 ? 64 : 32; }

/// Raises the kernel's dynamic shared-memory limit to what the most experts need, once per
/// device and kernel: later calls (a step being captured into a CUDA graph among them) only
/// launch.
Status allowSharedBytes(const char *kernel, const void *fn) {
  static std::mutex mutex;
  static std::set<std::pair<int, const void *>> done;
  int device = 0;
  DS_RETURN_IF_ERROR(cudaCheck(cudaGetDevice(&device), kernel, "cudaGetDevice"));
  std::lock_guard<std::mutex> lock(mutex);
  if (done.count({device, fn}))
    return Status::ok();
  DS_RETURN_IF_ERROR(cudaCheck(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    int(sharedBytes(kWgmmaMaxExperts))),
                               kernel, "cudaFuncSetAttribute(groupedWgmmaKernel)"));
  done.insert({device, fn});
  return Status::ok();
}

template <bool Wgrad, bool BKMajor>
Status launch(const char *kernel, cudaStream_t stream, const CUtensorMap &mapA,
              const CUtensorMap &mapB, const CUtensorMap &mapOut, const WgmmaArgs &args,
              int64_t maxTiles, int multiprocessors) {
  auto *fn = groupedWgmmaKernel<Wgrad, BKMajor>;
  DS_RETURN_IF_ERROR(allowSharedBytes(kernel, reinterpret_cast<const void *>(fn)));
  size_t bytes = sharedBytes(args.experts);
  unsigned grid = unsigned(std::min<int64_t>(multiprocessors, maxTiles));
  fn<<<grid, kThreads, bytes, stream>>>(mapA, mapB, mapOut, args);
  return launchCheck(kernel, "groupedWgmmaKernel");
}

} // namespace

Status wgmmaRowsTimesWeight(const char *kernel, cudaStream_t stream, const TensorView &in,
                            const TensorView &weight, const TensorView &counts,
                            const TensorView &out, bool transposeWeight, bool &taken) {
  taken = false;
  int64_t experts = weight.dim(0), nOut = weight.dim(1), k = weight.dim(2), rows = in.dim(0);
  int64_t reduction = transposeWeight ? k : nOut, outCols = transposeWeight ? nOut : k;
  int multiprocessors = 0;
  if (in.dtype != DType::BF16 || weight.dtype != DType::BF16 || experts > kWgmmaMaxExperts ||
      rows == 0 || !fitsInt32({rows, nOut, k, rowTilesBound(rows, experts, outCols)}) ||
      !hopperDevice(multiprocessors))
    return Status::ok();
  CUtensorMap mapA, mapB, mapOut;
  // The weight [E][Nout][K]: K-major boxes of 256 output columns in forward, MN-major
  // boxes of 64 output columns (K) by 64 of the reduction (Nout) in dgrad.
  if (!encodeMap(mapA, in.data, DType::BF16, reduction, rows, 1, kBlockK, kBlockM) ||
      !encodeMap(mapB, weight.data, DType::BF16, k, nOut, experts, kSwizzleWidth,
                 transposeWeight ? kBlockN : kBlockK) ||
      !encodeMap(mapOut, out.data, out.dtype, outCols, rows, 1, outputBoxCols(out), 64))
    return Status::ok();
  taken = true;
  WgmmaArgs args{};
  args.counts = counts.as<const int32_t>();
  args.out = floatOut(out);
  args.experts = int(experts);
  args.rows = int(rows);
  args.outCols = int(outCols);
  args.reduction = int(reduction);
  args.colTiles = int(ceilDiv(outCols, kBlockN));
  args.outElements = rows * outCols;
  int64_t maxTiles = rowTilesBound(rows, experts, outCols);
  if (transposeWeight)
    return launch<false, true>(kernel, stream, mapA, mapB, mapOut, args, maxTiles, multiprocessors);
  return launch<false, false>(kernel, stream, mapA, mapB, mapOut, args, maxTiles, multiprocessors);
}

Status wgmmaWeightGrad(const char *kernel, cudaStream_t stream, const TensorView &dy,
                       const TensorView &x, const TensorView &counts, const TensorView &dw,
                       bool &taken) {
  taken = false;
  int64_t experts = dw.dim(0), nOut = dw.dim(1), k = dw.dim(2), rows = dy.dim(0);
  int multiprocessors = 0;
  if (dy.dtype != DType::BF16 || x.dtype != DType::BF16 || experts > kWgmmaMaxExperts ||
      rows == 0 || !fitsInt32({rows, nOut, k, weightTiles(experts, nOut, k)}) ||
      !hopperDevice(multiprocessors))
    return Status::ok();
  CUtensorMap mapA, mapB, mapOut;
  if (!encodeMap(mapA, dy.data, DType::BF16, nOut, rows, 1, kSwizzleWidth, kBlockK) ||
      !encodeMap(mapB, x.data, DType::BF16, k, rows, 1, kSwizzleWidth, kBlockK) ||
      !encodeMap(mapOut, dw.data, dw.dtype, k, nOut, experts, outputBoxCols(dw), 64))
    return Status::ok();
  taken = true;
  WgmmaArgs args{};
  args.counts = counts.as<const int32_t>();
  args.out = floatOut(dw);
  args.experts = int(experts);
  args.rows = int(rows);
  args.outCols = int(k);
  args.colTiles = int(ceilDiv(k, kBlockN));
  args.weightRows = int(nOut);
  args.rowTilesPerExpert = int(ceilDiv(nOut, kBlockM));
  args.outElements = experts * nOut * k;
  int64_t maxTiles = weightTiles(experts, nOut, k);
  return launch<true, false>(kernel, stream, mapA, mapB, mapOut, args, maxTiles, multiprocessors);
}

} // namespace ds::rt::cuda
