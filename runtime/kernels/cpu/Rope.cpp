//===- Rope.cpp - ds.rope and ds.rope_grad --------------------------------===//
//
// Rotary position embedding (Su et al. 2021) of x [B, S, H, Dr] at positions 0..S-1: pair
// i of the last dimension turns by pos * inv_freq[i], inv_freq[i] = theta^(-2i/Dr), and
// the result is scaled by yarn_attention_factor (HF scales cos and sin by it).
// Pairs are (2i, 2i+1) when interleaved (DeepSeek's inference/model.py, view_as_complex)
// and (i, i + Dr/2) otherwise (HF rotate_half).
//
// YaRN (Peng et al. 2023; V3 report §4.3), active when yarn_factor > 1, follows HF
// `_compute_yarn_parameters` (and DeepSeek's precompute_freqs_cis): frequencies below the
// correction range are interpolated (divided by the factor), those above kept, with a
// linear ramp between.
//
// Angles and their cos/sin are computed in double and rounded once to FP32. The backward
// is the transposed rotation, scaled by the same factor.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <algorithm>
#include <cmath>

namespace ds::rt::cpu {
namespace {

constexpr double kPi = 3.14159265358979323846;

struct RopeTables {
  int64_t halfDim = 0;
  std::vector<float> cosines; // [S, Dr/2], already times the attention factor
  std::vector<float> sines;
  bool interleaved = false;
};

/// HF find_correction_dim: the dimension index whose wavelength makes `rotations` turns
/// over the original context.
double correctionDim(double rotations, int64_t dim, double base, double maxPosition) {
  return dim * std::log(maxPosition / (rotations * 2.0 * kPi)) / (2.0 * std::log(base));
}

Status inverseFrequencies(const char *kernel, const KernelAttrs &attrs, int64_t dim,
                          std::vector<double> &invFreq) {
  double theta;
  DS_RETURN_IF_ERROR(requireFloat(attrs, kernel, "theta", theta));
  if (!(theta > 1.0))
    return errorf(kernel, ": theta must be > 1, got ", theta);
  int64_t half = dim / 2;
  invFreq.resize(half);
  for (int64_t i = 0; i < half; ++i)
    invFreq[i] = std::pow(theta, -2.0 * i / dim);
  double factor = attrs.getFloat("yarn_factor", 1.0);
  if (factor <= 1.0)
    return Status::ok();
  int64_t originalMax = attrs.getInt("yarn_original_max_position", 0);
  if (originalMax <= 0)
    return errorf(kernel, ": yarn_factor ", factor, " needs yarn_original_max_position > 0, got ",
                  originalMax);
  double betaFast = attrs.getFloat("yarn_beta_fast", 32.0);
  double betaSlow = attrs.getFloat("yarn_beta_slow", 1.0);
  double low = std::floor(correctionDim(betaFast, dim, theta, originalMax));
  double high = std::ceil(correctionDim(betaSlow, dim, theta, originalMax));
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high)
    high += 0.001; // HF linear_ramp_factor avoids dividing by zero the same way
  for (int64_t i = 0; i < half; ++i) {
    double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    double extrapolation = 1.0 - ramp; // weight of the unscaled frequency
    invFreq[i] = invFreq[i] / factor * (1.0 - extrapolation) + invFreq[i] * extrapolation;
  }
  return Status::ok();
}

Status prepare(const char *kernel, KernelCall &call, const char *inputName, const char *outputName,
               RopeTables &tables) {
  DS_RETURN_IF_ERROR(
      checkCall(call, kernel, {{inputName, Elem::Float}}, {{outputName, Elem::Float}}));
  const TensorView &input = call.inputs[0];
  if (input.rank() != 4 || input.dim(3) % 2 != 0)
    return errorf(kernel, ": ", inputName, " has shape ", input.shapeString(),
                  ", expected [B, S, H, Dr] with Dr even");
  DS_RETURN_IF_ERROR(expectShape(kernel, outputName, call.outputs[0], input.shape));
  int64_t seq = input.dim(1), dim = input.dim(3);
  std::vector<double> invFreq;
  DS_RETURN_IF_ERROR(inverseFrequencies(kernel, call.attrs, dim, invFreq));
  double attentionFactor = call.attrs.getFloat("yarn_attention_factor", 1.0);
  tables.halfDim = dim / 2;
  tables.interleaved = call.attrs.getBool("interleaved", false);
  tables.cosines.resize(seq * tables.halfDim);
  tables.sines.resize(seq * tables.halfDim);
  for (int64_t pos = 0; pos < seq; ++pos)
    for (int64_t i = 0; i < tables.halfDim; ++i) {
      double angle = pos * invFreq[i];
      tables.cosines[pos * tables.halfDim + i] =
          static_cast<float>(std::cos(angle) * attentionFactor);
      tables.sines[pos * tables.halfDim + i] =
          static_cast<float>(std::sin(angle) * attentionFactor);
    }
  return Status::ok();
}

/// Rotates every pair by +angle (forward) or -angle (the transpose, for the gradient).
void rotate(const TensorView &inputView, const TensorView &outputView, const RopeTables &t,
            bool transpose) {
  FloatReader input(inputView);
  FloatWriter output(outputView);
  int64_t batch = inputView.dim(0), seq = inputView.dim(1), heads = inputView.dim(2);
  int64_t half = t.halfDim;
  float sign = transpose ? -1.0f : 1.0f;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t pos = 0; pos < seq; ++pos)
      for (int64_t h = 0; h < heads; ++h) {
        int64_t base = ((b * seq + pos) * heads + h) * 2 * half;
        const float *x = input.data() + base;
        float *y = output.data() + base;
        const float *cosRow = t.cosines.data() + pos * half;
        const float *sinRow = t.sines.data() + pos * half;
        for (int64_t i = 0; i < half; ++i) {
          int64_t first = t.interleaved ? 2 * i : i;
          int64_t second = t.interleaved ? 2 * i + 1 : i + half;
          float c = cosRow[i], s = sign * sinRow[i];
          float a = x[first], bValue = x[second];
          y[first] = a * c - bValue * s;
          y[second] = bValue * c + a * s;
        }
      }
}

} // namespace

Status rope(KernelCall &call) {
  RopeTables tables;
  DS_RETURN_IF_ERROR(prepare("rope", call, "input", "result", tables));
  rotate(call.inputs[0], call.outputs[0], tables, /*transpose=*/false);
  return Status::ok();
}

Status ropeGrad(KernelCall &call) {
  RopeTables tables;
  DS_RETURN_IF_ERROR(prepare("rope_grad", call, "result_grad", "input_grad", tables));
  rotate(call.inputs[0], call.outputs[0], tables, /*transpose=*/true);
  return Status::ok();
}

} // namespace ds::rt::cpu
