// The jobs of `gfnrl study` and `gfnrl tune`: which learner trains with which P_B, each
// configuration checked before any training, and one job trained into the shared CSV.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "train_session.hpp"

namespace gfnrl::cli {

/// The learners of the SoftDQN paper's comparison (Morozov et al.): study's and tune's default.
std::string default_study_learners();

/// One learner with one P_B: its configuration (one run per seed) and its CSV label.
struct Job {
  TrainConfig cfg;
  std::string pb, label;
  Learner learner;
};

/// The P_B of each pass: the session's, or for --preset backward the fixed P_B that need
/// nothing from the environment, then every trained mode.
std::vector<std::string> study_backward_policies(const SessionOptions& so, bool backward);

/// Every (P_B, learner) job of an --algos list (each entry a learner, or learner/P_B: that
/// learner with its own P_B, labelled so), each configuration validated before any training.
std::vector<Job> plan_jobs(const SessionOptions& so, const std::string& algos,
                           const std::vector<std::string>& pbs, bool backward);

/// Trains one job for the session's steps, its curves into the CSV (with `row_suffix`'s cells
/// when given); its JSON summary, and the loop's per-run results in `loop` when not null.
nlohmann::json run_job(Job& job, const SessionOptions& so, const EnvOptions& env,
                       const Environment& built, AtomicCsv& csv, LoopResult* loop = nullptr,
                       std::function<std::string(int32_t)> row_suffix = {});

}  // namespace gfnrl::cli
