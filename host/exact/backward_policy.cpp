// Backward policies: uniform, max-entropy (from exact path counts), user tables (validated).
#include <algorithm>
#include <cmath>
#include <string>

#include "ops/sweep_ops.hpp"
#include "gfnrl/backward_policy.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/marginals.hpp"
#include "gfnrl/names.hpp"

namespace gfnrl {

namespace {
BackwardPolicy make(const Dag& dag, const double* log_n, const char* name) {
  BackwardPolicy pb{Array<float>(dag.backend(), dag.num_edges()), name};
  GFNRL_BACKEND_CALL(dag.backend(), backward_policy, dag.view(), log_n, pb.log_prob.data());
  return pb;
}
}  // namespace

BackwardPolicy uniform_backward_policy(const Dag& dag, Stream stream) {
  const StreamScope scope(stream);
  return make(dag, nullptr, "uniform");
}

BackwardPolicy maxent_backward_policy(const Dag& dag, Stream stream) {
  const StreamScope scope(stream);
  const Array<double> log_n = log_path_counts(dag);
  return make(dag, log_n.data(), "maxent");
}

void check_backward_shape(const Dag& dag, const BackwardPolicy& pb) {
  if (pb.log_prob.size() != static_cast<std::size_t>(dag.num_edges()) ||
      pb.log_prob.backend() != dag.backend())
    throw InputError("backward policy '" + pb.name + "' does not belong to this DAG: it has " +
                     std::to_string(pb.log_prob.size()) + " entries on the " +
                     backend_name(pb.log_prob.backend()) + " backend, the DAG " +
                     std::to_string(dag.num_edges()) + " edges on the " +
                     backend_name(dag.backend()) + " backend");
}

void check_backward_positive(const Dag& dag, const BackwardPolicy& pb, const std::string& why) {
  const std::vector<float> lp = pb.log_prob.to_host();
  const auto zero = std::find_if(lp.begin(), lp.end(), [](float v) { return !(v > -INFINITY); });
  if (zero == lp.end()) return;
  const auto e = static_cast<int32_t>(zero - lp.begin());
  const DagArrays a = dag.to_host();
  const auto from = static_cast<int32_t>(
      std::upper_bound(a.child_offsets.begin(), a.child_offsets.end(), e) -
      a.child_offsets.begin() - 1);
  const std::string s = std::to_string(from), c = std::to_string(a.child_index[e]);
  throw InputError("backward policy (" + pb.name + "): P_B(" + s + " | " + c + ") = 0 on edge " +
                   std::to_string(e) + " (" + s + " -> " + c + "): " + why +
                   ", so it must be positive on every edge (remove the edge from the DAG "
                   "instead)");
}

BackwardPolicy backward_policy_from_table(const Dag& dag, const std::vector<float>& log_prob,
                                          double tolerance, Stream stream) {
  const StreamScope scope(stream);
  if (log_prob.size() != static_cast<std::size_t>(dag.num_edges()))
    throw InputError("backward policy table has " + std::to_string(log_prob.size()) +
                     " entries; the DAG has " + std::to_string(dag.num_edges()) +
                     " edges (one log-probability per edge)");
  for (std::size_t e = 0; e < log_prob.size(); ++e)
    if (std::isnan(log_prob[e]) || log_prob[e] > 0)
      throw InputError("backward policy entry of edge " + std::to_string(e) + " is " +
                       format_number(log_prob[e]) + ": log-probabilities must be in [-inf, 0]");
  BackwardPolicy pb{Array<float>::from_host(dag.backend(), log_prob), "user"};
  Array<double> sums(dag.backend(), dag.num_states());
  GFNRL_BACKEND_CALL(dag.backend(), backward_sums, dag.view(), pb.log_prob.data(), sums.data());
  const std::vector<double> h = sums.to_host();
  for (int32_t c = 1; c < dag.num_states(); ++c)
    if (std::abs(h[c] - 1.0) > tolerance)
      throw InputError("backward policy of state " + std::to_string(c) + " sums to " +
                       format_number(h[c]) + " over its parents; it must sum to 1 (tolerance " +
                       format_number(tolerance) + ")");
  return pb;
}

const std::vector<std::string>& correction_names() {
  static const std::vector<std::string> names{"uniform", "maxent", "file", "none"};
  return names;
}

std::string correction_name(Correction c) { return correction_names().at(static_cast<int>(c)); }

Correction parse_correction(const std::string& name) {
  const std::vector<std::string>& names = correction_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end())
    throw InputError("unknown correction '" + name + "' (allowed: " + join_names(names) + ")");
  return static_cast<Correction>(it - names.begin());
}

std::optional<BackwardPolicy> make_correction(const Dag& dag, Correction c,
                                              const BackwardPolicy* file_pb) {
  switch (c) {
    case Correction::Uniform: return uniform_backward_policy(dag);
    case Correction::MaxEnt: return maxent_backward_policy(dag);
    case Correction::File:
      if (!file_pb)
        throw InputError("correction 'file' needs a DAG file whose edges carry log P_B values "
                         "(allowed otherwise: uniform, maxent, none)");
      return *file_pb;
    case Correction::None: break;
  }
  return std::nullopt;
}

}  // namespace gfnrl
