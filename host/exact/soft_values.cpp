// Soft value iteration: output allocation and backend dispatch.
#include "ops/sweep_ops.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/soft_values.hpp"

namespace gfnrl {

SoftValueSolver::SoftValueSolver(const Dag& dag, const BackwardPolicy* correction,
                                 SoftValueOptions options)
    : dag_(dag), options_(options) {
  const Backend b = dag.backend();
  if (correction) {
    check_backward_shape(dag, *correction);
    correction_ = correction->log_prob;
  }
  if (options_.base_policy) {
    check_policy_shape(dag, *options_.base_policy, "base policy");
    base_ = *options_.base_policy;  // keeps the table alive for replays
    options_.base_policy = nullptr;  // the caller's pointer may not outlive the solver
  }
  out_.value = Array<float>(b, dag.num_states());
  out_.q = Array<float>(b, dag.num_edges());
  out_.exit_q = Array<float>(b, dag.num_states());
  out_.policy.log_prob = Array<float>(b, dag.num_edges());
  out_.policy.exit_log_prob = Array<float>(b, dag.num_states());
}

void SoftValueSolver::run(Stream stream) {
  const StreamScope scope(stream);
  const bool table = !base_.log_prob.empty();
  const detail::SoftValueArgs args{dag_.view(),
                                   correction_.empty() ? nullptr : correction_.data(),
                                   options_.uniform_base_policy,
                                   out_.value.data(),
                                   out_.q.data(),
                                   out_.policy.log_prob.data(),
                                   out_.exit_q.data(),
                                   out_.policy.exit_log_prob.data(),
                                   table ? base_.log_prob.data() : nullptr,
                                   table ? base_.exit_log_prob.data() : nullptr};
  GFNRL_BACKEND_CALL(dag_.backend(), soft_values, dag_, args, options_.sweep, graph_);
}

float SoftValueSolver::log_z() const {
  float v = 0;
  detail::copy_bytes(&v, Backend::Cpu, out_.value.data(), out_.value.backend(), sizeof v);
  return v;
}

SoftValues solve_soft_values(const Dag& dag, const BackwardPolicy* correction,
                             SoftValueOptions options, Stream stream) {
  const StreamScope scope(stream);
  SoftValueSolver solver(dag, correction, options);
  solver.run();
  return solver.result();
}

}  // namespace gfnrl
