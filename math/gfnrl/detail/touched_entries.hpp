/// @file touched_entries.hpp
/// The entries of each run's table row that one step's loss can have written a gradient into,
/// so that lazy Adam and SGD visit those instead of scanning every entry (a step touches a few
/// thousand entries of a row that can hold millions):
///   - the row of every state on the batch's trajectories: its edges, its exit, its log-flow
///     (every trajectory loss reads softmax rows and flows of the states it passes);
///   - flow matching: also the edges into those states (the in-flow's log-sum-exp);
///   - the action of every replayed sample (SoftDQN / Munchausen: one Q entry per sample);
///   - log Z;
///   - a trained P_B's logits (rows of E edge entries, `backward_logits`): the parent edges of
///     every state on the trajectories (scatter_backward_grad writes all parent edges of the
///     child of each transition).
/// A superset is harmless: lazy Adam and SGD leave an entry whose gradient is 0 untouched, and
/// the first visit of an entry resets its gradient to 0, so an entry listed twice moves once.
/// Each run's list is walked by one thread in a fixed order, so the result is bit-identical to
/// the scan (the entries are independent) for every thread count.
#pragma once
#include <cstdint>

#include "gfnrl/detail/optimizer_math.hpp"
#include "gfnrl/detail/train_views.hpp"

namespace gfnrl::detail {

struct TouchedEntries {
  DagView dag;
  TableLayout layout;
  TrajectoryBatch batch{};  ///< states == nullptr: no trajectory loss this step
  bool in_edges = false;    ///< flow matching
  const int32_t* sample_action = nullptr;  ///< [runs x samples] replayed action ids, or nullptr
  int32_t samples = 0;
  bool backward_logits = false;  ///< the table is a trained P_B's logits [runs x E]
};

/// Run r's walk over a trained P_B's logits: the parent edges of the batch's states.
GFNRL_HD inline void optimizer_backward_run(const OptimizerArgs& a, const TouchedEntries& t,
                                            int32_t r) {
  const DagView& d = t.dag;
  const int64_t row = int64_t(r) * d.num_edges;
  for (int32_t m = 0; m < t.batch.batch; ++m) {
    const int64_t traj = int64_t(r) * t.batch.batch + m, base = traj * t.batch.max_len;
    for (int32_t k = 0; k < t.batch.lengths[traj]; ++k) {
      const int32_t s = t.batch.states[base + k];
      for (int64_t j = d.parent_offsets[s]; j < d.parent_offsets[s + 1]; ++j)
        optimizer_entry(a, row + d.parent_edge[j]);
    }
  }
}

/// The optimizer step of run r's touched entries (`a.lazy` or SGD: zero gradients are skipped).
GFNRL_HD inline void optimizer_touched_run(const OptimizerArgs& a, const TouchedEntries& t,
                                           int32_t r) {
  if (t.backward_logits) return optimizer_backward_run(a, t, r);
  const DagView& d = t.dag;
  const TableLayout& L = t.layout;
  const int64_t row = int64_t(r) * L.stride();
  if (t.batch.states)
    for (int32_t m = 0; m < t.batch.batch; ++m) {
      const int64_t traj = int64_t(r) * t.batch.batch + m, base = traj * t.batch.max_len;
      for (int32_t k = 0; k < t.batch.lengths[traj]; ++k) {
        const int32_t s = t.batch.states[base + k];
        for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e)
          optimizer_entry(a, row + e);
        optimizer_entry(a, row + L.exit_entry(s));
        optimizer_entry(a, row + L.flow_entry(s));
        if (t.in_edges)
          for (int64_t j = d.parent_offsets[s]; j < d.parent_offsets[s + 1]; ++j)
            optimizer_entry(a, row + d.parent_edge[j]);
      }
    }
  if (t.sample_action)
    for (int32_t i = 0; i < t.samples; ++i)
      optimizer_entry(a, row + t.sample_action[int64_t(r) * t.samples + i]);
  optimizer_entry(a, row + L.log_z_entry());
}

}  // namespace gfnrl::detail
