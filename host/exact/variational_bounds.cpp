// The exact ELBO and EUBO: the target's flows once per backward policy, then one reduction per
// forward policy (detail::bound_terms, the same per-state sum on both backends).
#include "gfnrl/variational_bounds.hpp"

#include <cmath>
#include <vector>

#include "gfnrl/error.hpp"
#include "gfnrl/metrics.hpp"
#include "gfnrl/soft_values.hpp"
#include "ops/reduction_ops.hpp"

namespace gfnrl {

VariationalBoundSolver::VariationalBoundSolver(const Dag& dag, const BackwardPolicy& pb,
                                               Stream stream)
    : dag_(dag), pb_(pb) {
  check_backward_shape(dag, pb);
  // F(s) = R(s) + sum_s' P_B(s|s') F(s'): the soft values with the P_B correction, exactly.
  const std::vector<float> v = solve_soft_values(dag, &pb, {}, stream).value.to_host();
  log_z_ = log_partition(dag, stream);
  std::vector<float> flow(v.size()), prob = pb.log_prob.to_host();
  for (std::size_t s = 0; s < v.size(); ++s)
    flow[s] = static_cast<float>(std::exp(static_cast<double>(v[s]) - log_z_));
  for (float& p : prob) p = std::exp(p);
  flow_ = Array<float>::from_host(dag.backend(), flow);
  pb_prob_ = Array<float>::from_host(dag.backend(), prob);
}

VariationalBounds VariationalBoundSolver::operator()(const ForwardPolicy& pf, const Marginals& m,
                                                     Stream stream) const {
  check_policy_shape(dag_, pf, "forward policy");
  const auto n = static_cast<std::size_t>(dag_.num_states());
  if (m.log_visit.size() != n || m.log_visit.backend() != dag_.backend())
    throw InputError("variational bounds: the marginals must hold one entry per state (" +
                     std::to_string(n) + ") on the DAG's backend");
  const StreamScope scope(stream);
  const detail::BoundArgs a{dag_.view(),         pf.log_prob.data(), pf.exit_log_prob.data(),
                            pb_.log_prob.data(), m.log_visit.data(), pb_prob_.data(),
                            flow_.data(),        log_z_};
  const detail::BoundSums s = GFNRL_BACKEND_CALL(dag_.backend(), bound_sums, a);
  return {s.elbo - log_z_, s.eubo - log_z_};
}

VariationalBounds variational_bounds(const Dag& dag, const ForwardPolicy& pf, const Marginals& m,
                                     const BackwardPolicy& pb, Stream stream) {
  return VariationalBoundSolver(dag, pb, stream)(pf, m, stream);
}

}  // namespace gfnrl
