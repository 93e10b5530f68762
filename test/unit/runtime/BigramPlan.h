//===- BigramPlan.h - a hand-built training step for the runtime tests ----===//
//
// A bigram language model (embedding -> output head -> cross-entropy, its backward,
// global-norm clipping, AdamW) laid out as ds-compile lays out a step and run by the CPU
// kernels, so that the training loop and checkpoints are tested without the compiler.
// The registry has no constant kernel: the gradient seed comes from `test_fill`, which a
// test's kernel resolver maps to testFill.
//
//===----------------------------------------------------------------------===//
#ifndef DS_TEST_UNIT_RUNTIME_BIGRAMPLAN_H
#define DS_TEST_UNIT_RUNTIME_BIGRAMPLAN_H

#include "runtime/kernels/Kernel.h"
#include "runtime/plan/Plan.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace ds::rt::test {

struct BigramOptions {
  int64_t batch = 4, seq = 16, vocab = 256, width = 16;
  std::string specJson = "{}";
  double beta1 = 0.9, weightDecay = 0.0;
  /// Also report the loss as "loss.main", the name ds-compile gives the cross-entropy part.
  bool mainLoss = false;
  /// When not empty, the name of a non-trained buffer (BufferRole::Buffer, F32 [4]).
  std::string extraBuffer;
};

struct PlanBuilder {
  Plan plan;
  int32_t buffer(std::string name, BufferRole role, DType dtype, std::vector<int64_t> shape,
                 std::string init = "") {
    plan.buffers.push_back({std::move(name), role, dtype, std::move(shape), 0, std::move(init)});
    return static_cast<int32_t>(plan.buffers.size() - 1);
  }
  int32_t temp(std::vector<int64_t> shape, DType dtype = DType::F32) {
    return buffer("", BufferRole::Temporary, dtype, std::move(shape));
  }
  PlanLaunch &launch(std::string kernel, std::vector<int32_t> in, std::vector<int32_t> out) {
    plan.launches.push_back({std::move(kernel), std::move(in), std::move(out), {}});
    return plan.launches.back();
  }
  // AdamW of one parameter: its moments become state, its results update it.
  void adamw(const std::string &name, int32_t param, int32_t grad, int32_t lr, int32_t step,
             int32_t norm, double beta1, double weightDecay) {
    std::vector<int64_t> shape = plan.buffers[param].shape;
    int32_t m = buffer("exp_avg." + name, BufferRole::State, DType::F32, shape);
    int32_t v = buffer("exp_avg_sq." + name, BufferRole::State, DType::F32, shape);
    int32_t p2 = temp(shape), m2 = temp(shape), v2 = temp(shape);
    PlanLaunch &l = launch("adamw", {param, grad, m, v, lr, step, norm}, {p2, m2, v2});
    l.attrs.setFloat("beta1", beta1);
    l.attrs.setFloat("beta2", 0.95);
    l.attrs.setFloat("epsilon", 1e-8);
    l.attrs.setFloat("weight_decay", weightDecay);
    l.attrs.setFloat("max_grad_norm", 1.0);
    plan.updates.push_back({p2, param});
    plan.updates.push_back({m2, m});
    plan.updates.push_back({v2, v});
  }
};

inline Plan bigramPlan(const BigramOptions &o = {}) {
  PlanBuilder b;
  b.plan.modelType = "bigram";
  b.plan.specJson = o.specJson;
  b.plan.batch = o.batch;
  b.plan.seq = o.seq;
  b.plan.vocabSize = o.vocab;
  b.plan.initializerRange = 0.02;
  int32_t tokens = b.buffer("tokens", BufferRole::Input, DType::I32, {o.batch, o.seq + 1});
  int32_t lr = b.buffer("lr", BufferRole::Input, DType::F32, {});
  int32_t step = b.buffer("step", BufferRole::Input, DType::F32, {});
  int32_t table = b.buffer("model.embed_tokens.weight", BufferRole::Param, DType::F32,
                           {o.vocab, o.width}, "normal");
  int32_t head = b.buffer("lm_head.weight", BufferRole::Param, DType::F32,
                          {o.vocab, o.width}, "normal");
  if (!o.extraBuffer.empty())
    b.buffer(o.extraBuffer, BufferRole::Buffer, DType::F32, {4});
  int32_t ids = b.temp({o.batch, o.seq}, DType::I32);
  int32_t labels = b.temp({o.batch, o.seq}, DType::I32);
  for (auto [out, offset] : {std::make_pair(ids, 0), std::make_pair(labels, 1)}) {
    PlanLaunch &l = b.launch("slice", {tokens}, {out});
    l.attrs.setInt("dim", 1);
    l.attrs.setInt("offset", offset);
    l.attrs.setInt("size", o.seq);
  }
  int32_t hidden = b.temp({o.batch, o.seq, o.width});
  int32_t logits = b.temp({o.batch, o.seq, o.vocab});
  b.launch("embedding", {ids, table}, {hidden});
  b.launch("linear", {hidden, head}, {logits});
  int32_t loss = b.buffer("loss", BufferRole::Output, DType::F32, {});
  int32_t lossMain =
      o.mainLoss ? b.buffer("loss.main", BufferRole::Output, DType::F32, {}) : -1;
  b.launch("cross_entropy", {logits, labels}, {loss}).attrs.setInt("ignore_index", -100);
  if (o.mainLoss)
    b.launch("scale", {loss}, {lossMain}).attrs.setFloat("factor", 1.0);
  int32_t seed = b.temp({});
  b.launch("test_fill", {}, {seed}).attrs.setFloat("value", 1.0);
  int32_t dlogits = b.temp({o.batch, o.seq, o.vocab});
  b.launch("cross_entropy_grad", {logits, labels, seed}, {dlogits})
      .attrs.setInt("ignore_index", -100);
  int32_t dhead = b.temp({o.vocab, o.width}), dhidden = b.temp({o.batch, o.seq, o.width}),
          dtable = b.temp({o.vocab, o.width});
  b.launch("linear_wgrad", {dlogits, hidden}, {dhead});
  b.launch("linear_dgrad", {dlogits, head}, {dhidden});
  b.launch("embedding_grad", {ids, dhidden}, {dtable});
  int32_t norm = b.buffer("grad_norm", BufferRole::Output, DType::F32, {});
  b.launch("grad_norm", {dhead, dtable}, {norm});
  b.adamw("lm_head.weight", head, dhead, lr, step, norm, o.beta1, o.weightDecay);
  b.adamw("model.embed_tokens.weight", table, dtable, lr, step, norm, o.beta1,
          o.weightDecay);
  EXPECT_TRUE(layoutPlanWithoutReuse(b.plan).isOk());
  return b.plan;
}

/// The gradient seed dL/dL = 1 (kernel `test_fill`, attribute `value`).
inline Status testFill(KernelCall &call) {
  float value = static_cast<float>(call.attrs.getFloat("value"));
  for (int64_t i = 0; i < call.outputs[0].numElements(); ++i)
    call.outputs[0].as<float>()[i] = value;
  return Status::ok();
}

} // namespace ds::rt::test

#endif
