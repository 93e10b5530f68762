//===- StepGradCheck.cpp - finite differences over a whole model step -----===//
//
//   StepGradCheck GRADIENTS.dsplan [--seed N] [--elements K]
//
// Checks the compiler's backward graph end to end: a plan of @gradients (ds-compile
// --mode gradients) runs once on seeded weights and random tokens, and its grad.<P>
// outputs are compared with central differences of its "loss" output, for every
// parameter P of the model:
//  * along the analytic gradient's own direction u = g / |g|: the derivative of the loss
//    along u is |g| when g is right. One check covers every element of P at once and has
//    the largest signal a single direction can have, so FP32 rounding of the loss stays
//    far below it and the tolerance can be tight;
//  * at the K elements of P with the largest |g| (single-coordinate derivatives; their
//    signal is smaller, so the tolerance is looser).
// Top-k routing is piecewise constant in the weights: a perturbation that moves a token
// to another expert makes the loss jump. Such a perturbation shows as a changed
// expert_counts.<L> output; the check then halves h (directional) or moves on to the next
// element, and reports what it skipped. Exits 1 if any check fails or if a parameter kind
// the issue names (embedding, MLA projections and latent norms, router gate, routed and
// shared experts, MTP, final norm, head) was not checked.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Executor.h"
#include "runtime/plan/PlanReader.h"
#include "runtime/train/Initialize.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using namespace ds::rt;

namespace {

// Tolerances. Each FP32 loss is rounded by up to about one unit in its last place, which
// a central difference at h turns into ~ulp(loss) / h in the derivative, and the
// Richardson combination below into about 6 ulp / h: every check allows kNoiseUlps of
// that on top of its relative tolerance. Along g the step is chosen so that the loss
// moves by kDirectionSignal ulps (noise ~4e-3 of |g| at worst), capped at 0.1 |P|;
// 1e-2 then catches a VJP that is off by a few percent everywhere and, on the many
// parameters whose |g| is large, by 1%. Single elements have derivatives of 1e-4..1e-1
// and less room to grow h, hence the looser tolerance.
constexpr double kNoiseUlps = 8;
constexpr double kDirectionRelTol = 5e-3;
constexpr double kDirectionSignal = 2048;
constexpr double kElementRelTol = 5e-2;
constexpr double kElementSignal = 256;
constexpr int kMaxHalvings = 8;

/// Parameter kinds the whole-step check must cover (issue 4), by a part of their names.
const char *const kRequiredKinds[] = {
    "model.embed_tokens.weight", "self_attn.q_a_proj.weight",
    "self_attn.q_b_proj.weight", "self_attn.kv_a_proj_with_mqa.weight",
    "self_attn.kv_b_proj.weight", "self_attn.o_proj.weight",
    "self_attn.q_a_layernorm.weight", "self_attn.kv_a_layernorm.weight",
    "mlp.gate.weight", "mlp.experts.gate_up",
    "mlp.experts.down", "mlp.shared_experts.gate_up",
    "mlp.shared_experts.down_proj.weight", "eh_proj.weight",
    "enorm.weight", "hnorm.weight",
    "lm_head.weight", "model.norm.weight"};

int fail(const std::string &message) {
  std::fprintf(stderr, "StepGradCheck: error: %s\n", message.c_str());
  return 1;
}

/// Runs the plan and reads the loss and the routing (every expert_counts output).
class Step {
public:
  static Expected<Step> create(Plan plan, uint64_t seed) {
    Expected<Executor> executor = Executor::create(
        std::move(plan), [](const std::string &kernel) { return lookupKernel(Backend::Cpu, kernel); });
    if (!executor)
      return executor.status();
    Step step(executor.take());
    DS_RETURN_IF_ERROR(initializeState(step.executor_, seed));
    const Plan &p = step.executor_.plan();
    Expected<TensorView> tokens = step.executor_.find(BufferRole::Input, "tokens");
    Expected<TensorView> loss = step.executor_.find(BufferRole::Output, "loss");
    if (!tokens || !loss)
      return errorf("the plan has no 'tokens' input or 'loss' output");
    step.loss_ = *loss;
    // Random ids: every row of the embedding and the head sees a gradient somewhere.
    std::mt19937_64 rng(mixSeed(seed));
    int32_t *ids = tokens->as<int32_t>();
    for (int64_t i = 0; i < tokens->numElements(); ++i)
      ids[i] = static_cast<int32_t>(rng() % static_cast<uint64_t>(p.vocabSize));
    for (size_t i = 0; i < p.buffers.size(); ++i)
      if (p.buffers[i].role == BufferRole::Output &&
          p.buffers[i].name.rfind("expert_counts.", 0) == 0)
        step.counts_.push_back(step.executor_.view(static_cast<int32_t>(i)));
    return step;
  }

  /// Runs once; returns the loss, and every layer's expert counts in `routing`.
  Expected<double> run(std::vector<int32_t> &routing) {
    DS_RETURN_IF_ERROR(executor_.run());
    routing.clear();
    for (const TensorView &counts : counts_)
      routing.insert(routing.end(), counts.as<int32_t>(),
                     counts.as<int32_t>() + counts.numElements());
    return static_cast<double>(*loss_.as<float>());
  }

  Executor &executor() { return executor_; }

private:
  explicit Step(Executor executor) : executor_(std::move(executor)) {}
  Executor executor_;
  TensorView loss_;
  std::vector<TensorView> counts_;
};

struct Tally {
  /// Weak checks passed only thanks to the rounding allowance (it exceeds 25% of the
  /// derivative); they do not count towards covering a parameter kind.
  int checked = 0, failed = 0, skipped = 0, weak = 0;

  /// Records one comparison and returns its status for the table.
  const char *record(double analytic, double numeric, double relTol, double noise) {
    double scale = std::max(std::fabs(analytic), std::fabs(numeric));
    ++checked;
    if (std::fabs(analytic - numeric) > relTol * scale + noise) {
      ++failed;
      return "FAIL";
    }
    if (noise > 0.25 * scale) {
      ++weak;
      return "weak";
    }
    return "ok";
  }
};

double relativeError(double analytic, double numeric) {
  double scale = std::max(std::fabs(analytic), std::fabs(numeric));
  return scale == 0 ? 0 : std::fabs(analytic - numeric) / scale;
}

/// (L(x + h d) - L(x - h d)) / 2h for `param` = `origin` + t `direction`; restores
/// `param`. Sets `flipped` when either side routes differently from `routing`.
Expected<double> centralDifference(Step &step, float *param, const std::vector<float> &origin,
                                   const std::vector<float> &direction, double h,
                                   const std::vector<int32_t> &routing, bool &flipped) {
  double losses[2];
  std::vector<int32_t> sideRouting;
  flipped = false;
  for (int side = 0; side < 2; ++side) {
    double t = side == 0 ? h : -h;
    for (size_t i = 0; i < origin.size(); ++i)
      param[i] = static_cast<float>(origin[i] + t * direction[i]);
    Expected<double> loss = step.run(sideRouting);
    if (!loss)
      return loss.status();
    losses[side] = *loss;
    flipped = flipped || sideRouting != routing;
  }
  std::copy(origin.begin(), origin.end(), param);
  return (losses[0] - losses[1]) / (2 * h);
}

/// The derivative of the loss along `direction`, Richardson-extrapolated from central
/// differences at h and h/2 ((4 D(h/2) - D(h)) / 3 cancels their O(h^2) error, so h can
/// be large enough to lift the loss change far above FP32 rounding). Halves h, up to
/// `halvings` times, while a step flips the routing; NaN when every h did.
Expected<double> derivative(Step &step, float *param, const std::vector<float> &origin,
                            const std::vector<float> &direction, double &h,
                            const std::vector<int32_t> &routing, int halvings) {
  for (int attempt = 0; attempt <= halvings; ++attempt, h /= 2) {
    bool flippedFull, flippedHalf;
    Expected<double> full = centralDifference(step, param, origin, direction, h, routing,
                                              flippedFull);
    if (!full)
      return full.status();
    if (flippedFull)
      continue;
    Expected<double> half = centralDifference(step, param, origin, direction, h / 2, routing,
                                              flippedHalf);
    if (!half)
      return half.status();
    if (!flippedHalf)
      return (4 * *half - *full) / 3;
  }
  return std::nan("");
}

/// Every check of one parameter; prints a row per check.
Expected<Tally> checkParam(Step &step, const std::string &name, float *param,
                           const float *grad, int64_t n, int elements,
                           const std::vector<int32_t> &routing, double ulp) {
  Tally tally;
  std::vector<float> origin(param, param + n);
  double gradNorm = 0, paramSq = 0;
  for (int64_t i = 0; i < n; ++i) {
    gradNorm += static_cast<double>(grad[i]) * grad[i];
    paramSq += static_cast<double>(origin[i]) * origin[i];
  }
  gradNorm = std::sqrt(gradNorm);
  double paramRms = std::sqrt(paramSq / static_cast<double>(n));
  if (!std::isfinite(gradNorm))
    return errorf("grad.", name, " is not finite");
  if (gradNorm == 0) {
    std::printf("%-52s %-9s gradient is zero: nothing reaches the loss?\n", name.c_str(), "-");
    tally.failed = 1;
    return tally;
  }

  // Along u = g/|g|: at least 1e-2 x |P| (every element moves by ~1e-2 of its size), more
  // when |g| is small so that the loss moves well above its rounding, at most 0.1 x |P|.
  std::vector<float> direction(n);
  for (int64_t i = 0; i < n; ++i)
    direction[i] = static_cast<float>(grad[i] / gradNorm);
  double paramNorm = std::max(paramRms * std::sqrt(static_cast<double>(n)), 1e-2);
  double h = std::min(std::max(1e-2 * paramNorm, kDirectionSignal * ulp / gradNorm),
                      0.1 * paramNorm);
  Expected<double> numeric =
      derivative(step, param, origin, direction, h, routing, kMaxHalvings);
  if (!numeric)
    return numeric.status();
  if (std::isnan(*numeric)) {
    std::printf("%-52s %-9s skipped: every step flips the routing\n", name.c_str(), "along g");
    ++tally.skipped;
  } else {
    const char *status =
        tally.record(gradNorm, *numeric, kDirectionRelTol, kNoiseUlps * ulp / h);
    std::printf("%-52s %-9s h=%-9.2e %+.6e %+.6e %.2e %s\n", name.c_str(), "along g", h,
                gradNorm, *numeric, relativeError(gradNorm, *numeric), status);
  }

  // Single elements with the largest |g|, walking down the order past routing flips.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  int64_t candidates = std::min<int64_t>(n, 4 * elements);
  std::partial_sort(order.begin(), order.begin() + candidates, order.end(),
                    [&](int64_t a, int64_t b) { return std::fabs(grad[a]) > std::fabs(grad[b]); });
  int done = 0;
  for (int64_t c = 0; c < candidates && done < elements; ++c) {
    int64_t index = order[c];
    std::vector<float> one(1, origin[index]), unit(1, 1.0f);
    // Large enough for the loss to move by kElementSignal ulps, but at most half the
    // element's own scale (norm weights are 1, projections ~initializer_range).
    double scale = std::max<double>(std::fabs(origin[index]), paramRms);
    double elementH = std::clamp(kElementSignal * ulp / std::fabs(grad[index]), 1e-3,
                                 std::max(0.5 * scale, 1e-3));
    Expected<double> d =
        derivative(step, param + index, one, unit, elementH, routing, /*halvings=*/0);
    if (!d)
      return d.status();
    if (std::isnan(*d)) {
      ++tally.skipped;
      continue;
    }
    double analytic = grad[index];
    const char *status =
        tally.record(analytic, *d, kElementRelTol, kNoiseUlps * ulp / elementH);
    std::printf("%-52s [%-7lld] h=%-9.2e %+.6e %+.6e %.2e %s\n", name.c_str(),
                static_cast<long long>(index), elementH, analytic, *d,
                relativeError(analytic, *d), status);
    ++done;
  }
  return tally;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return fail("usage: StepGradCheck GRADIENTS.dsplan [--seed N] [--elements K]");
  uint64_t seed = 7;
  int elements = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seed") == 0)
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--elements") == 0)
      elements = std::atoi(argv[i + 1]);
    else
      return fail(std::string("unknown option ") + argv[i]);
  }
  PlanCheckOptions options;
  options.kernelExists = [](const std::string &k) { return lookupKernel(Backend::Cpu, k) != nullptr; };
  Expected<Plan> plan = readPlanFile(argv[1], options);
  if (!plan)
    return fail(plan.status().message());
  Expected<Step> created = Step::create(plan.take(), seed);
  if (!created)
    return fail(created.status().message());
  Step &step = *created;
  std::vector<int32_t> routing;
  Expected<double> loss = step.run(routing);
  if (!loss)
    return fail(loss.status().message());
  std::printf("loss %.6f, seed %llu\n", *loss, static_cast<unsigned long long>(seed));
  // One unit in the last place of the FP32 loss: the rounding of each evaluation.
  float lossValue = static_cast<float>(*loss);
  double ulp = std::nextafter(lossValue, INFINITY) - lossValue;

  // The analytic gradients of the unperturbed weights, all copied before any rerun.
  const Plan &p = step.executor().plan();
  std::vector<int32_t> params;
  std::vector<std::vector<float>> grads;
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    if (p.buffers[i].role != BufferRole::Param)
      continue;
    Expected<TensorView> grad =
        step.executor().find(BufferRole::Output, "grad." + p.buffers[i].name);
    if (!grad)
      return fail(grad.status().message());
    params.push_back(static_cast<int32_t>(i));
    grads.emplace_back(grad->as<float>(), grad->as<float>() + grad->numElements());
  }

  Tally total;
  std::vector<std::string> checkedNames;
  std::printf("%-52s %-9s %-11s %-13s %-13s %-8s\n", "parameter", "element", "step",
              "analytic", "numeric", "rel.err");
  for (size_t k = 0; k < params.size(); ++k) {
    const PlanBuffer &buffer = p.buffers[params[k]];
    float *param = step.executor().view(params[k]).as<float>();
    Expected<Tally> tally = checkParam(step, buffer.name, param, grads[k].data(),
                                       buffer.numElements(), elements, routing, ulp);
    if (!tally)
      return fail(buffer.name + ": " + tally.status().message());
    total.checked += tally->checked;
    total.failed += tally->failed;
    total.skipped += tally->skipped;
    total.weak += tally->weak;
    if (tally->checked - tally->failed - tally->weak > 0)
      checkedNames.push_back(buffer.name);
  }
  std::printf("%d checks, %d failed, %d weak (within rounding only), %d skipped for routing "
              "flips\n",
              total.checked, total.failed, total.weak, total.skipped);
  for (const char *kind : kRequiredKinds)
    if (std::none_of(checkedNames.begin(), checkedNames.end(),
                     [&](const std::string &name) { return name.find(kind) != std::string::npos; }))
      return fail(std::string("no parameter of kind '") + kind +
                  "' passed a check above the rounding noise");
  return total.failed == 0 ? 0 : 1;
}
