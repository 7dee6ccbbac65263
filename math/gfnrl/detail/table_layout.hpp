/// @file table_layout.hpp
/// Where each learned quantity of one run lives in its row of the batched parameter table
/// [runs x stride], and the per-state softmax over a state's actions that every learner uses.
///
/// Row layout (E edges, N states):
///   [0, E)          one logit (TB/DB/SubTB) or Q-value (SoftDQN/M-DQN) per edge id,
///   [E, E+N)        the same for the exit action of state s at E + s (unused if s never exits),
///   [E+N, E+2N)     log F(s), the learned log-flows (DB, SubTB),
///   E+2N            log Z (TB).
/// An *action id* a in [0, E+N) names an edge (a < E) or the exit of state a - E.
#pragma once
#include <cstdint>

#include "gfnrl/dag_view.hpp"
#include "gfnrl/detail/hd.hpp"
#include "gfnrl/detail/state_math.hpp"

namespace gfnrl::detail {

struct TableLayout {
  int32_t num_states = 0;
  int32_t num_edges = 0;
  GFNRL_HD int64_t num_actions() const { return int64_t(num_edges) + num_states; }
  GFNRL_HD int64_t exit_entry(int32_t s) const { return int64_t(num_edges) + s; }
  GFNRL_HD int64_t flow_entry(int32_t s) const { return int64_t(num_edges) + num_states + s; }
  GFNRL_HD int64_t log_z_entry() const { return int64_t(num_edges) + 2 * int64_t(num_states); }
  GFNRL_HD int64_t stride() const { return log_z_entry() + 1; }
  GFNRL_HD bool is_exit(int64_t a) const { return a >= num_edges; }
};

/// log sum over the actions a of s of exp(scale * row[a]) (exit included when s terminates).
template <class R>
GFNRL_HD inline R action_lse(const DagView& d, const TableLayout& L, const R* row, int32_t s,
                             R scale) {
  LseAcc<R> acc;
  for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e) acc.add(scale * row[e]);
  if (terminates(d, s)) acc.add(scale * row[L.exit_entry(s)]);
  return acc.value();
}

/// Adds to a gradient entry: atomically on the device (many trajectories of a run share
/// entries), plainly on the host (the CPU backend gives each run to one thread).
template <class R>
GFNRL_HD inline void grad_add(R* p, R v) {
#if defined(__CUDA_ARCH__)
  atomicAdd(p, v);
#else
  *p += v;
#endif
}

/// d/d row of g * LSE(row over the actions of s): row[b] += g * pi(b|s), pi the softmax at
/// scale 1. `lse` is action_lse(row, s, 1).
template <class R>
GFNRL_HD inline void scatter_lse_grad(const DagView& d, const TableLayout& L, const R* row,
                                      R* grad_row, int32_t s, R lse, R g) {
  for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e)
    grad_add(grad_row + e, g * exp_(row[e] - lse));
  if (terminates(d, s)) {
    const int64_t x = L.exit_entry(s);
    grad_add(grad_row + x, g * exp_(row[x] - lse));
  }
}

/// d/d row of g * log pi(a|s) = g * (row[a] - LSE): row[b] += g * (1[b = a] - pi(b|s)).
template <class R>
GFNRL_HD inline void scatter_log_softmax_grad(const DagView& d, const TableLayout& L, const R* row,
                                              R* grad_row, int32_t s, int64_t a, R lse, R g) {
  scatter_lse_grad(d, L, row, grad_row, s, lse, -g);
  grad_add(grad_row + a, g);
}

/// log-probabilities of softmax(scale * row) over the actions of s, into per-edge and per-state
/// exit arrays (the ForwardPolicy layout; -inf for the exit of a state that does not terminate).
GFNRL_HD inline void policy_state(const DagView& d, const TableLayout& L, const float* row,
                                  int32_t s, float scale, float* log_prob, float* exit_log_prob) {
  const float lse = action_lse(d, L, row, s, scale);
  for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e)
    log_prob[e] = scale * row[e] - lse;
  exit_log_prob[s] = terminates(d, s) ? scale * row[L.exit_entry(s)] - lse : neg_inf();
}

/// Where a run's log Z estimate is read from its row.
enum class LogZEstimate : int32_t {
  LogZ,             ///< row[log Z] (TB, pg, ac)
  SourceFlow,       ///< log F(s0) (DB, SubTB)
  SoftValue,        ///< tau * LSE(Q(s0, .) / tau) (SoftDQN, Munchausen)
  SourceExit,       ///< log R(s0) - log P_F(exit | s0) (modified DB: P_T(s0) = R(s0) / Z)
  EnergySoftValue,  ///< SoftValue + log R(s0) (DQN with energy rewards)
  ForwardLookingFlow,  ///< log F~(s0) (DB, SubTB with forward-looking flows; the caller adds
                       ///< log R~(s0), which may be an intermediate log-reward)
  SourceOutFlow,       ///< LSE(row over the actions of s0): the flow out of s0 (FM's edge flows)
};

GFNRL_HD inline float log_z_estimate(const DagView& d, const TableLayout& L, const float* row,
                                     LogZEstimate mode, float tau) {
  switch (mode) {
    case LogZEstimate::LogZ: return row[L.log_z_entry()];
    case LogZEstimate::SourceFlow: return row[L.flow_entry(0)];
    case LogZEstimate::ForwardLookingFlow: return row[L.flow_entry(0)];
    case LogZEstimate::SourceOutFlow: return action_lse(d, L, row, 0, 1.0f);
    case LogZEstimate::SourceExit:
      return d.log_reward[0] - (row[L.exit_entry(0)] - action_lse(d, L, row, 0, 1.0f));
    default: {
      const float v = tau * action_lse(d, L, row, 0, 1.0f / tau);
      return mode == LogZEstimate::EnergySoftValue ? v + d.log_reward[0] : v;
    }
  }
}

/// Actions in run r's batch of trajectories (`lengths` as written by the rollouts); without the
/// exits, `inner_only`: the transitions a per-transition loss averages over.
GFNRL_HD inline int64_t batch_actions(const int32_t* lengths, int32_t r, int32_t batch,
                                      bool inner_only) {
  int64_t n = 0;
  for (int32_t k = 0; k < batch; ++k) n += lengths[int64_t(r) * batch + k] - (inner_only ? 1 : 0);
  return n;
}

/// The state an action leads to (-1 for an exit: the trajectory ends).
GFNRL_HD inline int32_t next_state(const DagView& d, const TableLayout& L, int64_t a) {
  return L.is_exit(a) ? -1 : d.child_index[a];
}

}  // namespace gfnrl::detail
