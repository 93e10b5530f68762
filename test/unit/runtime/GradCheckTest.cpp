// Every backward kernel against central finite differences of its forward kernel:
// L = sum(out * r) with random r (fixed seeds); the backward kernel gets r as its result
// gradient and must reproduce dL/dinput. See KernelTestUtil.h for the tolerance rule.
#include "test/unit/runtime/KernelTestUtil.h"

using namespace ds::rt;
using namespace ds::rt::test;

namespace {

constexpr double kTolerance = 1e-2;

/// Runs the backward kernel; `outputs` hold its result shapes and receive the gradients.
void runBackward(const std::string &kernel, std::vector<HostTensor *> inputs,
                 std::vector<HostTensor *> outputs, const KernelAttrs &attrs = {}) {
  Status status = runKernel(kernel, inputs, outputs, attrs);
  ASSERT_TRUE(status.isOk()) << kernel << ": " << status.message();
}

void checkInput(ForwardLaunch &forward, size_t input, const HostTensor &analytic,
                const std::string &what) {
  expectGradientMatches(analytic, numericGradient(forward, input), kTolerance, what);
}

ForwardLaunch launch(std::string kernel, std::vector<HostTensor> inputs,
                     std::vector<HostTensor> outputs, KernelAttrs attrs = {}) {
  ForwardLaunch f;
  f.kernel = std::move(kernel);
  f.inputs = std::move(inputs);
  f.outputs = std::move(outputs);
  f.attrs = std::move(attrs);
  return f;
}

TEST(GradCheck, EmbeddingGrad) {
  HostTensor ids = indexTensor({2, 3}, {4, 1, 4, 0, 2, 1}); // repeats, row 3 unused
  ForwardLaunch f =
      launch("embedding", {ids, randomTensor({5, 3}, 100)}, {HostTensor(DType::F32, {2, 3, 3})});
  f.randomLossWeights({0}, 101);
  HostTensor tableGrad(DType::F32, {5, 3});
  runBackward("embedding_grad", {&ids, &f.lossWeights[0]}, {&tableGrad});
  checkInput(f, 1, tableGrad, "table");
}

TEST(GradCheck, RmsNormGrad) {
  KernelAttrs attrs;
  attrs.setFloat("eps", 1e-5);
  ForwardLaunch f = launch("rms_norm", {randomTensor({3, 6}, 102), randomTensor({6}, 103)},
                           {HostTensor(DType::F32, {3, 6})}, attrs);
  f.randomLossWeights({0}, 104);
  HostTensor dx(DType::F32, {3, 6}), dw(DType::F32, {6});
  runBackward("rms_norm_grad", {&f.inputs[0], &f.inputs[1], &f.lossWeights[0]}, {&dx, &dw}, attrs);
  checkInput(f, 0, dx, "input");
  checkInput(f, 1, dw, "weight");
}

TEST(GradCheck, LinearDgradAndWgrad) {
  ForwardLaunch f = launch("linear", {randomTensor({2, 3, 5}, 105), randomTensor({7, 5}, 106)},
                           {HostTensor(DType::F32, {2, 3, 7})});
  f.randomLossWeights({0}, 107);
  HostTensor dx(DType::F32, {2, 3, 5}), dw(DType::F32, {7, 5});
  runBackward("linear_dgrad", {&f.lossWeights[0], &f.inputs[1]}, {&dx});
  runBackward("linear_wgrad", {&f.lossWeights[0], &f.inputs[0]}, {&dw});
  checkInput(f, 0, dx, "input");
  checkInput(f, 1, dw, "weight");
}

void checkRopeGrad(bool interleaved, bool yarn) {
  KernelAttrs attrs;
  attrs.setFloat("theta", 10000.0);
  attrs.setInt("interleaved", interleaved ? 1 : 0);
  if (yarn) {
    attrs.setFloat("yarn_factor", 4.0);
    attrs.setInt("yarn_original_max_position", 64);
    attrs.setFloat("yarn_attention_factor", 1.1);
  }
  ForwardLaunch f = launch("rope", {randomTensor({2, 4, 2, 6}, 108)},
                           {HostTensor(DType::F32, {2, 4, 2, 6})}, attrs);
  f.randomLossWeights({0}, 109);
  HostTensor dx(DType::F32, {2, 4, 2, 6});
  runBackward("rope_grad", {&f.lossWeights[0]}, {&dx}, attrs);
  checkInput(f, 0, dx, "input");
}

TEST(GradCheck, RopeGradRotateHalf) { checkRopeGrad(false, false); }
TEST(GradCheck, RopeGradInterleavedYarn) { checkRopeGrad(true, true); }

void checkAttentionGrad(bool causal) {
  KernelAttrs attrs;
  attrs.setFloat("scale", 0.6);
  attrs.setInt("causal", causal ? 1 : 0);
  ForwardLaunch f = launch("attention",
                           {randomTensor({2, 4, 2, 5}, 110), randomTensor({2, 4, 2, 5}, 111),
                            randomTensor({2, 4, 2, 3}, 112)},
                           {HostTensor(DType::F32, {2, 4, 2, 3})}, attrs);
  f.randomLossWeights({0}, 113);
  f.loss();
  HostTensor result = f.outputs[0];
  HostTensor dq(DType::F32, {2, 4, 2, 5}), dk(DType::F32, {2, 4, 2, 5}),
      dv(DType::F32, {2, 4, 2, 3});
  runBackward("attention_grad",
              {&f.inputs[0], &f.inputs[1], &f.inputs[2], &result, &f.lossWeights[0]},
              {&dq, &dk, &dv}, attrs);
  checkInput(f, 0, dq, "query");
  checkInput(f, 1, dk, "key");
  checkInput(f, 2, dv, "value");
}

TEST(GradCheck, AttentionGradCausal) { checkAttentionGrad(true); }
TEST(GradCheck, AttentionGradNonCausal) { checkAttentionGrad(false); }

void checkRouterGrad(const std::string &scoreFunc, bool norm) {
  const int64_t tokens = 5, experts = 8, topK = 3;
  KernelAttrs attrs;
  attrs.setInt("top_k", topK);
  attrs.setInt("n_group", 4);
  attrs.setInt("topk_group", 2);
  attrs.setString("score_func", scoreFunc);
  attrs.setString("group_score", "top2_sum");
  attrs.setInt("norm_topk_prob", norm ? 1 : 0);
  attrs.setFloat("routed_scale", 2.5);
  ForwardLaunch f = launch(
      "router", {randomTensor({tokens, experts}, 114, 2.0f), randomTensor({experts}, 115, 0.1f)},
      {HostTensor(DType::I32, {tokens, topK}), HostTensor(DType::F32, {tokens, topK})}, attrs);
  f.randomLossWeights({1}, 116); // the weights carry the gradient; the indices do not
  f.loss();
  HostTensor indices = f.outputs[0];
  HostTensor dLogits(DType::F32, {tokens, experts});
  runBackward("router_grad", {&f.inputs[0], &indices, &f.lossWeights[1]}, {&dLogits}, attrs);
  checkInput(f, 0, dLogits, "logits");
}

TEST(GradCheck, RouterGradSigmoidNormalized) { checkRouterGrad("sigmoid", true); }
TEST(GradCheck, RouterGradSoftmaxUnnormalized) { checkRouterGrad("softmax", false); }

void checkBalanceLossGrad(const std::string &scoreFunc) {
  KernelAttrs attrs;
  attrs.setFloat("alpha", 0.3);
  attrs.setInt("num_sequences", 2);
  attrs.setString("score_func", scoreFunc);
  HostTensor indices = indexTensor({6, 2}, {0, 1, 1, 2, 3, 1, 2, 0, 2, 3, 0, 2});
  ForwardLaunch f = launch("balance_loss", {randomTensor({6, 4}, 117, 2.0f), indices},
                           {HostTensor(DType::F32, {})}, attrs);
  f.randomLossWeights({0}, 118);
  HostTensor dLogits(DType::F32, {6, 4});
  runBackward("balance_loss_grad", {&f.inputs[0], &indices, &f.lossWeights[0]}, {&dLogits}, attrs);
  checkInput(f, 0, dLogits, "logits");
}

TEST(GradCheck, BalanceLossGradSigmoid) { checkBalanceLossGrad("sigmoid"); }
TEST(GradCheck, BalanceLossGradSoftmax) { checkBalanceLossGrad("softmax"); }

TEST(GradCheck, DispatchGrad) {
  KernelAttrs attrs;
  attrs.setInt("num_experts", 3);
  HostTensor indices = indexTensor({4, 2}, {1, 0, 2, 1, 0, 2, 1, 2});
  ForwardLaunch f = launch(
      "dispatch", {randomTensor({4, 3}, 119), indices},
      {HostTensor(DType::F32, {8, 3}), HostTensor(DType::I32, {3}), HostTensor(DType::I32, {4, 2})},
      attrs);
  f.randomLossWeights({0}, 120);
  f.loss();
  HostTensor positions = f.outputs[2];
  HostTensor dx(DType::F32, {4, 3});
  runBackward("dispatch_grad", {&f.lossWeights[0], &positions}, {&dx});
  checkInput(f, 0, dx, "input");
}

TEST(GradCheck, CombineGrad) {
  // Row 1 is read twice, row 5 never.
  HostTensor positions = indexTensor({3, 2}, {1, 4, 0, 1, 3, 2});
  ForwardLaunch f =
      launch("combine", {randomTensor({6, 4}, 121), positions, randomTensor({3, 2}, 122)},
             {HostTensor(DType::F32, {3, 4})});
  f.randomLossWeights({0}, 123);
  HostTensor dInput(DType::F32, {6, 4}), dWeights(DType::F32, {3, 2});
  runBackward("combine_grad", {&f.lossWeights[0], &f.inputs[0], &positions, &f.inputs[2]},
              {&dInput, &dWeights});
  checkInput(f, 0, dInput, "input");
  checkInput(f, 2, dWeights, "weights");
  for (int j = 0; j < 4; ++j)
    EXPECT_EQ(dInput.at(5 * 4 + j), 0.0f);
}

TEST(GradCheck, GroupedLinearDgradAndWgrad) {
  HostTensor counts = indexTensor({4}, {2, 0, 3, 1}); // expert 1 is empty
  ForwardLaunch f =
      launch("grouped_linear", {randomTensor({6, 3}, 124), randomTensor({4, 5, 3}, 125), counts},
             {HostTensor(DType::F32, {6, 5})});
  f.randomLossWeights({0}, 126);
  HostTensor dx(DType::F32, {6, 3}), dw = randomTensor({4, 5, 3}, 127); // stale contents
  runBackward("grouped_linear_dgrad", {&f.lossWeights[0], &f.inputs[1], &counts}, {&dx});
  runBackward("grouped_linear_wgrad", {&f.lossWeights[0], &f.inputs[0], &counts}, {&dw});
  checkInput(f, 0, dx, "input");
  checkInput(f, 1, dw, "weight");
  for (int i = 0; i < 15; ++i)
    EXPECT_EQ(dw.at(15 + i), 0.0f); // the empty expert's gradient is zero, not stale
}

TEST(GradCheck, SwigluGrad) {
  ForwardLaunch f =
      launch("swiglu", {randomTensor({3, 8}, 128, 2.0f)}, {HostTensor(DType::F32, {3, 4})});
  f.randomLossWeights({0}, 129);
  HostTensor dx(DType::F32, {3, 8});
  runBackward("swiglu_grad", {&f.inputs[0], &f.lossWeights[0]}, {&dx});
  checkInput(f, 0, dx, "gate_up");
}

TEST(GradCheck, CrossEntropyGrad) {
  HostTensor labels = indexTensor({2, 3}, {4, -100, 0, 6, 2, 1});
  ForwardLaunch f = launch("cross_entropy", {randomTensor({2, 3, 7}, 130, 2.0f), labels},
                           {HostTensor(DType::F32, {})});
  f.randomLossWeights({0}, 131);
  HostTensor dLogits(DType::F32, {2, 3, 7});
  runBackward("cross_entropy_grad", {&f.inputs[0], &labels, &f.lossWeights[0]}, {&dLogits});
  checkInput(f, 0, dLogits, "logits");
}

TEST(GradCheck, SliceGrad) {
  KernelAttrs attrs;
  attrs.setInt("dim", 1);
  attrs.setInt("offset", 1);
  attrs.setInt("size", 2);
  ForwardLaunch f =
      launch("slice", {randomTensor({2, 4, 3}, 132)}, {HostTensor(DType::F32, {2, 2, 3})}, attrs);
  f.randomLossWeights({0}, 133);
  HostTensor dx = randomTensor({2, 4, 3}, 134); // stale contents must be overwritten
  runBackward("slice_grad", {&f.lossWeights[0]}, {&dx}, attrs);
  checkInput(f, 0, dx, "input");
}

TEST(GradCheck, ExpandGrad) {
  ForwardLaunch f =
      launch("expand", {randomTensor({3, 1}, 135)}, {HostTensor(DType::F32, {2, 3, 4})});
  f.randomLossWeights({0}, 136);
  HostTensor dx(DType::F32, {3, 1});
  runBackward("expand_grad", {&f.lossWeights[0]}, {&dx});
  checkInput(f, 0, dx, "input");
}

} // namespace
