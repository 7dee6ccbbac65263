// A hypergrid's exact metrics in either layout: the implicit one (no stored edges) or the CSR
// one (the DAG built, then the general sweeps: the reference), chosen by solve_hypergrid.
#include <chrono>
#include <cmath>
#include <optional>

#include "gfnrl/error.hpp"
#include "gfnrl/implicit_hypergrid.hpp"
#include "gfnrl/marginals.hpp"
#include "gfnrl/soft_values.hpp"
#include "gfnrl/variational_bounds.hpp"

namespace gfnrl {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The CSR path: make_hypergrid, soft value iteration with the correction's P_B (or the uniform
// policy), the marginal sweep, compare_to_target, and the bounds with the uniform P_B.
ImplicitHypergridResult solve_on_csr(const HypergridConfig& c, ImplicitPolicy policy,
                                     Correction correction, Backend b) {
  ImplicitHypergridResult r;
  r.layout = GridLayout::Csr;
  const Dag dag = make_hypergrid(c, b);
  auto t = Clock::now();
  ForwardPolicy pf;
  if (policy == ImplicitPolicy::Optimal) {
    const std::optional<BackwardPolicy> pb = make_correction(dag, correction);
    SoftValueSolver solver(dag, pb ? &*pb : nullptr);
    solver.run();
    pf = solver.result().policy;
    r.soft_vi_log_z = solver.log_z();
  } else {
    pf = uniform_forward_policy(dag);
  }
  r.values_seconds = since(t);
  t = Clock::now();
  const Marginals m = compute_marginals(dag, pf);
  r.marginals_seconds = since(t);
  t = Clock::now();
  r.metrics = compare_to_target(dag, m);
  const VariationalBounds v = variational_bounds(dag, pf, m, uniform_backward_policy(dag));
  r.metrics.elbo = v.elbo, r.metrics.eubo = v.eubo;
  if (dag.num_states() <= kImplicitSpearmanMaxStates) r.spearman = spearman_correlation(dag, m);
  r.metrics_seconds = since(t);
  r.closed_form_log_z = hypergrid_log_partition(c);
  r.num_states = dag.num_states(), r.num_edges = dag.num_edges(), r.num_levels = dag.num_levels();
  return r;
}
}  // namespace

ImplicitHypergridResult solve_hypergrid(const HypergridConfig& c, ImplicitPolicy policy,
                                        Correction correction, Backend b, GridLayout layout) {
  const bool implicit_holds = correction == Correction::Uniform || correction == Correction::None;
  if (layout == GridLayout::Auto)
    layout = implicit_holds && b == Backend::Cpu ? GridLayout::Implicit : GridLayout::Csr;
  if (layout == GridLayout::Implicit) return solve_hypergrid_implicit(c, policy, correction, b);
  if (policy != ImplicitPolicy::Optimal && policy != ImplicitPolicy::Uniform)
    throw InputError("hypergrid policy = " + std::to_string(static_cast<int>(policy)) +
                     ": give Optimal or Uniform");
  return solve_on_csr(c, policy, correction, b);
}

}  // namespace gfnrl
