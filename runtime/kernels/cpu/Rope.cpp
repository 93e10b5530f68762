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
// The fused kernels of MLA's RoPE chains (ds-fuse; layouts in CpuKernels.h) run the
// slices, rotations, broadcasts and concats they replace stage by stage on scratch
// tensors, so a fused plan computes exactly what the unfused one did.
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

Status checkRopeWindow(const KernelCall &call, const char *kernel, int64_t &offset,
                       int64_t &size) {
  DS_RETURN_IF_ERROR(
      checkCall(call, kernel, {{"input", Elem::Float}}, {{"result", Elem::Float}}));
  const TensorView &x = call.inputs[0];
  if (x.rank() != 4)
    return errorf(kernel, ": input has shape ", x.shapeString(), ", expected [B, S, H, D]");
  DS_RETURN_IF_ERROR(expectShape(kernel, "result", call.outputs[0], x.shape));
  DS_RETURN_IF_ERROR(requireInt(call.attrs, kernel, "offset", offset));
  DS_RETURN_IF_ERROR(requireInt(call.attrs, kernel, "size", size));
  if (offset < 0 || size <= 0 || offset + size > x.dim(3))
    return errorf(kernel, ": the rotated channels [", offset, ", ", offset + size,
                  ") are not a non-empty range inside the last dimension of ", x.shapeString());
  return Status::ok();
}

namespace {

KernelAttrs sliceAttrs(int64_t dim, int64_t offset, int64_t size) {
  KernelAttrs attrs;
  attrs.setInt("dim", dim);
  attrs.setInt("offset", offset);
  attrs.setInt("size", size);
  return attrs;
}

KernelAttrs concatAttrs(int64_t dim) {
  KernelAttrs attrs;
  attrs.setInt("dim", dim);
  return attrs;
}

/// `shape` with its last dimension replaced by `size`.
std::vector<int64_t> withLastDim(std::vector<int64_t> shape, int64_t size) {
  shape.back() = size;
  return shape;
}

/// rope_partial(_grad): the channels of x before, in and after the window, sliced; the
/// window rotated by `rotate`; the three concatenated again.
Status rotateWindow(KernelCall &call, const char *k, KernelFn rotate) {
  int64_t offset, size;
  DS_RETURN_IF_ERROR(checkRopeWindow(call, k, offset, size));
  const TensorView &x = call.inputs[0];
  int64_t width = x.dim(3);
  std::vector<ScratchTensor> pieces;
  pieces.reserve(4);
  std::vector<TensorView> parts;
  for (auto [begin, end] : {std::pair{int64_t(0), offset}, std::pair{offset, offset + size},
                            std::pair{offset + size, width}}) {
    if (begin == end)
      continue;
    const TensorView &piece =
        pieces.emplace_back(x.dtype, withLastDim(x.shape, end - begin)).view();
    DS_RETURN_IF_ERROR(runStage(k, slice, {x}, {piece}, sliceAttrs(3, begin, end - begin)));
    if (begin != offset) {
      parts.push_back(piece);
      continue;
    }
    const TensorView &rotated = pieces.emplace_back(x.dtype, piece.shape).view();
    DS_RETURN_IF_ERROR(runStage(k, rotate, {piece}, {rotated}, call.attrs));
    parts.push_back(rotated);
  }
  return runStage(k, concat, parts, {call.outputs[0]}, concatAttrs(3));
}

} // namespace

Status ropePartial(KernelCall &call) { return rotateWindow(call, "rope_partial", rope); }

Status ropePartialGrad(KernelCall &call) {
  return rotateWindow(call, "rope_partial_grad", ropeGrad);
}

Status mlaRopeKey(KernelCall &call) {
  const char *k = "mla_rope_key";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"kv_up", Elem::Float}, {"kv_a", Elem::Float}},
                               {{"key", Elem::Float}}));
  const TensorView &kvUp = call.inputs[0], &kvA = call.inputs[1], &key = call.outputs[0];
  int64_t nopeDim, ropeOffset;
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "nope_dim", nopeDim));
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "rope_offset", ropeOffset));
  if (key.rank() != 4 || kvUp.rank() != 4 || kvA.rank() != 3 || nopeDim <= 0 ||
      nopeDim >= key.dim(3))
    return errorf(k, ": expected kv_up [B, S, H, nope + Dv], kv_a [B, S, R + Dr] and key [B, "
                     "S, H, nope + Dr] with 0 < nope_dim < nope + Dr; got ",
                  kvUp.shapeString(), ", ", kvA.shapeString(), ", ", key.shapeString(),
                  " and nope_dim ", nopeDim);
  int64_t batch = key.dim(0), seq = key.dim(1), heads = key.dim(2);
  int64_t ropeDim = key.dim(3) - nopeDim;
  ScratchTensor nope(key.dtype, {batch, seq, heads, nopeDim});
  ScratchTensor pe(key.dtype, {batch, seq, ropeDim});
  ScratchTensor rotated(key.dtype, {batch, seq, 1, ropeDim});
  ScratchTensor expanded(key.dtype, {batch, seq, heads, ropeDim});
  DS_RETURN_IF_ERROR(runStage(k, slice, {kvUp}, {nope.view()}, sliceAttrs(3, 0, nopeDim)));
  DS_RETURN_IF_ERROR(runStage(k, slice, {kvA}, {pe.view()}, sliceAttrs(2, ropeOffset, ropeDim)));
  DS_RETURN_IF_ERROR(
      runStage(k, rope, {pe.reshaped({batch, seq, 1, ropeDim})}, {rotated.view()}, call.attrs));
  DS_RETURN_IF_ERROR(runStage(k, expand, {rotated.view()}, {expanded.view()}));
  return runStage(k, concat, {nope.view(), expanded.view()}, {key}, concatAttrs(3));
}

Status mlaRopeKeyGrad(KernelCall &call) {
  const char *k = "mla_rope_key_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"key_grad", Elem::Float}, {"value_grad", Elem::Float}},
                               {{"kv_up_grad", Elem::Float}, {"pe_grad", Elem::Float}}));
  const TensorView &keyGrad = call.inputs[0], &valueGrad = call.inputs[1];
  int64_t nopeDim;
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "nope_dim", nopeDim));
  if (keyGrad.rank() != 4 || nopeDim <= 0 || nopeDim >= keyGrad.dim(3))
    return errorf(k, ": expected key_grad [B, S, H, nope + Dr] with 0 < nope_dim < nope + Dr; "
                     "got ",
                  keyGrad.shapeString(), " and nope_dim ", nopeDim);
  int64_t batch = keyGrad.dim(0), seq = keyGrad.dim(1), heads = keyGrad.dim(2);
  int64_t ropeDim = keyGrad.dim(3) - nopeDim;
  DS_RETURN_IF_ERROR(expectShape(k, "pe_grad", call.outputs[1], {batch, seq, 1, ropeDim}));
  ScratchTensor nope(keyGrad.dtype, {batch, seq, heads, nopeDim});
  ScratchTensor pe(keyGrad.dtype, {batch, seq, heads, ropeDim});
  ScratchTensor summed(keyGrad.dtype, {batch, seq, 1, ropeDim});
  DS_RETURN_IF_ERROR(runStage(k, slice, {keyGrad}, {nope.view()}, sliceAttrs(3, 0, nopeDim)));
  DS_RETURN_IF_ERROR(
      runStage(k, concat, {nope.view(), valueGrad}, {call.outputs[0]}, concatAttrs(3)));
  DS_RETURN_IF_ERROR(
      runStage(k, slice, {keyGrad}, {pe.view()}, sliceAttrs(3, nopeDim, ropeDim)));
  DS_RETURN_IF_ERROR(runStage(k, expandGrad, {pe.view()}, {summed.view()}));
  return runStage(k, ropeGrad, {summed.view()}, {call.outputs[1]}, call.attrs);
}

} // namespace ds::rt::cpu
