// gfnrl solve / gfnrl eval: the exact soft-optimal policy (or the uniform policy) of an
// environment, its exact terminating distribution, and its distance to R/Z.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "gfnrl/implicit_hypergrid.hpp"

#include "distribution_csv.hpp"

namespace gfnrl::cli {

namespace {

struct SolveOptions {
  EnvOptions env;
  std::string correction = "uniform";
  std::string policy = "optimal";  // eval only
  bool base_uniform = false;
  std::string prior;  // a base policy file
  std::string out_pt;  // --out-pt FILE: P_T and the target per terminating state
  std::string layout = "auto";
};

void add_solver_options(CLI::App& cmd, SolveOptions& o) {
  add_env_options(cmd, o.env);
  add_correction_option(cmd, o.correction, "reward correction r(s,s') = log P_B(s|s')");
  auto* uniform = cmd.add_flag("--base-uniform", o.base_uniform,
                               "KL-regularised soft RL with the base policy mu uniform over valid "
                               "actions; with --correction none the target is mu^T(x) R(x)");
  cmd.add_option("--prior", o.prior,
                 "KL-regularised soft RL with this base policy file (gfnrl train --save-policy); "
                 "with --correction none the target is mu^T(x) R(x)")
      ->check(input_file_check())
      ->excludes(uniform);
  cmd.add_option("--out-pt", o.out_pt,
                 "CSV of P_T and the target (R/Z, or mu^T R normalised) per terminating state: "
                 "state,label[,x0,...],p_t,target (plot: tools/plot_distribution.py)");
  cmd.add_option("--layout", o.layout,
                 "how a hypergrid is held: csr (the DAG, every option), implicit (no stored "
                 "edges: 12-16 bytes per state, grids past 2^31 states; the optimal or uniform "
                 "policy, correction uniform or none, no base policy, no --out-pt; its CUDA "
                 "kernels have not yet run on a GPU), auto (implicit on the cpu backend where "
                 "it can, else csr)")
      ->check(CLI::IsMember(grid_layout_names()))
      ->capture_default_str();
}

// Why the implicit layout cannot serve this request ("" when it can).
std::string why_not_implicit(const SolveOptions& o, bool eval, Backend b) {
  if (!o.env.dag_file.empty() || o.env.env != "hypergrid")
    return "it holds generated hypergrids only (not --env " + o.env.env +
           (o.env.dag_file.empty() ? "" : ", not --dag") + ")";
  if (o.env.tree) return "it holds the hypergrid, not its --tree";
  if (eval && o.policy != "optimal" && o.policy != "uniform")
    return "--policy FILE is a table over stored edges";
  if (o.correction != "uniform" && o.correction != "none")
    return "it takes --correction uniform or none, not " + o.correction;
  if (o.base_uniform || !o.prior.empty()) return "it takes no base policy (--base-uniform, --prior)";
  if (!o.out_pt.empty()) return "it writes no --out-pt table";
  return "";
}

// The policy to evaluate: soft-optimal (soft VI with the correction `pb` and the base policy;
// without a correction a base policy also makes mu^T R the target), uniform, or a policy file.
struct Chosen {
  ForwardPolicy policy;
  Array<float> target;  // empty: R/Z
  double soft_vi_log_z = 0;
};

Chosen choose_policy(const SolveOptions& o, bool optimal, const Dag& dag,
                     const BackwardPolicy* pb, nlohmann::json& out) {
  Chosen c;
  if (!optimal) {
    // uniform, or a trained run (gfnrl train --save-policy)
    c.policy = o.policy == "uniform" ? uniform_forward_policy(dag) : read_policy_file(o.policy, dag);
    return c;
  }
  progress(o.env, "soft value iteration over " + std::to_string(dag.num_levels()) +
                      " levels, correction " + o.correction);
  ForwardPolicy mu;
  SoftValueOptions so;
  so.uniform_base_policy = o.base_uniform;
  if (!o.prior.empty()) mu = read_policy_file(o.prior, dag);
  if (!mu.log_prob.empty()) so.base_policy = &mu;
  if (o.correction == "none" && (o.base_uniform || !o.prior.empty())) {
    double target_log_z = 0;
    c.target = base_policy_target(dag, o.base_uniform ? uniform_forward_policy(dag) : mu,
                                  &target_log_z);
    out["target"] = "mu^T R";
  }
  SoftValueSolver solver(dag, pb, so);
  solver.run();
  c.soft_vi_log_z = solver.log_z();
  out["soft_vi_log_z"] = c.soft_vi_log_z;
  c.policy = solver.result().policy;
  return c;
}

void put_metrics(nlohmann::json& out, const Metrics& m) {
  out["log_z"] = m.log_z;
  out["tv"] = m.tv;
  out["kl"] = m.kl_target_model;
  out["kl_reverse"] = m.kl_model_target;
  out["jsd"] = m.jsd;
  out["model_mass"] = m.model_mass;
  out["expected_length"] = m.expected_length;
  out["corr"] = m.corr;
  out["num_modes"] = static_cast<int64_t>(m.num_modes);
  out["mode_mass"] = m.mode_mass;
  out["mode_mass_target"] = m.mode_mass_target;
}

void print_result(const EnvOptions& env, const nlohmann::json& out) {
  if (env.json) {
    print_json_line(out);
  } else {
    for (const auto& [k, v] : out.items()) std::printf("%-16s %s\n", k.c_str(), v.dump().c_str());
  }
}

// gfnrl solve / eval on the implicit layout: nothing built, every pass over coordinates.
int run_implicit(const SolveOptions& o, bool eval, Backend b) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const HypergridConfig grid = hypergrid_config(o.env);
  validate_implicit(grid);
  const bool optimal = !eval || o.policy == "optimal";
  const ImplicitPolicy policy = optimal ? ImplicitPolicy::Optimal : ImplicitPolicy::Uniform;
  const Correction correction = parse_correction(o.correction);
  require_implicit_hypergrid_bytes(grid, policy, correction, b);  // before any output
  progress(o.env, "implicit hypergrid D=" + std::to_string(grid.ndim) + " H=" +
                      std::to_string(grid.height) + " (" +
                      std::to_string(implicit_hypergrid_num_states(grid)) + " states, estimated " +
                      format_bytes(estimate_implicit_hypergrid_bytes(grid, policy, correction)) +
                      ", no stored edges) on " + backend_name(b) + ": soft values, visits, metrics");
  const ImplicitHypergridResult r = solve_hypergrid_implicit(grid, policy, correction, b);
  const double secs = std::chrono::duration<double>(clock::now() - t0).count();
  const Metrics& m = r.metrics;
  nlohmann::json out;
  out["command"] = eval ? "eval" : "solve";
  out["env"] = "hypergrid";
  out.update(hypergrid_description(grid));
  out["policy"] = optimal ? "optimal" : "uniform";
  if (optimal) out["correction"] = o.correction;
  if (optimal) out["base_policy"] = "none";
  if (optimal) out["soft_vi_log_z"] = r.soft_vi_log_z;
  out["layout"] = "implicit";
  out["num_states"] = r.num_states;
  out["num_edges"] = r.num_edges;
  out["edge_ids"] = "none";  // nothing stored
  out["num_levels"] = r.num_levels;
  put_metrics(out, m);
  out["closed_form_log_z"] = r.closed_form_log_z;
  // NaN (JSON null) past kImplicitSpearmanMaxStates states: ranking needs two sorted copies.
  out["spearman"] = std::isnan(r.spearman) ? nlohmann::json() : nlohmann::json(r.spearman);
  if (optimal) out["log_z_error"] = std::abs(r.soft_vi_log_z - m.log_z);
  out["elbo"] = m.elbo;
  out["eubo"] = m.eubo;
  out["bounds_pb"] = "uniform";
  out["backend"] = backend_name(b);
  if (b == Backend::Cuda) out["device"] = cuda_device_description();
  out["build_seconds"] = 0.0;
  out["seconds"] = secs;
  out["phase_seconds"] = {{"soft_values", r.values_seconds},
                          {"marginals", r.marginals_seconds},
                          {"metrics", r.metrics_seconds}};
  print_result(o.env, out);
  return 0;
}

int run_csr(const SolveOptions& o, bool eval, Backend b);
void describe_csr_solve(const SolveOptions& o, bool eval, const Environment& env, const Chosen& c,
                        const Metrics& m, const Marginals& marginals, nlohmann::json& out);

int run(const SolveOptions& o, bool eval, const CLI::App& cmd) {
  check_env_flags(cmd, o.env);
  const Backend b = parse_backend(o.env.backend);
  const GridLayout layout = parse_grid_layout(o.layout);
  const std::string why_not = why_not_implicit(o, eval, b);
  if (layout == GridLayout::Implicit && !why_not.empty())
    throw InputError("--layout implicit: " + why_not + "; use --layout csr");
  // auto picks the implicit layout on the CPU only: its CUDA kernels have not run on a GPU yet
  // (docs/PERF_NOTES.md); --layout implicit --backend cuda asks for them.
  if (layout == GridLayout::Implicit || (layout == GridLayout::Auto && why_not.empty() &&
                                         b == Backend::Cpu))
    return run_implicit(o, eval, b);
  return run_csr(o, eval, b);
}

// gfnrl solve / eval on the DAG (the CSR layout): build, choose the policy, its marginals,
// metrics and bounds, the --out-pt table.
int run_csr(const SolveOptions& o, bool eval, Backend b) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const Environment env = build_environment(o.env, b);
  const Dag& dag = env.dag;
  // Opened before any work: an unwritable --out-pt is exit 2 at once.
  std::optional<DistributionCsv> pt_csv;
  if (!o.out_pt.empty()) pt_csv.emplace(o.out_pt, "--out-pt", env, false);
  synchronize(b);
  const double build_s = std::chrono::duration<double>(clock::now() - t0).count();

  const auto t1 = clock::now();
  const bool optimal = !eval || o.policy == "optimal";
  nlohmann::json out;
  const auto pb = make_correction(o.correction, env);
  const Chosen c = choose_policy(o, optimal, dag, pb.get(), out);
  const std::string what = optimal ? "soft-optimal" : o.policy == "uniform" ? "uniform" : o.policy;
  progress(o.env, "exact marginals of the " + what + " policy");
  const Marginals marginals = compute_marginals(dag, c.policy);
  Metrics m = compare_to_target(dag, marginals, c.target.empty() ? nullptr : &c.target);
  // The variational bounds on log Z of R, with the correction's P_B (uniform for none).
  if (c.target.empty()) {
    const VariationalBounds v =
        variational_bounds(dag, c.policy, marginals, pb ? *pb : uniform_backward_policy(dag));
    m.elbo = v.elbo, m.eubo = v.eubo;
  }
  const double secs = std::chrono::duration<double>(clock::now() - t1).count();
  if (pt_csv) {
    pt_csv->add(marginals.log_terminal, 0, c.target.empty() ? nullptr : &c.target);
    pt_csv->commit();
    out["out_pt"] = o.out_pt;
  }

  describe_csr_solve(o, eval, env, c, m, marginals, out);
  out["backend"] = backend_name(b);
  if (b == Backend::Cuda) out["device"] = cuda_device_description();
  out["build_seconds"] = build_s;
  out["seconds"] = secs;
  print_result(o.env, out);
  return 0;
}

// The CSR solve's JSON fields: what ran, the DAG's sizes, the metrics and bounds.
void describe_csr_solve(const SolveOptions& o, bool eval, const Environment& env, const Chosen& c,
                        const Metrics& m, const Marginals& marginals, nlohmann::json& out) {
  const Dag& dag = env.dag;
  const bool optimal = !eval || o.policy == "optimal";
  out["command"] = eval ? "eval" : "solve";
  out.update(env.description);
  if (env.grid) out["layout"] = "csr";
  out["policy"] = optimal ? "optimal" : o.policy;
  if (optimal) out["correction"] = o.correction;
  if (optimal) out["base_policy"] = o.base_uniform ? "uniform" : o.prior.empty() ? "none" : o.prior;
  out["num_states"] = dag.num_states();
  out["num_edges"] = dag.num_edges();
  out["edge_ids"] = wide_edge_ids(dag.num_edges()) ? "int64" : "int32";  // the CSC's stored ids
  out["num_levels"] = dag.num_levels();
  put_metrics(out, m);
  out["spearman"] = spearman_correlation(dag, marginals, c.target.empty() ? nullptr : &c.target);
  if (optimal) out["log_z_error"] = std::abs(c.soft_vi_log_z - m.log_z);
  if (c.target.empty()) {
    out["elbo"] = m.elbo;
    out["eubo"] = m.eubo;
    out["bounds_pb"] = o.correction == "none" ? "uniform" : o.correction;
  }
}

}  // namespace

void register_solve(CLI::App& app) {
  auto opts = std::make_shared<SolveOptions>();
  CLI::App* cmd = app.add_subcommand(
      "solve", "exact soft value iteration; TV/KL/JSD of the soft-optimal policy against R/Z");
  add_solver_options(*cmd, *opts);
  cmd->callback([opts, cmd]() { throw CLI::RuntimeError(run(*opts, false, *cmd)); });
}

void register_eval(CLI::App& app) {
  auto opts = std::make_shared<SolveOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "exact TV/KL/JSD against R/Z of the uniform random, the soft-optimal or a saved policy");
  add_solver_options(*cmd, *opts);
  cmd->add_option("--policy", opts->policy,
                  "uniform (uniform over valid actions, exit included), optimal, or a policy "
                  "file (gfnrl train --save-policy) written for this DAG")
      ->check(input_file_check({"uniform", "optimal"}))
      ->capture_default_str();
  cmd->callback([opts, cmd]() { throw CLI::RuntimeError(run(*opts, true, *cmd)); });
}

}  // namespace gfnrl::cli
