// The exact core from Python: evaluate a policy given as tables (the terminating distribution of
// a sampler, exactly), and solve for the soft-optimal policy.
#include <nanobind/stl/string.h>

#include <cmath>

#include "gfnrl/gfnrl.hpp"
#include "py_dag.hpp"

namespace gfnrl::python {

namespace {
// Rows of a [runs x n] (or [n]: one run) table; InputError naming `what` otherwise.
std::size_t rows_of(const HostInput<float>& a, std::size_t n, const char* what) {
  const bool ok = (a.ndim() == 1 && a.shape(0) == n) || (a.ndim() == 2 && a.shape(1) == n);
  if (!ok) {
    std::string shape;
    for (std::size_t i = 0; i < a.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape(i));
    throw InputError(std::string(what) + " has shape (" + shape + "): give [" + std::to_string(n) +
                     "] or [runs, " + std::to_string(n) + "]");
  }
  return a.ndim() == 1 ? 1 : a.shape(0);
}

// Log-probabilities are <= 0 or -inf (a zero); NaN and +inf would only come back as NaN metrics.
void check_log_probs(const float* v, std::size_t n, const char* what, std::size_t run) {
  for (std::size_t i = 0; i < n; ++i)
    if (std::isnan(v[i]) || v[i] == INFINITY)
      throw InputError(std::string(what) + "[" + std::to_string(run) + ", " + std::to_string(i) +
                       "] = " + format_number(v[i]) + ": log-probabilities must be finite or -inf");
}

// The marginals of the policy (edge table e, exit table x) in the DAG's reused workspace.
const Marginals& run_marginals(const PyDag& d, const float* e, const float* x) {
  EvaluationWorkspace& w = *d.workspace;
  const Backend b = d.dag.backend();
  const std::size_t E = d.dag.num_edges(), N = d.dag.num_states();
  if (!w.solver) {
    w.policy = ForwardPolicy{Array<float>(b, E), Array<float>(b, N)};
    w.solver = std::make_unique<MarginalSolver>(d.dag, w.policy);
  }
  detail::copy_bytes(w.policy.log_prob.data(), b, e, Backend::Cpu, E * sizeof(float));
  detail::copy_bytes(w.policy.exit_log_prob.data(), b, x, Backend::Cpu, N * sizeof(float));
  w.solver->run();
  return w.solver->result();
}

// P_T of each run's policy against R/Z: scalars per run (arrays for batched input) and p_t.
nb::dict evaluate(const PyDag& d, HostInput<float> edge_log_pf, HostInput<float> exit_log_pf) {
  const Dag& dag = d.dag;
  const std::size_t E = dag.num_edges(), N = dag.num_states();
  const std::size_t runs = rows_of(edge_log_pf, E, "edge_log_pf");
  if (rows_of(exit_log_pf, N, "exit_log_pf") != runs || edge_log_pf.ndim() != exit_log_pf.ndim())
    throw InputError("edge_log_pf and exit_log_pf describe different numbers of runs");
  std::vector<double> tv(runs), kl(runs), kl_rev(runs), jsd(runs), mass(runs), len(runs);
  std::vector<double> p_t(runs * N);
  double log_z = 0;
  for (std::size_t r = 0; r < runs; ++r) {
    const float* e = edge_log_pf.data() + r * E;
    const float* x = exit_log_pf.data() + r * N;
    check_log_probs(e, E, "edge_log_pf", r);
    check_log_probs(x, N, "exit_log_pf", r);
    const Marginals& m = run_marginals(d, e, x);
    const Metrics met = compare_to_target(dag, m);
    tv[r] = met.tv, kl[r] = met.kl_target_model, kl_rev[r] = met.kl_model_target;
    jsd[r] = met.jsd, mass[r] = met.model_mass, len[r] = met.expected_length;
    log_z = met.log_z;
    const std::vector<float> lt = m.log_terminal.to_host();
    for (std::size_t s = 0; s < N; ++s) p_t[r * N + s] = std::exp(static_cast<double>(lt[s]));
  }
  nb::dict out;
  const bool batched = edge_log_pf.ndim() == 2;
  auto put = [&](const char* key, std::vector<double>& v) {
    if (batched)
      out[key] = to_numpy(std::move(v), {runs});
    else
      out[key] = v[0];
  };
  put("tv", tv);
  put("kl", kl);
  put("kl_reverse", kl_rev);
  put("jsd", jsd);
  put("model_mass", mass);
  put("expected_length", len);
  out["log_z"] = log_z;
  out["p_t"] = batched ? to_numpy(std::move(p_t), {runs, N}) : to_numpy(std::move(p_t), {N});
  return out;
}

}  // namespace

std::optional<BackwardPolicy> correction_named(const PyDag& d, const std::string& name) {
  if (name == "none") return std::nullopt;
  if (name == "uniform") return uniform_backward_policy(d.dag);
  if (name == "maxent") return maxent_backward_policy(d.dag);
  if (name == "file") {
    if (!d.file_pb)
      throw InputError("correction 'file' needs a DAG loaded from a file whose edges carry "
                       "log P_B values");
    return *d.file_pb;
  }
  throw InputError("unknown correction '" + name + "' (allowed: uniform, maxent, file, none)");
}

int32_t checked_int32(int64_t v, const char* what, int64_t lo) {
  if (v < lo || v > kMaxIndex)
    throw InputError(std::string(what) + " = " + std::to_string(v) + " is out of range [" +
                     std::to_string(lo) + ", 2^31-1]");
  return static_cast<int32_t>(v);
}

namespace {

nb::dict solve(const PyDag& d, const std::string& correction) {
  const std::optional<BackwardPolicy> pb = correction_named(d, correction);
  const SoftValues v = solve_soft_values(d.dag, pb ? &*pb : nullptr);
  const std::size_t E = d.dag.num_edges(), N = d.dag.num_states();
  nb::dict out;
  out["edge_log_pf"] = to_numpy<float>(v.policy.log_prob, {E});
  out["exit_log_pf"] = to_numpy<float>(v.policy.exit_log_prob, {N});
  out["value"] = to_numpy<float>(v.value, {N});
  out["q"] = to_numpy<float>(v.q, {E});
  out["exit_q"] = to_numpy<float>(v.exit_q, {N});
  out["log_z"] = static_cast<double>(v.value.slice(0, 1).to_host()[0]);
  return out;
}
}  // namespace

void bind_exact(nb::module_& m) {
  m.def("_evaluate", &evaluate, nb::arg("dag"), nb::arg("edge_log_pf"), nb::arg("exit_log_pf"));
  m.def("_solve", &solve, nb::arg("dag"), nb::arg("correction") = "uniform");
}

}  // namespace gfnrl::python
