//===- HopperAsync.cuh - mbarriers, tensor copies and wgmma for sm_90a ----===//
//
// Thin wrappers over the PTX of Hopper's asynchronous units (PTX ISA 8.x): mbarriers with
// transaction counts, the tensor copy engine (cp.async.bulk.tensor, TMA) in both
// directions, and warpgroup MMA (wgmma) with shared-memory descriptors for 128-byte
// swizzled tiles. Device code only, compiled for sm_90a (wgmma needs the "a" target).
// Shared-memory operands are 32-bit shared-window addresses (sharedAddress).
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_HOPPERASYNC_CUH
#define DS_RUNTIME_KERNELS_CUDA_HOPPERASYNC_CUH

#include <cuda.h>

#include <cstdint>

// Declared in every compilation pass (the host pass parses device bodies too); the PTX is
// only emitted where a kernel built for sm_90a calls it.
namespace ds::rt::cuda::hopper {

__device__ __forceinline__ uint32_t sharedAddress(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void barrierInit(uint32_t bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(arrivals));
}

/// Makes the barriers this thread initialized visible to the other threads and to the
/// copy engine (a __syncthreads must still follow).
__device__ __forceinline__ void fenceBarrierInit() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

__device__ __forceinline__ void barrierExpectBytes(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void barrierArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}

/// Waits for the completion of the barrier's phase of this parity.
__device__ __forceinline__ void barrierWait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  while (!done)
    asm volatile("{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                 " selp.u32 %0, 1, 0, p;\n}"
                 : "=r"(done)
                 : "r"(bar), "r"(parity)
                 : "memory");
}

/// Copies the box at (x, y, z) of `map` to shared memory, counted on `bar`.
__device__ __forceinline__ void copyBox(uint32_t dst, const CUtensorMap &map, uint32_t bar,
                                        int x, int y, int z) {
  asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::"
               "bytes [%0], [%1, {%3, %4, %5}], [%2];" ::"r"(dst),
               "l"(reinterpret_cast<uint64_t>(&map)), "r"(bar), "r"(x), "r"(y), "r"(z)
               : "memory");
}

/// A wgmma shared-memory descriptor (PTX ISA, "Matrix Descriptor Format") for a
/// 128-byte-swizzled tile at `address`, whose 1024-byte swizzle period starts at a
/// multiple of 1024 (base offset 0). The offsets are in bytes: `strideBytes` between
/// 8-row groups, `leadingBytes` between 64-element MN blocks of an MN-major operand.
__device__ __forceinline__ uint64_t descriptor(uint32_t address, uint32_t leadingBytes,
                                               uint32_t strideBytes) {
  return uint64_t((address & 0x3FFFF) >> 4) | uint64_t(leadingBytes >> 4) << 16 |
         uint64_t(strideBytes >> 4) << 32 | uint64_t(1) << 62;
}

using Accumulators = float[128];

/// Keeps the compiler from moving accumulator accesses across the asynchronous MMAs.
__device__ __forceinline__ void pin(Accumulators &d) {
#pragma unroll
  for (int i = 0; i < 128; ++i)
    asm volatile("" : "+f"(d[i])::"memory");
}

#define DS_ACC4(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define DS_ACC16(i) DS_ACC4(i), DS_ACC4(i + 4), DS_ACC4(i + 8), DS_ACC4(i + 12)

/// d += A(64 x 16) B(256 x 16)^T, BF16 operands from shared memory (descriptors a, b),
/// FP32 accumulators; TransA/TransB: that operand is MN-major. The warpgroup's d: register
/// 4j + 2h + c of lane l of warp w holds row 16w + l/4 + 8h, column 8j + 2(l%4) + c.
template <int TransA, int TransB>
__device__ __forceinline__ void wgmma64x256(Accumulators &d, uint64_t a, uint64_t b) {
  asm volatile(
      "{\n .reg .pred p;\n setp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, "
      "%18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, "
      "%34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, "
      "%50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, "
      "%66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, "
      "%82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, "
      "%98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, "
      "%111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, "
      "%124, %125, %126, %127}, "
      "%128, %129, p, 1, 1, %131, %132;\n}"
      : DS_ACC16(0), DS_ACC16(16), DS_ACC16(32), DS_ACC16(48), DS_ACC16(64), DS_ACC16(80),
        DS_ACC16(96), DS_ACC16(112)
      : "l"(a), "l"(b), "r"(1), "n"(TransA), "n"(TransB));
}

#undef DS_ACC16
#undef DS_ACC4

/// Orders the warpgroup's earlier accumulator writes before the wgmmas that follow.
__device__ __forceinline__ void wgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
}
/// Closes the wgmmas issued since the last commit into one group.
__device__ __forceinline__ void wgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
}
/// Waits until at most `Pending` of this warpgroup's groups are still running.
template <int Pending> __device__ __forceinline__ void wgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(Pending) : "memory");
}

/// Writes the shared-memory box at `src` to (x, y, z) of `map` (clipped at its edges), in
/// this thread's current bulk group.
__device__ __forceinline__ void storeBox(const CUtensorMap &map, uint32_t src, int x, int y,
                                         int z) {
  asm volatile("cp.async.bulk.tensor.3d.global.shared::cta.bulk_group [%0, {%2, %3, %4}], [%1];"
               ::"l"(reinterpret_cast<uint64_t>(&map)), "r"(src), "r"(x), "r"(y), "r"(z)
               : "memory");
}
__device__ __forceinline__ void bulkCommit() {
  asm volatile("cp.async.bulk.commit_group;" ::: "memory");
}
/// Waits until the copy engine has read the shared memory of this thread's bulk groups.
__device__ __forceinline__ void bulkWaitRead() {
  asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
}
/// Waits until this thread's bulk groups have completed their writes.
__device__ __forceinline__ void bulkWaitAll() {
  asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
}

/// Orders this thread's ordinary shared-memory writes before later reads by the async
/// proxy (wgmma, the copy engine).
__device__ __forceinline__ void fenceProxyAsync() {
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

/// bar.sync on a named barrier (0 is __syncthreads') among `threads` threads.
__device__ __forceinline__ void namedBarrier(int id, int threads) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

} // namespace ds::rt::cuda::hopper

#endif
