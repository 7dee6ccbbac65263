// Python's evaluate: the exact terminating distribution P_T of a policy and its metrics against
// R/Z, from the DAG's edge tables (gfnrl.evaluate) or from a policy network's per-state action
// table (gfnrl.torchgfn), in a workspace kept with the DAG.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gfnrl/gfnrl.hpp"
#include "py_dag.hpp"

namespace gfnrl::python {

namespace {
// Each state's row (its edges and its exit) must sum to 1: a table that does not (an all-zero
// integer array, log P_F + 5) would otherwise give metrics of a sampler that does not exist
// (model_mass 12,869). float32 softmaxes sum to 1 within ~1e-6; kRowTolerance leaves room.
constexpr double kRowTolerance = 1e-4;

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

// Run r's metrics (into `res`) from its marginals `m`; `policy`, the tables `m` came from, is
// read only for the bounds. The caller writes P_T.
void record_run(const PyDag& d, const Marginals& m, const ForwardPolicy* policy,
                const VariationalBoundSolver* bounds, const std::vector<float>& log_reward,
                RunResults& res, std::size_t r) {
  const Dag& dag = d.dag;
  if (!d.workspace->log_z) d.workspace->log_z = log_partition(dag);
  Metrics met = compare_to_target(dag, m, nullptr, *d.workspace->log_z);
  if (std::isnan(met.tv) || std::isnan(met.model_mass))
    throw InputError("run " + std::to_string(r) + ": the policy tables hold NaN or +inf "
                     "(log-probabilities must be finite or -inf)");
  if (bounds) {
    const VariationalBounds v = (*bounds)(*policy, m);
    met.elbo = v.elbo, met.eubo = v.eubo;
  }
  res.set(r, met);
  if (!res.spearman.empty())
    res.spearman[r] =
        spearman_correlation(m.log_terminal.to_host(), log_reward, rank_log_tolerance(dag));
}

// P_T of each run's policy against R/Z: scalars per run (arrays for batched input) and p_t.
// Host tables are checked for NaN / +inf before any work; device tables are not read on the host,
// so a NaN there is reported from the metrics it produces.
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
    record_run(d, m, &policy, bounds, log_reward, res, r);
    probabilities(m.log_terminal, res.p_t.data() + r * N);
  }
  return res.to_dict(edge_log_pf.ndim() == 2, runs, N);
}

// The action table's entries gathered into the workspace's edge and exit tables (the DAG's
// orders); InputError naming the first entry read that is NaN or +inf.
ForwardPolicy gathered_tables(const PyDag& d, const float* table, std::size_t width,
                              std::size_t exit_column) {
  EvaluationWorkspace& w = *d.workspace;
  const std::size_t E = d.dag.num_edges(), N = d.dag.num_states();
  w.gathered_edge.resize(E), w.gathered_exit.resize(N);
  const int64_t bad = gather_action_table(d.dag, table, width, exit_column,
                                          w.gathered_edge.data(), w.gathered_exit.data());
  if (bad >= 0)
    throw InputError("log_probs[" + std::to_string(bad / int64_t(width)) + ", " +
                     std::to_string(bad % int64_t(width)) + "] = " + format_number(table[bad]) +
                     ": log-probabilities must be finite or -inf");
  return ForwardPolicy{Array<float>::borrow(Backend::Cpu, w.gathered_edge.data(), E),
                       Array<float>::borrow(Backend::Cpu, w.gathered_exit.data(), N)};
}

// evaluate() of the policy a per-state action table holds, the layout of a policy network's
// output: log_probs [num_states, width] (host; row s = log P_F(a | s) by action id, column
// `exit_column` the exit, -inf where forbidden). Without bounds the marginal sweep reads the
// table in place (ActionTableMarginalSolver, kept with the DAG); the bounds need the DAG's edge
// tables, gathered natively (gather_action_table). A NaN or +inf entry that is read is refused
// by name (unread columns may hold anything). Rows are not checked to sum to 1: a network's
// log-softmax over its masks is normalised when the masks are the DAG's. With `p_t_order` [T],
// p_t[i] is P_T of state p_t_order[i] (0 where it is negative): P_T in the caller's order.
nb::dict evaluate_action_table(const PyDag& d, HostInput<float> log_probs, int64_t exit_column,
                               std::optional<HostInput<int64_t>> p_t_order, const std::string& pb,
                               std::optional<HostInput<float>> pb_table, bool spearman) {
  const Dag& dag = d.dag;
  const std::size_t N = dag.num_states();
  if (dag.backend() != Backend::Cpu)
    throw InputError("an action table is read on the CPU backend: evaluate a CUDA DAG through "
                     "its edge tables (gfnrl.evaluate)");
  if (log_probs.ndim() != 2 || log_probs.shape(0) != N)
    throw InputError("log_probs must be [num_states = " + std::to_string(N) + ", actions]");
  const std::size_t width = log_probs.shape(1);
  if (exit_column < 0 || std::size_t(exit_column) >= width)
    throw InputError("exit_column = " + std::to_string(exit_column) + " is out of range [0, " +
                     std::to_string(width) + ")");
  const std::size_t T = p_t_order ? p_t_order->shape(0) : N;
  const int64_t* order = p_t_order ? p_t_order->data() : nullptr;
  if (p_t_order && p_t_order->ndim() != 1) throw InputError("p_t_order must be one-dimensional");
  std::optional<VariationalBoundSolver> table_bounds;
  const VariationalBoundSolver* bounds = bounds_for(d, pb, pb_table, table_bounds);
  RunResults res(1, T, bounds != nullptr, spearman);
  const std::vector<float> log_reward = spearman ? dag.log_reward().to_host() : std::vector<float>{};
  const Marginals* m = nullptr;
  if (bounds) {
    ForwardPolicy policy = gathered_tables(d, log_probs.data(), width, std::size_t(exit_column));
    m = &run_marginals(d, policy.log_prob.data(), policy.exit_log_prob.data(), Backend::Cpu,
                       &policy);
    record_run(d, *m, &policy, bounds, log_reward, res, 0);
  } else {
    auto& solver = d.workspace->action_solver;
    if (!solver || solver->width() != width || solver->exit_column() != std::size_t(exit_column))
      solver = std::make_unique<ActionTableMarginalSolver>(dag, width, std::size_t(exit_column));
    // The sweep's logsumexps do not carry a NaN through reliably, so the table is scanned
    // first (vectorised); only where it holds one are the read entries told from the unread.
    if (first_nan_or_inf(log_probs.data(), N * width) < N * width)
      gathered_tables(d, log_probs.data(), width, std::size_t(exit_column));
    solver->run(log_probs.data());
    m = &solver->result();
    record_run(d, *m, nullptr, nullptr, log_reward, res, 0);
  }
  if (order)
    probabilities(m->log_terminal, order, T, res.p_t.data());
  else
    probabilities(m->log_terminal, res.p_t.data());
  return res.to_dict(false, 1, T);
}

}  // namespace

void bind_evaluate(nb::module_& m) {
  m.def("_evaluate", &evaluate, nb::arg("dag"), nb::arg("edge_log_pf"), nb::arg("exit_log_pf"),
        nb::arg("pb") = "", nb::arg("pb_table").none() = nb::none(),
        nb::arg("spearman") = false, nb::arg("check_rows") = true);
  m.def("_evaluate_action_table", &evaluate_action_table, nb::arg("dag"), nb::arg("log_probs"),
        nb::arg("exit_column"), nb::arg("p_t_order").none() = nb::none(), nb::arg("pb") = "",
        nb::arg("pb_table").none() = nb::none(), nb::arg("spearman") = false);
}

}  // namespace gfnrl::python
