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
