// Exact marginals and path counts: output allocation and backend dispatch of the forward sweep.
#include "ops/sweep_ops.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/marginals.hpp"

namespace gfnrl {

MarginalSolver::MarginalSolver(const Dag& dag, const ForwardPolicy& policy, SweepOptions options,
                               const Marginals* output)
    : dag_(dag), policy_(policy), options_(options) {
  check_policy_shape(dag, policy, "forward policy");
  const Backend b = dag.backend();
  if (output) {
    if (output->log_visit.size() != std::size_t(dag.num_states()) ||
        output->log_terminal.size() != std::size_t(dag.num_states()))
      throw InputError("marginal output arrays must have one entry per state");
    out_ = *output;
  } else {
    out_.log_visit = Array<float>(b, dag.num_states());
    out_.log_terminal = Array<float>(b, dag.num_states());
  }
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
