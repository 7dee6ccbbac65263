// Exact marginals and path counts: output allocation and backend dispatch of the forward sweep.
#include "backend_ops.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/marginals.hpp"

namespace gfnrl {

MarginalSolver::MarginalSolver(const Dag& dag, const ForwardPolicy& policy, SweepOptions options)
    : dag_(dag), policy_(policy), options_(options) {
  const Backend b = dag.backend();
  if (policy.log_prob.size() != static_cast<std::size_t>(dag.num_edges()) ||
      policy.exit_log_prob.size() != static_cast<std::size_t>(dag.num_states()) ||
      policy.log_prob.backend() != b || policy.exit_log_prob.backend() != b)
    throw InputError("forward policy does not belong to this DAG: it has " +
                     std::to_string(policy.log_prob.size()) + " edge and " +
                     std::to_string(policy.exit_log_prob.size()) + " exit entries, the DAG " +
                     std::to_string(dag.num_edges()) + " edges and " +
                     std::to_string(dag.num_states()) + " states (same backend required)");
  out_.log_visit = Array<float>(b, dag.num_states());
  out_.log_terminal = Array<float>(b, dag.num_states());
}

void MarginalSolver::run(Stream stream) {
  const StreamScope scope(stream);
  const detail::ForwardArgs args{dag_.view(), policy_.log_prob.data(),
                                 policy_.exit_log_prob.data(), out_.log_visit.data(),
                                 out_.log_terminal.data()};
  GFNRL_BACKEND_CALL(dag_.backend(), forward_sweep, dag_, args, options_, graph_);
}

Marginals compute_marginals(const Dag& dag, const ForwardPolicy& policy, SweepOptions options,
                            Stream stream) {
  const StreamScope scope(stream);
  MarginalSolver solver(dag, policy, options);
  solver.run();
  return solver.result();
}

Array<double> log_path_counts(const Dag& dag, Stream stream) {
  const StreamScope scope(stream);
  Array<double> out(dag.backend(), dag.num_states());
  const detail::PathCountArgs args{dag.view(), nullptr, nullptr, out.data(), nullptr};
  GFNRL_BACKEND_CALL(dag.backend(), path_counts, dag, args);
  return out;
}

Array<float> terminating_distribution(const Dag& dag, const ForwardPolicy& policy, Stream stream) {
  const StreamScope scope(stream);
  return compute_marginals(dag, policy).log_terminal;
}

}  // namespace gfnrl
