// Tuning grids and scores (gfnrl tune), and reading a tune result back (gfnrl study --tuned).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "study_plan.hpp"

namespace gfnrl::cli {

/// One point of a tuning grid; lr_log_z is NaN for the learners without a log Z entry. The
/// exploration schedule: epsilon decays linearly to epsilon_end over the session's
/// --epsilon-decay-steps (constant when 0); the behaviour policy samples at `temperature`.
struct Setting {
  float lr, lr_log_z, epsilon, epsilon_end, temperature;
};

/// The values each option tries.
struct TuneGrid {
  std::vector<float> lr, lr_log_z, epsilon, epsilon_end, temperature;
  /// Settings per learner with (`log_z`) or without a log Z rate.
  int64_t size(bool log_z) const {
    return int64_t(lr.size()) * int64_t(log_z ? lr_log_z.size() : 1) * int64_t(epsilon.size()) *
           int64_t(epsilon_end.size()) * int64_t(temperature.size());
  }
};

/// tune's grid by default: half-decades of the table rate around the shared 1e-2, with and
/// without exploration.
inline const char* kDefaultTuneLr = "0.003,0.01,0.03,0.1,0.3";
inline const char* kDefaultTuneEpsilon = "0,0.1";
inline const char* kTuneSelection =
    "lowest mean over seeds of the mean log10 exact TV over the budget (trapezoidal area under "
    "log10 TV against trajectories, divided by the trajectories)";

/// The shortest decimal that reads back as exactly `v` (so a tuned float survives the JSON).
std::string shortest(float v);
/// That decimal as a double, for JSON.
double decimal(float v);

/// A list of values to try: "a,b,c", or "FROM:TO:N", N values from FROM to TO, log-spaced when
/// `log` (FROM, TO > 0) and evenly spaced otherwise. InputError names the flag and the bad text.
std::vector<float> parse_values(const std::string& text, const std::string& flag, bool log);
/// The grid of --lr, --lr-log-z, --temperature (log-spaced) and --epsilon, --epsilon-end
/// (evenly spaced). Several --epsilon-end values need a decaying schedule (`epsilon_decay_steps`
/// > 0): InputError otherwise, as they would all be the same run.
TuneGrid parse_tune_grid(const LearnerOptions& o, int64_t epsilon_decay_steps);

/// A setting's JSON: its values (and the session's decay steps and temperature_end, so that the
/// schedule is whole), score (mean over its runs of mean_log10_tv), score_sem (the
/// standard error of that mean; 0 for one run), final TV mean / max, median trajectories to the
/// TV threshold (null when most runs never got there).
nlohmann::json setting_summary(const Setting& s, const TrainConfig& c,
                               const std::vector<RunResult>& runs);
/// The index of the lowest score (the first of equal ones).
std::size_t best_setting(const nlohmann::json& settings);

/// gfnrl tune's request: learners (study's --algos syntax), seeds per setting, the JSON's path;
/// the session's --lr, --lr-log-z and --epsilon hold the grid (parse_tune_grid), its --out the
/// curves' CSV and its --seed the first tuning seed.
struct TuneOptions {
  std::string algos;
  std::string best = "tune.json";
  int32_t seeds = 4;
  SessionOptions session;
};

/// The tune's two outputs (the curves' CSV and the --best JSON), opened before any work.
struct TuneFiles {
  TuneFiles(const std::string& csv_path, const std::string& best_path, const std::string& csv_flag,
            const std::string& best_flag)
      : csv(csv_path, csv_flag), best(best_path, false, best_flag) {}
  AtomicCsv csv;
  OutputFile best;
};

/// Trains every learner at every setting x seed (one batched Trainer per learner), writes the
/// curves (session.out) and the JSON (best) atomically, and returns the JSON: the environment,
/// the budget, every setting's scores and each learner's best. Prints each learner's table on
/// stdout when `table`. With `deferred` (study --tune) it writes into those files and leaves
/// committing them to the caller, so that a study that fails leaves no tune files either.
nlohmann::json run_tune(const TuneOptions& o, const CLI::App& cmd, bool table,
                        TuneFiles* deferred = nullptr);

/// A tune JSON (gfnrl tune --best): InputError naming the file when it cannot be read or is not
/// one.
nlohmann::json read_tuned(const std::string& path);
/// Sets cfg's lr, lr_log_z (when tuned), epsilon and (when the JSON has them: tunes since the
/// exploration schedule was tuned) epsilon_end, epsilon_decay_steps, temperature,
/// temperature_end and temperature_decay_steps to the best setting of `label` in a tune JSON;
/// InputError naming the learners it has when `label` is not among them.
void apply_tuned(const nlohmann::json& tuned, const std::string& label, const std::string& path,
                 TrainConfig& cfg);

}  // namespace gfnrl::cli
