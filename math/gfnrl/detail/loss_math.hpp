/// @file loss_math.hpp
/// Exact gradients of the GFlowNet losses with respect to the table entries a trajectory touches,
/// shared by the CPU backend and the CUDA kernels (templated on the real type so that tests can
/// check them in double against finite differences). One call handles one trajectory of one run
/// and scatter-adds into that run's gradient row.
///
/// Notation for trajectory s_0 -> ... -> s_T -exit->: a_t the action taken at s_t,
/// log P_F(a|s) = row[a] - LSE(row over the actions of s), b_t = log P_B(s_t | s_{t+1}) for t < T
/// (0 with no correction), F(s) = row[flow_entry(s)], log R = dag.log_reward.
///   TB:    delta = log Z + sum_t log P_F(a_t|s_t) - log R(s_T) - sum_{t<T} b_t,
///          loss = mean over the batch of delta^2.
///   DB:    delta_t = F(s_t) + log P_F(a_t|s_t) - F(s_{t+1}) - b_t        (t < T),
///          delta_T = F(s_T) + log P_F(exit|s_T) - log R(s_T),
///          loss = sum over all transitions of the batch of delta^2 / their number.
///   SubTB: positions k = 0..T+1 with phi_k = F(s_k) (k <= T) and phi_{T+1} = log R(s_T);
///          c_k = log P_F(a_k|s_k) - b_k (b_T = 0);  for 0 <= i < j <= T+1:
///          delta_ij = phi_i + sum_{i<=k<j} c_k - phi_j,  weight lambda^(j-i) / sum of weights;
///          loss = mean over the batch of sum_ij weight * delta_ij^2.
///          (j = i+1 gives the DB residuals, (0, T+1) TB with log Z = F(s_0).)
///          The weighting (torchgfn's names): geometric-within as above (Madan et al.'s);
///          equal-within the same with lambda = 1; geometric and equal normalise over every pair
///          of the run's whole batch instead of per trajectory; tb keeps only (0, T+1), mean
///          over the batch (the TB loss with log Z = F(s_0)); db only the pairs j = i+1, over
///          all the batch's transitions (the DB loss).
///   ZVar (log-partition variance, Zhang et al. 2023, "Let the Flows Tell: Solving Graph
///   Combinatorial Optimization Problems with GFlowNets"): TB without a log Z parameter. With
///          D_m = sum_t log P_F(a_t|s_t) - log R(s_T) - sum_{t<T} b_t (TB's delta less log Z),
///          delta_m = D_m - mean_k D_k over the run's batch, loss = mean of g(delta_m) (the
///          batch variance of D for the squared g); its log Z estimate is -mean D. As the mean
///          depends on every trajectory, d loss / d D_m = (g'(delta_m) - mean_k g'(delta_k)) / B
///          (the second term is 0 for the squared g). Three passes: residuals, the run's mean,
///          the scatter.
///   FM (flow matching, Bengio et al. 2021, "Flow Network based Generative Models for
///   Non-Iterative Diverse Candidate Generation"; torchgfn's FMGFlowNet): the row holds log edge
///          flows, log F(s -> s') = row[e] and log F(s -> exit) = row[exit(s)], the policy their
///          normalised out-flow (the softmax every learner uses). For each visited state s_t,
///          t >= 1 (s_0 has no in-flow),
///          delta_t = LSE over the parents' edges e into s_t of row[e] - LSE(row over s_t's actions),
///          and for the terminating state the reward matching delta_x = row[exit(s_T)] - log R(s_T);
///          loss = sum g(delta_t) / (the run's visits with t >= 1) + alpha sum g(delta_x) / batch
///          (alpha: the reward-matching weight, torchgfn's FMGFlowNet alpha, 1 by default).
///          A base policy, P_B and the loss's P_B gradient do not enter. Zero loss at every state
///          means a flow with exit flows R: P_F samples R/Z and log Z = LSE(row over s_0's actions).
///          One such fixed point: row = the soft-optimal Q with the uniform correction
///          (log F(s -> s') = log P_B(s|s') + V(s'), F(s) = e^V(s)).
///   Modified DB (every state terminates; energy differences as intermediate rewards, Deleu's
///   talk "Generative Flow Networks: Connections with RL": FL-DB without a flow table): for each
///   inner transition s_t -> s_{t+1},
///          delta_t = log R(s_t) + log P_F(a_t|s_t) + log P_F(exit|s_{t+1})
///                  - log R(s_{t+1}) - log P_F(exit|s_t) - b_t,
///          loss = sum over the batch's inner transitions of delta^2 / their number.
/// Forward-looking flows (Pan et al. 2023, "Better Training of GFlowNets with Local Credit and
/// Incomplete Trajectories"; DB and SubTB, every state terminating): the table holds log F~(s)
/// and every F(s) above is log F~(s) + log R(s), so the exit residual of DB is
/// log F~(x) + log P_F(exit|x) and a transition's carries log R(s) - log R(s') as an intermediate
/// reward. With log F~(s) = -log P_F(exit|s) the DB residual of an inner transition is modified
/// DB's and that of an exit is 0.
/// A base policy mu (prior_edge / prior_exit set: KL-regularised RL, Deleu's talk) subtracts
/// log mu(a_t|s_t) from every step's log P_F, exit included: TB becomes Relative Trajectory
/// Balance, SubTB Trust-PCL (path consistency with a relative-entropy term), and the learned
/// policy samples x with probability proportional to mu^T(x) R(x).
/// A learned P_B (pb_grad set) also receives d loss / d b_t, scattered through the log-softmax
/// over the parents of s_{t+1} onto its logits (backward_math.hpp): each b_t enters its
/// residuals with a minus sign.
/// The loss shape g replaces delta^2 above by g(delta), delta being the forward side minus the
/// backward side as written. Hu et al. 2025 ("Beyond Squared Error: Exploring Loss Design for
/// Enhanced Training of Generative Flow Networks") propose shifted-cosh, linex(1) and linex(1/2);
/// absolute and huber are this library's own:
///   squared t^2;  absolute |t|;  huber(k) t^2 for |t| <= k, else k (2|t| - k): twice the
///   textbook Huber loss on purpose, so that it IS the squared shape below k and switching
///   squared -> huber changes only the large residuals at the same learning rate (the SoftDQN TD
///   Huber, d^2/2, is a separate loss);  linex(a) (e^{a t} - a t - 1) / a^2, a != 0 (a > 0
///   punishes a forward side above the backward one more: zero-avoiding, exploring; a < 0 the
///   other side: zero-forcing, as torchgfn allows);  shifted-cosh e^t + e^{-t} - 2.
/// The exponents' arguments (a t, t) are clamped to +-80, as torchgfn does, so a large residual
/// gives a large finite loss instead of inf (e^80 ~ 5.5e34 < FLT_MAX); beyond the clamp g grows
/// linearly with slope g'(+-80 / a).
/// Which keep the fixed point: every g has g(0) = 0, its minimum there and no other zero, so the
/// residuals' common zero, the soft-optimal policy, is the minimum for every shape. All but
/// absolute also have g'(0) = 0 (the property torchgfn asks of a regression shape): absolute's
/// gradient keeps magnitude 1 at the optimum, so its iterates keep moving by about the learning
/// rate around it (use a decaying rate with it).
#pragma once
#include <cstdint>

#include "gfnrl/detail/backward_math.hpp"
#include "gfnrl/detail/table_layout.hpp"
#include "gfnrl/detail/train_views.hpp"
#include "gfnrl/loss_shapes.hpp"

namespace gfnrl::detail {

enum class LossKind : int32_t { TB = 0, DB = 1, SubTB = 2, ModifiedDB = 3, ZVar = 4, FM = 5 };

/// The loss shape g of a balance residual (see above): the public type (loss_shapes.hpp).
using ::gfnrl::Regression;

/// An exponent's argument clamped to [-80, 80] (torchgfn's clamp before exponentials).
template <class R>
GFNRL_HD inline R clamp_exponent(R u) {
  return u > R(80) ? R(80) : (u < R(-80) ? R(-80) : u);
}

/// g(t) with its parameter p (Huber's k, Linex's a; unused otherwise).
template <class R>
GFNRL_HD inline R regression_value(Regression k, R p, R t) {
  const R abs_t = t < R(0) ? -t : t;
  switch (k) {
    case Regression::Absolute: return abs_t;
    case Regression::Huber: return abs_t <= p ? t * t : p * (R(2) * abs_t - p);
    case Regression::Linex: {
      const R u = clamp_exponent(p * t);
      return (exp_(u) - u - R(1)) / (p * p) + (p * t - u) * (exp_(u) - R(1)) / (p * p);
    }
    case Regression::ShiftedCosh: {
      const R u = clamp_exponent(t);
      return exp_(u) + exp_(-u) - R(2) + (t - u) * (exp_(u) - exp_(-u));
    }
    default: return t * t;
  }
}

/// g'(t).
template <class R>
GFNRL_HD inline R regression_slope(Regression k, R p, R t) {
  const R sign = t > R(0) ? R(1) : (t < R(0) ? R(-1) : R(0));
  switch (k) {
    case Regression::Absolute: return sign;
    case Regression::Huber: return (t <= p && t >= -p) ? R(2) * t : R(2) * p * sign;
    case Regression::Linex: return (exp_(clamp_exponent(p * t)) - R(1)) / p;
    case Regression::ShiftedCosh: {
      const R u = clamp_exponent(t);
      return exp_(u) - exp_(-u);
    }
    default: return R(2) * t;
  }
}

/// Which sub-trajectories SubTB weighs, and how (see above): the public type (loss_shapes.hpp).
using ::gfnrl::SubTBWeighting;

/// The weight of a pair (i, j) before normalisation: lambda^d (lam_d) for the geometric ones,
/// 1 for the equal ones, and only the whole trajectory (tb) or single steps (db).
template <class R>
GFNRL_HD inline R subtb_pair_weight(SubTBWeighting w, R lam_d, int32_t d, int32_t positions) {
  switch (w) {
    case SubTBWeighting::EqualWithin:
    case SubTBWeighting::Equal: return R(1);
    case SubTBWeighting::TB: return d == positions - 1 ? R(1) : R(0);
    case SubTBWeighting::DB:
    case SubTBWeighting::ModifiedDB: return d == 1 ? R(1) : R(0);
    default: return lam_d;
  }
}

/// torchgfn's `geometric` (its code, not its docstring): the mean loss of the run's
/// sub-trajectories of each length d (count_d = sum_m max(0, len_m - d + 1) of them), the means
/// weighted by (1 - lambda) lambda^(d-1) / (1 - lambda^max_len), max_len the batch's longest
/// trajectory (1 / max_len each at lambda = 1). The weight of one pair of length d.
template <class R>
GFNRL_HD inline R subtb_length_mean_weight(R lambda, int32_t d, int32_t max_len, R count_d) {
  R lam = R(1);  // lambda^(d-1)
  for (int32_t k = 1; k < d; ++k) lam *= lambda;
  R top = R(1);  // lambda^max_len
  for (int32_t k = 0; k < max_len; ++k) top *= lambda;
  const R ratio = lambda == R(1) ? R(1) / R(max_len) : (R(1) - lambda) / (R(1) - top);
  return ratio * lam / count_d;
}

/// Sum of the pair weights of one trajectory with `positions` positions (T + 2).
template <class R>
GFNRL_HD inline R subtb_trajectory_weight(SubTBWeighting w, R lambda, int32_t positions) {
  R total = R(0), lam = R(1);
  for (int32_t d = 1; d < positions; ++d) {
    lam *= lambda;
    total += R(positions - d) * subtb_pair_weight(w, lam, d, positions);
  }
  return total;
}

/// The normaliser of trajectory m's pairs: its own total times the batch (the per-trajectory
/// weightings), or the total over the run's whole batch.
template <class R>
GFNRL_HD inline R subtb_normaliser(SubTBWeighting w, R lambda, const int32_t* lengths, int32_t r,
                                   int32_t batch, int32_t m) {
  if (w == SubTBWeighting::Geometric) return R(1);  // subtb_length_mean_weight is normalised
  if (w == SubTBWeighting::GeometricWithin || w == SubTBWeighting::EqualWithin ||
      w == SubTBWeighting::TB || w == SubTBWeighting::ModifiedDB)
    return subtb_trajectory_weight(w, lambda, lengths[int64_t(r) * batch + m] + 1) * R(batch);
  R total = R(0);
  for (int32_t k = 0; k < batch; ++k)
    total += subtb_trajectory_weight(w, lambda, lengths[int64_t(r) * batch + k] + 1);
  return total;
}

/// Scratch rows per SubTB trajectory: prefix sums, step coefficients, flow gradients, and the
/// weight of a pair of each length (the per-length weighting).
constexpr int kSubTBScratch = 4;

template <class R>
struct TrajectoryLossArgs : TableView<R>, BackwardView<R>, TrajectoryBatch {
  const R* prior_edge;     ///< log mu per edge id, or nullptr (no base policy)
  const R* prior_exit;     ///< log mu(exit|s) per state
  R lambda;                ///< SubTB
  SubTBWeighting weighting;  ///< SubTB (GeometricWithin when zeroed)
  const float* flow_potential;  ///< DB, SubTB with forward-looking flows: log R~ per state
                                ///< (flow_potential(), gfnrl/train.hpp); nullptr otherwise
  Regression regression;   ///< the loss shape g of every residual (Squared when zeroed)
  R regression_param;      ///< Huber's k, Linex's a
  R fm_alpha;              ///< FM: the reward-matching term's weight (TrainConfig::fm_alpha)
  R* scratch;              ///< SubTB: [runs x batch x kSubTBScratch (max_len + 1)]; ZVar: [runs x batch x 2]
  R* zvar_log_z;           ///< ZVar: the table, whose log Z entries receive each run's estimate
};

template <class R>
GFNRL_HD inline R backward_term(const TrajectoryLossArgs<R>& a, int32_t r, int64_t act) {
  return (a.log_pb && !a.layout.is_exit(act)) ? a.log_pb[r * a.log_pb_stride + act] : R(0);
}

template <class R>
GFNRL_HD inline R prior_term(const TrajectoryLossArgs<R>& a, int32_t s, int64_t act) {
  if (!a.prior_edge) return R(0);
  return a.layout.is_exit(act) ? a.prior_exit[s] : a.prior_edge[act];
}

/// d loss / d b for the transition `act` of run r (nothing for exits or a fixed P_B).
template <class R>
GFNRL_HD inline void backward_grad(const TrajectoryLossArgs<R>& a, int32_t r, int64_t act, R g) {
  if (!a.pb_grad || a.layout.is_exit(act)) return;
  const int64_t E = a.layout.num_edges;
  scatter_backward_grad(a.dag, a.log_pb + r * a.log_pb_stride, a.pb_grad + int64_t(r) * E, act, g);
}

/// log P_F(a|s) - log mu(a|s): the policy term every residual carries.
template <class R>
GFNRL_HD inline R step_log_pf(const TrajectoryLossArgs<R>& a, const R* row, int32_t s,
                              int64_t act) {
  return row[act] - action_lse(a.dag, a.layout, row, s, R(1)) - prior_term(a, s, act);
}

/// log F(s): the table's entry, plus log R~(s) (log R, or the intermediate -E(s)) with
/// forward-looking flows.
template <class R>
GFNRL_HD inline R state_flow(const TrajectoryLossArgs<R>& a, const R* row, int32_t s) {
  const R f = row[a.layout.flow_entry(s)];
  return a.flow_potential ? f + static_cast<R>(a.flow_potential[s]) : f;
}

template <class R>
GFNRL_HD inline void tb_trajectory(const TrajectoryLossArgs<R>& a, int32_t r, int32_t m) {
  const TableLayout& L = a.layout;
  const R* row = a.params + int64_t(r) * L.stride();
  R* g_row = a.grad + int64_t(r) * L.stride();
  const int64_t base = (int64_t(r) * a.batch + m) * a.max_len;
  const int32_t len = a.lengths[int64_t(r) * a.batch + m];
  R delta = row[L.log_z_entry()] - static_cast<R>(a.dag.log_reward[a.states[base + len - 1]]);
  for (int32_t t = 0; t < len; ++t) {
    const int64_t act = a.actions[base + t];
    delta += step_log_pf(a, row, a.states[base + t], act) - backward_term(a, r, act);
  }
  const R g = regression_slope(a.regression, a.regression_param, delta) / R(a.batch);
  grad_add(a.loss + r, regression_value(a.regression, a.regression_param, delta) / R(a.batch));
  grad_add(g_row + L.log_z_entry(), g);
  for (int32_t t = 0; t < len; ++t) {
    const int32_t s = a.states[base + t];
    scatter_log_softmax_grad(a.dag, L, row, g_row, s, int64_t(a.actions[base + t]),
                             action_lse(a.dag, L, row, s, R(1)), g);
    backward_grad(a, r, int64_t(a.actions[base + t]), -g);
  }
}

template <class R>
GFNRL_HD inline void db_trajectory(const TrajectoryLossArgs<R>& a, int32_t r, int32_t m) {
  const TableLayout& L = a.layout;
  const R* row = a.params + int64_t(r) * L.stride();
  R* g_row = a.grad + int64_t(r) * L.stride();
  // The run's batch size in transitions (the loss is their mean).
  const int64_t transitions = batch_actions(a.lengths, r, a.batch, false);
  const int64_t base = (int64_t(r) * a.batch + m) * a.max_len;
  const int32_t len = a.lengths[int64_t(r) * a.batch + m];
  for (int32_t t = 0; t < len; ++t) {
    const int32_t s = a.states[base + t];
    const int64_t act = a.actions[base + t];
    const R lse = action_lse(a.dag, L, row, s, R(1));
    const int32_t next = next_state(a.dag, L, act);
    const R end = next >= 0 ? state_flow(a, row, next) + backward_term(a, r, act)
                            : static_cast<R>(a.dag.log_reward[s]);
    const R delta = state_flow(a, row, s) + row[act] - lse - prior_term(a, s, act) - end;
    const R g = regression_slope(a.regression, a.regression_param, delta) / R(transitions);
    grad_add(a.loss + r, regression_value(a.regression, a.regression_param, delta) / R(transitions));
    grad_add(g_row + L.flow_entry(s), g);
    if (next >= 0) grad_add(g_row + L.flow_entry(next), -g);
    scatter_log_softmax_grad(a.dag, L, row, g_row, s, act, lse, g);
    backward_grad(a, r, act, -g);
  }
}

/// The per-length weighting (`geometric`): the weight of a pair of each length d = 1..len,
/// from the lengths of run r's batch, into w[d].
template <class R>
GFNRL_HD inline void subtb_length_weights(const TrajectoryLossArgs<R>& a, int32_t r, int32_t len,
                                          R lambda, R* w) {
  const int32_t* run_len = a.lengths + int64_t(r) * a.batch;
  int32_t longest = 0;
  for (int32_t k = 0; k < a.batch; ++k) longest = run_len[k] > longest ? run_len[k] : longest;
  for (int32_t d = 1; d <= len; ++d) {
    int64_t count = 0;
    for (int32_t k = 0; k < a.batch; ++k) count += run_len[k] >= d ? run_len[k] - d + 1 : 0;
    w[d] = subtb_length_mean_weight(lambda, d, longest, R(count));
  }
}

/// O(T^2) over the sub-trajectory pairs: prefix sums of c_k make each residual O(1); the
/// per-step coefficient sum_{i<=k<j} w g'(delta_ij) is accumulated as a difference array and the
/// flow gradients per position, so each table entry is scattered once per visit.
template <class R>
GFNRL_HD inline void subtb_trajectory(const TrajectoryLossArgs<R>& a, int32_t r, int32_t m) {
  const TableLayout& L = a.layout;
  const R* row = a.params + int64_t(r) * L.stride();
  R* g_row = a.grad + int64_t(r) * L.stride();
  const int64_t traj = int64_t(r) * a.batch + m;
  const int64_t base = traj * a.max_len;
  const int32_t len = a.lengths[traj];  // T + 1 actions, T + 2 positions
  R* prefix = a.scratch + traj * kSubTBScratch * (a.max_len + 1);  // C_j = sum_{k<j} c_k
  R* coef = prefix + (a.max_len + 1);  // difference array of the step coefficients
  R* gphi = coef + (a.max_len + 1);    // d loss / d phi_k
  const int32_t positions = len + 1;
  prefix[0] = R(0);
  for (int32_t k = 0; k < len; ++k) {
    const int64_t act = a.actions[base + k];
    prefix[k + 1] =
        prefix[k] + step_log_pf(a, row, a.states[base + k], act) - backward_term(a, r, act);
    coef[k] = gphi[k] = R(0);
  }
  coef[len] = gphi[len] = R(0);
  // Equal weightings are the geometric ones at lambda = 1.
  const bool equal =
      a.weighting == SubTBWeighting::EqualWithin || a.weighting == SubTBWeighting::Equal;
  const R lambda = equal ? R(1) : a.lambda;
  const R scale = R(1) / subtb_normaliser(a.weighting, lambda, a.lengths, r, a.batch, m);
  R* length_weight = gphi + (a.max_len + 1);
  const bool per_length = a.weighting == SubTBWeighting::Geometric;
  if (per_length) subtb_length_weights(a, r, len, lambda, length_weight);
  const R log_r = static_cast<R>(a.dag.log_reward[a.states[base + len - 1]]);
  R loss = R(0);
  for (int32_t i = 0; i < len; ++i) {  // i = T+1 starts no pair
    const R phi_i = state_flow(a, row, a.states[base + i]);
    R lam_d = R(1);
    for (int32_t j = i + 1; j < positions; ++j) {
      lam_d *= lambda;
      const R w = per_length ? length_weight[j - i]
                             : scale * subtb_pair_weight(a.weighting, lam_d, j - i, positions);
      if (w == R(0)) continue;
      const R phi_j = j < len ? state_flow(a, row, a.states[base + j]) : log_r;
      const R delta = phi_i + prefix[j] - prefix[i] - phi_j;
      const R g = w * regression_slope(a.regression, a.regression_param, delta);
      loss += w * regression_value(a.regression, a.regression_param, delta);
      gphi[i] += g;
      gphi[j] -= g;  // gphi[T+1] belongs to log R: never scattered
      coef[i] += g;  // steps i .. j-1
      coef[j] -= g;
    }
  }
  grad_add(a.loss + r, loss);
  R running = R(0);
  for (int32_t k = 0; k < len; ++k) {
    running += coef[k];
    const int32_t s = a.states[base + k];
    grad_add(g_row + L.flow_entry(s), gphi[k]);
    scatter_log_softmax_grad(a.dag, L, row, g_row, s, int64_t(a.actions[base + k]),
                             action_lse(a.dag, L, row, s, R(1)), running);
    backward_grad(a, r, int64_t(a.actions[base + k]), -running);
  }
}

template <class R>
GFNRL_HD inline void mdb_trajectory(const TrajectoryLossArgs<R>& a, int32_t r, int32_t m) {
  const TableLayout& L = a.layout;
  const R* row = a.params + int64_t(r) * L.stride();
  R* g_row = a.grad + int64_t(r) * L.stride();
  const int64_t inner = batch_actions(a.lengths, r, a.batch, true);
  const int64_t base = (int64_t(r) * a.batch + m) * a.max_len;
  const int32_t len = a.lengths[int64_t(r) * a.batch + m];
  for (int32_t t = 0; t + 1 < len; ++t) {
    const int32_t s = a.states[base + t], n = a.states[base + t + 1];
    const int64_t act = a.actions[base + t];
    const R lse_s = action_lse(a.dag, L, row, s, R(1)), lse_n = action_lse(a.dag, L, row, n, R(1));
    const R delta = static_cast<R>(a.dag.log_reward[s]) + (row[act] - lse_s) +
                    (row[L.exit_entry(n)] - lse_n) - static_cast<R>(a.dag.log_reward[n]) -
                    (row[L.exit_entry(s)] - lse_s) - backward_term(a, r, act);
    const R g = regression_slope(a.regression, a.regression_param, delta) / R(inner);
    grad_add(a.loss + r, regression_value(a.regression, a.regression_param, delta) / R(inner));
    scatter_log_softmax_grad(a.dag, L, row, g_row, s, act, lse_s, g);
    scatter_log_softmax_grad(a.dag, L, row, g_row, s, L.exit_entry(s), lse_s, -g);
    scatter_log_softmax_grad(a.dag, L, row, g_row, n, L.exit_entry(n), lse_n, g);
    backward_grad(a, r, act, -g);
  }
}

/// ZVar pass 1: D_m into the trajectory's first scratch slot.
template <class R>
GFNRL_HD inline void zvar_residual(const TrajectoryLossArgs<R>& a, int32_t r, int32_t m) {
  const TableLayout& L = a.layout;
  const R* row = a.params + int64_t(r) * L.stride();
  const int64_t traj = int64_t(r) * a.batch + m, base = traj * a.max_len;
  const int32_t len = a.lengths[traj];
  R d = -static_cast<R>(a.dag.log_reward[a.states[base + len - 1]]);
  for (int32_t t = 0; t < len; ++t) {
    const int64_t act = a.actions[base + t];
    d += step_log_pf(a, row, a.states[base + t], act) - backward_term(a, r, act);
  }
  a.scratch[2 * traj] = d;
}

/// ZVar pass 2, per run: delta_m = D_m - mean D in place, the loss, mean g'(delta) into the
/// run's first trajectory's second slot, and -mean D into the table's log Z entry (a record for
/// evaluation, not a trained parameter: its gradient stays 0).
template <class R>
GFNRL_HD inline void zvar_batch(const TrajectoryLossArgs<R>& a, int32_t r) {
  R* s = a.scratch + 2 * int64_t(r) * a.batch;
  R mean = R(0);
  for (int32_t m = 0; m < a.batch; ++m) mean += s[2 * m];
  mean /= R(a.batch);
  R loss = R(0), slope = R(0);
  for (int32_t m = 0; m < a.batch; ++m) {
    const R delta = s[2 * m] - mean;
    s[2 * m] = delta;
    loss += regression_value(a.regression, a.regression_param, delta);
    slope += regression_slope(a.regression, a.regression_param, delta);
  }
  s[1] = slope / R(a.batch);
  grad_add(a.loss + r, loss / R(a.batch));
  a.zvar_log_z[int64_t(r) * a.layout.stride() + a.layout.log_z_entry()] = -mean;
}

/// ZVar pass 3: trajectory m's gradient, TB's scatter with the coefficient above.
template <class R>
GFNRL_HD inline void zvar_scatter(const TrajectoryLossArgs<R>& a, int32_t r, int32_t m) {
  const TableLayout& L = a.layout;
  const R* row = a.params + int64_t(r) * L.stride();
  R* g_row = a.grad + int64_t(r) * L.stride();
  const int64_t traj = int64_t(r) * a.batch + m, base = traj * a.max_len;
  const R* s = a.scratch + 2 * int64_t(r) * a.batch;
  const R g = (regression_slope(a.regression, a.regression_param, s[2 * m]) - s[1]) / R(a.batch);
  for (int32_t t = 0; t < a.lengths[traj]; ++t) {
    const int32_t st = a.states[base + t];
    scatter_log_softmax_grad(a.dag, L, row, g_row, st, int64_t(a.actions[base + t]),
                             action_lse(a.dag, L, row, st, R(1)), g);
    backward_grad(a, r, int64_t(a.actions[base + t]), -g);
  }
}

/// ZVar for one run, the three passes in order (the CPU path and the tests).
template <class R>
GFNRL_HD inline void zvar_run(const TrajectoryLossArgs<R>& a, int32_t r) {
  for (int32_t m = 0; m < a.batch; ++m) zvar_residual(a, r, m);
  zvar_batch(a, r);
  for (int32_t m = 0; m < a.batch; ++m) zvar_scatter(a, r, m);
}

/// log of the flow into s: LSE of row over the edges from s's parents.
template <class R>
GFNRL_HD inline R in_flow_lse(const DagView& d, const R* row, int32_t s) {
  LseAcc<R> acc;
  for (int64_t j = d.parent_offsets[s]; j < d.parent_offsets[s + 1]; ++j)
    acc.add(row[d.parent_edge[j]]);
  return acc.value();
}

template <class R>
GFNRL_HD inline void fm_trajectory(const TrajectoryLossArgs<R>& a, int32_t r, int32_t m) {
  const TableLayout& L = a.layout;
  const R* row = a.params + int64_t(r) * L.stride();
  R* g_row = a.grad + int64_t(r) * L.stride();
  const int64_t visits = batch_actions(a.lengths, r, a.batch, true);  // states past s_0
  const int64_t traj = int64_t(r) * a.batch + m, base = traj * a.max_len;
  const int32_t len = a.lengths[traj];
  for (int32_t t = 1; t < len; ++t) {
    const int32_t s = a.states[base + t];
    const R in = in_flow_lse(a.dag, row, s), out = action_lse(a.dag, L, row, s, R(1));
    const R delta = in - out;
    const R g = regression_slope(a.regression, a.regression_param, delta) / R(visits);
    grad_add(a.loss + r, regression_value(a.regression, a.regression_param, delta) / R(visits));
    for (int64_t j = a.dag.parent_offsets[s]; j < a.dag.parent_offsets[s + 1]; ++j) {
      const int64_t e = a.dag.parent_edge[j];
      grad_add(g_row + e, g * exp_(row[e] - in));
    }
    scatter_lse_grad(a.dag, L, row, g_row, s, out, -g);
  }
  const int32_t x = a.states[base + len - 1];
  const R delta = row[L.exit_entry(x)] - static_cast<R>(a.dag.log_reward[x]);
  grad_add(a.loss + r,
           a.fm_alpha * regression_value(a.regression, a.regression_param, delta) / R(a.batch));
  grad_add(g_row + L.exit_entry(x),
           a.fm_alpha * regression_slope(a.regression, a.regression_param, delta) / R(a.batch));
}

/// One trajectory of TB, DB, SubTB, modified DB or FM (ZVar needs its run's whole batch:
/// zvar_run).
template <class R>
GFNRL_HD inline void trajectory_loss(LossKind kind, const TrajectoryLossArgs<R>& a, int32_t r,
                                     int32_t m) {
  if (kind == LossKind::TB)
    tb_trajectory(a, r, m);
  else if (kind == LossKind::DB)
    db_trajectory(a, r, m);
  else if (kind == LossKind::SubTB)
    subtb_trajectory(a, r, m);
  else if (kind == LossKind::FM)
    fm_trajectory(a, r, m);
  else
    mdb_trajectory(a, r, m);
}

}  // namespace gfnrl::detail
