//===- CrossEntropy.cpp - ds.cross_entropy and ds.cross_entropy_grad ------===//
//
// Mean next-token cross-entropy over the labels that count (label != ignore_index, HF's
// -100 by default), as torch.nn.functional.cross_entropy(reduction="mean"): 0 when no label
// counts. log-sum-exp is taken after subtracting the row maximum, with the sum of
// exponentials and the loss total in double.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <algorithm>
#include <cmath>

namespace ds::rt::cpu {
namespace {

struct Rows {
  int64_t rows, vocab, ignoreIndex, counted;
};

Status checkLabels(const char *k, const KernelCall &call, Rows &r) {
  const TensorView &logits = call.inputs[0], &labelsView = call.inputs[1];
  DS_RETURN_IF_ERROR(expectMinRank(k, "logits", logits, 1));
  r.vocab = logits.dim(-1);
  r.rows = labelsView.numElements();
  std::vector<int64_t> leading(logits.shape.begin(), logits.shape.end() - 1);
  DS_RETURN_IF_ERROR(expectShape(k, "labels", labelsView, leading));
  r.ignoreIndex = call.attrs.getInt("ignore_index", -100);
  r.counted = 0;
  const int32_t *labels = labelsView.as<const int32_t>();
  for (int64_t i = 0; i < r.rows; ++i) {
    if (labels[i] == r.ignoreIndex)
      continue;
    if (labels[i] < 0 || labels[i] >= r.vocab)
      return errorf(k, ": labels[", i, "] = ", labels[i], " is outside the vocabulary [0, ",
                    r.vocab, ") and is not ignore_index (", r.ignoreIndex, ")");
    ++r.counted;
  }
  return Status::ok();
}

/// Row maximum and log(sum(exp(x - max))); exponentials in FP32 (each within an ulp),
/// their sum in double.
void logSumExp(const float *x, int64_t vocab, float &maxLogit, double &logSum) {
  maxLogit = -INFINITY;
  for (int64_t j = 0; j < vocab; ++j)
    maxLogit = std::max(maxLogit, x[j]);
  double sum = 0.0;
  for (int64_t j = 0; j < vocab; ++j)
    sum += std::exp(x[j] - maxLogit);
  logSum = std::log(sum);
}

} // namespace

Status crossEntropy(KernelCall &call) {
  const char *k = "cross_entropy";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"logits", Elem::Float}, {"labels", Elem::Index}},
                               {{"result", Elem::Float}}));
  Rows r;
  DS_RETURN_IF_ERROR(checkLabels(k, call, r));
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[0], 1));
  FloatReader logits(call.inputs[0]);
  const int32_t *labels = call.inputs[1].as<const int32_t>();
  // Per-row losses first (rows are independent), then one sum in row order, so the
  // result does not depend on how rows are spread over threads.
  std::vector<double> rowLoss(r.rows, 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < r.rows; ++i) {
    if (labels[i] == r.ignoreIndex)
      continue;
    const float *x = logits.data() + i * r.vocab;
    float maxLogit;
    double logSum;
    logSumExp(x, r.vocab, maxLogit, logSum);
    rowLoss[i] = logSum - (static_cast<double>(x[labels[i]]) - maxLogit);
  }
  double total = 0.0;
  for (double loss : rowLoss)
    total += loss;
  writeScalar(call.outputs[0], r.counted == 0 ? 0.0f : static_cast<float>(total / r.counted));
  return Status::ok();
}

Status crossEntropyGrad(KernelCall &call) {
  const char *k = "cross_entropy_grad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"logits", Elem::Float}, {"labels", Elem::Index}, {"result_grad", Elem::Float}},
      {{"logits_grad", Elem::Float}}));
  Rows r;
  DS_RETURN_IF_ERROR(checkLabels(k, call, r));
  DS_RETURN_IF_ERROR(expectElements(k, "result_grad", call.inputs[2], 1));
  DS_RETURN_IF_ERROR(expectShape(k, "logits_grad", call.outputs[0], call.inputs[0].shape));
  FloatReader logits(call.inputs[0]);
  FloatWriter logitsGrad(call.outputs[0]);
  const int32_t *labels = call.inputs[1].as<const int32_t>();
  double perRow = r.counted == 0 ? 0.0 : readScalar(call.inputs[2]) / r.counted;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < r.rows; ++i) {
    float *dx = logitsGrad.data() + i * r.vocab;
    if (labels[i] == r.ignoreIndex) {
      std::fill(dx, dx + r.vocab, 0.0f);
      continue;
    }
    // softmax in one pass of exponentials: dx holds exp(x - max) until it is scaled.
    const float *x = logits.data() + i * r.vocab;
    float maxLogit = -INFINITY;
    for (int64_t j = 0; j < r.vocab; ++j)
      maxLogit = std::max(maxLogit, x[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < r.vocab; ++j)
      sum += (dx[j] = std::exp(x[j] - maxLogit));
    float scale = static_cast<float>(perRow);
    float probScale = static_cast<float>(perRow / sum);
    for (int64_t j = 0; j < r.vocab; ++j)
      dx[j] *= probScale;
    dx[labels[i]] -= scale;
  }
  return Status::ok();
}

} // namespace ds::rt::cpu
