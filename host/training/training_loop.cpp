// The training loop every front end shares (training_loop.hpp): steps, evaluations on
// evaluation_due's schedule, the CSV rows and each run's running results.
#include "gfnrl/training_loop.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "gfnrl/error.hpp"
#include "gfnrl/names.hpp"

namespace gfnrl {

namespace {
std::string fmt(double v) {
  if (std::isnan(v)) return "nan";  // never "-nan": a diverged run's cells read alike
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// One CSV row (kTrainingCurveHeader) of run r at the trainer's current step: run first_run + r,
// seed the trainer's seed + r, then row_suffix's cells.
std::string curve_row(const std::string& label, const LoopOptions& o, int32_t r,
                      const Trainer& trainer, const RunResult& run, double train_seconds) {
  const Metrics& m = run.last.metrics;
  auto count = [](int64_t v) { return v < 0 ? std::string() : std::to_string(v); };
  const uint64_t seed = trainer.config().seed + uint64_t(r);
  return label + "," + std::to_string(o.first_run + r) + "," + std::to_string(seed) + "," +
         std::to_string(trainer.steps_done()) + "," +
         std::to_string(trainer.trajectories_per_run()) + "," + fmt(m.tv) + "," +
         fmt(m.kl_target_model) + "," + fmt(m.jsd) + "," + fmt(run.log_z_error) + "," +
         fmt(m.elbo) + "," + fmt(m.eubo) + "," + fmt(m.corr) + "," +
         (run.spearman ? fmt(*run.spearman) : std::string()) + "," + fmt(m.mode_mass) + "," +
         count(run.modes_found) + "," + count(run.mode_regions_found) + "," + fmt(train_seconds) +
         (o.row_suffix ? "," + o.row_suffix(o.first_run + r) : std::string());
}

// The loop's evaluations: each run's running results (threshold reached, area under log10 TV,
// divergence, modes), its CSV rows and the on_evaluation call.
class LoopRecorder {
 public:
  LoopRecorder(Trainer& t, double log_z, const LoopOptions& o, const RowSink& rows,
               LoopResult& res)
      : t_(t), c_(t.config()), log_z_(log_z), o_(o), rows_(rows), res_(res),
        label_(o.label.empty() ? algo_name(c_.algo) : o.label), area_(c_.runs, 0.0),
        last_log_tv_(c_.runs, 0.0) {
    res_.tv_threshold = o.tv_threshold;
    res_.runs.resize(c_.runs);
  }
  bool any_diverged() const { return any_diverged_; }

  void record(bool final) {
    const auto t0 = clock::now();
    const std::vector<RunEvaluation> ev = t_.evaluate();
    // The exact gradient samples nothing: its budget is counted in steps.
    const int64_t spent = c_.exact_gradient ? t_.steps_done() : t_.trajectories_per_run();
    std::vector<int64_t> found(c_.runs, -1), regions(c_.runs, -1);
    if (o_.modes) found = t_.reached_groups(o_.modes->states);
    if (o_.modes && !o_.modes->region.empty())
      regions = t_.reached_groups(o_.modes->states, o_.modes->region);
    const std::vector<double> rho = o_.spearman ? t_.spearman() : std::vector<double>();
    res_.eval_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    for (int32_t r = 0; r < c_.runs; ++r) {
      RunResult& run = res_.runs[r];
      update(r, ev[r], spent);
      run.modes_found = found[r], run.mode_regions_found = regions[r];
      run.spearman = o_.spearman ? std::optional<double>(rho[r]) : std::nullopt;
      if (rows_) rows_(curve_row(label_, o_, r, t_, run, res_.train_seconds));
    }
    last_spent_ = spent;
    if (o_.on_evaluation) o_.on_evaluation({t_, ev, found, regions, rho, res_, o_.steps, final});
  }

 private:
  using clock = std::chrono::steady_clock;

  // Run r's results after an evaluation at `spent` trajectories (steps when exact).
  void update(int32_t r, const RunEvaluation& ev, int64_t spent) {
    RunResult& run = res_.runs[r];
    run.last = ev, run.log_z_error = std::abs(ev.log_z_estimate - log_z_);
    if (run.to_tv < 0 && ev.metrics.tv <= o_.tv_threshold) run.to_tv = spent;
    // Trapezoids of log10 TV between evaluations; the mean over the budget when final.
    const double log_tv = std::log10(std::max(ev.metrics.tv, 1e-12));
    if (spent > 0) area_[r] += 0.5 * (log_tv + last_log_tv_[r]) * double(spent - last_spent_);
    last_log_tv_[r] = log_tv;
    run.mean_log10_tv = spent > 0 ? area_[r] / double(spent) : log_tv;
    if (ev.diverged && run.diverged_at < 0) run.diverged_at = t_.steps_done();
    if (run.diverged_at < 0) run.finite_until = t_.steps_done();
    if (run.diverged_at >= 0) run.mean_log10_tv = INFINITY;  // the worst score, once diverged
    if (run.diverged_at >= 0) any_diverged_ = true;
  }

  Trainer& t_;
  const TrainConfig& c_;
  double log_z_;
  const LoopOptions& o_;
  const RowSink& rows_;
  LoopResult& res_;
  std::string label_;
  std::vector<double> area_, last_log_tv_;
  int64_t last_spent_ = 0;
  bool any_diverged_ = false;
};
}  // namespace

LoopResult train_loop(Trainer& trainer, double log_z, const LoopOptions& o, const RowSink& rows) {
  if (o.steps < 0) throw InputError("train: steps = " + std::to_string(o.steps) + " must be >= 0");
  if (o.eval_every < 1)
    throw InputError("train: eval_every = " + std::to_string(o.eval_every) + " must be >= 1");
  using clock = std::chrono::steady_clock;
  const Backend b = trainer.dag().backend();
  LoopResult res;
  LoopRecorder recorder(trainer, log_z, o, rows, res);
  recorder.record(o.steps == 0);
  if (o.after_step) o.after_step(trainer);
  for (int64_t done = 1; done <= o.steps; ++done) {
    const auto t0 = clock::now();
    trainer.step();
    const bool due = evaluation_due(done, o.steps, o.eval_every);
    if (due) synchronize(b);
    res.train_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    if (due) recorder.record(done == o.steps);
    if (o.after_step) o.after_step(trainer);
    const bool stop = (recorder.any_diverged() && o.stop_on_divergence) ||
                      (o.stop && o.stop->load(std::memory_order_relaxed));
    if (due && stop) {
      res.stopped_early = done < o.steps;
      break;
    }
  }
  res.steps = trainer.steps_done();
  return res;
}

std::string progress_line(const std::string& label, const LoopEvaluation& e) {
  const int64_t done = e.trainer.steps_done(), steps = e.steps;
  const LoopResult& res = e.so_far;
  double sum = 0, lo = INFINITY, hi = -INFINITY;
  for (const RunEvaluation& r : e.runs) {
    sum += r.metrics.tv, lo = std::min(lo, r.metrics.tv), hi = std::max(hi, r.metrics.tv);
  }
  const double mean = e.runs.empty() ? 0.0 : sum / double(e.runs.size());
  // The remaining steps at the rate so far, evaluations included.
  const double eta = done > 0 ? (res.train_seconds + res.eval_seconds) / double(done) *
                                    static_cast<double>(steps - done)
                              : 0.0;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "%-10s step %lld/%lld (%3.0f%%)  traj/run %lld  TV mean %.4f [%.4f, %.4f]  "
                "%.1f s train, %.1f s eval, ETA %.0f s",
                label.c_str(), static_cast<long long>(done), static_cast<long long>(steps),
                steps ? 100.0 * double(done) / double(steps) : 100.0,
                static_cast<long long>(e.trainer.trajectories_per_run()), mean, lo, hi,
                res.train_seconds, res.eval_seconds, eta);
  return buf;
}

}  // namespace gfnrl
