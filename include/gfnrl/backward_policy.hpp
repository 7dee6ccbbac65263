/// @file backward_policy.hpp
/// Backward policies P_B(s|s') as per-edge log-probabilities: log_prob[e] = log P_B(parent | child)
/// for the CSR edge e = parent -> child, normalised over the parents of each child.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "gfnrl/array.hpp"
#include "gfnrl/dag.hpp"

namespace gfnrl {

struct BackwardPolicy {
  Array<float> log_prob;  ///< one entry per edge id, on the Dag's backend
  std::string name;       ///< "uniform", "maxent" or "user"
};

/// InputError unless `pb` has one entry per edge of `dag`, on its backend (names the P_B and both
/// sizes).
void check_backward_shape(const Dag& dag, const BackwardPolicy& pb);

/// InputError naming the first edge (e, s -> s') where P_B(s|s') = 0, with `why` it must be
/// positive there.
void check_backward_positive(const Dag& dag, const BackwardPolicy& pb, const std::string& why);

/// P_B(s|s') = 1 / #parents(s').
BackwardPolicy uniform_backward_policy(const Dag& dag, Stream stream = {});
/// P_B(s|s') = n(s) / n(s'), n = number of paths from s0 (exact, from log_path_counts): the
/// backward policy of maximal trajectory entropy.
BackwardPolicy maxent_backward_policy(const Dag& dag, Stream stream = {});
/// A user table, one log-probability per edge id. Throws InputError when the size is not
/// num_edges, an entry is NaN or +inf, or a child's parent probabilities do not sum to 1 within
/// `tolerance` (the message names the child state and the sum).
BackwardPolicy backward_policy_from_table(const Dag& dag, const std::vector<float>& log_prob,
                                          double tolerance = 1e-4, Stream stream = {});

/// The fixed backward policies chosen by name (the reward correction r(s,s') = log P_B(s|s')):
/// uniform, max-entropy, the one a DAG file carries, or none (log P_B = 0: the uncorrected
/// reward, whose soft-optimal policy samples n(x) R(x)).
enum class Correction { Uniform, MaxEnt, File, None };
/// uniform, maxent, file, none: indexed by Correction. Every front end reads these.
const std::vector<std::string>& correction_names();
std::string correction_name(Correction c);
/// InputError for any other name, listing the allowed ones.
Correction parse_correction(const std::string& name);
/// The backward policy of `c` on `dag`: nullopt for None; for File `file_pb` (the DAG file's own
/// P_B), InputError when there is none.
std::optional<BackwardPolicy> make_correction(const Dag& dag, Correction c,
                                              const BackwardPolicy* file_pb = nullptr);

}  // namespace gfnrl
