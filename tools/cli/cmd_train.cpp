// gfnrl train: batched tabular training of one learner, with the exact TV of every run's policy
// every K steps written to a CSV.
#include <chrono>
#include <iostream>

#include "train_session.hpp"

namespace gfnrl::cli {

namespace {
struct TrainCliOptions {
  EnvOptions env;
  std::string preset, algo = "tb", correction = "uniform", out = "curve.csv";
  int32_t runs = 4, batch = 16;
  uint64_t seed = 0;
  int64_t steps = 2000, eval_every = 100;
  LearnerOptions learner;
};

int run(const TrainCliOptions& o, const CLI::App& cmd) {
  EnvOptions env = o.env;
  if (!o.preset.empty()) apply_preset(cmd, o.preset, env.grid);
  const Algo algo = parse_algo(o.algo);
  if (o.steps < 0) throw InputError("--steps = " + std::to_string(o.steps) + " must be >= 0");
  if (o.eval_every < 1)
    throw InputError("--eval-every = " + std::to_string(o.eval_every) + " must be >= 1");
  const TrainConfig cfg = make_config(o.learner, algo, o.runs, o.seed, o.batch);
  AtomicCsv csv(o.out);  // fails (exit 2) before any work when the path is not writable
  csv.line(kCurveHeader);
  const Backend b = parse_backend(env.backend);
  const Dag dag = build_environment(env, b);
  const auto pb = make_correction(o.correction, dag);
  const double log_z = log_partition(dag);
  progress(env, "training " + std::to_string(cfg.runs) + " runs of " + o.algo + " for " +
                    std::to_string(o.steps) + " steps of " + std::to_string(cfg.batch) +
                    " trajectories (correction " + o.correction + ", " +
                    format_bytes(Trainer::estimate_bytes(dag, cfg)) + " of tables) on " +
                    backend_name(b));
  Trainer trainer(dag, pb.get(), cfg);
  LoopOptions lo;
  lo.steps = o.steps;
  lo.eval_every = o.eval_every;
  lo.quiet = env.quiet;
  const LoopResult res = train_loop(trainer, log_z, lo, &csv);
  csv.commit();
  progress(env, "wrote " + o.out);
  if (env.json) {
    nlohmann::json j = summarize(res, cfg);
    j["command"] = "train";
    j["env"] = env.env;
    j["ndim"] = env.grid.ndim;
    j["height"] = env.grid.height;
    j["r0"] = env.grid.r0;
    j["r1"] = env.grid.r1;
    j["r2"] = env.grid.r2;
    j["num_states"] = dag.num_states();
    j["correction"] = o.correction;
    j["seed"] = cfg.seed;
    j["batch"] = cfg.batch;
    j["log_z"] = log_z;
    j["backend"] = backend_name(b);
    if (b == Backend::Cuda) j["device"] = cuda_device_description();
    j["out"] = o.out;
    print_json_line(j);
  }
  return 0;
}
}  // namespace

void add_preset_option(CLI::App& cmd, std::string& preset) {
  cmd.add_option("--preset", preset,
                 "the seeds' 4-D H=20 hypergrid: standard (R0 1e-3, R1 0.5, R2 2) or hard "
                 "(R0 1e-4, R1 1, R2 3); explicit --ndim/--height/--r0/--r1/--r2 override it")
      ->check(CLI::IsMember({"standard", "hard"}));
}

void apply_preset(const CLI::App& cmd, const std::string& name, HypergridConfig& g) {
  const HypergridConfig p = hypergrid_preset(name);
  if (cmd.count("--ndim") == 0) g.ndim = p.ndim;
  if (cmd.count("--height") == 0) g.height = p.height;
  if (cmd.count("--r0") == 0) g.r0 = p.r0;
  if (cmd.count("--r1") == 0) g.r1 = p.r1;
  if (cmd.count("--r2") == 0) g.r2 = p.r2;
}

void register_train(CLI::App& app) {
  auto o = std::make_shared<TrainCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "train", "train a batch of runs of one tabular learner; exact TV curves to a CSV");
  cmd->add_option("--algo", o->algo, "learner: tb, db, subtb, softdqn, munchausen")
      ->check(CLI::IsMember({"tb", "db", "subtb", "softdqn", "munchausen"}))
      ->capture_default_str();
  add_env_options(*cmd, o->env);
  add_preset_option(*cmd, o->preset);
  cmd->add_option("--runs", o->runs, "independent runs trained together (seeds seed..seed+runs-1)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed of run 0 (run r uses seed + r)")->capture_default_str();
  cmd->add_option("--steps", o->steps, "training steps")->capture_default_str();
  cmd->add_option("--batch", o->batch, "trajectories sampled per step and run")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  cmd->add_option("--eval-every", o->eval_every, "exact evaluation every K steps")
      ->capture_default_str();
  cmd->add_option("--out", o->out,
                  "CSV: one row per (run, evaluation): " + std::string(kCurveHeader))
      ->capture_default_str();
  cmd->add_option("--correction", o->correction,
                  "backward policy of the losses and DQN reward correction: uniform, maxent "
                  "(n(s)/n(s')), or none (log P_B = 0: targets n(x)R(x))")
      ->check(CLI::IsMember({"uniform", "maxent", "none"}))
      ->capture_default_str();
  add_learner_options(*cmd, o->learner);
  cmd->callback([o, cmd]() { throw CLI::RuntimeError(run(*o, *cmd)); });
}

}  // namespace gfnrl::cli
