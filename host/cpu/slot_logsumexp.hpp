// A block's logsumexps "by slot": state i of the block owns the terms t[off[i] .. off[i]+deg[i])
// (its out- or in-edges, contiguous in CSR / CSC order), plus its own c[i] added to each, plus one
// extra term x[i] (the exit; -inf for none):
//   out[i] = log( exp(x[i]) + sum_{k < deg[i]} exp(t[off[i] + k] + c[i]) )
// Slot k of every state is taken at once, so the max, the exponentials and the sums run as
// vector loops over the block's states, whatever the degrees (the per-edge passes' per-state
// loops of 0..D trips were scalar and mispredicted), reading the terms transposed to slot-major
// order once (cpu/slot_transpose.hpp) rather than gathering them in each pass.
// The arithmetic per state is theirs exactly (max over x and the terms; sum = exp(x - shift),
// then + exp(term_k - shift) in slot order; max + log(sum)), so the two forms agree bit for bit.
//
// Only for blocks whose degrees are alike: slot k costs a lane for every state, so a block
// whose largest degree is far above its mean (a tree's root beside its leaves' parents) keeps
// the per-edge passes (slot_form_pays).
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "cpu/vector_math.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/detail/hd.hpp"

namespace gfnrl::detail::cpu {

/// Which form the sweeps' blocks take: Auto (slot_form_pays decides), or one form forced, for
/// the tests that hold the two to each other.
enum class BlockForm : int { Auto, PerEdge, Slots };
inline std::atomic<BlockForm>& block_form() {
  static std::atomic<BlockForm> form{BlockForm::Auto};
  return form;
}

/// off[i] = first edge of state i relative to e0, deg[i] its count; returns the largest degree.
/// The block's edges must fit in int32 (the caller checks).
GFNRL_CPU_INLINE int32_t block_segments(const int64_t* offsets, int32_t n, int32_t* off, int32_t* deg) {
  const int64_t e0 = offsets[0];
  int32_t kmax = 0;
#pragma omp simd reduction(max : kmax)
  for (int32_t i = 0; i < n; ++i) {
    off[i] = static_cast<int32_t>(offsets[i] - e0);
    deg[i] = static_cast<int32_t>(offsets[i + 1] - offsets[i]);
    kmax = deg[i] > kmax ? deg[i] : kmax;
  }
  return kmax;
}

/// The slot form does kmax lanes per state against the per-edge form's one per edge: worth it
/// while that is at most twice the edges (plus a lane per state for blocks of leaves).
inline bool slot_form_pays(int32_t n, int32_t kmax, int64_t edges) {
  switch (block_form().load(std::memory_order_relaxed)) {
    case BlockForm::PerEdge:
      return false;
    case BlockForm::Slots:
      return true;
    case BlockForm::Auto:
      break;
  }
  return int64_t(kmax) * n <= 2 * edges + n;
}

/// A block's first edge, edge count and largest degree, or kmax = -1 where it keeps the per-edge
/// form.
struct SlotSegments {
  int64_t first = 0;
  int32_t edges = 0, kmax = -1;
};

/// The segments of states [s0, s1) under CSR or CSC `offsets` (into off and deg), when the slot
/// form pays for the block (its edges indexed in int32 with room to spare).
GFNRL_CPU_INLINE SlotSegments slot_segments(const int64_t* offsets, int32_t s0, int32_t s1,
                                            std::vector<int32_t>& off, std::vector<int32_t>& deg) {
  const int32_t n = s1 - s0;
  const int64_t first = offsets[s0], edges = offsets[s1] - first;
  if (edges > kMaxIndex / 2) return {};
  off.resize(n), deg.resize(n);
  const int32_t kmax = block_segments(offsets + s0, n, off.data(), deg.data());
  if (!slot_form_pays(n, kmax, edges)) return {};
  return {first, static_cast<int32_t>(edges), kmax};
}

/// out[i] as above, from the block's terms by slot (T, kmax rows of n: cpu/slot_transpose.hpp,
/// -inf past a state's degree); mx and sum are n floats of scratch. kC: c is read (else 0);
/// kX: x is read (else no exit term: -inf, whose exponential, exactly 0, is not computed).
template <bool kC, bool kX>
GFNRL_CPU_INLINE void slot_logsumexp_of(int32_t n, int32_t kmax, const float* __restrict T,
                                        const float* __restrict c, const float* __restrict x,
                                        float* __restrict mx, float* __restrict sum,
                                        float* __restrict out) {
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) mx[i] = kX ? x[i] : neg_inf();
  // + 0.0f: the per-edge form's term is t + c, and -0 + 0 = +0 (the two forms' bits agree).
  for (int32_t k = 0; k < kmax; ++k) {
    const float* __restrict row = T + int64_t(k) * n;
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) {
      const float v = (row[i] + (kC ? c[i] : 0.0f)) + 0.0f, cur = mx[i];
      mx[i] = v > cur ? v : cur;
    }
  }
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) {
    const float shift = mx[i] > neg_inf() ? mx[i] : 0.0f;  // all -inf: exp(-inf - 0) = 0
    sum[i] = kX ? vexp(x[i] - shift) : 0.0f;
  }
  for (int32_t k = 0; k < kmax; ++k) {
    const float* __restrict row = T + int64_t(k) * n;
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) {
      const float shift = mx[i] > neg_inf() ? mx[i] : 0.0f;
      sum[i] += vexp(((row[i] + (kC ? c[i] : 0.0f)) - shift) + 0.0f);
    }
  }
  // sum >= 1 when the max is finite (its own term is exp(0)).
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) out[i] = mx[i] > neg_inf() ? mx[i] + vlog(sum[i]) : neg_inf();
}

/// slot_logsumexp_of for c and x given, or null (c = 0, no exit term).
GFNRL_CPU_INLINE void slot_logsumexp(int32_t n, int32_t kmax, const float* T, const float* c,
                                     const float* x, float* mx, float* sum, float* out) {
  if (c && x) return slot_logsumexp_of<true, true>(n, kmax, T, c, x, mx, sum, out);
  if (c) return slot_logsumexp_of<true, false>(n, kmax, T, c, x, mx, sum, out);
  if (x) return slot_logsumexp_of<false, true>(n, kmax, T, c, x, mx, sum, out);
  slot_logsumexp_of<false, false>(n, kmax, T, c, x, mx, sum, out);
}

}  // namespace gfnrl::detail::cpu
