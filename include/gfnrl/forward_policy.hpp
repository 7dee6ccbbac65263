/// @file forward_policy.hpp
/// Tabular forward policies P_F: the table every solver, sampler and file works with.
#pragma once
#include <string>

#include "gfnrl/array.hpp"
#include "gfnrl/dag.hpp"

namespace gfnrl {

/// A tabular forward policy: log P_F on every edge id, and of the exit action per state
/// (-inf where a state does not terminate).
struct ForwardPolicy {
  Array<float> log_prob;       ///< [num_edges]
  Array<float> exit_log_prob;  ///< [num_states]
};

/// InputError unless `policy` has one entry per edge and per state of `dag`, on its backend
/// (the message calls it `what`: "forward policy", "base policy", ...).
void check_policy_shape(const Dag& dag, const ForwardPolicy& policy, const std::string& what);

/// The first state whose row of host tables (log P_F of its edges, in the DAG's edge order, and
/// of its exit) does not sum to 1 within `tolerance`, num_states() when every row does; `sum`
/// receives that row's sum. A CUDA DAG's offsets are copied to the host first. Vectorised and
/// threaded (a tenth of an evaluation's time on 4-D H=20).
int32_t first_unnormalised_state(const Dag& dag, const float* edge_log_prob,
                                 const float* exit_log_prob, double tolerance,
                                 double* sum = nullptr);

/// Host P_F tables from a per-state action table, the layout of a policy network's output:
/// row s of `log_probs` ([num_states x width], row-major, host memory) holds log P_F(a | s) by
/// action id. Edge e of state s (action a = its child_action) receives log_probs[s * width + a],
/// state s's exit log_probs[s * width + exit_column] (the table's own value: -inf where the
/// network's mask forbids the exit). Writes `edge_log_prob` [num_edges] and `exit_log_prob`
/// [num_states] (host) in one threaded pass, and returns the flat index into `log_probs` of the
/// first entry read that is NaN or +inf, -1 when none is. InputError when an action id or
/// `exit_column` is not below `width`. A CUDA DAG's offsets and actions are copied first.
/// InputError unless a [num_states x width] action table holds every action id of `dag` and
/// `exit_column` (gather_action_table and ActionTableMarginalSolver check it first).
void check_action_table_width(const Dag& dag, std::size_t width, std::size_t exit_column);

int64_t gather_action_table(const Dag& dag, const float* log_probs, std::size_t width,
                            std::size_t exit_column, float* edge_log_prob, float* exit_log_prob);

/// The forward policy uniform over each state's valid actions, exit included.
ForwardPolicy uniform_forward_policy(const Dag& dag, Stream stream = {});

}  // namespace gfnrl
