/// @file state_math.hpp
/// Per-state arithmetic of every sweep, shared verbatim by the CPU backend (OpenMP loops over a
/// level) and the CUDA kernels (one thread or one warp per state).
#pragma once
#include <cstdint>

#include "gfnrl/dag_view.hpp"
#include "gfnrl/detail/hd.hpp"

namespace gfnrl::detail {

// ---------------------------------------------------------------------------------------------
// Soft value iteration (backward sweep, last level first).
//   Q(s,e) = r(e) + V(child(e)),  r(e) = log P_B(s|child(e)) or 0,  Q(s,exit) = log R(s)
//   V(s)   = log sum_a mu(a|s) exp Q(s,a),  log pi(a|s) = log mu(a|s) + Q(s,a) - V(s)
// mu = 1 (plain soft RL), uniform over the actions of s, or any table (KL-regularised RL with a
// base policy: pi then samples x with probability proportional to mu^T(x) R(x)).
// ---------------------------------------------------------------------------------------------
struct SoftValueArgs {
  DagView dag;
  const float* correction;  ///< log P_B per edge id, or nullptr for r = 0
  bool uniform_base;        ///< mu uniform over valid actions, else mu = 1
  float* value;
  float* q;
  float* log_pi;
  float* exit_q;
  float* exit_log_pi;
  const float* base_log_prob = nullptr;       ///< a base policy table mu: log mu per edge id,
  const float* base_exit_log_prob = nullptr;  ///< and of the exit per state (overrides uniform)
};

GFNRL_HD inline bool terminates(const DagView& d, int32_t s) { return d.log_reward[s] > neg_inf(); }

GFNRL_HD inline int32_t num_actions(const DagView& d, int32_t s) {
  return static_cast<int32_t>(d.child_offsets[s + 1] - d.child_offsets[s]) + (terminates(d, s) ? 1 : 0);
}

/// log mu(a|s) shared by every action of s (uniform or none); a table mu is read per action.
GFNRL_HD inline float log_base(const SoftValueArgs& a, int32_t s) {
  return a.uniform_base ? -log_(static_cast<float>(num_actions(a.dag, s))) : 0.0f;
}
GFNRL_HD inline float log_base_edge(const SoftValueArgs& a, int64_t e, float state_lmu) {
  return a.base_log_prob ? a.base_log_prob[e] : state_lmu;
}
GFNRL_HD inline float log_base_exit(const SoftValueArgs& a, int32_t s, float state_lmu) {
  return a.base_exit_log_prob ? a.base_exit_log_prob[s] : state_lmu;
}

GFNRL_HD inline float soft_edge_q(const SoftValueArgs& a, int64_t e) {
  const float r = a.correction ? a.correction[e] : 0.0f;
  return r + a.value[a.dag.child_index[e]];
}

GFNRL_HD inline void soft_write_edge(const SoftValueArgs& a, int64_t e, float v, float lmu) {
  const float q = soft_edge_q(a, e);
  a.q[e] = q;
  a.log_pi[e] = log_ratio(q + log_base_edge(a, e, lmu), v);
}

GFNRL_HD inline void soft_write_state(const SoftValueArgs& a, int32_t s, float v, float lmu) {
  const float lr = a.dag.log_reward[s];
  a.value[s] = v;
  a.exit_q[s] = lr;
  a.exit_log_pi[s] = terminates(a.dag, s) ? log_ratio(lr + log_base_exit(a, s, lmu), v) : neg_inf();
}

/// One state, sequentially over its children (the CPU path and the thread-per-state kernel).
/// The first kSoftCached children's Q stay in registers between the logsumexp and the writes, so
/// low-degree states (hypergrids: degree <= D) read child index, P_B and V(child) once. The loops
/// over the cache have constant bounds so that the array is never indexed at run time (no spill
/// to local memory on the GPU).
constexpr int kSoftCached = 8;
GFNRL_HD inline void soft_value_state(const SoftValueArgs& a, int32_t s) {
  const int64_t b = a.dag.child_offsets[s], end = a.dag.child_offsets[s + 1];
  const float lmu = log_base(a, s);
  LseAcc<float> acc;
  acc.add(a.dag.log_reward[s] + log_base_exit(a, s, lmu));
  float qc[kSoftCached];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int k = 0; k < kSoftCached; ++k) {
    qc[k] = b + k < end ? soft_edge_q(a, b + k) : neg_inf();
    acc.add(qc[k] + (b + k < end ? log_base_edge(a, b + k, lmu) : 0.0f));
  }
  for (int64_t e = b + kSoftCached; e < end; ++e)
    acc.add(soft_edge_q(a, e) + log_base_edge(a, e, lmu));
  const float v = acc.value();
  soft_write_state(a, s, v, lmu);
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int k = 0; k < kSoftCached; ++k)
    if (b + k < end) {
      a.q[b + k] = qc[k];
      a.log_pi[b + k] = log_ratio(qc[k] + log_base_edge(a, b + k, lmu), v);
    }
  for (int64_t e = b + kSoftCached; e < end; ++e) soft_write_edge(a, e, v, lmu);
}

// ---------------------------------------------------------------------------------------------
// Forward propagation (first level first): gather from parents.
//   out(s0) = 0,  out(c) = log sum_{j in Pa(c)} exp(in(parent_j) + w(edge_j))
// With w = log P_F it gives log visit probabilities; with w = 0, log path counts.
// ---------------------------------------------------------------------------------------------
template <class R>
struct ForwardArgsT {
  DagView dag;
  const float* edge_weight;  ///< per edge id, or nullptr for 0
  const float* exit_weight;  ///< per state log P_F(exit|s), or nullptr (no terminal output)
  R* log_out;                ///< [num_states], read for parents, written for the level
  R* log_terminal;           ///< [num_states] written when exit_weight is set
};
/// Marginals run in float (the policy tables' precision); path counts in double, because log n(s)
/// reaches hundreds on large grids and P_B = n(s)/n(s') is a difference of two of them.
using ForwardArgs = ForwardArgsT<float>;
using PathCountArgs = ForwardArgsT<double>;

/// Where parent slot j's log P_F sits in a per-state action table [num_states x width] (a policy
/// network's output): row parent(j), column action(edge(j)). The sweep reads a table through
/// these positions in place of edge ids (ActionTableMarginalSolver).
GFNRL_HD inline int64_t action_table_slot(const DagView& d, int64_t j, int64_t width) {
  return int64_t(d.parent_index[j]) * width + d.child_action[d.parent_edge[j]];
}

template <class R>
GFNRL_HD inline R forward_term(const ForwardArgsT<R>& a, int64_t j) {
  const R w = a.edge_weight ? static_cast<R>(a.edge_weight[a.dag.parent_edge[j]]) : R(0);
  return a.log_out[a.dag.parent_index[j]] + w;
}

template <class R>
GFNRL_HD inline void forward_write_state(const ForwardArgsT<R>& a, int32_t c, R lv) {
  a.log_out[c] = lv;
  if (a.exit_weight) a.log_terminal[c] = lv + static_cast<R>(a.exit_weight[c]);
}

template <class R>
GFNRL_HD inline void forward_state(const ForwardArgsT<R>& a, int32_t c) {
  LseAcc<R> acc;
  if (c == 0) {
    acc.add(R(0));  // the source is visited by every trajectory
  } else {
    for (int64_t j = a.dag.parent_offsets[c]; j < a.dag.parent_offsets[c + 1]; ++j)
      acc.add(forward_term(a, j));
  }
  forward_write_state(a, c, acc.value());
}

// ---------------------------------------------------------------------------------------------
// Policies built per state.
// ---------------------------------------------------------------------------------------------
/// Uniform forward policy over valid actions, exit included.
GFNRL_HD inline void uniform_forward_state(const DagView& d, int32_t s, float* log_prob,
                                           float* exit_log_prob) {
  const float l = -log_(static_cast<float>(num_actions(d, s)));
  for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e) log_prob[e] = l;
  exit_log_prob[s] = terminates(d, s) ? l : neg_inf();
}

/// Backward policy of child c: uniform over parents (log_n == nullptr) or the max-entropy
/// P_B(p|c) = n(p)/n(c) from log path counts.
GFNRL_HD inline void backward_state(const DagView& d, int32_t c, const double* log_n,
                                    float* log_prob) {
  const int64_t b = d.parent_offsets[c], end = d.parent_offsets[c + 1];
  const float uniform = -log_(static_cast<float>(end - b > 0 ? end - b : 1));
  for (int64_t j = b; j < end; ++j)
    log_prob[d.parent_edge[j]] =
        log_n ? static_cast<float>(log_n[d.parent_index[j]] - log_n[c]) : uniform;
}

// ---------------------------------------------------------------------------------------------
// Metrics: per-state terms, summed in double. p = target, q = model (P_T).
// ---------------------------------------------------------------------------------------------
/// Count, means and centred second moments of pairs (a, b), mergeable in any order (Chan, Golub
/// and LeVeque's pairwise update): a Pearson correlation without the cancellation of raw sums.
struct CovAcc {
  double n = 0, ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
  GFNRL_HD static CovAcc of(double a, double b) {
    CovAcc c;
    c.n = 1, c.ma = a, c.mb = b;
    return c;
  }
  GFNRL_HD static CovAcc merge(const CovAcc& x, const CovAcc& y) {
    if (x.n == 0) return y;
    if (y.n == 0) return x;
    CovAcc r;
    r.n = x.n + y.n;
    const double da = y.ma - x.ma, db = y.mb - x.mb, w = x.n * y.n / r.n;
    r.ma = x.ma + da * (y.n / r.n);
    r.mb = x.mb + db * (y.n / r.n);
    r.saa = x.saa + y.saa + da * da * w;
    r.sbb = x.sbb + y.sbb + db * db * w;
    r.sab = x.sab + y.sab + da * db * w;
    return r;
  }
  /// Pearson's r; NaN with fewer than two pairs or a constant side.
  GFNRL_HD double correlation() const { return sab / ::sqrt(saa * sbb); }
};

struct MetricSums {
  double tv = 0, kl_pq = 0, kl_qp = 0, jsd = 0, visits = 0;
  double mode_p = 0, mode_q = 0, modes = 0;  // mass on the modes (target, model), their number
  CovAcc log_qp;                  // (log P_T(x), log p(x)) over the target's support
  GFNRL_HD static MetricSums merge(const MetricSums& a, const MetricSums& b) {
    MetricSums r;
    r.tv = a.tv + b.tv;
    r.kl_pq = a.kl_pq + b.kl_pq;
    r.kl_qp = a.kl_qp + b.kl_qp;
    r.jsd = a.jsd + b.jsd;
    r.visits = a.visits + b.visits;
    r.mode_p = a.mode_p + b.mode_p;
    r.mode_q = a.mode_q + b.mode_q;
    r.modes = a.modes + b.modes;
    r.log_qp = CovAcc::merge(a.log_qp, b.log_qp);
    return r;
  }
};

/// x log(x/y) with the conventions 0 log 0 = 0 and x log(x/0) = +inf.
GFNRL_HD inline double xlogxy(double x, double log_x, double log_y) {
  return x > 0 ? x * (log_x - log_y) : 0.0;
}

// The visit term's exp is taken in float: log_visit is a float already, and the expected length
// is not a distance whose small values matter (a double exp costs twice as much on the CPU).
// `mode`: the state is a mode of the target (its weight within the mode threshold of the largest).
GFNRL_HD inline MetricSums metric_terms(double log_p, double log_q, float log_visit, bool mode) {
  MetricSums t;
  const double p = exp_(log_p), q = exp_(log_q);
  const double m = 0.5 * (p + q);
  const double log_m = m > 0 ? log_(m) : -std::numeric_limits<double>::infinity();
  t.tv = 0.5 * (p > q ? p - q : q - p);
  t.kl_pq = xlogxy(p, log_p, log_q);
  t.kl_qp = xlogxy(q, log_q, log_p);
  t.jsd = 0.5 * xlogxy(p, log_p, log_m) + 0.5 * xlogxy(q, log_q, log_m);
  t.visits = static_cast<double>(exp_(log_visit));
  if (mode) t.mode_p = p, t.mode_q = q, t.modes = 1;
  if (log_p > -std::numeric_limits<double>::infinity()) t.log_qp = CovAcc::of(log_q, log_p);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Variational bounds on log Z (Malkin et al. 2023, "GFlowNets and variational inference"), both
// as sums over the edges a trajectory can take:
//   ELBO + log Z = sum_s v(s) P_F(exit|s) (log R(s) - log P_F(exit|s))
//                + sum_{e = s->s'} v(s) P_F(e) (log P_B(e) - log P_F(e))           (tau ~ P_F)
//   EUBO + log Z = sum_s R(s)/Z (log R(s) - log P_F(exit|s))
//                + sum_{e = s->s'} F(s')/Z P_B(e) (log P_B(e) - log P_F(e))   (tau ~ R/Z * P_B)
// v(s): the probability that P_F visits s; F(s') = exp V(s'): the flow of the target's backward
// process, which is the soft value with the P_B correction (F(s) = R(s) + sum_s' P_B(s|s') F(s')).
// One exp per edge: P_B(e) and F(s)/Z do not change with P_F and are computed once per P_B.
// ---------------------------------------------------------------------------------------------
struct BoundSums {
  double elbo = 0, eubo = 0;  // without the - log Z
  GFNRL_HD static BoundSums merge(const BoundSums& a, const BoundSums& b) {
    BoundSums r;
    r.elbo = a.elbo + b.elbo;
    r.eubo = a.eubo + b.eubo;
    return r;
  }
};

struct BoundArgs {
  DagView dag;
  const float *log_pf, *exit_log_pf, *log_pb;  // the policies, per edge / per state
  const float* log_visit;                      // log v(s), from the marginals of P_F
  const float* pb;                             // P_B(e) = exp log_pb(e), once per P_B
  const float* target_flow;                    // F(s)/Z, once per P_B
  double log_z;
};

/// w (a - b): 0 where w = 0 (whatever a - b is), +-inf where a path the weight reaches has
/// probability 0 under the other process.
GFNRL_HD inline double weighted_gap(double w, double a, double b) { return w > 0 ? w * (a - b) : 0.0; }

// The weights are probabilities of float tables: their exp is taken in float (one per edge, the
// P_B side precomputed), the sums in double.
GFNRL_HD inline BoundSums bound_terms(const BoundArgs& a, int32_t s) {
  BoundSums t;
  const float lv = a.log_visit[s], lx = a.exit_log_pf[s];
  const double lr = a.dag.log_reward[s];
  t.elbo = weighted_gap(exp_(lv + lx), lr, lx);
  t.eubo = weighted_gap(exp_(lr - a.log_z), lr, lx);
  for (int64_t e = a.dag.child_offsets[s]; e < a.dag.child_offsets[s + 1]; ++e) {
    const float pf = a.log_pf[e], pb = a.log_pb[e];
    t.elbo += weighted_gap(exp_(lv + pf), pb, pf);
    t.eubo += weighted_gap(double(a.pb[e]) * a.target_flow[a.dag.child_index[e]], pb, pf);
  }
  return t;
}

}  // namespace gfnrl::detail
