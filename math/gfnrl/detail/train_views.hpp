/// @file train_views.hpp
/// The three views every training loss composes its arguments from, so that one trainer fills
/// each once: the runs' forward tables (and what a loss accumulates into them), the backward
/// policy a loss reads (and differentiates when it is learned), and a batch of forward
/// trajectories. A loss's argument struct derives from the views it reads and adds its own
/// fields; fields keep their names (`a.params`, `a.states`), so the per-trajectory math reads
/// the same whichever view a field comes from.
#pragma once
#include <cstdint>

#include "gfnrl/detail/table_layout.hpp"

namespace gfnrl::detail {

/// Every run's row of the batched table [runs x stride] and the loss's accumulators.
template <class R>
struct TableView {
  DagView dag;
  TableLayout layout;
  const R* params;  ///< [runs x stride]
  R* grad;          ///< [runs x stride], accumulated into
  R* loss;          ///< [runs], accumulated into
  int32_t runs;
};

/// log P_B on the edges a loss reads: none (b = 0), one fixed row, or one row per run.
template <class R>
struct BackwardView {
  const R* log_pb;        ///< log P_B per edge id, or nullptr for b = 0
  int64_t log_pb_stride;  ///< 0: one P_B for every run; E: one row per run (learned, TLM)
  R* pb_grad;             ///< learned P_B: [runs x E] gradient of its logits, or nullptr
};

/// Forward trajectories as rollout_trajectory writes them: position t of trajectory m of run r
/// at (r * batch + m) * max_len + t.
struct TrajectoryBatch {
  int32_t batch, max_len;
  const int32_t* states;   ///< s_t
  const int32_t* actions;  ///< action id taken at s_t (the last one an exit)
  const int32_t* lengths;  ///< [runs x batch]: actions, the exit included
};

}  // namespace gfnrl::detail
