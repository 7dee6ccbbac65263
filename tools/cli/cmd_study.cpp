// gfnrl study: every learner, several seeds each, on one hypergrid; one CSV of exact TV curves
// (plot it with tools/plot_convergence.py). The README's main job.
#include <iostream>
#include <sstream>

#include "train_session.hpp"

namespace gfnrl::cli {

namespace {
struct StudyOptions {
  EnvOptions env;
  std::string preset, algos = "tb,db,subtb,softdqn,munchausen", correction = "uniform";
  std::string out = "study.csv";
  int32_t runs = 4, batch = 16;
  uint64_t seed = 0;
  int64_t steps = 20000, eval_every = 500;
  LearnerOptions learner;
};

int run(const StudyOptions& o, const CLI::App& cmd) {
  EnvOptions env = o.env;
  if (!o.preset.empty()) apply_preset(cmd, o.preset, env.grid);
  std::vector<Algo> algos;
  std::stringstream ss(o.algos);
  for (std::string name; std::getline(ss, name, ',');) algos.push_back(parse_algo(name));
  if (algos.empty()) throw InputError("--algos is empty (allowed: tb, db, subtb, softdqn, munchausen)");
  if (o.steps < 0) throw InputError("--steps = " + std::to_string(o.steps) + " must be >= 0");
  if (o.eval_every < 1)
    throw InputError("--eval-every = " + std::to_string(o.eval_every) + " must be >= 1");
  std::vector<TrainConfig> cfgs;
  for (Algo a : algos) cfgs.push_back(make_config(o.learner, a, o.runs, o.seed, o.batch));
  AtomicCsv csv(o.out);
  csv.line(kCurveHeader);
  const Backend b = parse_backend(env.backend);
  const Dag dag = build_environment(env, b);
  const auto pb = make_correction(o.correction, dag);
  const double log_z = log_partition(dag);
  nlohmann::json learners = nlohmann::json::array();
  for (const TrainConfig& cfg : cfgs) {
    progress(env, "study: " + algo_name(cfg.algo) + ", " + std::to_string(cfg.runs) + " runs x " +
                      std::to_string(o.steps) + " steps x " + std::to_string(cfg.batch) +
                      " trajectories, lr " + std::to_string(cfg.lr[0]) + ", on " + backend_name(b));
    Trainer trainer(dag, pb.get(), cfg);
    LoopOptions lo;
    lo.steps = o.steps;
    lo.eval_every = o.eval_every;
    lo.quiet = env.quiet;
    learners.push_back(summarize(train_loop(trainer, log_z, lo, &csv), cfg));
  }
  csv.commit();
  progress(env, "wrote " + o.out + " (plot: python3 tools/plot_convergence.py " + o.out + ")");
  if (env.json) {
    nlohmann::json j;
    j["command"] = "study";
    j["ndim"] = env.grid.ndim;
    j["height"] = env.grid.height;
    j["r0"] = env.grid.r0;
    j["r1"] = env.grid.r1;
    j["r2"] = env.grid.r2;
    j["num_states"] = dag.num_states();
    j["correction"] = o.correction;
    j["log_z"] = log_z;
    j["backend"] = backend_name(b);
    j["out"] = o.out;
    j["learners"] = learners;
    print_json_line(j);
  } else {
    std::printf("%-11s %5s %8s %12s %12s %12s %10s\n", "algo", "runs", "steps", "TV mean",
                "TV min", "TV max", "steps/s");
    for (const auto& l : learners)
      std::printf("%-11s %5d %8lld %12.5f %12.5f %12.5f %10.1f\n",
                  l["algo"].get<std::string>().c_str(), l["runs"].get<int>(),
                  static_cast<long long>(l["steps"].get<int64_t>()),
                  l["final_tv_mean"].get<double>(), l["final_tv_min"].get<double>(),
                  l["final_tv_max"].get<double>(), l["steps_per_second"].get<double>());
  }
  return 0;
}
}  // namespace

void register_study(CLI::App& app) {
  auto o = std::make_shared<StudyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "study", "every learner with several seeds on one hypergrid: exact TV curves to one CSV");
  o->env.grid.ndim = 2;
  o->env.grid.height = 16;
  cmd->add_option("--algos", o->algos, "comma list of learners")->capture_default_str();
  add_env_options(*cmd, o->env);
  add_preset_option(*cmd, o->preset);
  cmd->add_option("--runs", o->runs, "seeds per learner (run r uses seed + r)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed of run 0")->capture_default_str();
  cmd->add_option("--steps", o->steps, "training steps per learner")->capture_default_str();
  cmd->add_option("--batch", o->batch, "trajectories per step and run")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  cmd->add_option("--eval-every", o->eval_every, "exact evaluation every K steps")
      ->capture_default_str();
  cmd->add_option("--out", o->out, "CSV: " + std::string(kCurveHeader))->capture_default_str();
  cmd->add_option("--correction", o->correction, "uniform, maxent or none")
      ->check(CLI::IsMember({"uniform", "maxent", "none"}))
      ->capture_default_str();
  add_learner_options(*cmd, o->learner);
  cmd->callback([o, cmd]() { throw CLI::RuntimeError(run(*o, *cmd)); });
}

}  // namespace gfnrl::cli
