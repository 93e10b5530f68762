// The kernel registry: the CPU table holds one kernel per non-composite ds op (DsOps.td),
// lookups, registration rules, attribute access.
#include "runtime/kernels/Kernel.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace ds::rt;

namespace {

// Every op of DsOps.td except the composites (mla, moe, mtp_head), which ds-decompose
// removes before lowering.
const char *const kDsKernelNames[] = {"embedding",
                                      "rms_norm",
                                      "linear",
                                      "rope",
                                      "attention",
                                      "router",
                                      "balance_loss",
                                      "dispatch",
                                      "combine",
                                      "grouped_linear",
                                      "swiglu",
                                      "add",
                                      "mul",
                                      "scale",
                                      "convert",
                                      "cross_entropy",
                                      "quantize",
                                      "dequantize",
                                      "slice",
                                      "concat",
                                      "reshape",
                                      "expand",
                                      "embedding_grad",
                                      "rms_norm_grad",
                                      "linear_dgrad",
                                      "linear_wgrad",
                                      "rope_grad",
                                      "attention_grad",
                                      "router_grad",
                                      "balance_loss_grad",
                                      "dispatch_grad",
                                      "combine_grad",
                                      "grouped_linear_dgrad",
                                      "grouped_linear_wgrad",
                                      "swiglu_grad",
                                      "cross_entropy_grad",
                                      "slice_grad",
                                      "expand_grad",
                                      "grad_norm",
                                      "adamw",
                                      "bias_update"};

Status okKernel(KernelCall &) { return Status::ok(); }

TEST(KernelRegistry, CpuTableCoversEveryDsOp) {
  std::vector<std::string> names = registeredKernels(Backend::Cpu);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char *name : kDsKernelNames) {
    EXPECT_NE(lookupKernel(Backend::Cpu, name), nullptr) << name;
    EXPECT_TRUE(std::binary_search(names.begin(), names.end(), name)) << name;
  }
  EXPECT_EQ(lookupKernel(Backend::Cpu, "mla"), nullptr);
  EXPECT_EQ(lookupKernel(Backend::Cpu, "ds.linear"), nullptr);
}

TEST(KernelRegistry, RegistrationRules) {
  EXPECT_FALSE(registerKernel(Backend::Cpu, "linear", okKernel)); // the table's stays
  EXPECT_NE(lookupKernel(Backend::Cpu, "linear"), okKernel);
  EXPECT_FALSE(registerKernel(Backend::Cuda, "", okKernel));
  EXPECT_FALSE(registerKernel(Backend::Cuda, "registry_test_null", nullptr));
  EXPECT_EQ(lookupKernel(Backend::Cuda, "registry_test_kernel"), nullptr);
  KernelEntry table[] = {{"registry_test_kernel", okKernel}, {"registry_test_other", okKernel}};
  EXPECT_TRUE(registerKernels(Backend::Cuda, table, 2));
  EXPECT_EQ(lookupKernel(Backend::Cuda, "registry_test_kernel"), okKernel);
  EXPECT_EQ(lookupKernel(Backend::Cpu, "registry_test_kernel"), nullptr); // per backend
  EXPECT_FALSE(registerKernels(Backend::Cuda, table, 2));                 // already there
}

TEST(KernelAttrs, TypedLookupsAndDefaults) {
  KernelAttrs attrs;
  attrs.setInt("top_k", 8);
  attrs.setInts("block", {1, 128});
  attrs.setFloat("eps", 1e-6);
  attrs.setString("score_func", "sigmoid");
  EXPECT_EQ(attrs.getInt("top_k"), 8);
  EXPECT_EQ(attrs.getInts("block"), (std::vector<int64_t>{1, 128}));
  EXPECT_DOUBLE_EQ(attrs.getFloat("eps"), 1e-6);
  EXPECT_EQ(attrs.getString("score_func"), "sigmoid");
  EXPECT_EQ(attrs.getInt("missing", -100), -100);
  EXPECT_DOUBLE_EQ(attrs.getFloat("missing", 1.0), 1.0);
  EXPECT_TRUE(attrs.getBool("missing", true));
  EXPECT_DOUBLE_EQ(attrs.getFloat("top_k"), 8.0); // an integral float stored as an integer
  EXPECT_EQ(attrs.getString("top_k", "none"), "none");
  EXPECT_TRUE(attrs.has("eps"));
  EXPECT_FALSE(attrs.has("theta"));
}

} // namespace
