/// @file policy_file.hpp
/// Forward policy tables in a text file, for priors (KL-regularised learning from a previously
/// trained run) and for handing a policy to other tools:
///
///     gfnrl-policy 1
///     edges E            # then E lines: log P_F of edge id 0 .. E-1 (the Dag's CSR order)
///     -0.693147182
///     ...
///     exits N            # then N lines: log P_F(exit | s) for s = 0 .. N-1 (-inf: no exit)
///     -inf
///     ...
///
/// Edge ids and states follow the Dag's level-sorted numbering, which a given environment (or
/// DAG file) always reproduces.
#pragma once
#include <ostream>
#include <string>

#include "gfnrl/dag.hpp"
#include "gfnrl/soft_values.hpp"

namespace gfnrl {

/// Writes `policy` (any backend) to `path` as an OutputFile (gfnrl/output_file.hpp).
void write_policy_file(const std::string& path, const Dag& dag, const ForwardPolicy& policy);
/// The same into a stream.
void write_policy_file(std::ostream& out, const Dag& dag, const ForwardPolicy& policy);

/// Reads a policy for `dag` onto its backend. InputError naming the line for malformed lines,
/// sizes that differ from the DAG's, NaN or positive log-probabilities, an exit where the state
/// does not terminate, and states whose probabilities do not sum to 1 (tolerance 1e-3).
ForwardPolicy read_policy_file(const std::string& path, const Dag& dag);

}  // namespace gfnrl
