// What `gfnrl train` and `gfnrl study` share: options, per-algorithm defaults,
// an all-or-nothing CSV file, and evaluation every K steps with progress on stderr.
#pragma once
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cli_common.hpp"

namespace gfnrl::cli {

/// Learner hyperparameters as given on the command line ("auto" picks the learner's default).
struct LearnerOptions {
  std::string lr = "auto", lr_log_z = "0.1";
  std::string loss = "huber", replay = "prioritized";
  std::string regression = "squared";  ///< NAME or NAME:PARAM (huber:1, linex:0.5)
  std::string subtb_weighting = "geometric-within";
  std::string epsilon = "auto", epsilon_end = "0";  ///< one value or one per run
  std::string temperature = "1", temperature_end = "1";
  TrainConfig cfg;
};

/// Adds the learner's options to a subcommand: train_options.hpp's table (flags, help, ranges)
/// and the forms the CLI writes its own way (--lr auto, per-run comma lists, --regression
/// NAME:PARAM, --loss, --replay).
void add_learner_options(CLI::App& cmd, LearnerOptions& o);
/// An option's help with its range ("...; in (0, 1]").
std::string help_of(const TrainOption& t);


/// --regression NAME[:PARAM] into c.regression / c.regression_param; InputError naming the bad
/// text and the allowed shapes.
void parse_regression_option(const std::string& text, TrainConfig& c);

/// The TrainConfig for `learner` from the options (parses the learning-rate lists); "auto"
/// rates are the learner's recommended_config (fldb and flsubtb their own).
TrainConfig make_config(const LearnerOptions& o, const Learner& learner, int32_t runs,
                        uint64_t seed, int32_t batch);

/// What `train` and `study` share: the environment, the batch of runs, the loop and the output.
struct SessionOptions {
  EnvOptions env;
  std::string preset, correction = "uniform", out;
  int32_t runs = 4, batch = 16;
  uint64_t seed = 0;
  int64_t steps = 0, eval_every = 0;
  double tv_threshold = 0.05;  ///< --tv-threshold: the summary's trajectories_to_tv
  bool spearman = false;       ///< --spearman: fill the spearman column (Trainer::spearman)
  int32_t jobs = 0;            ///< study / tune --jobs: learners side by side; 0 auto
  LearnerOptions learner;
  bool backward_preset = false;  ///< --preset also accepts "backward" (study)
  std::string prior;             ///< --prior uniform|FILE (KL-regularised learners)
  std::optional<double> guide_log_reward;  ///< --guide-log-reward (guided P_B)
};

/// Completes a session's TrainConfig on its environment: the prior (--prior, or uniform for
/// rtb / trust-pcl), loaded for the DAG. Returns the correction name the Trainer gets.
std::string attach_prior(const SessionOptions& o, const Learner& l, const Dag& dag,
                         TrainConfig& cfg);

/// Adds the environment, --preset, --runs, --seed, --steps, --batch, --eval-every, --out,
/// --correction and the learner options (defaults are the fields' values when called).
void add_session_options(CLI::App& cmd, SessionOptions& o);

/// Every --pb value: the fixed P_B (correction_names()), then the trained backward modes.
const std::vector<std::string>& pb_choices();
/// True for the --pb values whose P_B is trained: learned, tlm, coupled, guided.
bool trained_backward(const std::string& pb);

/// The TrainConfig of `learner` for a session: the learner options plus the backward mode that
/// --pb names (learned, tlm, coupled, guided; fixed otherwise).
TrainConfig session_config(const SessionOptions& o, const Learner& learner);
/// The fixed correction for make_correction: --pb / --correction, or "none" for a trained P_B.
std::string fixed_correction(const SessionOptions& o);

/// The environment with --preset applied (explicit grid flags win); throws InputError for a
/// negative --steps or --eval-every below 1.
EnvOptions checked_environment(const SessionOptions& o, const CLI::App& cmd);

/// A CSV file that appears under its name only when complete (an OutputFile: a temporary renamed
/// over `path` by commit(), removed when destroyed uncommitted or on SIGINT/SIGTERM/SIGHUP; a
/// special file such as /dev/null is written in place).
class AtomicCsv {
 public:
  /// Throws InputError (exit 2) naming `flag` when `path` cannot be written.
  explicit AtomicCsv(const std::string& path, const std::string& flag = "--out")
      : file_(path, false, flag) {}
  void line(const std::string& text) { file_.stream() << text << '\n'; }
  void commit() { file_.commit(); }
  const std::string& path() const { return file_.path(); }

 private:
  OutputFile file_;
};

/// The reward's modes of the environment (reward_modes, with the grid when it is a hypergrid).
RewardModes mode_groups(const Environment& env);

/// The CLI's LoopOptions::on_evaluation: the progress line ("[gfnrl] " + progress_line) on
/// stderr at most every 2 s and at the last evaluation, unless `quiet`; then `share` (an MPI
/// rank's progress report), when given, with the share of the loop's steps done, in [0, 1].
std::function<void(const LoopEvaluation&)> progress_reporter(std::string label, bool quiet,
                                                             std::function<void(double)> share = {});

/// A session's loop: its steps, schedule, threshold and --spearman, the reward's `modes`
/// (kept by the caller), `label` in the CSV, and progress_reporter(label, quiet, share).
LoopOptions session_loop(const SessionOptions& so, const std::string& label,
                         const RewardModes& modes, bool quiet,
                         std::function<void(double)> share = {});

/// One line per diverged run of a loop ("tb run 2 (seed 2): diverged between steps 1 and 3"),
/// for the error that ends a train or study whose runs diverged; none when no run did.
std::vector<std::string> divergence_lines(const LoopResult& r, const std::string& label,
                                          uint64_t seed, int32_t first_run = 0);
/// The error after the files are written: how many runs diverged, the lines, and what to try.
std::string divergence_message(const std::vector<std::string>& lines, bool stopped);

/// Summary statistics of the final TVs, for JSON output ("algo" is `label` when given).
nlohmann::json summarize(const LoopResult& r, const TrainConfig& c, const std::string& label = "");

}  // namespace gfnrl::cli
