// Kernels refuse what the compiler cannot rule out (ids, labels, routing indices,
// positions and counts produced at run time) and malformed calls, with a Status whose
// message names the problem; nothing is written out of bounds.
#include "test/unit/runtime/KernelTestUtil.h"

using namespace ds::rt;
using namespace ds::rt::test;

namespace {

void expectError(const Status &status, const std::string &fragment) {
  ASSERT_FALSE(status.isOk()) << "expected an error mentioning '" << fragment << "'";
  EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
}

TEST(KernelErrors, EmbeddingIdOutsideVocabulary) {
  HostTensor table = randomTensor({4, 3}, 60), out(DType::F32, {3, 3});
  HostTensor ids = indexTensor({3}, {1, 4, 0});
  expectError(runKernel("embedding", {&ids, &table}, {&out}), "ids[1] = 4");
  HostTensor negative = indexTensor({3}, {1, 0, -1});
  expectError(runKernel("embedding", {&negative, &table}, {&out}), "ids[2] = -1");
  HostTensor dy = randomTensor({3, 3}, 61), grad(DType::F32, {4, 3});
  expectError(runKernel("embedding_grad", {&ids, &dy}, {&grad}), "outside the vocabulary");
}

TEST(KernelErrors, GroupedLinearBadCounts) {
  HostTensor x = randomTensor({5, 3}, 62), w = randomTensor({2, 4, 3}, 63);
  HostTensor y(DType::F32, {5, 4});
  HostTensor shortCounts = indexTensor({2}, {2, 2});
  expectError(runKernel("grouped_linear", {&x, &w, &shortCounts}, {&y}),
              "counts sum to 4 but there are 5 rows");
  HostTensor negative = indexTensor({2}, {6, -1});
  expectError(runKernel("grouped_linear", {&x, &w, &negative}, {&y}), "counts[1] = -1");
  HostTensor dy = randomTensor({5, 4}, 64), dw(DType::F32, {2, 4, 3});
  expectError(runKernel("grouped_linear_wgrad", {&dy, &x, &shortCounts}, {&dw}), "counts sum");
}

TEST(KernelErrors, RoutingIndicesOutsideExperts) {
  HostTensor x = randomTensor({2, 3}, 65), indices = indexTensor({2, 2}, {0, 1, 3, 0});
  HostTensor permuted(DType::F32, {4, 3}), counts(DType::I32, {3}), positions(DType::I32, {2, 2});
  KernelAttrs attrs;
  attrs.setInt("num_experts", 3);
  expectError(runKernel("dispatch", {&x, &indices}, {&permuted, &counts, &positions}, attrs),
              "indices[1, 0] = 3");
  HostTensor logits = randomTensor({2, 3}, 66), dw = randomTensor({2, 2}, 67);
  HostTensor dLogits(DType::F32, {2, 3});
  KernelAttrs routerAttrs;
  routerAttrs.setString("score_func", "sigmoid");
  routerAttrs.setInt("norm_topk_prob", 1);
  routerAttrs.setFloat("routed_scale", 1.0);
  expectError(runKernel("router_grad", {&logits, &indices, &dw}, {&dLogits}, routerAttrs),
              "indices[1, 0] = 3");
}

TEST(KernelErrors, PositionsOutsidePermutedRows) {
  HostTensor input = randomTensor({4, 2}, 68), weights = randomTensor({2, 2}, 69);
  HostTensor positions = indexTensor({2, 2}, {0, 4, 2, 1}), out(DType::F32, {2, 2});
  expectError(runKernel("combine", {&input, &positions, &weights}, {&out}), "positions[0, 1] = 4");
  HostTensor dx(DType::F32, {2, 2});
  expectError(runKernel("dispatch_grad", {&input, &positions}, {&dx}), "positions[0, 1]");
}

TEST(KernelErrors, LabelOutsideVocabulary) {
  HostTensor logits = randomTensor({3, 5}, 70), labels = indexTensor({3}, {1, -100, 5});
  HostTensor loss(DType::F32, {});
  expectError(runKernel("cross_entropy", {&logits, &labels}, {&loss}), "labels[2] = 5");
}

TEST(KernelErrors, RouterRejectsNonFiniteLogitsAndBadGroups) {
  HostTensor logits = randomTensor({2, 4}, 71), bias = randomTensor({4}, 72);
  HostTensor indices(DType::I32, {2, 2}), weights(DType::F32, {2, 2});
  KernelAttrs attrs;
  attrs.setInt("top_k", 2);
  attrs.setInt("n_group", 3);
  attrs.setInt("topk_group", 1);
  attrs.setString("score_func", "sigmoid");
  attrs.setString("group_score", "top2_sum");
  attrs.setInt("norm_topk_prob", 1);
  attrs.setFloat("routed_scale", 1.0);
  expectError(runKernel("router", {&logits, &bias}, {&indices, &weights}, attrs),
              "n_group 3 does not divide the 4 experts");
  attrs.setInt("n_group", 2);
  logits.set(5, NAN);
  expectError(runKernel("router", {&logits, &bias}, {&indices, &weights}, attrs), "logits[1, 1]");
}

TEST(KernelErrors, MalformedCalls) {
  HostTensor x = randomTensor({2, 3}, 73), w = randomTensor({4, 3}, 74);
  HostTensor y(DType::F32, {2, 4});
  expectError(runKernel("linear", {&x}, {&y}), "linear: expected 2 inputs but got 1");
  HostTensor ids = indexTensor({2, 3}, {0, 0, 0, 0, 0, 0});
  expectError(runKernel("linear", {&ids, &w}, {&y}), "input has dtype i32");
  HostTensor wrongWidth = randomTensor({4, 5}, 75);
  expectError(runKernel("linear", {&x, &wrongWidth}, {&y}), "expects a last dimension of 5");
  HostTensor smallOut(DType::F32, {2, 3});
  expectError(runKernel("linear", {&x, &w}, {&smallOut}), "result has shape 2x3xf32");
  HostTensor weight = randomTensor({3}, 76), normed(DType::F32, {2, 3});
  expectError(runKernel("rms_norm", {&x, &weight}, {&normed}), "missing float attribute 'eps'");
  KernelAttrs attrs;
  attrs.setFloat("eps", 1e-6);
  KernelCall call;
  call.inputs = {x.view(), weight.view()};
  call.inputs[0].data = nullptr;
  call.outputs = {normed.view()};
  call.attrs = attrs;
  expectError(lookupKernel(Backend::Cpu, "rms_norm")(call), "has no memory");
}

TEST(KernelErrors, BalanceLossSequencesMustDivideTokens) {
  HostTensor logits = randomTensor({5, 4}, 77);
  HostTensor indices = indexTensor({5, 1}, {0, 1, 2, 3, 0}), loss(DType::F32, {});
  KernelAttrs attrs;
  attrs.setFloat("alpha", 0.1);
  attrs.setInt("num_sequences", 2);
  attrs.setString("score_func", "sigmoid");
  expectError(runKernel("balance_loss", {&logits, &indices}, {&loss}, attrs),
              "num_sequences 2 does not divide the 5 tokens");
}

TEST(KernelErrors, SliceOutOfRangeAndBiasUpdateNegativeCounts) {
  HostTensor x = randomTensor({2, 4}, 78), part(DType::F32, {2, 2});
  KernelAttrs attrs;
  attrs.setInt("dim", 1);
  attrs.setInt("offset", 3);
  attrs.setInt("size", 2);
  expectError(runKernel("slice", {&x}, {&part}, attrs), "the range [3, 5) of dim 1");
  HostTensor bias = randomTensor({2}, 79), counts = indexTensor({2}, {3, -2});
  HostTensor updated(DType::F32, {2});
  KernelAttrs gamma;
  gamma.setFloat("gamma", 0.001);
  expectError(runKernel("bias_update", {&bias, &counts}, {&updated}, gamma), "counts[1] = -2");
}

} // namespace
