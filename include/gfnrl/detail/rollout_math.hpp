/// @file rollout_math.hpp
/// Sampling one trajectory from a run's current table, shared by the CPU backend and the CUDA
/// rollout kernel. At each state the behaviour policy is
///   b(a|s) = (1 - eps) * softmax(scale * row)(a) + eps / #actions(s),
/// scale = 1 / (tau * temperature), tau = 1 for logit tables and the entropy coefficient for Q
/// tables. Draws come from Philox with counter (step, trajectory, position): reproducible on
/// every backend and thread count.
#pragma once
#include <cstdint>

#include "gfnrl/detail/philox.hpp"
#include "gfnrl/detail/table_layout.hpp"

namespace gfnrl::detail {

struct RolloutArgs {
  DagView dag;
  TableLayout layout;
  const float* params;  ///< [runs x stride]
  int32_t runs, batch, max_len;
  float scale, epsilon;
  uint64_t seed;  ///< run r uses seed + r
  uint64_t step;
  int32_t* states;   ///< [runs x batch x max_len]: s_t
  int32_t* actions;  ///< [runs x batch x max_len]: action id taken at s_t
  int32_t* lengths;  ///< [runs x batch]: number of actions, the exit included
};

/// Picks an action of s: uniformly with probability eps, else from softmax(scale * row).
GFNRL_HD inline int64_t sample_action(const DagView& d, const TableLayout& L, const float* row,
                                      int32_t s, float scale, float eps, const Philox4& u) {
  const int32_t b = d.child_offsets[s], end = d.child_offsets[s + 1];
  const bool can_exit = terminates(d, s);
  const int32_t n = end - b + (can_exit ? 1 : 0);
  if (eps > 0.0f && uniform01(u.v[0]) < eps) {
    const int32_t k = static_cast<int32_t>(uniform_below(u.v[1], static_cast<uint32_t>(n)));
    return k < end - b ? int64_t(b + k) : L.exit_entry(s);
  }
  const float lse = action_lse(d, L, row, s, scale);
  float target = uniform01(u.v[2]);  // inverse CDF over the actions in a fixed order
  int64_t last = -1;
  for (int32_t e = b; e < end; ++e) {
    const float p = exp_(scale * row[e] - lse);
    if (p > 0.0f) last = e;
    target -= p;
    if (target < 0.0f && p > 0.0f) return e;
  }
  if (can_exit) return L.exit_entry(s);
  return last >= 0 ? last : int64_t(b);  // rounding left target >= 0: the last likely child
}

/// Trajectory m of run r: from s0 until the exit action.
GFNRL_HD inline void rollout_trajectory(const RolloutArgs& a, int32_t r, int32_t m) {
  const float* row = a.params + int64_t(r) * a.layout.stride();
  const int64_t base = (int64_t(r) * a.batch + m) * a.max_len;
  int32_t s = 0, t = 0;
  for (; t < a.max_len; ++t) {
    const Philox4 u = draw(a.seed + uint64_t(r), a.step, static_cast<uint32_t>(m),
                           static_cast<uint32_t>(t), kStreamRollout);
    const int64_t act = sample_action(a.dag, a.layout, row, s, a.scale, a.epsilon, u);
    a.states[base + t] = s;
    a.actions[base + t] = static_cast<int32_t>(act);
    s = next_state(a.dag, a.layout, act);
    if (s < 0) break;
  }
  a.lengths[int64_t(r) * a.batch + m] = t + 1;
}

}  // namespace gfnrl::detail
