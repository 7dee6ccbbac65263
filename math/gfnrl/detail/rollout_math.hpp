/// @file rollout_math.hpp
/// Sampling one trajectory from a run's current table, shared by the CPU backend and the CUDA
/// rollout kernel. At each state the behaviour policy is
///   b(a|s) = (1 - eps) * softmax(scale * row)(a) + eps / #actions(s),
/// scale = 1 / (tau * temperature), tau = 1 for logit tables and the entropy coefficient for Q
/// tables; eps and the temperature follow each run's own linear schedule. Draws come from Philox with counter (step, trajectory, position): reproducible on
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
  float tau;  ///< the entropy coefficient: scale = 1 / (tau * temperature)
  /// Run r samples at temperature linear_schedule(temperature_start[r], temperature_end[r],
  /// temperature_steps, step) and explores with the same schedule of epsilon.
  const float* temperature_start;  ///< [runs]
  const float* temperature_end;    ///< [runs]
  int64_t temperature_steps;
  const float* epsilon_start;  ///< [runs]
  const float* epsilon_end;    ///< [runs]
  int64_t epsilon_steps;
  uint64_t seed;  ///< run r uses seed + r
  uint64_t step;
  int32_t* states;   ///< [runs x batch x max_len]: s_t
  int32_t* actions;  ///< [runs x batch x max_len]: action id taken at s_t
  int32_t* lengths;  ///< [runs x batch]: number of actions, the exit included
  /// [runs x num_states] or null: set to 1 at each state a trajectory of the run exits from
  /// (every trajectory writes the same value, so concurrent writes agree).
  uint8_t* reached;
};

/// A linear schedule at step t (0-based): start + (end - start) * min(t, K) / K, exactly `start`
/// when K <= 0; in double, rounded once, so every backend and the host agree bit for bit.
GFNRL_HD inline float linear_schedule(float start, float end, int64_t steps, int64_t t) {
  if (steps <= 0) return start;
  const double f = double(t < steps ? t : steps) / double(steps);
  return static_cast<float>(double(start) + (double(end) - double(start)) * f);
}

/// Picks an action of s: uniformly with probability eps, else from softmax(scale * row).
GFNRL_HD inline int64_t sample_action(const DagView& d, const TableLayout& L, const float* row,
                                      int32_t s, float scale, float eps, const Philox4& u) {
  const int64_t b = d.child_offsets[s], end = d.child_offsets[s + 1];
  const bool can_exit = terminates(d, s);
  const int32_t n = static_cast<int32_t>(end - b) + (can_exit ? 1 : 0);
  if (eps > 0.0f && uniform01(u.v[0]) < eps) {
    const int32_t k = static_cast<int32_t>(uniform_below(u.v[1], static_cast<uint32_t>(n)));
    return k < end - b ? int64_t(b + k) : L.exit_entry(s);
  }
  const float lse = action_lse(d, L, row, s, scale);
  float target = uniform01(u.v[2]);  // inverse CDF over the actions in a fixed order
  int64_t last = -1;
  for (int64_t e = b; e < end; ++e) {
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
  const float eps = linear_schedule(a.epsilon_start[r], a.epsilon_end[r], a.epsilon_steps,
                                    static_cast<int64_t>(a.step));
  const float scale = 1.0f / (a.tau * linear_schedule(a.temperature_start[r], a.temperature_end[r],
                                                      a.temperature_steps,
                                                      static_cast<int64_t>(a.step)));
  int32_t s = 0, t = 0;
  for (; t < a.max_len; ++t) {
    const Philox4 u = draw(a.seed + uint64_t(r), a.step, static_cast<uint32_t>(m),
                           static_cast<uint32_t>(t), kStreamRollout);
    const int64_t act = sample_action(a.dag, a.layout, row, s, scale, eps, u);
    a.states[base + t] = s;
    a.actions[base + t] = static_cast<int32_t>(act);
    const int32_t next = next_state(a.dag, a.layout, act);
    if (next < 0) {  // the exit: s is the trajectory's terminating state
      if (a.reached) a.reached[int64_t(r) * a.dag.num_states + s] = 1;
      break;
    }
    s = next;
  }
  a.lengths[int64_t(r) * a.batch + m] = t + 1;
}

/// How many groups of `states` one run has reached (a group counts once any of its states has a
/// reached flag): `group` is nondecreasing, one entry per state (modes_found: each state its own
/// group; the hypergrid's mode regions: the region of each mode state).
GFNRL_HD inline int32_t reached_groups(const uint8_t* reached_row, const int32_t* states,
                                       const int32_t* group, int32_t k) {
  int32_t count = 0;
  int64_t last = -1;  // the last group counted (groups are >= 0)
  for (int32_t i = 0; i < k; ++i)
    if (group[i] != last && reached_row[states[i]]) {
      ++count;
      last = group[i];
    }
  return count;
}

}  // namespace gfnrl::detail
