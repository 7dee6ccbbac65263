/// @file pg_math.hpp
/// Policy-gradient GFlowNet training on tables (Niu et al., ICML 2024, "GFlowNet training by
/// policy gradients", arXiv 2408.05885: RL with policy-dependent rewards; the objective as its
/// reference code computes it, github.com/niupuhua1234/GFN-PG, losses/trajectory_RL.py
/// get_scores / update_model; docs/ALGORITHMS.md): the forward policy minimises
///   J(theta) = E_{tau ~ P_F} [ sum_t c_t ],
///   c_t = log P_F(a_t|s_t) - log P_B(s_t|s_{t+1})          for an edge,
///   c_T = log P_F(exit|x) - log R(x) + log Z                 for the exit,
/// i.e. KL(P_F(tau) || P_B(tau|x) R(x) / Z) + log Z - log Z_true: RL with the policy-dependent
/// reward -c. Since E[grad log P_F] = 0, grad J = E[ sum_t grad log P_F(a_t|s_t) G_t ] with the
/// cost-to-go G_t = sum_{t' >= t} c_t'. log Z follows the TB log Z gradient E[sum_t c_t] (the
/// batch mean when sampled, V(s0) when exact), which vanishes when log Z is right.
///
/// Sampled (REINFORCE): per trajectory, G_t minus a leave-one-out baseline b = the mean total
/// cost of the run's other trajectories (independent of this one, so the estimate stays
/// unbiased), averaged over the batch.
/// Actor-critic (the GAE form of Niu et al.'s reference code): a tabular critic V(s) in the
/// row's flow entries, TD errors d_t = c_t + V(s_{t+1}) - V(s_t) (V = 0 after the exit),
/// advantages A_t = sum_l lambda^l d_{t+l} (no discount), centred by the run's batch mean, as the
/// actor's weights; the critic regresses on the Monte-Carlo cost-to-go, (V(s_t) - G_t)^2 averaged
/// over the batch's steps.
/// Exact (the tabular limit; --exact-gradient): with Q(s,a) = c(s,a) + V(s'), V(s) = sum_a
/// pi(a|s) Q(s,a) (a backward sweep, V = 0 after the exit) and p(s) the probability that a
/// trajectory visits s (the forward sweep of the exact core),
///   dJ / d theta(s, b) = p(s) pi(b|s) (Q(s, b) - V(s)).
/// Each state's entries are written by one thread, so the exact gradient needs no atomics.
///
/// TB's exact expected gradient is the same sweep: TB's residual is delta(tau) = sum_t c_t, and
/// on-policy (samples from P_F, no gradient through the sampling) E[grad delta^2] =
/// 2 E[delta grad log P_F(tau)] + 2 E[delta] e_logZ, where E[delta grad log pi(a_t|s_t)] keeps
/// only the cost-to-go from t (the cost before t does not depend on a_t, and E[grad log pi] = 0):
/// exactly twice the policy gradient above (`squared`; Malkin et al.'s TB = KL gradient identity,
/// here without sampling). Its loss E[delta^2] comes from a second backward sweep,
///   V2(s) = sum_a pi(a|s) (c(s,a)^2 + 2 c(s,a) V(s') + V2(s')).
/// A learned P_B under TB gets -2 E[delta sum_t grad log P_B(s_t|s_{t+1})]: with the expected cost
/// before s, A(s) = E[prefix | visit s] (a forward sweep, parents first:
///   A(c) = sum_{e = s -> c} p(s) pi(e) (A(s) + c(e)) / p(c),  A(s0) = 0),
/// E[delta 1[e in tau]] = u_e = p(s) pi(e) (A(s) + c(e) + V(c)), and per child c
///   dE[delta^2] / d theta_B(e') = -2 (u_e' - P_B(e') sum_e u_e)   (pg: u_e = w_e, factor 1).
///
/// A learned P_B (logits theta_B, BackwardMode::Learned) descends the same J: trajectories come
/// from P_F alone, so dJ / d theta_B = -E[ sum over inner steps of grad log P_B(s_t|s_{t+1}) ]
/// (TLM's gradient, per trajectory rather than per transition). Its minimum over P_B is P_F's
/// own backward kernel, where J = KL(P_F^T || R/Z) + log Z - log Z_true: descending both
/// policies descends the terminal KL. Exactly, per child c with w_e = p(s) pi(e) for its parent
/// edges e = s -> c and W = sum_e w_e:  dJ / d theta_B(e') = -w_e' + P_B(e') W.
#pragma once
#include <cstdint>

#include "gfnrl/detail/backward_math.hpp"
#include "gfnrl/detail/table_layout.hpp"
#include "gfnrl/detail/train_views.hpp"

namespace gfnrl::detail {

template <class R>
struct PgArgs : TableView<R>, BackwardView<R>, TrajectoryBatch {
  // params: logits and log Z; loss: the batch mean of sum_t c_t (sampled) or V(s0) (exact);
  // pb_grad: learned P_B, the gradient of J w.r.t. the backward logits.
  const R* log_pf;     ///< exact with pb_grad: [runs x E] log pi(e) of the current policy
  R* traj_cost;        ///< sampled: [runs x batch] sum_t c_t (REINFORCE) or sum_t A_t (critic)
  R* advantage;        ///< critic: [runs x batch x max_len] A_t, written by pass 1
  bool critic;         ///< actor-critic with GAE instead of REINFORCE
  R gae_lambda;
  R* value;            ///< exact: [runs x N] V(s)
  R* value2;           ///< exact TB: [runs x N] V2(s), the second moment of the cost-to-go
  bool squared;        ///< exact TB: the gradient of E[delta^2] (twice pg's), loss E[delta^2]
  R* prefix;           ///< exact TB with pb_grad: [runs x N] A(s), the expected cost before s
  const R* log_visit;   ///< exact: [runs x N] log p(s)
};

/// Run r's row of log P_B, or nullptr (log P_B = 0).
template <class R>
GFNRL_HD inline const R* pg_log_pb(const PgArgs<R>& a, int32_t r) {
  return a.log_pb ? a.log_pb + int64_t(r) * a.log_pb_stride : nullptr;
}

/// c(s, a) of a run's current tables (`row`) and its log P_B row `lpb`.
template <class R>
GFNRL_HD inline R pg_cost(const PgArgs<R>& a, const R* row, const R* lpb, int32_t s, int64_t act,
                          R lse) {
  const TableLayout& L = a.layout;
  const R log_pi = row[act] - lse;
  if (L.is_exit(act))
    return log_pi - static_cast<R>(a.dag.log_reward[s]) + row[L.log_z_entry()];
  return log_pi - (lpb ? lpb[act] : R(0));
}

/// Sum of the costs of a trajectory (positions from `base`) from position t on.
template <class R>
GFNRL_HD inline R pg_cost_to_go(const PgArgs<R>& a, const R* row, const R* lpb, int64_t base,
                                int32_t len, int32_t t) {
  R g = R(0);
  for (int32_t k = t; k < len; ++k) {
    const int32_t s = a.states[base + k];
    g += pg_cost(a, row, lpb, s, a.actions[base + k], action_lse(a.dag, a.layout, row, s, R(1)));
  }
  return g;
}

/// Learned P_B, sampled: -1/batch grad log P_B(s_t|s_{t+1}) for every inner step of a trajectory.
template <class R>
GFNRL_HD inline void pg_backward_grad(const PgArgs<R>& a, int32_t r, const R* lpb, int64_t base,
                                      int32_t len) {
  if (!a.pb_grad) return;
  R* g = a.pb_grad + int64_t(r) * a.layout.num_edges;
  for (int32_t t = 0; t + 1 < len; ++t)
    scatter_backward_grad(a.dag, lpb, g, a.actions[base + t], R(-1) / R(a.batch));
}

/// GAE advantages of trajectory `traj` into adv[0 .. len) (backwards: A_t = d_t + lambda A_t+1),
/// returning their sum.
template <class R>
GFNRL_HD inline R pg_advantages(const PgArgs<R>& a, const R* row, const R* lpb, int64_t traj,
                                R* adv) {
  const TableLayout& L = a.layout;
  const int64_t base = traj * a.max_len;
  const int32_t len = a.lengths[traj];
  R running = R(0), total = R(0);
  for (int32_t t = len - 1; t >= 0; --t) {
    const int32_t s = a.states[base + t];
    const int64_t act = a.actions[base + t];
    const R c = pg_cost(a, row, lpb, s, act, action_lse(a.dag, L, row, s, R(1)));
    const R next = t + 1 < len ? row[L.flow_entry(a.states[base + t + 1])] : R(0);
    running = c + next - row[L.flow_entry(s)] + a.gae_lambda * running;
    adv[t] = running;
    total += running;
  }
  return total;
}

/// Pass 1: the total cost (REINFORCE) or the sum of advantages (critic) of trajectory m of run r.
template <class R>
GFNRL_HD inline void pg_trajectory_cost(const PgArgs<R>& a, int32_t r, int32_t m) {
  const int64_t traj = int64_t(r) * a.batch + m;
  const R* row = a.params + int64_t(r) * a.layout.stride();
  const R* lpb = pg_log_pb(a, r);
  a.traj_cost[traj] = a.critic ? pg_advantages(a, row, lpb, traj, a.advantage + traj * a.max_len)
                               : pg_cost_to_go(a, row, lpb, traj * a.max_len, a.lengths[traj], 0);
}

/// Pass 2 on trajectory m of run r: the actor's gradient, log Z's, a learned P_B's and (critic)
/// the critic's. The actor weighs grad log pi(a_t|s_t) by the GAE advantage minus the run's mean
/// advantage per step (critic), or by the cost-to-go minus the mean total cost of the run's other
/// trajectories (REINFORCE's leave-one-out baseline); both read pass 1's sums.
template <class R>
GFNRL_HD inline void pg_trajectory(const PgArgs<R>& a, int32_t r, int32_t m) {
  const TableLayout& L = a.layout;
  const R* row = a.params + int64_t(r) * L.stride();
  R* g_row = a.grad + int64_t(r) * L.stride();
  const int64_t traj = int64_t(r) * a.batch + m;
  const int64_t steps = batch_actions(a.lengths, r, a.batch, false);
  R centre = R(0);
  for (int32_t k = 0; k < a.batch; ++k)
    if (a.critic || k != m) centre += a.traj_cost[int64_t(r) * a.batch + k];
  if (a.critic)
    centre /= R(steps);
  else if (a.batch > 1)
    centre /= R(a.batch - 1);
  const int64_t base = traj * a.max_len;
  const int32_t len = a.lengths[traj];
  const R* lpb = pg_log_pb(a, r);
  pg_backward_grad(a, r, lpb, base, len);
  // The cost-to-go from position t: pass 1's total (REINFORCE) or recomputed (the critic's
  // Monte-Carlo target), then reduced step by step.
  R g = a.critic ? pg_cost_to_go(a, row, lpb, base, len, 0) : a.traj_cost[traj];
  grad_add(a.loss + r, g / R(a.batch));
  grad_add(g_row + L.log_z_entry(), g / R(a.batch));
  for (int32_t t = 0; t < len; ++t) {
    const int32_t s = a.states[base + t];
    const int64_t act = a.actions[base + t];
    const R lse = action_lse(a.dag, L, row, s, R(1));
    const R weight = a.critic ? a.advantage[base + t] - centre : g - centre;
    scatter_log_softmax_grad(a.dag, L, row, g_row, s, act, lse, weight / R(a.batch));
    if (a.critic)
      grad_add(g_row + L.flow_entry(s), R(2) * (row[L.flow_entry(s)] - g) / R(steps));
    g -= pg_cost(a, row, lpb, s, act, lse);
  }
}

/// Exact backward sweep: V(s) = sum_a pi(a|s) (c(s, a) + V(s')) for state s of run r (children
/// first: states are visited last level first).
template <class R>
GFNRL_HD inline void pg_value_state(const PgArgs<R>& a, int32_t r, int32_t s) {
  const TableLayout& L = a.layout;
  const R* row = a.params + int64_t(r) * L.stride();
  const R* v = a.value + int64_t(r) * a.dag.num_states;
  const R* lpb = pg_log_pb(a, r);
  const R* v2 = a.value2 ? a.value2 + int64_t(r) * a.dag.num_states : nullptr;
  const R lse = action_lse(a.dag, L, row, s, R(1));
  R total = R(0), second = R(0);
  for (int64_t e = a.dag.child_offsets[s]; e < a.dag.child_offsets[s + 1]; ++e) {
    const int32_t c = a.dag.child_index[e];
    const R p = exp_(row[e] - lse), k = pg_cost(a, row, lpb, s, e, lse);
    total += p * (k + v[c]);
    if (v2) second += p * (k * k + R(2) * k * v[c] + v2[c]);
  }
  if (terminates(a.dag, s)) {
    const int64_t x = L.exit_entry(s);
    const R p = exp_(row[x] - lse), k = pg_cost(a, row, lpb, s, x, lse);
    total += p * k;
    second += p * k * k;
  }
  a.value[int64_t(r) * a.dag.num_states + s] = total;
  if (a.value2) a.value2[int64_t(r) * a.dag.num_states + s] = second;
}

/// Exact TB with a learned P_B, forward sweep (parents first): A(c) of state c of run r.
template <class R>
GFNRL_HD inline void pg_prefix_state(const PgArgs<R>& a, int32_t r, int32_t c) {
  const int64_t E = a.layout.num_edges, N = a.dag.num_states;
  const R* lpb = a.log_pb + int64_t(r) * a.log_pb_stride;
  R* A = a.prefix + int64_t(r) * N;
  R num = R(0), den = R(0);
  for (int64_t j = a.dag.parent_offsets[c]; j < a.dag.parent_offsets[c + 1]; ++j) {
    const int32_t s = a.dag.parent_index[j];
    const int64_t e = a.dag.parent_edge[j];
    const R lpf = a.log_pf[int64_t(r) * E + e];
    const R w = exp_(static_cast<R>(a.log_visit[int64_t(r) * N + s]) + lpf);
    num += w * (A[s] + lpf - lpb[e]);
    den += w;
  }
  A[c] = den > R(0) ? num / den : R(0);
}

/// Learned P_B, exact: the backward logits of the parent edges of state c of run r get
/// -k (u_e - P_B(e) sum u): pg, k = 1, u_e = w_e = p(parent) pi(e) (the probability that a
/// trajectory takes e); TB, k = 2, u_e = w_e (A(parent) + c(e) + V(c)). One thread per child
/// state writes its own parent edges.
template <class R>
GFNRL_HD inline R pg_backward_weight(const PgArgs<R>& a, int32_t r, int32_t c, int64_t j) {
  const int64_t E = a.layout.num_edges, N = a.dag.num_states;
  const int32_t s = a.dag.parent_index[j];
  const int64_t e = a.dag.parent_edge[j];
  const R lpf = a.log_pf[int64_t(r) * E + e];
  const R w = exp_(static_cast<R>(a.log_visit[int64_t(r) * N + s]) + lpf);
  if (!a.squared) return w;
  const R lpb = a.log_pb[int64_t(r) * a.log_pb_stride + e];
  return w * (a.prefix[int64_t(r) * N + s] + lpf - lpb + a.value[int64_t(r) * N + c]);
}

template <class R>
GFNRL_HD inline void pg_exact_backward_grad(const PgArgs<R>& a, int32_t r, int32_t c) {
  const int64_t E = a.layout.num_edges;
  const R* lpb = a.log_pb + int64_t(r) * a.log_pb_stride;
  R* g = a.pb_grad + int64_t(r) * E;
  const R k = a.squared ? R(2) : R(1);
  R total = R(0);
  for (int64_t j = a.dag.parent_offsets[c]; j < a.dag.parent_offsets[c + 1]; ++j)
    total += pg_backward_weight(a, r, c, j);
  for (int64_t j = a.dag.parent_offsets[c]; j < a.dag.parent_offsets[c + 1]; ++j) {
    const int64_t e = a.dag.parent_edge[j];
    g[e] += -k * (pg_backward_weight(a, r, c, j) - exp_(lpb[e]) * total);
  }
}

/// Exact gradient at state s of run r: p(s) pi(b|s) (Q(s,b) - V(s)) for every action b; the
/// source also writes the log Z gradient V(s0) and the loss V(s0).
template <class R>
GFNRL_HD inline void pg_exact_grad_state(const PgArgs<R>& a, int32_t r, int32_t s) {
  const TableLayout& L = a.layout;
  const R* row = a.params + int64_t(r) * L.stride();
  R* g_row = a.grad + int64_t(r) * L.stride();
  const R* v = a.value + int64_t(r) * a.dag.num_states;
  const R* lpb = pg_log_pb(a, r);
  const R lse = action_lse(a.dag, L, row, s, R(1));
  const R k = a.squared ? R(2) : R(1);  // TB: d E[delta^2] = 2 E[delta d log P_F]
  const R p = k * exp_(static_cast<R>(a.log_visit[int64_t(r) * a.dag.num_states + s]));
  for (int64_t e = a.dag.child_offsets[s]; e < a.dag.child_offsets[s + 1]; ++e) {
    const R q = pg_cost(a, row, lpb, s, e, lse) + v[a.dag.child_index[e]];
    g_row[e] += p * exp_(row[e] - lse) * (q - v[s]);
  }
  if (terminates(a.dag, s)) {
    const int64_t x = L.exit_entry(s);
    g_row[x] += p * exp_(row[x] - lse) * (pg_cost(a, row, lpb, s, x, lse) - v[s]);
  }
  if (a.pb_grad && s > 0) pg_exact_backward_grad(a, r, s);
  if (s == 0) {
    g_row[L.log_z_entry()] += k * v[0];  // the TB log Z gradient, E[sum_t c_t], as when sampled
    a.loss[r] = a.squared ? a.value2[int64_t(r) * a.dag.num_states] : v[0];
  }
}

}  // namespace gfnrl::detail
