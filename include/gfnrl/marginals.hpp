/// @file marginals.hpp
/// Exact state-visit and terminating distributions of a tabular forward policy, by forward
/// propagation level by level (each state gathers from its parents: no atomics):
///   log p(s0) = 0,  log p(s') = log sum_{s in Pa(s')} exp(log p(s) + log P_F(s'|s)),
///   log P_F^T(x) = log p(x) + log P_F(exit|x).
/// The same sweep with zero edge weights gives log path counts n(s).
#pragma once
#include "gfnrl/array.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/soft_values.hpp"
#include "gfnrl/sweep.hpp"

namespace gfnrl {

struct Marginals {
  Array<float> log_visit;     ///< log probability that a trajectory visits s, [num_states]
  Array<float> log_terminal;  ///< log P_F^T(s) (-inf where s does not terminate), [num_states]
};

/// Owns the output and (on CUDA) the captured sweep; run() re-reads the policy buffers.
class MarginalSolver {
 public:
  /// `output`, when given, receives the result (e.g. slices of one batched buffer, one per run);
  /// otherwise the solver allocates its own.
  MarginalSolver(const Dag& dag, const ForwardPolicy& policy, SweepOptions options = {},
                 const Marginals* output = nullptr);
  void run(Stream stream = {});
  const Marginals& result() const { return out_; }

 private:
  Dag dag_;
  ForwardPolicy policy_;
  SweepOptions options_;
  Marginals out_;
  detail::SweepGraphPtr graph_;
};

/// The marginals of a policy given as a per-state action table, the layout of a policy network's
/// output: `table` [num_states x width] (row-major, on the DAG's backend), row s = log P_F(a | s)
/// by action id a, column `exit_column` the exit (-inf where the network's mask forbids it). The
/// sweep reads edge weights straight from the table through an index built once (parent slot j
/// -> row parent(j), column action(edge(j)); 4 B per edge, 8 when num_states x width passes
/// 2^31), in place of an edge-ordered copy; each run copies only the exit column. Equal bit for
/// bit to MarginalSolver on the gathered tables (gather_action_table). The table is not checked:
/// a NaN it reads need not reach the result (first_nan_or_inf, gather_action_table find one).
class ActionTableMarginalSolver {
 public:
  /// InputError when an action id of the DAG or `exit_column` is not below `width`.
  ActionTableMarginalSolver(const Dag& dag, std::size_t width, std::size_t exit_column,
                            SweepOptions options = {});
  /// Reads `table` (kept by the caller until run returns); a new pointer re-records the CUDA
  /// graph the sweep keeps.
  void run(const float* table, Stream stream = {});
  const Marginals& result() const { return out_; }
  std::size_t width() const { return width_; }
  std::size_t exit_column() const { return exit_column_; }
  /// The exit column of the last run's table: log P_F(exit | s) per state.
  const Array<float>& exit_log_prob() const { return exit_; }

 private:
  Dag dag_;
  std::size_t width_, exit_column_;
  SweepOptions options_;
  Array<int32_t> index_narrow_;
  Array<int64_t> index_wide_;
  DagView view_;  // the DAG's view with the index in place of the parent edge ids
  Array<float> exit_;
  Marginals out_;
  const float* bound_table_ = nullptr;
  detail::SweepGraphPtr graph_;
};

Marginals compute_marginals(const Dag& dag, const ForwardPolicy& policy, SweepOptions options = {},
                            Stream stream = {});

/// log P_F^T(x) of `policy` for every state (-inf where x does not terminate): the exact
/// terminating distribution, on the Dag's backend.
Array<float> terminating_distribution(const Dag& dag, const ForwardPolicy& policy,
                                      Stream stream = {});

/// log n(s): the log number of paths from s0 to s, accumulated in double (log n reaches hundreds
/// on large grids, where float would lose the ratios n(s)/n(s') that max-entropy P_B needs).
Array<double> log_path_counts(const Dag& dag, Stream stream = {});

}  // namespace gfnrl
