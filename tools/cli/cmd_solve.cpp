// gfnrl solve / gfnrl eval: the exact soft-optimal policy (or the uniform policy) of an
// environment, its exact terminating distribution, and its distance to R/Z.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

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

int run(const SolveOptions& o, bool eval, const CLI::App& cmd) {
  using clock = std::chrono::steady_clock;
  check_env_flags(cmd, o.env);
  const Backend b = parse_backend(o.env.backend);
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

  out["command"] = eval ? "eval" : "solve";
  out.update(env.description);
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
  out["backend"] = backend_name(b);
  if (b == Backend::Cuda) out["device"] = cuda_device_description();
  out["build_seconds"] = build_s;
  out["seconds"] = secs;
  if (o.env.json) {
    print_json_line(out);
  } else {
    for (const auto& [k, v] : out.items()) std::printf("%-16s %s\n", k.c_str(), v.dump().c_str());
  }
  return 0;
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
