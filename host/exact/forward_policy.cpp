// Forward policy tables: the shape check every consumer runs, and the uniform policy.
#include "gfnrl/forward_policy.hpp"

#include <cmath>
#include <vector>

#include "ops/reduction_ops.hpp"
#include "ops/sweep_ops.hpp"
#include "gfnrl/error.hpp"

namespace gfnrl {

void check_policy_shape(const Dag& dag, const ForwardPolicy& policy, const std::string& what) {
  const Backend b = dag.backend();
  if (policy.log_prob.size() != static_cast<std::size_t>(dag.num_edges()) ||
      policy.exit_log_prob.size() != static_cast<std::size_t>(dag.num_states()) ||
      policy.log_prob.backend() != b || policy.exit_log_prob.backend() != b)
    throw InputError(what + " does not belong to this DAG: it has " +
                     std::to_string(policy.log_prob.size()) + " edge and " +
                     std::to_string(policy.exit_log_prob.size()) + " exit entries, the DAG " +
                     std::to_string(dag.num_edges()) + " edges and " +
                     std::to_string(dag.num_states()) + " states (same backend required)");
}

int32_t first_unnormalised_state(const Dag& dag, const float* edge_log_prob,
                                 const float* exit_log_prob, double tolerance, double* sum) {
  const int32_t n = dag.num_states();
  std::vector<int64_t> copied;
  const int64_t* off = dag.view().child_offsets;
  if (dag.backend() != Backend::Cpu) {
    copied.resize(std::size_t(n) + 1);
    detail::copy_bytes(copied.data(), Backend::Cpu, off, dag.backend(),
                       copied.size() * sizeof(int64_t));
    off = copied.data();
  }
  std::vector<double> sums(n);
  detail::cpu::row_sums(off, n, edge_log_prob, exit_log_prob, sums.data());
  for (int32_t s = 0; s < n; ++s)
    if (!(std::abs(sums[s] - 1.0) <= tolerance)) {
      if (sum) *sum = sums[s];
      return s;
    }
  return n;
}

ForwardPolicy uniform_forward_policy(const Dag& dag, Stream stream) {
  const StreamScope scope(stream);
  ForwardPolicy p{Array<float>(dag.backend(), dag.num_edges()),
                  Array<float>(dag.backend(), dag.num_states())};
  GFNRL_BACKEND_CALL(dag.backend(), uniform_forward_policy, dag.view(), p.log_prob.data(),
                     p.exit_log_prob.data());
  return p;
}

}  // namespace gfnrl
