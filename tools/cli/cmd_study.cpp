// gfnrl study: every learner, several seeds each, on one environment; one CSV of exact TV curves
// (plot it with tools/plot_convergence.py). The main job of README.md.
#include <algorithm>
#include <iostream>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>

#include "ranks.hpp"
#include "study_plan.hpp"
#include "tuning.hpp"

namespace gfnrl::cli {

namespace {
struct StudyOptions {
  std::string algos = default_study_learners();
  std::string tuned;  ///< --tuned FILE: each learner at its best setting of a gfnrl tune
  bool tune = false;  ///< --tune: tune here first (this grid and budget, other seeds)
  // A narrower grid than gfnrl tune's: at the study's budget each setting costs a whole study.
  std::string tune_lr = "0.01,0.03,0.1", tune_epsilon = kDefaultTuneEpsilon, tune_temperature = "1";
  SessionOptions session;
};

// study --tune: the tune's files beside the study's CSV (STEM-tune.csv, STEM-tune.json), or
// nowhere when the study writes to a special file such as /dev/null.
std::pair<std::string, std::string> tune_paths(const std::string& out) {
  if (out.rfind("/dev/", 0) == 0) return {out, out};
  const std::string stem = ends_with(out, ".csv") ? out.substr(0, out.size() - 4) : out;
  return {stem + "-tune.csv", stem + "-tune.json"};
}

// The tune of study --tune: every learner of the study at each setting, --runs seeds per
// setting starting at seed + 1000 (disjoint from the study's seed..seed+runs-1).
// Its files are the caller's: committed with the study's CSV, so a failed study leaves none.
nlohmann::json tune_first(const StudyOptions& o, const CLI::App& cmd, TuneFiles& files) {
  TuneOptions t;
  t.algos = o.algos;
  t.seeds = o.session.runs;
  t.session = o.session;
  t.session.seed = o.session.seed + 1000;
  t.session.learner.lr = o.tune_lr;
  t.session.learner.epsilon = o.tune_epsilon;
  t.session.learner.temperature = o.tune_temperature;
  std::tie(t.session.out, t.best) = tune_paths(o.session.out);
  return run_tune(t, cmd, false, &files);
}

// What the curves were tuned on, said on stderr and in the JSON: the tune's seeds against the
// study's (selection must not see the reported seeds), and any environment parameter that differs.
nlohmann::json describe_tuning(const nlohmann::json& tuned, const std::string& path,
                               const SessionOptions& so, const Environment& built,
                               const EnvOptions& env) {
  nlohmann::json t;
  t["file"] = path;
  t["seeds"] = tuned.value("seeds", nlohmann::json());
  const uint64_t first = so.seed, last = so.seed + so.runs - 1;
  bool disjoint = true;
  if (t["seeds"].is_array() && t["seeds"].size() == 2) {
    const uint64_t a = t["seeds"][0].get<uint64_t>(), b = t["seeds"][1].get<uint64_t>();
    disjoint = last < a || first > b;
    const std::string seeds = "tuned on seeds " + std::to_string(a) + ".." + std::to_string(b) +
                              "; these curves use seeds " + std::to_string(first) + ".." +
                              std::to_string(last);
    if (disjoint)
      progress(env, seeds + " (disjoint)");
    else if (Ranks::get().root())  // a warning even with --quiet: the curves are not
      std::cerr << "gfnrl: warning: " << seeds << ", OVERLAPPING: the selection saw some of "
                << "these seeds; pick --seed outside the tune's\n";  // independent of the selection
  }
  t["seeds_disjoint"] = disjoint;
  std::vector<std::string> differ;
  for (const auto& [k, v] : built.description.items())
    if (tuned.contains(k) && tuned[k] != v) differ.push_back(k + " " + tuned[k].dump() + " there, " + v.dump() + " here");
  if (tuned.value("steps", so.steps) != so.steps)
    differ.push_back("steps " + std::to_string(tuned["steps"].get<int64_t>()) + " there, " +
                     std::to_string(so.steps) + " here");
  if (!differ.empty())
    progress(env, "note: tuned on another setting than this study's: " + join_names(differ, "; "));
  t["differs"] = differ;
  return t;
}

void print_table(const nlohmann::json& learners) {
  const std::string to_tv_head =
      learners.empty() ? "to TV" : "to TV<=" + format_number(learners[0]["tv_threshold"].get<double>());
  std::printf("%-18s %5s %8s %12s %12s %12s %14s %10s\n", "algo", "runs", "steps", "TV mean",
              "TV min", "TV max", to_tv_head.c_str(), "steps/s");
  for (const auto& l : learners) {
    const auto& m = l["median_trajectories_to_tv"];
    const std::string to_tv = m.is_null() ? "never" : std::to_string(m.get<int64_t>());
    std::printf("%-18s %5d %8lld %12.5f %12.5f %12.5f %14s %10.1f\n",
                l["algo"].get<std::string>().c_str(), l["runs"].get<int>(),
                static_cast<long long>(l["steps"].get<int64_t>()),
                l["final_tv_mean"].get<double>(), l["final_tv_min"].get<double>(),
                l["final_tv_max"].get<double>(), to_tv.c_str(),
                l["steps_per_second"].get<double>());
  }
}

// Every learner trained (side by side with --jobs), its rows into `csv`; each learner's summary.
nlohmann::json train_learners(std::vector<Job>& jobs, const SessionOptions& so, const EnvOptions& env,
                              const Environment& built, AtomicCsv& csv,
                              std::vector<LoopResult>& loops) {
  const int32_t workers = concurrent_jobs(jobs, built, so.jobs);
  if (workers > 1)
    progress(env, std::to_string(workers) + " learners side by side (--jobs; the CSV is in "
                  "learner order either way)");
  // A learner whose run diverged stops there (one process; under MPI every rank trains to the
  // end, as the ranks' rows must line up); the others go on, and the study ends with exit 1.
  for (Job& job : jobs) job.stop_on_divergence = !Ranks::get().sharded();
  nlohmann::json learners = nlohmann::json::array();
  for (nlohmann::json& l : run_jobs(jobs, so, env, built, csv, workers, &loops))
    learners.push_back(l);
  return learners;
}

// 1 (after saying which runs diverged) when any did, else 0.
int diverged_exit_code(const std::vector<std::string>& diverged, bool stopped) {
  if (diverged.empty()) return 0;
  std::cerr << "gfnrl: " << divergence_message(diverged, stopped) << std::endl;
  return 1;
}

// Every learner's divergence lines, in learner order; `stopped`: whether one stopped early.
std::vector<std::string> divergences(const std::vector<Job>& jobs,
                                     const std::vector<LoopResult>& loops, bool* stopped) {
  std::vector<std::string> diverged;
  for (std::size_t i = 0; i < jobs.size() && i < loops.size(); ++i) {
    for (std::string& line : divergence_lines(loops[i], jobs[i].label, jobs[i].cfg.seed))
      diverged.push_back(std::move(line));
    *stopped = *stopped || loops[i].stopped_early;
  }
  return diverged;
}

// The study's outputs checked and opened (the tune's too), then the tune run or the tuned file
// read: what every job's configuration takes. Returns the tuned values (null: none) and sets
// `tuned_path`.
nlohmann::json tuned_values(const StudyOptions& o, const CLI::App& cmd, const SessionOptions& so,
                            std::optional<TuneFiles>& tune_files, std::string& tuned_path) {
  const auto [tune_csv, tune_json] = tune_paths(so.out);
  tuned_path = o.tuned;
  if (!o.tune) return o.tuned.empty() ? nlohmann::json() : read_tuned(o.tuned);
  tune_files.emplace(tune_csv, tune_json, "the tune's CSV (--out's STEM-tune.csv)",
                     "the tune's JSON (--out's STEM-tune.json)");
  tuned_path = tune_json;
  return tune_first(o, cmd, *tune_files);
}

int run(const StudyOptions& given, const CLI::App& cmd) {
  StudyOptions o = given;  // under MPI only rank 0 writes
  o.session.out = output_on_this_rank(o.session.out);
  // --preset backward: every learner with each P_B choice (coupled and guided for pg / ac only);
  // the environment is left as given.
  const bool backward = o.session.preset == "backward";
  SessionOptions so = o.session;
  if (backward) so.preset.clear();
  const std::vector<std::string> pbs = study_backward_policies(so, backward);
  const EnvOptions env = checked_environment(so, cmd);
  Ranks::mutable_get().set_quiet(env.quiet);
  std::vector<Job> jobs = plan_jobs(so, o.algos, pbs, backward);
  if (o.tune && backward)
    throw InputError("--tune tunes one P_B per learner; it cannot be combined with --preset backward");
  // Every output checked and opened before the tune: nothing is trained for a study that could
  // not be written, and each file appears only when the whole study has succeeded.
  const auto [tune_csv, tune_json] = tune_paths(so.out);
  if (o.tune) check_distinct_outputs({{"--out", so.out}, {"the tune's CSV", tune_csv},
                                      {"the tune's JSON", tune_json}});
  AtomicCsv csv(so.out);
  std::optional<TuneFiles> tune_files;
  std::string tuned_path;
  const nlohmann::json tuned = tuned_values(o, cmd, so, tune_files, tuned_path);
  if (!tuned.is_null())
    for (Job& job : jobs) apply_tuned(tuned, job.label, tuned_path, job.cfg);
  csv.line(kTrainingCurveHeader);
  const Backend b = parse_backend(env.backend);
  const Environment built = build_environment(env, b);
  const nlohmann::json tuning =
      tuned.is_null() ? nlohmann::json() : describe_tuning(tuned, tuned_path, so, built, env);
  Ranks::mutable_get().checks_passed();  // every rank's checks, before any training
  std::vector<LoopResult> loops;
  const nlohmann::json learners = train_learners(jobs, so, env, built, csv, loops);
  if (!Ranks::get().root()) return 0;  // rank 0 writes every rank's rows
  bool stopped = false;
  const std::vector<std::string> diverged = divergences(jobs, loops, &stopped);
  csv.commit();
  if (tune_files) {
    tune_files->csv.commit();
    tune_files->best.commit();
    progress(env, "wrote " + tune_csv + " and " + tune_json + " (the tune)");
  }
  progress(env, "wrote " + so.out + " (plot: python3 tools/plot_convergence.py " + so.out + ")");
  if (!env.json) {
    print_table(learners);
    return diverged_exit_code(diverged, stopped);
  }
  nlohmann::json j = built.description;
  j["command"] = "study";
  j["num_states"] = built.dag.num_states();
  j["correction"] = j["pb"] = join_names(pbs, ",");
  if (backward) j["preset"] = "backward";
  j["log_z"] = log_partition(built.dag);
  j["backend"] = backend_name(b);
  j["out"] = so.out;
  if (!tuned.is_null()) j["tuned"] = tuning;
  j["learners"] = learners;
  print_json_line(j);
  return diverged_exit_code(diverged, stopped);
}
}  // namespace

void register_study(CLI::App& app) {
  auto o = std::make_shared<StudyOptions>();
  SessionOptions& so = o->session;
  so.backward_preset = true;
  so.env.grid.ndim = 2;
  so.env.grid.height = 16;
  so.out = "study.csv";
  so.steps = 20000;
  so.eval_every = 500;
  CLI::App* cmd = app.add_subcommand(
      "study", "every learner with several seeds on one environment (--env; the 2-D H=16 hypergrid by "
      "default): exact TV curves to one CSV");
  cmd->add_option("--algos", o->algos,
                  "comma list of learners, each optionally learner/P_B (e.g. tb,ac/coupled,"
                  "tb/tlm) to override --pb for it; learners: " + join_names(learner_names()))
      ->capture_default_str();
  add_session_options(*cmd, so);
  add_jobs_option(*cmd, so.jobs);
  cmd->add_option("--tuned", o->tuned,
                  "each learner at its best setting (lr, lr-log-z, and the exploration schedule: "
                  "epsilon, its end and decay steps, temperature, its end and decay steps) in this "
                  "gfnrl tune --best JSON; the study's own seeds should be disjoint from the "
                  "tune's (said on stderr)")
      ->check(input_file_check());
  for (const char* set : {"--lr", "--lr-log-z", "--epsilon", "--epsilon-end", "--epsilon-decay-steps",
                          "--temperature", "--temperature-end", "--temperature-decay-steps"})
    cmd->get_option("--tuned")->excludes(cmd->get_option(set));
  cmd->add_flag("--tune", o->tune,
                "tune first, on this environment and budget: every learner at each --tune-lr x "
                "--tune-epsilon setting with --runs seeds from seed + 1000 (gfnrl tune; files "
                "STEM-tune.csv and STEM-tune.json beside --out), then the study at each "
                "learner's best setting")
      ->excludes("--tuned")
      ->excludes(cmd->get_option("--lr"))
      ->excludes(cmd->get_option("--epsilon"))
      ->excludes(cmd->get_option("--temperature"));
  cmd->add_option("--tune-lr", o->tune_lr,
                  "--tune's learning rates: a comma list or FROM:TO:N (log-spaced)")
      ->capture_default_str();
  cmd->add_option("--tune-epsilon", o->tune_epsilon,
                  "--tune's exploration rates: a comma list or FROM:TO:N (evenly spaced)")
      ->capture_default_str();
  cmd->add_option("--tune-temperature", o->tune_temperature,
                  "--tune's behaviour temperatures: a comma list or FROM:TO:N (log-spaced)")
      ->capture_default_str();
  cmd->callback([o, cmd]() { throw CLI::RuntimeError(run(*o, *cmd)); });
}

}  // namespace gfnrl::cli
