// The exact core from Python: evaluate a policy given as tables (the terminating distribution of
// a sampler, exactly), and solve for the soft-optimal policy.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gfnrl/gfnrl.hpp"
#include "py_dag.hpp"

namespace gfnrl::python {

namespace {
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

// Each state's row (its edges and its exit) must sum to 1: a table that does not (an all-zero
// integer array, log P_F + 5) would otherwise give metrics of a sampler that does not exist
// (model_mass 12,869). float32 softmaxes sum to 1 within ~1e-6; kRowTolerance leaves room.
constexpr double kRowTolerance = 1e-4;

// The DAG's child offsets on the host (a CUDA DAG's copied).
std::vector<int64_t> host_child_offsets(const Dag& dag) {
  std::vector<int64_t> off(std::size_t(dag.num_states()) + 1);
  detail::copy_bytes(off.data(), Backend::Cpu, dag.view().child_offsets, dag.backend(),
                     off.size() * sizeof(int64_t));
  return off;
}

// InputError naming the first state of run `run` whose row does not sum to 1.
void check_rows(const Dag& dag, const float* e, const float* x, std::size_t run) {
  double sum = 0;
  const int32_t first = first_unnormalised_state(dag, e, x, kRowTolerance, &sum);
  if (first == dag.num_states()) return;
  throw InputError("run " + std::to_string(run) + ", state " + std::to_string(first) +
                   ": its probabilities (edges and exit) sum to " + format_number(sum) +
                   "; every state's must sum to 1 within " + format_number(kRowTolerance) +
                   " (evaluate(..., renormalise=True) normalises each row first)");
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

// The marginals of the policy (edge table e, exit table x, on backend `from`) in the DAG's
// reused workspace; `policy` receives the tables the solver read. Host tables of a CPU DAG are
// read in place (borrowed, read only): copying them was a fifth of a 4-D H=20 evaluation.
// Otherwise they are copied to the DAG's backend (device to device for a CUDA tensor), into the
// tables of one solver kept for the DAG (on CUDA, its captured graph is kept with it).
const Marginals& run_marginals(const PyDag& d, const float* e, const float* x, Backend from,
                               ForwardPolicy* policy) {
  EvaluationWorkspace& w = *d.workspace;
  const Backend b = d.dag.backend();
  const std::size_t E = d.dag.num_edges(), N = d.dag.num_states();
  if (b == Backend::Cpu && from == Backend::Cpu) {
    if (w.marginals.log_terminal.empty()) {
      w.marginals.log_visit = Array<float>(b, N);
      w.marginals.log_terminal = Array<float>(b, N);
    }
    *policy = ForwardPolicy{Array<float>::borrow(b, const_cast<float*>(e), E),
                            Array<float>::borrow(b, const_cast<float*>(x), N)};
    MarginalSolver(d.dag, *policy, {}, &w.marginals).run();
    return w.marginals;
  }
  if (!w.solver) {
    w.policy = ForwardPolicy{Array<float>(b, E), Array<float>(b, N)};
    w.solver = std::make_unique<MarginalSolver>(d.dag, w.policy);
  }
  detail::copy_bytes(w.policy.log_prob.data(), b, e, from, E * sizeof(float));
  detail::copy_bytes(w.policy.exit_log_prob.data(), b, x, from, N * sizeof(float));
  w.solver->run();
  *policy = w.policy;
  return w.solver->result();
}

// Where the two tables live: both on the host, or both on the CUDA device of a CUDA DAG (a torch
// CUDA tensor is read in place there, never through the host). InputError otherwise.
Backend input_backend(const PyDag& d, const AnyInput<float>& e, const AnyInput<float>& x) {
  const int cpu = nb::device::cpu::value, cuda = nb::device::cuda::value;
  if (e.device_type() != x.device_type())
    throw InputError("edge_log_pf and exit_log_pf are on different devices: give both on the "
                     "host or both on the DAG's CUDA device");
  if (e.device_type() == cpu) return Backend::Cpu;
  if (e.device_type() != cuda)
    throw InputError("the policy tables are on a device that is neither the host nor CUDA (DLPack "
                     "device type " + std::to_string(e.device_type()) + ")");
  if (d.dag.backend() != Backend::Cuda)
    throw InputError("the policy tables are CUDA arrays but the DAG is on the CPU backend: build "
                     "it with backend='cuda', or pass host arrays");
  return Backend::Cuda;
}

// P_T of each run's policy against R/Z: scalars per run (arrays for batched input) and p_t.
// Host tables are checked for NaN / +inf before any work; device tables are not read on the host,
// so a NaN there is reported from the metrics it produces.
// The ELBO/EUBO solver of the P_B named `pb` (kept in the workspace), of the table `pb_table`
// (log P_B per edge, made in `table_bounds` for this call), or none when `pb` is empty.
const VariationalBoundSolver* bounds_for(const PyDag& d, const std::string& pb,
                                         const std::optional<HostInput<float>>& pb_table,
                                         std::optional<VariationalBoundSolver>& table_bounds) {
  if (pb.empty()) return nullptr;
  if (pb == "table") {
    const std::size_t E = d.dag.num_edges();
    if (!pb_table || pb_table->ndim() != 1 || pb_table->shape(0) != E)
      throw InputError("pb: give a name or a float array of log P_B with one entry per edge (" +
                       std::to_string(E) + ")");
    const std::vector<float> v(pb_table->data(), pb_table->data() + E);
    // The library's checks of a user table: NaN / +inf entries, parents summing to 1.
    table_bounds.emplace(d.dag, backward_policy_from_table(d.dag, v));
    return &*table_bounds;
  }
  auto it = d.workspace->bounds.find(pb);
  if (it == d.workspace->bounds.end()) {
    const std::optional<BackwardPolicy> p = correction_named(d, pb);
    if (!p) throw InputError("pb = 'none' names no backward policy: use pb=None for no bounds");
    it = d.workspace->bounds.emplace(pb, VariationalBoundSolver(d.dag, *p)).first;
  }
  return &it->second;
}

// Every run's scalars by name (in the order the dict lists them), and its P_T.
struct RunResults {
  std::vector<std::pair<const char*, std::vector<double>>> scalars;
  HostBuffer<double> p_t;  // every element written (probabilities), so not zeroed first
  Metrics last;
  std::vector<double> spearman;  // empty unless asked for
  RunResults(std::size_t runs, std::size_t N, bool bounds, bool rank) : p_t(runs * N) {
    for (const char* k : {"tv", "kl", "kl_reverse", "jsd", "model_mass", "expected_length", "corr",
                          "mode_mass"})
      scalars.emplace_back(k, std::vector<double>(runs));
    if (bounds)
      for (const char* k : {"elbo", "eubo"}) scalars.emplace_back(k, std::vector<double>(runs));
    if (rank) spearman.resize(runs);
  }
  void set(std::size_t r, const Metrics& m) {
    const double v[] = {m.tv,         m.kl_target_model, m.kl_model_target, m.jsd, m.model_mass,
                        m.expected_length, m.corr,     m.mode_mass,       m.elbo, m.eubo};
    for (std::size_t k = 0; k < scalars.size(); ++k) scalars[k].second[r] = v[k];
    last = m;
  }
  // Scalars per run as floats (one run) or arrays [runs] (batched input).
  nb::dict to_dict(bool batched, std::size_t runs, std::size_t N) {
    nb::dict out;
    for (auto& [key, v] : scalars) {
      if (batched)
        out[key] = to_numpy(std::move(v), {runs});
      else
        out[key] = v[0];
    }
    if (!spearman.empty()) {
      if (batched)
        out["spearman"] = to_numpy(std::move(spearman), {runs});
      else
        out["spearman"] = spearman[0];
    }
    out["mode_mass_target"] = last.mode_mass_target;
    out["num_modes"] = static_cast<int64_t>(last.num_modes);
    out["log_z"] = last.log_z;
    out["p_t"] = batched ? to_numpy(std::move(p_t), {runs, N}) : to_numpy(std::move(p_t), {N});
    return out;
  }
};

nb::dict evaluate(const PyDag& d, AnyInput<float> edge_log_pf, AnyInput<float> exit_log_pf,
                  const std::string& pb, std::optional<HostInput<float>> pb_table,
                  bool spearman, bool rows_checked) {
  const Dag& dag = d.dag;
  const std::size_t E = dag.num_edges(), N = dag.num_states();
  const std::size_t runs = rows_of(edge_log_pf, E, "edge_log_pf");
  if (rows_of(exit_log_pf, N, "exit_log_pf") != runs || edge_log_pf.ndim() != exit_log_pf.ndim())
    throw InputError("edge_log_pf and exit_log_pf describe different numbers of runs");
  const Backend from = input_backend(d, edge_log_pf, exit_log_pf);
  std::optional<VariationalBoundSolver> table_bounds;
  const VariationalBoundSolver* bounds = bounds_for(d, pb, pb_table, table_bounds);
  RunResults res(runs, N, bounds != nullptr, spearman);
  const std::vector<float> log_reward = spearman ? dag.log_reward().to_host() : std::vector<float>{};
  if (!d.workspace->log_z) d.workspace->log_z = log_partition(dag);
  for (std::size_t r = 0; r < runs; ++r) {
    const float* e = edge_log_pf.data() + r * E;
    const float* x = exit_log_pf.data() + r * N;
    if (from == Backend::Cpu) {
      check_log_probs(e, E, "edge_log_pf", r);
      check_log_probs(x, N, "exit_log_pf", r);
      if (rows_checked) check_rows(dag, e, x, r);
    }
    ForwardPolicy policy;
    const Marginals& m = run_marginals(d, e, x, from, &policy);
    Metrics met = compare_to_target(dag, m, nullptr, *d.workspace->log_z);
    if (std::isnan(met.tv) || std::isnan(met.model_mass))
      throw InputError("run " + std::to_string(r) + ": the policy tables hold NaN or +inf "
                       "(log-probabilities must be finite or -inf)");
    if (bounds) {
      const VariationalBounds v = (*bounds)(policy, m);
      met.elbo = v.elbo, met.eubo = v.eubo;
    }
    res.set(r, met);
    probabilities(m.log_terminal, res.p_t.data() + r * N);
    if (spearman)
      res.spearman[r] =
          spearman_correlation(m.log_terminal.to_host(), log_reward, rank_log_tolerance(dag));
  }
  return res.to_dict(edge_log_pf.ndim() == 2, runs, N);
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
// The implicit hypergrid layout: metrics only (the per-state arrays of 10^9 states are no
// Python return value).
nb::dict solve_hypergrid(int64_t ndim, int64_t height, double r0, double r1, double r2,
                         const std::string& regions, const std::string& policy,
                         const std::string& correction, const std::string& backend) {
  const HypergridConfig c = hypergrid_config(ndim, height, r0, r1, r2, regions);
  if (policy != "optimal" && policy != "uniform")
    throw InputError("policy = '" + policy + "': give optimal or uniform");
  const ImplicitPolicy p = policy == "optimal" ? ImplicitPolicy::Optimal : ImplicitPolicy::Uniform;
  ImplicitHypergridResult r;
  {
    nb::gil_scoped_release release;
    r = solve_hypergrid_implicit(c, p, parse_correction(correction), parse_backend(backend));
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
  return out;
}
}  // namespace

void bind_exact(nb::module_& m) {
  m.def("_solve_hypergrid", &solve_hypergrid, nb::arg("ndim"), nb::arg("height"),
        nb::arg("r0"), nb::arg("r1"), nb::arg("r2"), nb::arg("regions"), nb::arg("policy"),
        nb::arg("correction"), nb::arg("backend"));
  m.def("_evaluate", &evaluate, nb::arg("dag"), nb::arg("edge_log_pf"), nb::arg("exit_log_pf"),
        nb::arg("pb") = "", nb::arg("pb_table").none() = nb::none(),
        nb::arg("spearman") = false, nb::arg("check_rows") = true);
  m.def("_solve", &solve, nb::arg("dag"), nb::arg("correction") = "uniform");
  m.def("_policy_from_logits", &policy_from_logits, nb::arg("dag"), nb::arg("logits"));
  m.def("_normalise_rows", &normalise_rows, nb::arg("dag"), nb::arg("edge_log_pf"),
        nb::arg("exit_log_pf"));
}

}  // namespace gfnrl::python
