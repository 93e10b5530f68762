#include "runtime/kernels/cuda/LtGemm.h"

#include "runtime/kernels/cuda/CudaSupport.h"

#include <cublasLt.h>

#include <map>
#include <mutex>
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
int alignmentOf(const void *p) {
  auto address = reinterpret_cast<uintptr_t>(p);
  int alignment = 16;
  while (alignment > 1 && address % alignment != 0)
    alignment /= 2;
  return alignment;
}

// device, m, n, k, lda, ldb, ldd, transA, transB, operand dtype, result dtype, alignments.
using PlanKey = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool,
                           bool, int, int, int, int, int>;

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
};

LtState &ltState() {
  // Never destroyed: see CudaSupport.cpp's scratch table.
  static LtState *state = new LtState;
  return *state;
}

Status makePlan(const char *kernel, cublasLtHandle_t handle, int64_t m, int64_t n, int64_t k,
                const LtOperand &a, const LtOperand &b, DType dType, int64_t ldd,
                int alignA, int alignB, int alignD, Plan &plan) {
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatmulDescCreate(&plan.desc, compute, CUDA_R_32F), kernel,
                             "cublasLtMatmulDescCreate"));
  cublasOperation_t opA = a.transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = b.transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatmulDescSetAttribute(plan.desc,
                                                            CUBLASLT_MATMUL_DESC_TRANSA, &opA,
                                                            sizeof(opA)),
                             kernel, "cublasLtMatmulDescSetAttribute(TRANSA)"));
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatmulDescSetAttribute(plan.desc,
                                                            CUBLASLT_MATMUL_DESC_TRANSB, &opB,
                                                            sizeof(opB)),
                             kernel, "cublasLtMatmulDescSetAttribute(TRANSB)"));
  // Stored shapes: op(A) is [m, k], so A itself is [k, m] when transposed.
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatrixLayoutCreate(&plan.a, cudaTypeOf(a.dtype),
                                                        a.transpose ? k : m,
                                                        a.transpose ? m : k, a.ld),
                             kernel, "cublasLtMatrixLayoutCreate(A)"));
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatrixLayoutCreate(&plan.b, cudaTypeOf(b.dtype),
                                                        b.transpose ? n : k,
                                                        b.transpose ? k : n, b.ld),
                             kernel, "cublasLtMatrixLayoutCreate(B)"));
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatrixLayoutCreate(&plan.d, cudaTypeOf(dType), m, n, ldd),
                             kernel, "cublasLtMatrixLayoutCreate(D)"));

  cublasLtMatmulPreference_t preference = nullptr;
  DS_RETURN_IF_ERROR(ltCheck(cublasLtMatmulPreferenceCreate(&preference), kernel,
                             "cublasLtMatmulPreferenceCreate"));
  uint64_t workspace = kWorkspaceBytes;
  uint32_t alignments[3] = {uint32_t(alignA), uint32_t(alignB), uint32_t(alignD)};
  cublasStatus_t status = cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace));
  const cublasLtMatmulPreferenceAttributes_t alignmentAttrs[3] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  for (int i = 0; i < 3 && status == CUBLAS_STATUS_SUCCESS; ++i)
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
    return errorf(kernel, ": cuBLASLt has no algorithm for a ", m, "x", n, "x", k, " ",
                  dtypeName(a.dtype), " GEMM with a ", dtypeName(dType), " result");
  plan.algo = result.algo;
  return Status::ok();
}

} // namespace

Status ltMatmul(const char *kernel, cudaStream_t stream, int64_t m, int64_t n, int64_t k,
                const LtOperand &a, const LtOperand &b, void *d, DType dType, int64_t ldd) {
  if (a.dtype != b.dtype || (a.dtype != DType::F32 && a.dtype != DType::BF16) ||
      (dType != DType::F32 && dType != DType::BF16))
    return errorf(kernel, ": cuBLASLt path takes two F32 or two BF16 operands and an F32 or "
                          "BF16 result, got ",
                  dtypeName(a.dtype), " x ", dtypeName(b.dtype), " -> ", dtypeName(dType));
  if (m == 0 || n == 0)
    return Status::ok();
  if (k == 0)
    return errorf(kernel, ": internal: a GEMM with k = 0 reached cuBLASLt");
  int device = 0;
  DS_RETURN_IF_ERROR(cudaCheck(cudaGetDevice(&device), kernel, "cudaGetDevice"));
  int alignA = alignmentOf(a.data), alignB = alignmentOf(b.data), alignD = alignmentOf(d);
  PlanKey key{device,      m,           n,
              k,           a.ld,        b.ld,
              ldd,         a.transpose, b.transpose,
              int(a.dtype), int(dType), alignA,
              alignB,      alignD};

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
      Status made = makePlan(kernel, handle, m, n, k, a, b, dType, ldd, alignA, alignB,
                             alignD, fresh);
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
  const float alpha = 1.0f, beta = 0.0f;
  return ltCheck(cublasLtMatmul(handle, plan.desc, &alpha, a.data, plan.a, b.data, plan.b,
                                &beta, d, plan.d, d, plan.d, &plan.algo, workspace,
                                kWorkspaceBytes, stream),
                 kernel, "cublasLtMatmul");
}

} // namespace ds::rt::cuda
