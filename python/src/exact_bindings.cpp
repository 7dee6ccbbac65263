// The exact core from Python: policy tables (from logits, renormalised), the soft-optimal policy
// (from the DAG, or from a hypergrid's coordinates). evaluate() is in evaluate_bindings.cpp.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gfnrl/gfnrl.hpp"
#include "py_dag.hpp"

namespace gfnrl::python {

// Rows of a [runs x n] (or [n]: one run) table; InputError naming `what` otherwise.
std::size_t rows_of(const AnyInput<float>& a, std::size_t n, const char* what) {
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
// The library's scan (vectorised and threaded: a plain loop here, built for the baseline ISA, was
// a tenth of a 4-D H=20 call).
void check_log_probs(const float* v, std::size_t n, const char* what, std::size_t run) {
  const std::size_t i = first_nan_or_inf(v, n);
  if (i == n) return;
  throw InputError(std::string(what) + "[" + std::to_string(run) + ", " + std::to_string(i) +
                   "] = " + format_number(v[i]) + ": log-probabilities must be finite or -inf");
}

namespace {
// The DAG's child offsets on the host (a CUDA DAG's copied).
std::vector<int64_t> host_child_offsets(const Dag& dag) {
  std::vector<int64_t> off(std::size_t(dag.num_states()) + 1);
  detail::copy_bytes(off.data(), Backend::Cpu, dag.view().child_offsets, dag.backend(),
                     off.size() * sizeof(int64_t));
  return off;
}

// Normalised copies of the tables: each row minus its logsumexp (-inf stays -inf).
nb::tuple normalise_rows(const PyDag& d, AnyInput<float> e_in, AnyInput<float> x_in) {
  const std::size_t E = d.dag.num_edges(), N = d.dag.num_states();
  if (e_in.device_type() != nb::device::cpu::value || x_in.device_type() != nb::device::cpu::value)
    throw InputError("renormalise=True reads host tables: pass numpy arrays or CPU tensors");
  const std::size_t runs = rows_of(e_in, E, "edge_log_pf");
  if (rows_of(x_in, N, "exit_log_pf") != runs || e_in.ndim() != x_in.ndim())
    throw InputError("edge_log_pf and exit_log_pf describe different numbers of runs");
  const std::vector<int64_t> off = host_child_offsets(d.dag);
  std::vector<float> e(e_in.data(), e_in.data() + runs * E), x(x_in.data(), x_in.data() + runs * N);
  for (std::size_t r = 0; r < runs; ++r) {
    float* er = e.data() + r * E;
    float* xr = x.data() + r * N;
    check_log_probs(er, E, "edge_log_pf", r);
    check_log_probs(xr, N, "exit_log_pf", r);
    for (std::size_t s = 0; s < N; ++s) {
      double m = xr[s];
      for (int64_t k = off[s]; k < off[s + 1]; ++k) m = std::max(m, double(er[k]));
      if (!(m > -INFINITY))
        throw InputError("run " + std::to_string(r) + ", state " + std::to_string(s) +
                         ": every action has log-probability -inf, so the row cannot be "
                         "normalised");
      double sum = std::exp(double(xr[s]) - m);
      for (int64_t k = off[s]; k < off[s + 1]; ++k) sum += std::exp(double(er[k]) - m);
      const double lse = m + std::log(sum);
      xr[s] = static_cast<float>(double(xr[s]) - lse);
      for (int64_t k = off[s]; k < off[s + 1]; ++k) er[k] = static_cast<float>(double(er[k]) - lse);
    }
  }
  const bool batched = e_in.ndim() == 2;
  return nb::make_tuple(batched ? to_numpy(std::move(e), {runs, E}) : to_numpy(std::move(e), {E}),
                        batched ? to_numpy(std::move(x), {runs, N}) : to_numpy(std::move(x), {N}));
}

// Policy tables from per-state logits [runs x N x (exit_action + 1)]: each state's valid
// entries (its edges by action id, its exit where it terminates) through a log-softmax in
// double. NaN or +inf logits, and a state whose valid logits are all -inf, are refused by name.
nb::tuple policy_from_logits(const PyDag& d, HostInput<double> z) {
  const Dag& dag = d.dag;
  const std::size_t N = dag.num_states(), E = dag.num_edges();
  const std::size_t A = std::size_t(dag.exit_action()) + 1;
  const bool batched = z.ndim() == 3;
  if (!((z.ndim() == 2 || batched) && z.shape(z.ndim() - 2) == N && z.shape(z.ndim() - 1) == A)) {
    std::string shape;
    for (std::size_t i = 0; i < z.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(z.shape(i));
    throw InputError("logits has shape (" + shape + "): give [" + std::to_string(N) + ", " +
                     std::to_string(A) + "] or [runs, " + std::to_string(N) + ", " +
                     std::to_string(A) + "] (num_states, exit_action + 1)");
  }
  const std::size_t runs = batched ? z.shape(0) : 1;
  const DagArrays h = dag.to_host();
  std::vector<float> e(runs * E), x(runs * N);
  for (std::size_t r = 0; r < runs; ++r) {
    const double* zr = z.data() + r * N * A;
    for (std::size_t s = 0; s < N; ++s) {
      const double* row = zr + s * A;
      const bool terminates = h.log_reward[s] > -INFINITY;
      const auto check = [&](std::size_t col) {
        if (std::isnan(row[col]) || row[col] == INFINITY)
          throw InputError("logits[" + (batched ? std::to_string(r) + ", " : std::string()) +
                           std::to_string(s) + ", " + std::to_string(col) + "] = " +
                           format_number(row[col]) + ": logits must be finite or -inf");
      };
      double m = -INFINITY;
      if (terminates) check(A - 1), m = row[A - 1];
      for (int64_t k = h.child_offsets[s]; k < h.child_offsets[s + 1]; ++k) {
        check(std::size_t(h.child_action[k]));
        m = std::max(m, row[h.child_action[k]]);
      }
      if (!(m > -INFINITY))
        throw InputError("state " + std::to_string(s) + (batched ? " of run " + std::to_string(r) : "") +
                         ": every valid action's logit is -inf, so its policy is undefined");
      double sum = terminates ? std::exp(row[A - 1] - m) : 0.0;
      for (int64_t k = h.child_offsets[s]; k < h.child_offsets[s + 1]; ++k)
        sum += std::exp(row[h.child_action[k]] - m);
      const double lse = m + std::log(sum);
      x[r * N + s] = terminates ? static_cast<float>(row[A - 1] - lse) : -INFINITY;
      for (int64_t k = h.child_offsets[s]; k < h.child_offsets[s + 1]; ++k)
        e[r * E + k] = static_cast<float>(row[h.child_action[k]] - lse);
    }
  }
  return nb::make_tuple(batched ? to_numpy(std::move(e), {runs, E}) : to_numpy(std::move(e), {E}),
                        batched ? to_numpy(std::move(x), {runs, N}) : to_numpy(std::move(x), {N}));
}

}  // namespace

std::optional<BackwardPolicy> correction_named(const PyDag& d, const std::string& name) {
  const Correction c = parse_correction(name);
  if (c == Correction::File && !d.file_pb)
    throw InputError("correction 'file' needs a DAG loaded from a file whose edges carry "
                     "log P_B values");
  return make_correction(d.dag, c, d.file_pb ? &*d.file_pb : nullptr);
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
// A hypergrid's metrics in the layout asked for (auto: implicit where it holds the request):
// metrics only (the per-state arrays of 10^9 states are no Python return value).
nb::dict solve_hypergrid(int64_t ndim, int64_t height, double r0, double r1, double r2,
                         const std::string& regions, const std::string& policy,
                         const std::string& correction, const std::string& backend,
                         const std::string& layout) {
  const HypergridConfig c = hypergrid_config(ndim, height, r0, r1, r2, regions);
  if (policy != "optimal" && policy != "uniform")
    throw InputError("policy = '" + policy + "': give optimal or uniform");
  const ImplicitPolicy p = policy == "optimal" ? ImplicitPolicy::Optimal : ImplicitPolicy::Uniform;
  ImplicitHypergridResult r;
  {
    nb::gil_scoped_release release;
    r = solve_hypergrid(c, p, parse_correction(correction), parse_backend(backend),
                        parse_grid_layout(layout));
  }
  const Metrics& m = r.metrics;
  nb::dict out;
  const std::pair<const char*, double> scalars[] = {
      {"tv", m.tv},
      {"kl", m.kl_target_model},
      {"kl_reverse", m.kl_model_target},
      {"jsd", m.jsd},
      {"model_mass", m.model_mass},
      {"expected_length", m.expected_length},
      {"corr", m.corr},
      {"mode_mass", m.mode_mass},
      {"mode_mass_target", m.mode_mass_target},
      {"elbo", m.elbo},
      {"eubo", m.eubo},
      {"log_z", m.log_z},
      {"closed_form_log_z", r.closed_form_log_z},
      {"soft_vi_log_z", r.soft_vi_log_z},
      {"spearman", r.spearman},
      {"seconds_soft_values", r.values_seconds},
      {"seconds_marginals", r.marginals_seconds},
      {"seconds_metrics", r.metrics_seconds}};
  for (const auto& [k, v] : scalars) out[k] = v;
  out["num_modes"] = static_cast<int64_t>(m.num_modes);
  out["num_states"] = r.num_states;
  out["num_edges"] = r.num_edges;
  out["num_levels"] = r.num_levels;
  out["layout"] = grid_layout_names()[static_cast<std::size_t>(r.layout)];
  return out;
}
}  // namespace

void bind_exact(nb::module_& m) {
  m.def("_solve_hypergrid", &solve_hypergrid, nb::arg("ndim"), nb::arg("height"),
        nb::arg("r0"), nb::arg("r1"), nb::arg("r2"), nb::arg("regions"), nb::arg("policy"),
        nb::arg("correction"), nb::arg("backend"), nb::arg("layout"));
  m.def("_solve", &solve, nb::arg("dag"), nb::arg("correction") = "uniform");
  m.def("_policy_from_logits", &policy_from_logits, nb::arg("dag"), nb::arg("logits"));
  m.def("_normalise_rows", &normalise_rows, nb::arg("dag"), nb::arg("edge_log_pf"),
        nb::arg("exit_log_pf"));
}

}  // namespace gfnrl::python
