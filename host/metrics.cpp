// Exact metrics of a terminating distribution against a target, reduced in double.
#include "backend_ops.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/metrics.hpp"

namespace gfnrl {

double log_partition(const Dag& dag) {
  return GFNRL_BACKEND_CALL(dag.backend(), log_sum_exp, dag.log_reward().data(),
                            static_cast<std::size_t>(dag.num_states()));
}

Metrics compare_to_target(const Dag& dag, const Marginals& m, const Array<float>* log_target) {
  const Array<float>& target = log_target ? *log_target : dag.log_reward();
  const auto n = static_cast<std::size_t>(dag.num_states());
  if (target.size() != n || target.backend() != dag.backend() || m.log_terminal.size() != n ||
      m.log_visit.size() != n)
    throw InputError("compare_to_target: arrays must hold one entry per state (" +
                     std::to_string(n) + ") on the DAG's backend");
  Metrics r;
  r.log_z = GFNRL_BACKEND_CALL(dag.backend(), log_sum_exp, target.data(), n);
  const detail::MetricSums s =
      GFNRL_BACKEND_CALL(dag.backend(), metric_sums, target.data(), r.log_z,
                         m.log_terminal.data(), m.log_visit.data(), n);
  r.tv = s.tv;
  r.kl_target_model = s.kl_pq;
  r.kl_model_target = s.kl_qp;
  r.jsd = s.jsd;
  r.model_mass = s.mass;
  r.expected_length = s.visits;
  return r;
}

}  // namespace gfnrl
