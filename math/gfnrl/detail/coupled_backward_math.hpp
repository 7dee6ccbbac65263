/// @file coupled_backward_math.hpp
/// Coupled backward-policy training of policy-gradient GFlowNets (Niu et al., ICML 2024: the
/// variants "RL-B" and "RL-G" of their reference code, github niupuhua1234/GFN-PG,
/// losses/trajectory_RL.py B_update_model; the paper's equation numbers are not checked, the
/// seeds hold only its abstract). After each forward step, trajectories are sampled *backwards*
/// from the batch's terminal states with the current P_B,
///   x = c_0 -> c_1 -> ... -> c_len = s0,   c_{i+1} ~ P_B(. | c_i)   (edge e_i = c_{i+1} -> c_i),
/// and P_B takes a policy-gradient step on the backward cost
///   k_i = log P_B(e_i) - log P_G(e_i),
///   K(theta_B; x) = E_{P_B(tau|x)} [sum_i k_i] = KL(P_B(tau|x) || P_G(tau|x)) + const(x),
/// minimised by the guide's own backward kernel. The guide P_G is the current P_F ("coupled",
/// RL-B), or P_F with its exit held below 1e-5 at states whose log R is at most a threshold
/// ("guided", RL-G: trajectories are pushed away from stopping in low-reward states; the reference
/// code caps the exit *logit* at log 1e-5 where R <= R0 on the hypergrid; on a table, where logits
/// have no fixed offset, the cap is relative: exit logit <= log 1e-5 + LSE(inner logits)).
///
/// Gradient (REINFORCE, GAE with lambda = 1 as in the reference): with the cost-to-go
/// G_i = sum_{i' >= i} k_i' and a tabular critic V_B(c) (its own table, regressed on G_i),
///   grad K ~ (1/B) sum_m sum_i (A_i - mean_-m) grad log P_B(e_i),   A_i = G_i - V_B(c_i),
/// where mean_-m is the mean advantage of the run's *other* trajectories' steps (leave-one-out,
/// so the estimate stays unbiased; the reference code centres with the whole batch's mean). The
/// critic loss is (V_B(c_i) - G_i)^2 averaged over the batch's steps. The exit step of the
/// forward trajectory is left out of k: given x it does not depend on theta_B.
#pragma once
#include <cstdint>

#include "gfnrl/detail/backward_math.hpp"
#include "gfnrl/detail/philox.hpp"
#include "gfnrl/detail/table_layout.hpp"

namespace gfnrl::detail {

/// log 1e-5: the guided exit's ceiling relative to the inner actions (RL-G).
constexpr float kGuideExitLogCap = -11.512925465f;

/// Backward rollouts from the terminal states of a forward batch.
struct BackwardRolloutArgs {
  DagView dag;
  const float* log_pb;  ///< [runs x E]
  int32_t runs, batch, max_len;
  uint64_t seed;  ///< run r uses seed + r
  uint64_t step;
  const int32_t* forward_states;   ///< [runs x batch x max_len] (RolloutArgs::states)
  const int32_t* forward_lengths;  ///< [runs x batch]: x = forward_states[last position]
  int32_t* states;   ///< [runs x batch x max_len]: c_i, the state the backward step leaves
  int32_t* edges;    ///< [runs x batch x max_len]: e_i, the parent edge taken
  int32_t* lengths;  ///< [runs x batch]: backward steps to s0 (0 when x = s0)
};

/// Backward trajectory m of run r: from the terminal state of forward trajectory m to s0, each
/// parent edge drawn from P_B(. | c) by inverse CDF (Philox, counter (step, m, i)).
GFNRL_HD inline void backward_rollout_trajectory(const BackwardRolloutArgs& a, int32_t r,
                                                 int32_t m) {
  const DagView& d = a.dag;
  const int64_t traj = int64_t(r) * a.batch + m, base = traj * a.max_len;
  const float* lpb = a.log_pb + int64_t(r) * d.num_edges;
  int32_t c = a.forward_states[base + a.forward_lengths[traj] - 1], i = 0;
  for (; c != 0 && i < a.max_len; ++i) {
    const Philox4 u = draw(a.seed + uint64_t(r), a.step, static_cast<uint32_t>(m),
                           static_cast<uint32_t>(i), kStreamBackwardRollout);
    float target = uniform01(u.v[0]);
    int64_t pick = -1, last = -1;
    for (int64_t j = d.parent_offsets[c]; j < d.parent_offsets[c + 1]; ++j) {
      const float p = exp_(lpb[d.parent_edge[j]]);
      if (p > 0.0f) last = j;
      target -= p;
      if (target < 0.0f && p > 0.0f) {
        pick = j;
        break;
      }
    }
    if (pick < 0) pick = last >= 0 ? last : d.parent_offsets[c];  // rounding: last likely parent
    a.states[base + i] = c;
    a.edges[base + i] = static_cast<int32_t>(d.parent_edge[pick]);  // training: E <= kMaxIndex
    c = d.parent_index[pick];
  }
  a.lengths[traj] = i;
}

template <class R>
struct CoupledArgs {
  DagView dag;
  TableLayout layout;
  const R* params;   ///< [runs x stride]: the forward tables P_G is read from
  const R* log_pb;   ///< [runs x E]
  R* pb_grad;        ///< [runs x E], accumulated into
  const R* value;    ///< [runs x N]: the backward critic V_B
  R* value_grad;     ///< [runs x N], accumulated into
  R* loss;           ///< [runs]: batch mean of sum_i k_i, accumulated into
  R* adv_sum;        ///< [runs x batch]: sum_i A_i per trajectory (pass 1)
  int32_t runs, batch, max_len;
  const int32_t* states;   ///< BackwardRolloutArgs::states
  const int32_t* edges;    ///< BackwardRolloutArgs::edges
  const int32_t* lengths;  ///< BackwardRolloutArgs::lengths
  bool guided;             ///< RL-G: cap the exit where log R(s) <= guide_log_reward
  R guide_log_reward;
};

/// log P_G(e) for the edge e leaving s: P_F's softmax at s, with the exit capped when guided.
template <class R>
GFNRL_HD inline R guide_log_prob(const CoupledArgs<R>& a, const R* row, int32_t s, int64_t e) {
  const DagView& d = a.dag;
  LseAcc<R> inner;
  for (int64_t k = d.child_offsets[s]; k < d.child_offsets[s + 1]; ++k) inner.add(row[k]);
  LseAcc<R> all = inner;
  if (terminates(d, s)) {
    R x = row[a.layout.exit_entry(s)];
    if (a.guided && static_cast<R>(d.log_reward[s]) <= a.guide_log_reward) {
      const R cap = inner.value() + R(kGuideExitLogCap);
      x = x < cap ? x : cap;
    }
    all.add(x);
  }
  return row[e] - all.value();
}

/// k_i of backward step i of a trajectory (positions from `base`, `len` steps).
template <class R>
GFNRL_HD inline R coupled_cost(const CoupledArgs<R>& a, const R* row, const R* lpb, int64_t base,
                               int32_t len, int32_t i) {
  const int64_t e = a.edges[base + i];
  const int32_t parent = i + 1 < len ? a.states[base + i + 1] : 0;
  return lpb[e] - guide_log_prob(a, row, parent, e);
}

/// Pass 1: sum_i A_i of backward trajectory m of run r.
template <class R>
GFNRL_HD inline void coupled_trajectory_cost(const CoupledArgs<R>& a, int32_t r, int32_t m) {
  const int64_t traj = int64_t(r) * a.batch + m, base = traj * a.max_len;
  const int32_t len = a.lengths[traj];
  const R* row = a.params + int64_t(r) * a.layout.stride();
  const R* lpb = a.log_pb + int64_t(r) * a.layout.num_edges;
  const R* v = a.value + int64_t(r) * a.dag.num_states;
  R g = R(0), adv = R(0);
  for (int32_t i = len - 1; i >= 0; --i) {
    g += coupled_cost(a, row, lpb, base, len, i);
    adv += g - v[a.states[base + i]];
  }
  a.adv_sum[traj] = adv;
}

/// Pass 2: the actor and critic gradients of backward trajectory m of run r.
template <class R>
GFNRL_HD inline void coupled_trajectory(const CoupledArgs<R>& a, int32_t r, int32_t m) {
  const int64_t traj = int64_t(r) * a.batch + m, base = traj * a.max_len;
  const int32_t len = a.lengths[traj];
  const int64_t steps = batch_actions(a.lengths, r, a.batch, false);
  if (steps == 0) return;
  R total = R(0);
  for (int32_t k = 0; k < a.batch; ++k) total += a.adv_sum[int64_t(r) * a.batch + k];
  const int64_t others = steps - len;
  const R mean = others > 0 ? (total - a.adv_sum[traj]) / R(others) : R(0);
  const R* row = a.params + int64_t(r) * a.layout.stride();
  const R* lpb = a.log_pb + int64_t(r) * a.layout.num_edges;
  const R* v = a.value + int64_t(r) * a.dag.num_states;
  R* pg = a.pb_grad + int64_t(r) * a.layout.num_edges;
  R* vg = a.value_grad + int64_t(r) * a.dag.num_states;
  R g = R(0);
  for (int32_t i = len - 1; i >= 0; --i) {
    g += coupled_cost(a, row, lpb, base, len, i);
    const int32_t c = a.states[base + i];
    scatter_backward_grad(a.dag, lpb, pg, a.edges[base + i], (g - v[c] - mean) / R(a.batch));
    grad_add(vg + c, R(2) * (v[c] - g) / R(steps));
  }
  grad_add(a.loss + r, g / R(a.batch));
}

}  // namespace gfnrl::detail
