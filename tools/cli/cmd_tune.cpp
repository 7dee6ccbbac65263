// gfnrl tune: for each learner, every setting of a grid (learning rate, TB's log Z rate,
// exploration) times several seeds as the runs of ONE batched Trainer; each setting scored by
// the mean over its seeds of the mean log10 exact TV over the budget (the area under log10 TV
// against trajectories, per trajectory). Writes every curve to one CSV and the scores with the
// best setting of each learner to a JSON that `gfnrl study --tuned` reads.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <optional>
#include <sstream>

#include "ranks.hpp"
#include "study_plan.hpp"
#include "tuning.hpp"

namespace gfnrl::cli {

// The setting of each run, after the curve columns of tune's CSV.
constexpr const char* kTuneSettingColumns = ",lr,lr_log_z,epsilon,epsilon_end,temperature";

namespace {

// The runs of one learner: setting i of the grid with seed k is run i * seeds + k.
struct Grid {
  std::vector<Setting> settings;
  int32_t seeds = 1;
  int32_t runs() const { return static_cast<int32_t>(settings.size()) * seeds; }
};

// TB's log Z rate matters to the learners with a log Z entry only (tb, rtb, pg, ac); the others
// try each (lr, epsilon) once.
bool has_log_z(Algo a) { return a == Algo::TB || is_policy_gradient(a); }

Grid grid_of(const Job& job, const TuneGrid& g, int32_t seeds) {
  Grid out;
  out.seeds = seeds;
  const std::vector<float> lrz = has_log_z(job.cfg.algo) ? g.lr_log_z : std::vector<float>{NAN};
  for (float lr : g.lr)
    for (float z : lrz)
      for (float eps : g.epsilon)
        for (float end : g.epsilon_end)
          for (float t : g.temperature) out.settings.push_back({lr, z, eps, end, t});
  return out;
}

// The job's configuration with one run per (setting, seed), checked before any training.
void expand(Job& job, const Grid& grid) {
  TrainConfig& c = job.cfg;
  c.runs = grid.runs();
  c.lr.clear(), c.epsilon.clear(), c.epsilon_end.clear(), c.temperature.clear();
  std::vector<float> lrz;
  for (const Setting& s : grid.settings)
    for (int32_t k = 0; k < grid.seeds; ++k) {
      c.lr.push_back(s.lr), c.epsilon.push_back(s.epsilon);
      c.epsilon_end.push_back(s.epsilon_end), c.temperature.push_back(s.temperature);
      lrz.push_back(std::isnan(s.lr_log_z) ? c.lr_log_z[0] : s.lr_log_z);
    }
  c.lr_log_z = lrz;
  if (c.temperature_end.size() != 1)
    throw InputError("gfnrl tune: --temperature-end takes one value here (the grid sets the runs)");
  c.validate();
}

std::string cell(float v) { return std::isnan(v) ? std::string() : shortest(v); }

// Each setting's score: the mean over its seeds of the per-run mean log10 TV, with its standard
// error, final TV and median trajectories to the TV threshold.
nlohmann::json score_settings(const Grid& grid, const TrainConfig& c, const LoopResult& res) {
  nlohmann::json all = nlohmann::json::array();
  for (std::size_t i = 0; i < grid.settings.size(); ++i) {
    std::vector<RunResult> runs(res.runs.begin() + i * grid.seeds,
                                res.runs.begin() + (i + 1) * grid.seeds);
    all.push_back(setting_summary(grid.settings[i], c, runs));
  }
  return all;
}

void print_learner(const std::string& label, const nlohmann::json& settings, std::size_t best) {
  std::printf("%-14s %10s %10s %8s %8s %6s %14s %12s %12s %12s\n", label.c_str(), "lr",
              "lr_log_z", "epsilon", "eps end", "temp", "mean log10 TV", "+- s.e.", "final TV",
              "TV max");
  for (std::size_t i = 0; i < settings.size(); ++i) {
    const nlohmann::json& s = settings[i];
    const std::string z = s["lr_log_z"].is_null() ? "-" : shortest(s["lr_log_z"].get<float>());
    const std::string end = s["epsilon_decay_steps"].get<int64_t>() > 0
                                ? shortest(s["epsilon_end"].get<float>())
                                : "-";
    std::printf("%-14s %10s %10s %8s %8s %6s %14.4f %12.4f %12.5f %12.5f\n",
                i == best ? "  *best" : "", shortest(s["lr"].get<float>()).c_str(), z.c_str(),
                shortest(s["epsilon"].get<float>()).c_str(), end.c_str(),
                shortest(s["temperature"].get<float>()).c_str(), s["score"].get<double>(),
                s["score_sem"].get<double>(), s["final_tv_mean"].get<double>(),
                s["final_tv_max"].get<double>());
  }
}


// Every learner's job widened to the grid: one run per (setting, seed), configurations checked.
struct TunePlan {
  SessionOptions so;  // with one run and the grid's first values (the jobs' planning session)
  EnvOptions env;
  std::vector<Job> jobs;
  std::vector<Grid> grids;
};

TunePlan plan_tune(const TuneOptions& o, const CLI::App& cmd) {
  TunePlan p;
  p.so = o.session;
  SessionOptions& so = p.so;
  check_distinct_outputs({{"--out", so.out}, {"--best", o.best}});
  const TuneGrid g = parse_tune_grid(so.learner, so.learner.cfg.epsilon_decay_steps);
  // Counted before any setting is built: a batch holds at most 2^20 runs, as --runs does.
  const int64_t runs = g.size(true) * int64_t(o.seeds);
  if (runs > (int64_t(1) << 20))
    throw InputError("the grid has " + std::to_string(runs) + " runs (lr x lr-log-z x epsilon x "
                     "epsilon-end x temperature x --seeds), more than one batch holds (1048576): "
                     "give fewer values");
  // The jobs are planned with one run and the grid's first values, then widened to the grid.
  so.runs = 1;
  so.learner.lr = shortest(g.lr[0]);
  so.learner.lr_log_z = shortest(g.lr_log_z[0]);
  so.learner.epsilon = shortest(g.epsilon[0]);
  so.learner.epsilon_end = shortest(g.epsilon_end[0]);
  so.learner.temperature = shortest(g.temperature[0]);
  p.env = checked_environment(so, cmd);
  p.jobs = plan_jobs(so, o.algos, study_backward_policies(so, false), false);
  for (Job& job : p.jobs) {
    p.grids.push_back(grid_of(job, g, o.seeds));
    expand(job, p.grids.back());
    job.cfg.seed = so.seed;
  }
  return p;
}

// The JSON's description of the tune: the environment, the budget and the selection rule.
nlohmann::json describe_tune(const TuneOptions& o, const SessionOptions& so,
                             const Environment& built, Backend b) {
  nlohmann::json j = built.description;
  j["command"] = "tune";
  j["num_states"] = built.dag.num_states();
  j["backend"] = backend_name(b);
  j["pb"] = so.correction;
  j["steps"] = so.steps;
  j["batch"] = so.batch;
  j["eval_every"] = so.eval_every;
  j["seeds_per_setting"] = o.seeds;
  j["selection"] = kTuneSelection;
  j["out"] = so.out;
  return j;
}
// Each learner's settings scored from its loop (every run), its best picked (and its table on
// stdout when `table`), into j: seeds, learners, best.
void score_tune(const TunePlan& p, const std::vector<LoopResult>& results,
                bool table, nlohmann::json& j) {
  const SessionOptions& so = p.so;
  nlohmann::json learners = nlohmann::json::array(), best = nlohmann::json::object();
  uint64_t last_seed = so.seed;
  for (std::size_t i = 0; i < p.jobs.size(); ++i) {
    const Job& job = p.jobs[i];
    const Grid& grid = p.grids[i];
    last_seed = std::max<uint64_t>(last_seed, so.seed + grid.runs() - 1);
    nlohmann::json settings = score_settings(grid, job.cfg, results[i]);
    for (std::size_t k = 0; k < settings.size(); ++k)
      settings[k]["seeds"] = {so.seed + k * grid.seeds, so.seed + (k + 1) * grid.seeds - 1};
    int64_t diverged = 0;
    for (const auto& x : settings) diverged += x["diverged_runs"].get<int64_t>() > 0 ? 1 : 0;
    if (diverged > 0)
      progress(p.env, job.label + ": " + std::to_string(diverged) + " of " +
                          std::to_string(settings.size()) + " settings had a run diverge (tables "
                          "no longer finite): scored worst (score null in the JSON)");
    const std::size_t pick = best_setting(settings);
    best[job.label] = settings[pick];
    learners.push_back({{"algo", job.label}, {"pb", job.pb}, {"best", settings[pick]},
                        {"settings", settings}});
    if (table) print_learner(job.label, settings, pick);
  }
  j["seeds"] = {so.seed, last_seed};
  j["learners"] = learners;
  j["best"] = best;
}
}  // namespace

namespace {
// The learners whose best setting still diverged: every setting of theirs did.
std::vector<std::string> all_diverged(const nlohmann::json& j) {
  std::vector<std::string> lost;
  for (const auto& l : j["learners"])
    if (l["best"].value("diverged_runs", int64_t(0)) > 0) lost.push_back(l["algo"].get<std::string>());
  return lost;
}

void check_lost(const std::vector<std::string>& lost) {
  if (!lost.empty())
    throw std::runtime_error("tune: every setting of " + join_names(lost, ", ") +
                             " diverged (its tables went non-finite): try smaller rates");
}
}  // namespace

nlohmann::json run_tune(const TuneOptions& given, const CLI::App& cmd, bool table,
                        TuneFiles* deferred) {
  Ranks& ranks = Ranks::mutable_get();
  TuneOptions o = given;  // under MPI only rank 0 writes
  o.session.out = output_on_this_rank(o.session.out);
  o.best = output_on_this_rank(o.best);
  TunePlan p = plan_tune(o, cmd);
  const SessionOptions& so = p.so;
  const EnvOptions& env = p.env;
  const int64_t runs_per_learner = p.grids.front().runs();
  std::optional<TuneFiles> own;
  if (!deferred) own.emplace(so.out, o.best, "--out", "--best");
  TuneFiles& files = deferred ? *deferred : *own;
  AtomicCsv& csv = files.csv;
  csv.line(std::string(kTrainingCurveHeader) + kTuneSettingColumns);
  const Backend b = parse_backend(env.backend);
  const Environment built = build_environment(env, b);
  ranks.set_quiet(env.quiet);
  ranks.checks_passed();  // every rank's checks, before any training
  progress(env, "tune: " + std::to_string(p.grids.front().settings.size()) + " settings x " +
                    std::to_string(o.seeds) + " seeds = " + std::to_string(runs_per_learner) +
                    " runs per learner, seeds " + std::to_string(so.seed) + ".." +
                    std::to_string(so.seed + runs_per_learner - 1) +
                    " (report curves on other seeds: study's default is 0..runs-1)");
  nlohmann::json j = describe_tune(o, so, built, b);
  const int32_t workers = concurrent_jobs(p.jobs, built, so.jobs);
  progress(env, "tune: " + std::to_string(p.jobs.size()) + " learners, " +
                    std::to_string(workers) + " side by side (--jobs)");
  std::vector<LoopResult> results;
  run_jobs(p.jobs, so, env, built, csv, workers, &results, [&p](std::size_t i, int32_t r) {
    const Grid& grid = p.grids[i];
    const Setting& s = grid.settings[r / grid.seeds];
    return cell(s.lr) + "," + cell(s.lr_log_z) + "," + cell(s.epsilon) + "," +
           cell(s.epsilon_end) + "," + cell(s.temperature);
  });
  if (ranks.root()) score_tune(p, results, table, j);  // every run's loop is on rank 0
  if (ranks.sharded()) {  // rank 0's JSON on every rank: study --tune goes on from it
    j = nlohmann::json::parse(ranks.broadcast_from_root(ranks.root() ? j.dump() : std::string()));
    if (!ranks.root()) return j;
  }
  files.best.stream() << j.dump(2) << '\n';
  // A learner whose every setting diverged has no best to hand on (the files are still
  // written, unless study --tune defers them: then nothing is).
  const std::vector<std::string> lost = ranks.root() ? all_diverged(j) : std::vector<std::string>{};
  if (deferred) {
    check_lost(lost);
    return j;
  }
  csv.commit();
  files.best.commit();
  progress(env, "wrote " + so.out + " and " + o.best + " (sensitivity: python3 "
                "tools/plot_sensitivity.py " + o.best + ")");
  check_lost(lost);
  return j;
}

namespace {
int run(const TuneOptions& o, const CLI::App& cmd) {
  const nlohmann::json j = run_tune(o, cmd, !o.session.env.json);
  if (!Ranks::get().root()) return 0;
  progress(o.session.env, "curves at the best settings on other seeds: gfnrl study --tuned " + o.best);
  if (o.session.env.json) print_json_line(j);
  return 0;
}
}  // namespace

void register_tune(CLI::App& app) {
  auto o = std::make_shared<TuneOptions>();
  o->algos = default_study_learners();
  SessionOptions& so = o->session;
  // The reference grid of the learners' defaults: 2-D H=8, 2,000 steps of 16 trajectories.
  so.env.grid.ndim = 2;
  so.env.grid.height = 8;
  so.out = "tune.csv";
  so.steps = 2000;
  so.eval_every = 100;
  so.seed = 1000;  // disjoint from study's and train's default seeds 0..runs-1
  so.learner.lr = kDefaultTuneLr;
  so.learner.epsilon = kDefaultTuneEpsilon;
  CLI::App* cmd = app.add_subcommand(
      "tune", "each learner at every setting of a grid x several seeds, in one batched launch per "
              "learner: scores, the best setting per learner (JSON for study --tuned) and every curve");
  cmd->add_option("--algos", o->algos,
                  "comma list of learners, each optionally learner/P_B; learners: " +
                      join_names(learner_names()))
      ->capture_default_str();
  cmd->add_option("--seeds", o->seeds, "seeds per setting (runs seed, seed+1, ...)")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  cmd->add_option("--best", o->best,
                  "JSON: every setting's score and each learner's best setting (gfnrl study "
                  "--tuned reads it)")
      ->capture_default_str();
  add_session_options(*cmd, so);
  cmd->get_option("--out")->description("CSV: one row per (run, evaluation): " +
                                        std::string(kTrainingCurveHeader) + kTuneSettingColumns +
                                        " (the run's setting)");
  add_jobs_option(*cmd, so.jobs);
  cmd->remove_option(cmd->get_option("--runs"));  // runs = settings x --seeds
  cmd->get_option("--lr")->description(
      "table learning rates to try: a comma list, or FROM:TO:N (N log-spaced values)");
  cmd->get_option("--lr-log-z")->description(
      "log Z learning rates to try (tb, rtb, pg, ac; the others ignore it): a comma list, or "
      "FROM:TO:N (N log-spaced values)");
  cmd->get_option("--epsilon")->description(
      "exploration rates to try, each in [0, 1]: a comma list, or FROM:TO:N (N evenly spaced "
      "values); with --epsilon-decay-steps each decays to --epsilon-end");
  cmd->get_option("--epsilon-end")->description(
      "with --epsilon-decay-steps > 0: the final exploration rates to try, each in [0, 1] (a "
      "comma list, or FROM:TO:N evenly spaced)");
  cmd->get_option("--temperature")->description(
      "behaviour-policy temperatures to try, each > 0: a comma list, or FROM:TO:N (N log-spaced "
      "values); with --temperature-decay-steps each decays to --temperature-end");
  cmd->callback([o, cmd]() { throw CLI::RuntimeError(run(*o, *cmd)); });
}

}  // namespace gfnrl::cli
