// gfnrl train: batched tabular training of one learner, with the exact TV of every run's policy
// every K steps written to a CSV.
#include <iostream>
#include <optional>

#include "distribution_csv.hpp"

namespace gfnrl::cli {

namespace {
struct TrainCliOptions {
  std::string algo = "tb";
  std::string save_policy, save_pb;
  std::string snapshot_out;   ///< --snapshot-out FILE: run 0's P_T every --snapshot-every steps
  int64_t snapshot_every = 0;
  SessionOptions session;
};

int run(const TrainCliOptions& o, const CLI::App& cmd) {
  const SessionOptions& so = o.session;
  const Learner learner = parse_learner(o.algo);
  const EnvOptions env = checked_environment(so, cmd);
  TrainConfig cfg = session_config(so, learner.algo);
  cfg.forward_looking = cfg.forward_looking || learner.forward_looking;
  if (so.learner.cfg.forward_looking && learner.algo != Algo::DB && learner.algo != Algo::SubTB)
    throw InputError("--forward-looking applies to db and subtb; " + o.algo + " has no flow table" +
                     (learner.algo == Algo::ModifiedDB
                          ? " (mdb is fl-db with log F~(s) = -log P_F(exit|s))"
                          : ""));
  if (learner.algo == Algo::FM && so.correction != "uniform" && !trained_backward(so.correction))
    throw InputError("--pb " + so.correction + ": fm has no backward policy (its in-flows play "
                     "that part), so a fixed P_B would be ignored; leave --pb out");
  if (learner.algo != Algo::SubTB && so.learner.subtb_weighting != "geometric-within")
    throw InputError("--subtb-weighting " + so.learner.subtb_weighting + " applies to subtb and "
                     "trust-pcl; " + o.algo + " has no sub-trajectories");
  const bool pb_binary = ends_with(o.save_pb, ".bin");
  if (!o.save_pb.empty() && !pb_binary && !ends_with(o.save_pb, ".txt"))
    throw InputError("--save-pb " + o.save_pb + ": name it .txt (text) or .bin (binary DAG file)");
  // Every output is checked and opened (as a temporary) before any work: a bad path exits 2, and
  // a failure later leaves none of them behind.
  check_distinct_outputs({{"--out", so.out}, {"--save-policy", o.save_policy}, {"--save-pb", o.save_pb},
                          {"--snapshot-out", o.snapshot_out}});
  if ((o.snapshot_every > 0) != !o.snapshot_out.empty())
    throw InputError("--snapshot-every and --snapshot-out go together (every K steps, run 0's "
                     "P_T into FILE)");
  if (o.snapshot_every > 0 && (learner.needs_prior || !so.prior.empty()))
    throw InputError("--snapshot-every: snapshots compare with R/Z; a base-policy target (mu^T R) "
                     "is not supported yet");
  AtomicCsv csv(so.out);
  csv.line(kCurveHeader);
  std::optional<OutputFile> policy_out, pb_out;
  if (!o.save_policy.empty()) policy_out.emplace(o.save_policy, false, "--save-policy");
  if (!o.save_pb.empty()) pb_out.emplace(o.save_pb, pb_binary, "--save-pb");
  const Backend b = parse_backend(env.backend);
  const Environment built = build_environment(env, b);
  const Dag& dag = built.dag;
  const auto pb = make_correction(attach_prior(so, learner, dag, cfg), built);
  std::optional<DistributionCsv> snapshots;
  if (o.snapshot_every > 0) snapshots.emplace(o.snapshot_out, "--snapshot-out", built, true);

  progress(env, "training " + std::to_string(cfg.runs) + " runs of " + o.algo + " for " +
                    std::to_string(so.steps) + " steps of " + std::to_string(cfg.batch) +
                    " trajectories (P_B " + so.correction + ", " +
                    format_bytes(Trainer::estimate_bytes(dag, cfg)) + " of tables) on " +
                    backend_name(b));
  Trainer trainer(dag, pb.get(), cfg);
  const double log_z = trainer.target_log_z();
  const RewardModes modes = mode_groups(built);
  LoopOptions lo{so.steps, so.eval_every, env.quiet, learner.name, so.tv_threshold, {}, {}, &modes, so.spearman};
  if (snapshots)
    lo.after_step = [&](const Trainer& t) {
      const int64_t done = t.steps_done();
      if (done % o.snapshot_every == 0 || done == so.steps)
        snapshots->add(terminating_distribution(dag, t.policy(0)), done);
    };
  const LoopResult res = train_loop(trainer, log_z, lo, [&csv](const std::string& row) { csv.line(row); });
  if (policy_out) write_policy_file(policy_out->stream(), dag, trainer.policy(0));
  if (pb_out) {
    const BackwardPolicy run0 = trainer.backward_policy(0);
    write_dag_file(dag_to_file(dag, &run0), pb_out->stream(),
                   pb_binary ? DagFormat::Binary : DagFormat::Text);
  }
  csv.commit();
  if (snapshots) {
    snapshots->commit();
    progress(env, "wrote run 0's P_T every " + std::to_string(o.snapshot_every) + " steps to " +
                      o.snapshot_out + " (plot: python3 tools/plot_distribution.py " +
                      o.snapshot_out + ")");
  }
  if (policy_out) {
    policy_out->commit();
    progress(env, "wrote run 0's policy to " + o.save_policy);
  }
  if (pb_out) {
    pb_out->commit();
    progress(env, "wrote the DAG with run 0's P_B to " + o.save_pb + " (reuse: --dag " +
                      o.save_pb + " --pb file)");
  }
  progress(env, "wrote " + so.out);
  if (env.json) {
    nlohmann::json j = summarize(res, cfg, learner.name);
    j.update(built.description);
    j["command"] = "train";
    j["num_states"] = dag.num_states();
    j["correction"] = so.correction;
    j["pb"] = so.correction;
    j["seed"] = cfg.seed;
    j["batch"] = cfg.batch;
    j["log_z"] = log_z;
    j["num_modes"] = modes.states.size();  // of R; modes_found counts these
    if (built.grid) j["num_mode_regions"] = modes.num_regions;
    if (cfg.prior) j["prior"] = so.prior.empty() ? "uniform" : so.prior;
    j["backend"] = backend_name(b);
    if (b == Backend::Cuda) j["device"] = cuda_device_description();
    j["out"] = so.out;
    print_json_line(j);
  }
  return 0;
}
}  // namespace

void add_preset_option(CLI::App& cmd, std::string& preset, bool backward) {
  std::string help =
      "published hypergrids: standard (4-D H=20, R0 1e-3, R1 0.5, R2 2), hard (4-D H=20, R0 "
      "1e-4, R1 1, R2 3), policy-gradient (Niu et al.: 2-D H=256, R0 1e-2, R1 0.5, R2 2) or "
      "torchgfn (the TB paper's 4-D H=8, R0 0.1, R1 0.5, R2 2, as torchgfn's examples run it); "
      "explicit --ndim/--height/--r0/--r1/--r2 override it";
  std::vector<std::string> choices = hypergrid_preset_names();
  if (backward) choices.push_back("backward");
  if (backward)
    help += "; or backward: every learner with each P_B (uniform, maxent, learned, tlm; coupled "
            "and guided for pg and ac) on the "
            "chosen environment, labelled algo/pb in the CSV";
  cmd.add_option("--preset", preset, help)
      ->check(CLI::IsMember(choices));
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
  o->session.out = "curve.csv";
  o->session.steps = 2000;
  o->session.eval_every = 100;
  CLI::App* cmd = app.add_subcommand(
      "train", "train a batch of runs of one tabular learner; exact TV curves to a CSV");
  cmd->add_option("--algo", o->algo,
                  "learner: tb, db, subtb, softdqn, munchausen, mdb (modified DB: energy "
                  "differences, every state must terminate), zvar (log-partition variance), fm "
                  "(flow matching), rtb (relative TB), trust-pcl (SubTB with a base policy; both "
                  "default to --prior uniform), fldb, flsubtb (db, subtb with forward-looking "
                  "flows), pg (policy gradients, Niu et al.; --exact-gradient for the exact "
                  "expectation), or ac (their actor-critic: tabular critic, GAE)")
      ->check(CLI::IsMember(learner_names()))
      ->capture_default_str();
  add_session_options(*cmd, o->session);
  cmd->add_option("--save-policy", o->save_policy,
                  "write run 0's final forward policy to this file (a --prior for later runs)");
  cmd->add_option("--save-pb", o->save_pb,
                  "write the DAG with run 0's final backward policy (a trained one: learned, "
                  "tlm, coupled, guided) as a DAG file, FILE.txt or FILE.bin, to reuse as a fixed "
                  "P_B: --dag FILE --pb file");
  cmd->add_option("--snapshot-every", o->snapshot_every,
                  "with --snapshot-out: run 0's exact P_T at step 0, every K steps and at the end")
      ->check(CLI::Range(int64_t(1), INT64_MAX));
  cmd->add_option("--snapshot-out", o->snapshot_out,
                  "CSV of the snapshots: step,state,label[,x0,...],p_t,target (target = R/Z; "
                  "plot: tools/plot_distribution.py)");
  cmd->callback([o, cmd]() { throw CLI::RuntimeError(run(*o, *cmd)); });
}

}  // namespace gfnrl::cli
