// Evaluation of every run's current policy: its exact terminating distribution against the
// target, and the log Z estimate its learner keeps.
#include <cmath>
#include <limits>
#include <optional>

#include "exact/metrics_if_finite.hpp"
#include "gfnrl/marginals.hpp"
#include "gfnrl/metrics.hpp"
#include "gfnrl/soft_values.hpp"
#include "ops/reduction_ops.hpp"
#include "training/trainer_parts.hpp"

namespace gfnrl::training {

namespace {
// Where each learner keeps its estimate of log Z.
detail::LogZEstimate log_z_estimate_of(const TrainConfig& c) {
  using detail::LogZEstimate;
  if (c.algo == Algo::ModifiedDB) return LogZEstimate::SourceExit;
  if (c.algo == Algo::FM) return LogZEstimate::SourceOutFlow;
  if (is_dqn(c.algo))
    return c.energy_reward ? LogZEstimate::EnergySoftValue : LogZEstimate::SoftValue;
  // ZVar: the last batch's -mean D, which its loss writes into the log Z entry.
  if (c.algo == Algo::TB || c.algo == Algo::ZVar || is_policy_gradient(c.algo))
    return LogZEstimate::LogZ;
  return c.forward_looking ? LogZEstimate::ForwardLookingFlow : LogZEstimate::SourceFlow;
}
}  // namespace

// Every run's policy (edges, exits), and one marginal solver's visit and terminal rows per run.
std::size_t Evaluation::bytes(const Dag& dag, const TrainConfig& c) {
  return std::size_t(c.runs) * (std::size_t(dag.num_edges()) + 3 * std::size_t(dag.num_states())) *
         sizeof(float);
}

Evaluation::Evaluation(const Dag& dag, const TrainConfig& c) {
  const Backend b = dag.backend();
  const std::size_t R = c.runs;
  log_prob = Array<float>(b, R * dag.num_edges());
  exit_log_prob = Array<float>(b, R * dag.num_states());
  log_visit = Array<float>(b, R * dag.num_states());
  log_terminal = Array<float>(b, R * dag.num_states());
  log_z = Array<float>(b, R);
  // Target weights log R(x) + log mu^T(x), once (the exact core on this backend).
  if (c.prior)
    target_weight = base_policy_target(dag, *c.prior, &target_log_z);
  else
    target_log_z = log_partition(dag);
}

void Evaluation::refresh_policies(const Dag& dag, const TrainConfig& c,
                                  const ForwardTables& tables) {
  GFNRL_BACKEND_CALL(dag.backend(), policy_log_probs, dag.view(), tables.layout,
                     tables.params.data(), c.runs, 1.0f / c.entropy_coefficient(),
                     log_prob.data(), exit_log_prob.data());
}

void Evaluation::solve_marginals(const Dag& dag, int32_t runs) {
  const std::size_t E = dag.num_edges(), N = dag.num_states();
  for (std::size_t r = solvers.size(); r < std::size_t(runs); ++r) {
    const Marginals out{log_visit.slice(r * N, N), log_terminal.slice(r * N, N)};
    solvers.push_back(std::make_unique<MarginalSolver>(
        dag, ForwardPolicy{log_prob.slice(r * E, E), exit_log_prob.slice(r * N, N)},
        SweepOptions{}, &out));
  }
  for (int32_t r = 0; r < runs; ++r) solvers[r]->run();
}

std::vector<RunEvaluation> Evaluation::evaluate(const Dag& dag, const TrainConfig& c,
                                                const ForwardTables& tables,
                                                const Array<float>* log_target_weight) {
  refresh_policies(dag, c, tables);
  GFNRL_BACKEND_CALL(dag.backend(), log_z_estimates, dag.view(), tables.layout,
                     tables.params.data(), c.runs, log_z_estimate_of(c),
                     c.entropy_coefficient(), log_z.data());
  const std::vector<float> estimates = log_z.to_host();
  if (!log_target_weight && !target_weight.empty()) log_target_weight = &target_weight;
  solve_marginals(dag, c.runs);
  std::vector<RunEvaluation> out(c.runs);
  const bool own_target = log_target_weight == &target_weight || !log_target_weight;
  const double log_z = own_target ? target_log_z
                                  : GFNRL_BACKEND_CALL(dag.backend(), log_sum_exp,
                                                       log_target_weight->data(),
                                                       log_target_weight->size());
  for (int32_t r = 0; r < c.runs; ++r) {
    std::optional<Metrics> m =
        detail::metrics_if_finite(dag, solvers[r]->result(), log_target_weight, log_z);
    out[r].log_z_estimate = estimates[r] + source_potential;
    out[r].diverged = !m || !std::isfinite(estimates[r]);
    if (!m) {
      m = Metrics{};
      const double nan = std::numeric_limits<double>::quiet_NaN();
      for (double* f : {&m->tv, &m->kl_target_model, &m->kl_model_target, &m->jsd,
                        &m->model_mass, &m->expected_length, &m->corr, &m->mode_mass})
        *f = nan;
      m->log_z = log_z;
    }
    out[r].metrics = *m;
  }
  return out;
}

void Evaluation::bound(const Dag& dag, const TrainConfig& c, bool fixed_pb,
                       const std::function<BackwardPolicy(int32_t)>& pb,
                       std::vector<RunEvaluation>& out) {
  const std::size_t E = dag.num_edges(), N = dag.num_states();
  if (fixed_pb && !fixed_bounds) fixed_bounds = std::make_unique<VariationalBoundSolver>(dag, pb(0));
  for (int32_t r = 0; r < c.runs; ++r) {
    const ForwardPolicy pf{log_prob.slice(r * E, E), exit_log_prob.slice(r * N, N)};
    const VariationalBounds v = fixed_pb ? (*fixed_bounds)(pf, solvers[r]->result())
                                         : VariationalBoundSolver(dag, pb(r))(pf, solvers[r]->result());
    out[r].metrics.elbo = v.elbo;
    out[r].metrics.eubo = v.eubo;
  }
}

ForwardPolicy Evaluation::policy(const Dag& dag, int32_t run) const {
  const std::size_t E = dag.num_edges(), N = dag.num_states();
  const Backend b = dag.backend();
  return ForwardPolicy{log_prob.slice(run * E, E).to(b), exit_log_prob.slice(run * N, N).to(b)};
}

}  // namespace gfnrl::training
