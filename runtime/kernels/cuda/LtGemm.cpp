#include "runtime/kernels/cuda/LtGemm.h"

#include "runtime/kernels/cpu/Gemm.h"
#include "runtime/kernels/cuda/Bf16Convert.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <cublasLt.h>

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>

namespace ds::rt::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;

Status ltCheck(cublasStatus_t status, const char *kernel, const char *what) {
  if (status == CUBLAS_STATUS_SUCCESS)
    return Status::ok();
  return errorf(kernel, ": ", what, " failed: ", cublasLtGetStatusName(status), " (",
                cublasLtGetStatusString(status), ")");
}

cudaDataType_t cudaTypeOf(DType dtype) {
  return dtype == DType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/// Largest power of two up to 16 dividing the address: cuBLASLt picks vectorized kernels
/// only for aligned operands, and a grouped GEMM's per-expert slices may be less aligned.
/// A batched operand is as aligned as its least aligned member.
int alignmentOf(const void *p, int64_t batch, int64_t strideBytes) {
  auto address = reinterpret_cast<uintptr_t>(p);
  if (batch > 1)
    address |= uintptr_t(strideBytes);
  int alignment = 16;
  while (alignment > 1 && address % alignment != 0)
    alignment /= 2;
  return alignment;
}

cublasComputeType_t computeTypeOf(DType operands, LtMath math) {
  if (operands == DType::BF16)
    return CUBLAS_COMPUTE_32F;
  switch (math) {
  case LtMath::TF32:
    return CUBLAS_COMPUTE_32F_FAST_TF32;
  case LtMath::BF16:
    return CUBLAS_COMPUTE_32F_FAST_16BF;
  case LtMath::F32:
    break;
  }
  return CUBLAS_COMPUTE_32F;
}

/// Everything a plan depends on.
struct PlanKey {
  int device;
  int64_t m, n, k, lda, ldb, ldd;
  bool transA, transB;
  int operandType, resultType, compute;
  int64_t batch, strideA, strideB, strideD;
  bool accumulate;
  int alignA, alignB, alignD;

  auto tie() const {
    return std::tie(device, m, n, k, lda, ldb, ldd, transA, transB, operandType, resultType,
                    compute, batch, strideA, strideB, strideD, accumulate, alignA, alignB,
                    alignD);
  }
  bool operator<(const PlanKey &other) const { return tie() < other.tie(); }
};

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo;
};

struct LtState {
  std::mutex mutex;
  std::map<int, cublasLtHandle_t> handles;
  std::map<std::pair<int, cudaStream_t>, void *> workspaces;
  std::map<PlanKey, Plan> plans;
  /// Per (device, stream): BF16 copies of F32 operands of BF16-math products (grow-only,
  /// stream-ordered so that a larger buffer never frees one a queued GEMM still reads).
  std::map<std::pair<int, cudaStream_t>, std::pair<void *, size_t>> bf16Copies;
};

LtState &ltState() {
  // Never destroyed: see CudaSupport.cpp's scratch table.
  static LtState *state = new LtState;
  return *state;
}

Status makeLayout(const char *kernel, const char *what, cudaDataType_t type, int64_t rows,
                  int64_t cols, int64_t ld, int64_t batch, int64_t stride,
                  cublasLtMatrixLayout_t &layout) {
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatrixLayoutCreate(&layout, type, rows, cols, ld), kernel,
                             what));
  if (batch == 1)
    return Status::ok();
  int32_t count = int32_t(batch);
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatrixLayoutSetAttribute(
                                 layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                 sizeof(count)),
                             kernel, "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)"));
  return ltCheck(cublasLtMatrixLayoutSetAttribute(layout,
                                                  CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                  &stride, sizeof(stride)),
                 kernel, "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
}

Status makePlan(const char *kernel, cublasLtHandle_t handle, const PlanKey &key, Plan &plan) {
  auto compute = static_cast<cublasComputeType_t>(key.compute);
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatmulDescCreate(&plan.desc, compute, CUDA_R_32F), kernel,
                             "cublasLtMatmulDescCreate"));
  cublasOperation_t opA = key.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = key.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatmulDescSetAttribute(plan.desc,
                                                            CUBLASLT_MATMUL_DESC_TRANSA, &opA,
                                                            sizeof(opA)),
                             kernel, "cublasLtMatmulDescSetAttribute(TRANSA)"));
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatmulDescSetAttribute(plan.desc,
                                                            CUBLASLT_MATMUL_DESC_TRANSB, &opB,
                                                            sizeof(opB)),
                             kernel, "cublasLtMatmulDescSetAttribute(TRANSB)"));
  // Stored shapes: op(A) is [m, k], so A itself is [k, m] when transposed.
  auto operandType = cudaTypeOf(DType(key.operandType));
  DS_RETURN_IF_ERROR(makeLayout(kernel, "cublasLtMatrixLayoutCreate(A)", operandType,
                                key.transA ? key.k : key.m, key.transA ? key.m : key.k, key.lda,
                                key.batch, key.strideA, plan.a));
  DS_RETURN_IF_ERROR(makeLayout(kernel, "cublasLtMatrixLayoutCreate(B)", operandType,
                                key.transB ? key.n : key.k, key.transB ? key.k : key.n, key.ldb,
                                key.batch, key.strideB, plan.b));
  DS_RETURN_IF_ERROR(makeLayout(kernel, "cublasLtMatrixLayoutCreate(D)",
                                cudaTypeOf(DType(key.resultType)), key.m, key.n, key.ldd,
                                key.batch, key.strideD, plan.d));

  cublasLtMatmulPreference_t preference = nullptr;
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatmulPreferenceCreate(&preference), kernel,
                             "cublasLtMatmulPreferenceCreate"));
  uint64_t workspace = kWorkspaceBytes;
  // C is D (beta reads D), so it shares D's alignment.
  uint32_t alignments[4] = {uint32_t(key.alignA), uint32_t(key.alignB), uint32_t(key.alignD),
                            uint32_t(key.alignD)};
  cublasStatus_t status = cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace));
  const cublasLtMatmulPreferenceAttributes_t alignmentAttrs[4] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES};
  for (int i = 0; i < 4 && status == CUBLAS_STATUS_SUCCESS; ++i)
    status = cublasLtMatmulPreferenceSetAttribute(preference, alignmentAttrs[i],
                                                  &alignments[i], sizeof(uint32_t));
  cublasLtMatmulHeuristicResult_t result = {};
  int found = 0;
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulAlgoGetHeuristic(handle, plan.desc, plan.a, plan.b, plan.d, plan.d,
                                            preference, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(preference);
  DS_RETURN_IF_ERROR(ltCheck(status, kernel, "cublasLtMatmulAlgoGetHeuristic"));
  if (found == 0)
    return errorf(kernel, ": cuBLASLt has no algorithm for a ", key.m, "x", key.n, "x", key.k,
                  " ", dtypeName(DType(key.operandType)), " GEMM with a ",
                  dtypeName(DType(key.resultType)), " result (batch ", key.batch, ")");
  plan.algo = result.algo;
  return Status::ok();
}

} // namespace

Status readLtMath(const char *kernel, const KernelAttrs &attrs, LtMath &math) {
  // One parser of the attribute for both backends: the CPU's, whose emulation this mirrors.
  cpu::GemmMath parsed;
  DS_RETURN_IF_ERROR(cpu::readGemmMath(attrs, kernel, parsed));
  math = parsed == cpu::GemmMath::Bf16   ? LtMath::BF16
         : parsed == cpu::GemmMath::Tf32 ? LtMath::TF32
                                         : LtMath::F32;
  return Status::ok();
}

namespace {

/// Elements from an operand's first to its last (column-major: `cols` columns of `rows`
/// at stride ld, `batch` such matrices `stride` apart).
int64_t operandSpan(int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  return (batch - 1) * stride + (cols - 1) * ld + rows;
}

/// A BF16 buffer of at least `bytes` private to (device, stream).
Status bf16CopyBuffer(const char *kernel, int device, cudaStream_t stream, size_t bytes,
                      void *&buffer) {
  LtState &state = ltState();
  std::lock_guard<std::mutex> lock(state.mutex);
  auto &[data, size] = state.bf16Copies[{device, stream}];
  if (size < bytes) {
    if (data)
      DS_RETURN_IF_ERROR(cudaCheck(cudaFreeAsync(data, stream), kernel,
                                   "cudaFreeAsync(BF16 operand copies)"));
    data = nullptr;
    size = 0;
    DS_RETURN_IF_ERROR(cudaCheck(cudaMallocAsync(&data, bytes, stream), kernel,
                                 "cudaMallocAsync(BF16 operand copies)"));
    size = bytes;
  }
  buffer = data;
  return Status::ok();
}

/// BF16 math on F32 operands: round both into BF16 copies (Bf16Convert.h) and multiply
/// those with FP32 accumulation, so the tensor cores run at their BF16 rate.
Status bf16Matmul(const char *kernel, cudaStream_t stream, int device, int64_t m, int64_t n,
                  int64_t k, const LtOperand &a, const LtOperand &b, void *d, DType dType,
                  int64_t ldd, const LtOptions &options) {
  int64_t spanA = operandSpan(a.transpose ? k : m, a.transpose ? m : k, a.ld, options.batch,
                              options.strideA);
  int64_t spanB = operandSpan(b.transpose ? n : k, b.transpose ? k : n, b.ld, options.batch,
                              options.strideB);
  size_t offsetB = (size_t(spanA) * 2 + 255) / 256 * 256;
  void *copies = nullptr;
  DS_RETURN_IF_ERROR(
      bf16CopyBuffer(kernel, device, stream, offsetB + size_t(spanB) * 2, copies));
  auto *copyA = static_cast<uint16_t *>(copies);
  auto *copyB = reinterpret_cast<uint16_t *>(static_cast<char *>(copies) + offsetB);
  DS_RETURN_IF_ERROR(
      convertToBf16(kernel, static_cast<const float *>(a.data), copyA, spanA, stream));
  DS_RETURN_IF_ERROR(
      convertToBf16(kernel, static_cast<const float *>(b.data), copyB, spanB, stream));
  LtOptions exact = options;
  exact.math = LtMath::F32;
  return ltMatmul(kernel, stream, m, n, k, {copyA, DType::BF16, a.ld, a.transpose},
                  {copyB, DType::BF16, b.ld, b.transpose}, d, dType, ldd, exact);
}

} // namespace

Status ltMatmul(const char *kernel, cudaStream_t stream, int64_t m, int64_t n, int64_t k,
                const LtOperand &a, const LtOperand &b, void *d, DType dType, int64_t ldd,
                const LtOptions &options) {
  if (a.dtype != b.dtype || (a.dtype != DType::F32 && a.dtype != DType::BF16) ||
      (dType != DType::F32 && dType != DType::BF16))
    return errorf(kernel, ": cuBLASLt path takes two F32 or two BF16 operands and an F32 or "
                          "BF16 result, got ",
                  dtypeName(a.dtype), " x ", dtypeName(b.dtype), " -> ", dtypeName(dType));
  if (options.batch < 1 || options.batch > INT32_MAX)
    return errorf(kernel, ": internal: a batched GEMM of ", options.batch, " products");
  if (m == 0 || n == 0)
    return Status::ok();
  if (k == 0)
    return errorf(kernel, ": internal: a GEMM with k = 0 reached cuBLASLt");
  int device = 0;
  DS_RETURN_IF_ERROR(cudaCheck(cudaGetDevice(&device), kernel, "cudaGetDevice"));
  if (options.math == LtMath::BF16 && a.dtype == DType::F32)
    return bf16Matmul(kernel, stream, device, m, n, k, a, b, d, dType, ldd, options);
  int64_t operandBytes = dtypeSize(a.dtype), resultBytes = dtypeSize(dType);
  PlanKey key{device,
              m,
              n,
              k,
              a.ld,
              b.ld,
              ldd,
              a.transpose,
              b.transpose,
              int(a.dtype),
              int(dType),
              int(computeTypeOf(a.dtype, options.math)),
              options.batch,
              options.strideA,
              options.strideB,
              options.strideD,
              options.accumulate,
              alignmentOf(a.data, options.batch, options.strideA * operandBytes),
              alignmentOf(b.data, options.batch, options.strideB * operandBytes),
              alignmentOf(d, options.batch, options.strideD * resultBytes)};

  LtState &state = ltState();
  cublasLtHandle_t handle = nullptr;
  void *workspace = nullptr;
  Plan plan;
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    auto handleIt = state.handles.find(device);
    if (handleIt == state.handles.end()) {
      DS_RETURN_IF_ERROR(ltCheck(cublasLtCreate(&handle), kernel, "cublasLtCreate"));
      state.handles[device] = handle;
    } else {
      handle = handleIt->second;
    }
    void *&slot = state.workspaces[{device, stream}];
    if (slot == nullptr)
      DS_RETURN_IF_ERROR(cudaCheck(cudaMalloc(&slot, kWorkspaceBytes), kernel,
                                   "cudaMalloc(cuBLASLt workspace)"));
    workspace = slot;
    auto planIt = state.plans.find(key);
    if (planIt == state.plans.end()) {
      Plan fresh;
      Status made = makePlan(kernel, handle, key, fresh);
      if (!made.isOk()) {
        cublasLtMatrixLayoutDestroy(fresh.a);
        cublasLtMatrixLayoutDestroy(fresh.b);
        cublasLtMatrixLayoutDestroy(fresh.d);
        cublasLtMatmulDescDestroy(fresh.desc);
        return made;
      }
      planIt = state.plans.emplace(key, fresh).first;
    }
    plan = planIt->second;
  }
  const float alpha = 1.0f, beta = options.accumulate ? 1.0f : 0.0f;
  return ltCheck(cublasLtMatmul(handle, plan.desc, &alpha, a.data, plan.a, b.data, plan.b,
                                &beta, d, plan.d, d, plan.d, &plan.algo, workspace,
                                kWorkspaceBytes, stream),
                 kernel, "cublasLtMatmul");
}

} // namespace ds::rt::cuda
