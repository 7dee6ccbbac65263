/// @file backward_math.hpp
/// Learned backward policies on a table of backward logits theta (one per edge id and run):
///   log P_B(s|s') = theta[e] - LSE over the parent edges e' of s' of theta[e']   (e = s -> s'),
/// their gradients, and Trajectory Likelihood Maximisation (Gritsaev et al., "Optimizing Backward
/// Policies in GFlowNets via Trajectory Likelihood Maximization", ICLR 2025, arXiv 2410.15474;
/// docs/ALGORITHMS.md): the backward step on a freshly sampled on-policy batch,
///   L_TLM = - (1 / #inner transitions) sum over inner transitions (s_t -> s_{t+1}) of
///           log P_B(s_t | s_{t+1}),
/// the negative log-likelihood of the sampled trajectories under P_B given their end states
/// (the exit transition carries no P_B). Shared by the CPU backend and the CUDA kernels.
#pragma once
#include <cstdint>

#include "gfnrl/detail/table_layout.hpp"
#include "gfnrl/detail/train_views.hpp"

namespace gfnrl::detail {

/// log P_B of every parent edge of state c from the logits theta (one run's row, [E]).
template <class R>
GFNRL_HD inline void backward_log_probs_state(const DagView& d, const R* theta, int32_t c,
                                              R* log_pb) {
  LseAcc<R> acc;
  for (int64_t j = d.parent_offsets[c]; j < d.parent_offsets[c + 1]; ++j)
    acc.add(theta[d.parent_edge[j]]);
  const R lse = acc.value();
  for (int64_t j = d.parent_offsets[c]; j < d.parent_offsets[c + 1]; ++j)
    log_pb[d.parent_edge[j]] = theta[d.parent_edge[j]] - lse;
}

/// d/d theta of g * log P_B(e): theta[e'] += g * (1[e' = e] - P_B(e')) over the parent edges e'
/// of the child of e. `log_pb` is the run's row of log P_B.
template <class R>
GFNRL_HD inline void scatter_backward_grad(const DagView& d, const R* log_pb, R* grad, int64_t e,
                                           R g) {
  const int32_t c = d.child_index[e];
  for (int64_t j = d.parent_offsets[c]; j < d.parent_offsets[c + 1]; ++j)
    grad_add(grad + d.parent_edge[j], -g * exp_(log_pb[d.parent_edge[j]]));
  grad_add(grad + e, g);
}

template <class R>
struct TlmArgs : TrajectoryBatch {
  DagView dag;
  TableLayout layout;
  const R* log_pb;  ///< [runs x E], from the online backward logits
  R* grad;          ///< [runs x E], accumulated into
  R* loss;          ///< [runs], accumulated into
  int32_t runs;
};

/// Trajectory m of run r: its share of L_TLM and of d L_TLM / d theta.
template <class R>
GFNRL_HD inline void tlm_trajectory(const TlmArgs<R>& a, int32_t r, int32_t m) {
  const int64_t inner = batch_actions(a.lengths, r, a.batch, true);  // every action but exits
  if (inner == 0) return;
  const int64_t E = a.layout.num_edges;
  const R* lp = a.log_pb + int64_t(r) * E;
  R* g = a.grad + int64_t(r) * E;
  const int64_t base = (int64_t(r) * a.batch + m) * a.max_len;
  const int32_t len = a.lengths[int64_t(r) * a.batch + m];
  const R w = R(1) / R(inner);
  R loss = R(0);
  for (int32_t t = 0; t + 1 < len; ++t) {
    const int64_t e = a.actions[base + t];
    loss -= w * lp[e];
    scatter_backward_grad(a.dag, lp, g, e, -w);
  }
  grad_add(a.loss + r, loss);
}

}  // namespace gfnrl::detail
