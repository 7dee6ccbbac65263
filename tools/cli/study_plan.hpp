// The jobs of `gfnrl study` and `gfnrl tune`: which learner trains with which P_B, each
// configuration checked before any training, and one job trained into the shared CSV.
#pragma once
#include <atomic>
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
  /// Under MPI, a rank's piece of a job: cfg holds runs first_run.. of it (TrainConfig::runs_slice),
  /// and on_progress hears the piece's share of steps done.
  int32_t first_run = 0;
  std::function<void(double)> on_progress;
  /// LoopOptions::stop_on_divergence for this job's loop (study in one process; not tune).
  bool stop_on_divergence = false;
};

/// The P_B of each pass: the session's, or for --preset backward the fixed P_B that need
/// nothing from the environment, then every trained mode.
std::vector<std::string> study_backward_policies(const SessionOptions& so, bool backward);

/// Every (P_B, learner) job of an --algos list (each entry a learner, or learner/P_B: that
/// learner with its own P_B, labelled so), each configuration validated before any training.
std::vector<Job> plan_jobs(const SessionOptions& so, const std::string& algos,
                           const std::vector<std::string>& pbs, bool backward);

/// A job's JSON summary from its loop over every run: summarize's, with its P_B, the target's
/// log Z and the number of modes (and mode regions) of R.
nlohmann::json job_summary(const Job& job, const LoopResult& loop, double target_log_z,
                           const Environment& built, const RewardModes& modes);

/// Trains one job for the session's steps, its curves into `rows` (with `row_suffix`'s cells
/// when given); its JSON summary, and the loop's per-run results in `loop` when not null.
/// `stop`, when given and set, ends the loop at its next evaluation (another job failed).
nlohmann::json run_job(Job& job, const SessionOptions& so, const EnvOptions& env,
                       const Environment& built, const RowSink& rows, LoopResult* loop = nullptr,
                       std::function<std::string(int32_t)> row_suffix = {},
                       const std::atomic<bool>* stop = nullptr);

/// --jobs N: how many learners train side by side (0: auto, concurrent_jobs).
void add_jobs_option(CLI::App& cmd, int32_t& jobs);

/// How many jobs train side by side: `requested` (--jobs; 0: auto), at most the jobs and the
/// threads. Auto on the CPU backend is one job per thread while their tables fit in memory
/// together, since a job's small steps keep one core busy (parallel() leaves them serial); on
/// CUDA one (the jobs share the device).
int32_t concurrent_jobs(const std::vector<Job>& jobs, const Environment& built, int32_t requested);

/// Every job (run_job), `workers` at a time, each worker's OpenMP loops on threads / workers
/// threads. The CSV receives every job's rows in job order, so the file equals the one-by-one
/// file except its seconds column; summaries and loops (when not null) are in job order. The
/// first failing job's exception (in job order) is rethrown after every worker stopped (those
/// running stop at their next evaluation; run_side_by_side).
/// Under MPI each rank trains its pieces (rank_pieces) this way and rank 0 writes every rank's
/// rows and returns every job's summary and loop as one process would; the other ranks write
/// nothing and get none.
std::vector<nlohmann::json> run_jobs(std::vector<Job>& jobs, const SessionOptions& so,
                                     const EnvOptions& env, const Environment& built,
                                     AtomicCsv& csv, int32_t workers,
                                     std::vector<LoopResult>* loops = nullptr,
                                     std::function<std::string(std::size_t, int32_t)> row_suffix = {});

}  // namespace gfnrl::cli
