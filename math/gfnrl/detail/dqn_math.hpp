/// @file dqn_math.hpp
/// SoftDQN and Munchausen DQN on a Q table (Tiapkin et al., AISTATS 2024), one replayed
/// transition (s, a) at a time, shared by the CPU backend and the CUDA kernel.
///   V_tgt(s)       = tau * LSE(Q_tgt(s, .) / tau),    log pi_tgt(a|s) = Q_tgt(s,a)/tau - LSE(Q_tgt(s,.)/tau)
///   y              = log P_B(s|s') + V_tgt(s')  for an edge a = s -> s'  (r = 0 without correction)
///                  = log R(s)                     for the exit
///   y             += alpha * clip(tau * log pi_tgt(a|s), l0, 0)            (Munchausen term)
///   loss           = mean over the replayed batch of Huber_1(Q(s,a) - y) (or (Q - y)^2)
/// With energy-difference rewards (every state terminates, Deleu's talk): an edge's target gains
/// log R(s') - log R(s) = E(s) - E(s') and the exit's is 0, so rewards telescope to
/// log R(x) - log R(s0): the same optimal policy, V(s0) = log Z - log R(s0).
/// tau = 1 / (1 - alpha) keeps (1 - alpha) tau = 1, so the fixed point's policy softmax(Q/tau)
/// samples R/Z and V(s0) = log Z; alpha = 0 is SoftDQN. A learned P_B (pb_grad set) is trained
/// through the TD loss like the reference code's "naive" option: d loss / d log P_B(s|s') =
/// -d loss / d Q(s,a), scattered onto its logits (backward_math.hpp).
#pragma once
#include <cstdint>

#include "gfnrl/detail/backward_math.hpp"
#include "gfnrl/detail/replay_math.hpp"
#include "gfnrl/detail/table_layout.hpp"
#include "gfnrl/detail/train_views.hpp"

namespace gfnrl::detail {

template <class R>
struct DqnArgs : TableView<R>, BackwardView<R> {
  // params: the online Q; log_pb: the reward correction.
  const R* target;       ///< target Q, [runs x stride]
  R* abs_td;             ///< [runs x samples]: |Q - y| (new priorities), or nullptr
  int32_t samples;
  const int32_t* sample_state;   ///< [runs x samples]
  const int32_t* sample_action;  ///< [runs x samples]
  R tau, alpha, l0;
  bool huber;
  bool energy_reward;  ///< intermediate rewards log R(s') - log R(s), exit reward 0
};

template <class R>
GFNRL_HD inline R dqn_target(const DqnArgs<R>& a, int32_t r, const R* tgt_row, int32_t s,
                             int64_t act) {
  const TableLayout& L = a.layout;
  const R inv_tau = R(1) / a.tau;
  R y;
  if (L.is_exit(act)) {
    y = a.energy_reward ? R(0) : static_cast<R>(a.dag.log_reward[s]);
  } else {
    const int32_t next = a.dag.child_index[act];
    y = (a.log_pb ? a.log_pb[r * a.log_pb_stride + act] : R(0)) +
        a.tau * action_lse(a.dag, L, tgt_row, next, inv_tau);
    if (a.energy_reward)
      y += static_cast<R>(a.dag.log_reward[next]) - static_cast<R>(a.dag.log_reward[s]);
  }
  if (a.alpha > R(0)) {
    R m = a.tau * (tgt_row[act] * inv_tau - action_lse(a.dag, L, tgt_row, s, inv_tau));
    m = m < a.l0 ? a.l0 : (m > R(0) ? R(0) : m);
    y += a.alpha * m;
  }
  return y;
}

/// The TD error Q(s, a) - y of transition (s, a) in run r.
template <class R>
GFNRL_HD inline R dqn_td(const DqnArgs<R>& a, int32_t r, int32_t s, int64_t act) {
  const int64_t row = int64_t(r) * a.layout.stride();
  return a.params[row + act] - dqn_target(a, r, a.target + row, s, act);
}

/// The reference code's rule for new transitions: run r's newest transitions (the batch of
/// `lengths` just inserted; at most the capacity) get the priority of their own TD loss (Huber's,
/// or the squared error's with a.huber off) instead of the running maximum.
template <class R>
GFNRL_HD inline void replay_prioritize_new(const ReplayArgs& b, const DqnArgs<R>& a,
                                           const int32_t* lengths, int32_t batch, int32_t r,
                                           float exponent) {
  int64_t count = 0;
  for (int32_t m = 0; m < batch; ++m) count += lengths[int64_t(r) * batch + m];
  const int64_t row = int64_t(r) * b.capacity;
  for (int64_t j = b.inserted[r] - (count < b.capacity ? count : b.capacity); j < b.inserted[r];
       ++j) {
    const int64_t slot = row + j % b.capacity;
    const R d = dqn_td(a, r, b.slot_state[slot], b.slot_action[slot]);
    const float p = replay_priority(static_cast<float>(d < R(0) ? -d : d), exponent,
                                    a.huber ? kPriorityHuber : kPrioritySquared);
    b.priority[slot] = p;
    if (p > b.max_priority[r]) b.max_priority[r] = p;
  }
}

/// Replayed sample i of run r: loss and d loss / d Q(s, a).
template <class R>
GFNRL_HD inline void dqn_sample(const DqnArgs<R>& a, int32_t r, int32_t i) {
  const TableLayout& L = a.layout;
  const int64_t k = int64_t(r) * a.samples + i;
  const int32_t s = a.sample_state[k];
  const int64_t act = a.sample_action[k];
  const R d = dqn_td(a, r, s, act);
  const R ad = d < R(0) ? -d : d;
  R l, g;
  if (a.huber && ad > R(1)) {
    l = ad - R(0.5);
    g = d > R(0) ? R(1) : R(-1);
  } else {
    l = a.huber ? R(0.5) * d * d : d * d;
    g = a.huber ? d : R(2) * d;
  }
  const R n = R(a.samples);
  grad_add(a.grad + int64_t(r) * L.stride() + act, g / n);
  if (a.pb_grad && !L.is_exit(act))
    scatter_backward_grad(a.dag, a.log_pb + r * a.log_pb_stride, a.pb_grad + int64_t(r) * L.num_edges,
                          act, -g / n);
  grad_add(a.loss + r, l / n);
  if (a.abs_td) a.abs_td[k] = ad;
}

}  // namespace gfnrl::detail
