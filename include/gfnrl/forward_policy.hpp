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

/// The forward policy uniform over each state's valid actions, exit included.
ForwardPolicy uniform_forward_policy(const Dag& dag, Stream stream = {});

}  // namespace gfnrl
