// gfnrl train: batched tabular training of one learner, with the exact TV of every run's policy
// every K steps written to a CSV.
#include <iostream>
#include <optional>

#include "distribution_csv.hpp"
#include "ranks.hpp"
#include "run_pieces.hpp"

namespace gfnrl::cli {

namespace {
struct TrainCliOptions {
  std::string algo = "tb";
  std::string save_policy, save_pb;
  std::string snapshot_out;   ///< --snapshot-out FILE: run 0's P_T every --snapshot-every steps
  int64_t snapshot_every = 0;
  SessionOptions session;
};

// What train refuses of the options given (names as given: under MPI the other ranks' outputs
// are /dev/null).
void check_learner_options(const TrainCliOptions& o, const Learner& learner) {
  const SessionOptions& so = o.session;
  if (so.learner.cfg.forward_looking && learner.algo != Algo::DB && learner.algo != Algo::SubTB)
    throw InputError("--forward-looking applies to db and subtb; " + o.algo + " has no flow table" +
                     (learner.algo == Algo::ModifiedDB
                          ? " (mdb is fl-db with log F~(s) = -log P_F(exit|s))"
                          : ""));
  if (!trained_backward(so.correction)) check_fixed_backward(learner.algo, so.correction);
  if (learner.algo != Algo::SubTB && so.learner.subtb_weighting != "geometric-within")
    throw InputError("--subtb-weighting " + so.learner.subtb_weighting + " applies to subtb and "
                     "trust-pcl; " + o.algo + " has no sub-trajectories");
  if (!o.save_pb.empty() && !ends_with(o.save_pb, ".bin") && !ends_with(o.save_pb, ".txt"))
    throw InputError("--save-pb " + o.save_pb + ": name it .txt (text) or .bin (binary DAG file)");
  if ((o.snapshot_every > 0) != !o.snapshot_out.empty())
    throw InputError("--snapshot-every and --snapshot-out go together (every K steps, run 0's "
                     "P_T into FILE)");
  if (o.snapshot_every > 0 && (learner.needs_prior || !so.prior.empty()))
    throw InputError("--snapshot-every: snapshots compare with R/Z; a base-policy target (mu^T R) "
                     "is not supported yet");
}

// --save-policy and --save-pb: run 0's final policy and P_B, opened before any work.
class Run0Files {
 public:
  Run0Files(const std::string& policy, const std::string& pb, bool pb_binary)
      : policy_path_(policy), pb_path_(pb), pb_binary_(pb_binary) {
    if (!policy.empty()) policy_.emplace(policy, false, "--save-policy");
    if (!pb.empty()) pb_.emplace(pb, pb_binary, "--save-pb");
  }
  void write(const Trainer& t) {
    if (policy_) write_policy_file(policy_->stream(), t.dag(), t.policy(0));
    if (pb_) {
      const BackwardPolicy run0 = t.backward_policy(0);
      write_dag_file(dag_to_file(t.dag(), &run0), pb_->stream(),
                     pb_binary_ ? DagFormat::Binary : DagFormat::Text);
    }
  }
  void commit(const EnvOptions& env) {
    if (policy_) {
      policy_->commit();
      progress(env, "wrote run 0's policy to " + policy_path_);
    }
    if (pb_) {
      pb_->commit();
      progress(env, "wrote the DAG with run 0's P_B to " + pb_path_ + " (reuse: --dag " +
                        pb_path_ + " --pb file)");
    }
  }

 private:
  std::string policy_path_, pb_path_;
  bool pb_binary_;
  std::optional<OutputFile> policy_, pb_;
};

// This rank's runs trained: into the CSV in one process; under MPI gathered on rank 0, which
// writes every rank's rows. The loop over every run (`runs`, all ranks') on rank 0 (or the one
// process); nullopt on the other ranks, whose part is then done.
std::optional<LoopResult> train_runs(std::optional<Trainer>& trainer,
                                     const std::vector<Piece>& mine, int32_t runs,
                                     double log_z, LoopOptions lo, AtomicCsv& csv, bool quiet) {
  Ranks& ranks = Ranks::mutable_get();
  const RowSink to_csv = [&csv](const std::string& row) { csv.line(row); };
  if (!ranks.sharded()) return train_loop(*trainer, log_z, lo, to_csv);
  std::vector<PieceResult> piece;
  if (trainer) {
    lo.first_run = mine[0].first;
    lo.on_evaluation = progress_reporter(lo.label, quiet || !ranks.root(),
                                         [&ranks](double f) { ranks.report_progress(f); });
    std::vector<std::string> rows;
    const LoopResult res =
        train_loop(*trainer, log_z, lo, [&rows](const std::string& r) { rows.push_back(r); });
    piece.push_back({mine[0], res, log_z, std::move(rows)});
  }
  const auto merged = gather_pieces(std::move(piece), {runs}, to_csv);
  if (!merged) return std::nullopt;
  return (*merged)[0].loop;
}

// The --json summary of a train.
void print_summary(const LoopResult& res, const TrainConfig& cfg, const SessionOptions& so,
                   const Learner& learner, const Environment& built, double log_z,
                   const RewardModes& modes, Backend b) {
  nlohmann::json j = summarize(res, cfg, learner.name);
  j.update(built.description);
  j["command"] = "train";
  j["num_states"] = built.dag.num_states();
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

// "training 4 runs of tb for 2000 steps of 16 trajectories (P_B uniform, 1.2 MB of tables) on cpu".
std::string start_line(const TrainCliOptions& o, const TrainConfig& cfg, const Dag& dag,
                       Backend b) {
  return "training " + std::to_string(cfg.runs) + " runs of " + o.algo + " for " +
         std::to_string(o.session.steps) + " steps of " + std::to_string(cfg.batch) +
         " trajectories (P_B " + o.session.correction + ", " +
         format_bytes(Trainer::estimate_bytes(dag, cfg)) + " of tables) on " + backend_name(b);
}

// --snapshot-every: run 0's P_T every K steps and at the last one.
std::function<void(const Trainer&)> snapshot_hook(const TrainCliOptions& o, const Dag& dag,
                                                  DistributionCsv& snapshots) {
  const int64_t every = o.snapshot_every, steps = o.session.steps;
  return [every, steps, &dag, &snapshots](const Trainer& t) {
    const int64_t done = t.steps_done();
    if (done % every == 0 || done == steps)
      snapshots.add(terminating_distribution(dag, t.policy(0)), done);
  };
}

int run(const TrainCliOptions& given, const CLI::App& cmd) {
  TrainCliOptions o = given;  // under MPI only rank 0 writes
  for (std::string* path : {&o.session.out, &o.save_policy, &o.save_pb, &o.snapshot_out})
    *path = output_on_this_rank(*path);
  Ranks& ranks = Ranks::mutable_get();
  const SessionOptions& so = o.session;
  const Learner learner = parse_learner(o.algo);
  const EnvOptions env = checked_environment(so, cmd);
  ranks.set_quiet(env.quiet);
  TrainConfig cfg = session_config(so, learner);
  check_learner_options(given, learner);
  // Every output is checked and opened (as a temporary) before any work: a bad path exits 2, and
  // a failure later leaves none of them behind.
  check_distinct_outputs({{"--out", so.out}, {"--save-policy", o.save_policy}, {"--save-pb", o.save_pb},
                          {"--snapshot-out", o.snapshot_out}});
  AtomicCsv csv(so.out);
  csv.line(kTrainingCurveHeader);
  Run0Files run0(o.save_policy, o.save_pb, ends_with(given.save_pb, ".bin"));
  const Backend b = parse_backend(env.backend);
  const Environment built = build_environment(env, b);
  const Dag& dag = built.dag;
  const auto pb = make_correction(attach_prior(so, learner, dag, cfg), built);
  std::optional<DistributionCsv> snapshots;
  if (o.snapshot_every > 0) snapshots.emplace(o.snapshot_out, "--snapshot-out", built, true);
  progress(env, start_line(o, cfg, dag, b));
  // Under MPI this rank's slice of the runs (rank 0's holds run 0: policy, P_B, snapshots).
  const std::vector<Piece> mine = rank_pieces({cfg.runs}, ranks.rank(), ranks.size());
  std::optional<Trainer> trainer;
  if (!mine.empty()) trainer.emplace(dag, pb.get(), cfg.runs_slice(mine[0].first, mine[0].count));
  ranks.checks_passed();  // every rank's checks, before any training
  const double log_z = trainer ? trainer->target_log_z() : 0.0;
  const RewardModes modes = mode_groups(built);
  LoopOptions lo = session_loop(so, learner.name, modes, env.quiet || !ranks.root());
  if (snapshots && ranks.root()) lo.after_step = snapshot_hook(o, dag, *snapshots);
  lo.stop_on_divergence = !ranks.sharded();  // ranks must agree on the rows they write
  const std::optional<LoopResult> res = train_runs(trainer, mine, cfg.runs, log_z, lo, csv, env.quiet);
  if (!res) return 0;  // another rank's part: rank 0 writes
  const std::vector<std::string> diverged = divergence_lines(*res, learner.name, cfg.seed);
  const bool run0_diverged = res->runs.at(0).diverged_at >= 0;
  if (!run0_diverged) run0.write(*trainer);  // a diverged run 0's tables are not a policy
  csv.commit();
  if (snapshots) {
    snapshots->commit();
    progress(env, "wrote run 0's P_T every " + std::to_string(o.snapshot_every) + " steps to " +
                      o.snapshot_out + " (plot: python3 tools/plot_distribution.py " +
                      o.snapshot_out + ")");
  }
  if (!run0_diverged) run0.commit(env);
  progress(env, "wrote " + so.out);
  if (env.json) print_summary(*res, cfg, so, learner, built, log_z, modes, b);
  if (diverged.empty()) return 0;
  std::cerr << "gfnrl: " << divergence_message(diverged, res->stopped_early)
            << (run0_diverged && (!o.save_policy.empty() || !o.save_pb.empty())
                    ? "; run 0 diverged, so --save-policy / --save-pb were not written"
                    : "")
            << std::endl;
  return 1;
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
