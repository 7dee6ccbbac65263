// The training loop of `gfnrl train` / `gfnrl study` / `gfnrl tune` and of Python's
// Trainer.train and gfnrl.study: steps, evaluations on a schedule, one CSV row per (run,
// evaluation) in kTrainingCurveHeader's columns, and each run's running results (threshold
// reached, area under log10 TV, divergence, modes found).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gfnrl/metrics.hpp"
#include "gfnrl/train.hpp"

namespace gfnrl {

/// Final state of one run after the loop (runs in order: run r has seed + r).
struct RunResult {
  RunEvaluation last;
  double log_z_error;
  /// Trajectories per run (steps for the exact gradient) at the first evaluation with
  /// TV <= the threshold; -1 when none was.
  int64_t to_tv = -1;
  /// The mean of log10 TV over the budget: the trapezoidal area under log10 max(TV, 1e-12)
  /// against trajectories (steps for the exact gradient) between the evaluations, divided by the
  /// budget; log10 TV at step 0 when no step was taken. Tune's score (lower is better).
  double mean_log10_tv = 0;
  /// Distinct modes (and hypergrid mode regions) the run's samples have exited from so far; -1
  /// when not tracked (no RewardModes, or no regions for a non-grid environment).
  int64_t modes_found = -1, mode_regions_found = -1;
  std::optional<double> spearman;  ///< at the last evaluation, when asked for
  /// The step of the first evaluation at which the run had diverged (RunEvaluation::diverged:
  /// its tables no longer finite), and of the last one before it; -1 when it has not.
  /// A diverged run's mean_log10_tv is +inf, tune's worst score.
  int64_t diverged_at = -1, finite_until = -1;
};

struct LoopResult {
  std::vector<RunResult> runs;
  bool stopped_early = false;  ///< by stop_on_divergence or `stop`, before the last step
  double train_seconds = 0, eval_seconds = 0;
  int64_t steps = 0;
  double tv_threshold = 0.05;
};

/// What the loop's on_evaluation hears after each evaluation (references valid during the call).
struct LoopEvaluation {
  const Trainer& trainer;
  const std::vector<RunEvaluation>& runs;  ///< Trainer::evaluate()
  /// Per run: Trainer::reached_groups of the modes (and mode regions); -1 when not tracked.
  const std::vector<int64_t>& modes_found;
  const std::vector<int64_t>& mode_regions_found;
  const std::vector<double>& spearman;  ///< Trainer::spearman(); empty unless asked for
  const LoopResult& so_far;             ///< running results and seconds, this evaluation's in
  int64_t steps;                        ///< the loop's budget (steps_done() of the trainer: now)
  bool final;                           ///< the loop's last evaluation
};

/// Where a loop's CSV rows go: a file, or a buffer a study running jobs side by side flushes in
/// job order. Empty: nowhere.
using RowSink = std::function<void(const std::string& row)>;

struct LoopOptions {
  int64_t steps = 0, eval_every = 1;
  std::string label;  ///< the CSV's algo column; empty: the learner's name
  double tv_threshold = 0.05;
  /// Extra CSV cells of run r, appended to each of its rows with a leading comma (tune's
  /// lr,lr_log_z,epsilon); none when empty.
  std::function<std::string(int32_t run)> row_suffix;  ///< run: first_run + r
  /// Called before the first step and after each step (untimed): train's --snapshot-every.
  std::function<void(const Trainer&)> after_step;
  /// The modes_found / mode_regions_found columns; null: left empty.
  const RewardModes* modes = nullptr;
  /// Fill the spearman column (empty otherwise): a host sort per run and evaluation.
  bool spearman = false;
  /// The trainer holds runs first_run.. of a larger batch (an MPI rank's slice): the CSV's run
  /// column and row_suffix get first_run + r (its seed is already the slice's).
  int32_t first_run = 0;
  /// Called after each evaluation (untimed): progress lines, Python's callbacks. An exception
  /// it throws ends the loop and leaves it.
  std::function<void(const LoopEvaluation&)> on_evaluation;
  /// End the loop after the first evaluation at which a run has diverged (its row, with nan
  /// metrics, is the last written). Off: train to the end (tune scores a diverged run worst;
  /// MPI ranks must write the same number of rows).
  bool stop_on_divergence = false;
  /// When set (another job failed, Ctrl-C), the loop ends at its next evaluation, stopped early.
  const std::atomic<bool>* stop = nullptr;
};

/// Trains for `steps` steps, evaluating at step 0, every `eval_every` steps and at the end
/// (evaluation_due); one CSV row per (run, evaluation) into `rows`, kTrainingCurveHeader's
/// columns (`seconds`: training time so far, evaluations excluded). `log_z` is the target's
/// (log_z_error = |log Z estimate - log_z|). InputError for steps < 0 or eval_every < 1.
LoopResult train_loop(Trainer& trainer, double log_z, const LoopOptions& o, const RowSink& rows);

/// The progress line of one evaluation, with an ETA from the rate so far (evaluations
/// included): "tb  step 500/2000 (25%)  traj/run 8000  TV mean 0.1234 [0.1, 0.2]  1.0 s train,
/// 0.2 s eval, ETA 4 s".
std::string progress_line(const std::string& label, const LoopEvaluation& e);

}  // namespace gfnrl
