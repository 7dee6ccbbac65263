/// @file optimizer_math.hpp
/// Per-entry optimizer updates on the batched tables, shared by both backends.
///   SGD:  theta -= lr * g
///   Adam: m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2,
///         theta -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
/// Adam updates every entry of every run, so its moments decay (and momentum keeps moving an
/// entry) where a step left no gradient, as with a dense parameter tensor. Lazy Adam (TF's
/// LazyAdam) updates only the entries whose gradient is non-zero, with the same global bias
/// correction t: a step then reads 4 bytes of every other entry instead of moving 32, which is
/// what a table whose trajectories touch a few thousand of a million entries wants. SGD skips zero
/// gradients too, which changes nothing but the bytes moved.
/// lr is the run's table rate, or its log Z rate for the log Z entry. The gradient entry is reset
/// to 0 once consumed, so the next step accumulates into a zeroed table without a separate pass.
#pragma once
#include <cmath>
#include <cstdint>

#include "gfnrl/detail/hd.hpp"

namespace gfnrl::detail {

struct OptimizerArgs {
  float* params;
  float* grad;  ///< read, then reset to 0
  float* m;  ///< Adam first moments (unused by SGD)
  float* v;  ///< Adam second moments (unused by SGD)
  int64_t stride, log_z_entry;
  int32_t runs;
  const float* lr;       ///< [runs]
  const float* lr_log_z; ///< [runs]
  bool adam;
  bool lazy;  ///< Adam: skip the entries whose gradient is 0 (moments and parameter untouched)
  float beta1, beta2, eps;
  float bias1, bias2;  ///< 1 - beta1^t, 1 - beta2^t for this step t
  float lr_scale = 1.0f;  ///< multiplies every rate (TLM's decay)
};

GFNRL_HD inline void optimizer_entry(const OptimizerArgs& a, int64_t i) {
  const float g = a.grad[i];
  if (g == 0.0f && (a.lazy || !a.adam)) return;  // nothing to consume, nothing to move
  a.grad[i] = 0.0f;
  const int64_t r = i / a.stride;
  const float lr = a.lr_scale * ((i - r * a.stride) == a.log_z_entry ? a.lr_log_z[r] : a.lr[r]);
  if (!a.adam) {
    a.params[i] -= lr * g;
    return;
  }
  const float m = a.beta1 * a.m[i] + (1.0f - a.beta1) * g;
  const float v = a.beta2 * a.v[i] + (1.0f - a.beta2) * g * g;
  a.m[i] = m;
  a.v[i] = v;
  a.params[i] -= lr * (m / a.bias1) / (sqrtf(v / a.bias2) + a.eps);
}

/// target = (1 - rate) * target + rate * source (rate 1: a hard copy).
GFNRL_HD inline void polyak_entry(float* target, const float* source, float rate, int64_t i) {
  target[i] = rate >= 1.0f ? source[i] : (1.0f - rate) * target[i] + rate * source[i];
}

/// A lazily averaged target entry brought to what the per-update pass (polyak_entry over every
/// entry at each of `updates` updates) would hold: entry i holds synced[i] updates, and its
/// source has not changed since (the caller catches an entry up before its source changes), so
/// the missed updates are polyak_entry applied updates - synced[i] times with that source. Once an
/// application leaves the entry as it was, every later one would too (the same function of the
/// same value): the loop stops there, after ~60 applications at rate 0.25 from any start.
GFNRL_HD inline void polyak_catch_up(float* target, const float* source, int64_t* synced,
                                     int64_t updates, float rate, int64_t i) {
  for (int64_t k = synced[i]; k < updates; ++k) {
    const float before = target[i];
    polyak_entry(target, source, rate, i);
    if (target[i] == before) break;  // (a zero's sign: f(-0) = +0 only when +0 is fixed)
  }
  synced[i] = updates;
}

}  // namespace gfnrl::detail
