/// @file soft_values.hpp
/// Exact soft (MaxEnt) value iteration on a DAG, level-synchronous from the last level back to s0:
///   Q(s,s') = r(s,s') + V(s'),  Q(s,exit) = log R(s),
///   V(s)    = log sum_a mu(a|s) exp(Q(s,a))   (mu = 1 without a base policy),
///   log pi(a|s) = log mu(a|s) + Q(s,a) - V(s).
/// With the reward correction r(s,s') = log P_B(s|s') the optimal policy samples R(x)/Z exactly
/// and V(s0) = log Z; with r = 0 (no correction) it samples n(x)R(x)/sum n R.
#pragma once
#include <string>
#include "gfnrl/array.hpp"
#include "gfnrl/backward_policy.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/forward_policy.hpp"
#include "gfnrl/sweep.hpp"

namespace gfnrl {

struct SoftValueOptions {
  /// KL-regularised soft RL with the base policy mu uniform over valid actions (exit included).
  bool uniform_base_policy = false;
  /// KL-regularised soft RL with this base policy table mu (on the DAG's backend; overrides
  /// uniform_base_policy). The soft-optimal policy then samples x proportionally to mu^T(x) R(x).
  const ForwardPolicy* base_policy = nullptr;
  SweepOptions sweep;
};

struct SoftValues {
  Array<float> value;   ///< V(s), [num_states]
  Array<float> q;       ///< Q(s,s') per edge id, [num_edges]
  Array<float> exit_q;  ///< Q(s,exit) = log R(s), [num_states]
  ForwardPolicy policy; ///< the soft-optimal policy's log-probabilities
};

/// Owns the output tables and (on CUDA) the captured sweep, so repeated solves on the same DAG
/// replay one graph. `correction` is the backward policy whose log-probabilities are the inner
/// rewards, or nullptr for no correction (r = 0).
class SoftValueSolver {
 public:
  SoftValueSolver(const Dag& dag, const BackwardPolicy* correction, SoftValueOptions options = {});
  /// Recomputes every table (reads the DAG and correction buffers as they are now).
  void run(Stream stream = {});
  const SoftValues& result() const { return out_; }
  /// V(s0), copied to the host.
  float log_z() const;

 private:
  Dag dag_;
  Array<float> correction_;  // empty: no correction
  ForwardPolicy base_;       // empty: no base policy table
  SoftValueOptions options_;
  SoftValues out_;
  detail::SweepGraphPtr graph_;
};

/// One solve (constructs a SoftValueSolver, runs it once, returns its tables).
SoftValues solve_soft_values(const Dag& dag, const BackwardPolicy* correction,
                             SoftValueOptions options = {}, Stream stream = {});

}  // namespace gfnrl
