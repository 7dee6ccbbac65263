// Shared training loop of `gfnrl train` and `gfnrl study` (their options: train_options.cpp).
#include "train_session.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>

namespace gfnrl::cli {

namespace {
std::string fmt(double v) {
  if (std::isnan(v)) return "nan";  // never "-nan": a diverged run's cells read alike
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
}  // namespace

RewardModes mode_groups(const Environment& env) {
  return reward_modes(env.dag, env.grid ? &*env.grid : nullptr);
}

namespace {
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

// The progress line on stderr, with an ETA: the remaining steps at the rate so far,
// evaluations included.
void print_progress(const std::string& label, const Trainer& trainer, int64_t steps,
                    const LoopResult& res, double mean, double lo, double hi) {
  const int64_t done = trainer.steps_done();
  const double eta = done > 0 ? (res.train_seconds + res.eval_seconds) / done *
                                    static_cast<double>(steps - done)
                              : 0.0;
  std::fprintf(stderr,
               "[gfnrl] %-10s step %lld/%lld (%3.0f%%)  traj/run %lld  TV mean %.4f "
               "[%.4f, %.4f]  %.1f s train, %.1f s eval, ETA %.0f s\n",
               label.c_str(), static_cast<long long>(done), static_cast<long long>(steps),
               steps ? 100.0 * done / steps : 100.0,
               static_cast<long long>(trainer.trajectories_per_run()), mean, lo, hi,
               res.train_seconds, res.eval_seconds, eta);
}
}  // namespace

namespace {
// The loop's evaluations: each run's running results (threshold reached, area under log10 TV,
// divergence, modes), its CSV row, and the progress line.
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
    res_.eval_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    // The exact gradient samples nothing: its budget is counted in steps.
    const int64_t spent = c_.exact_gradient ? t_.steps_done() : t_.trajectories_per_run();
    std::vector<int64_t> found(c_.runs, -1), regions(c_.runs, -1);
    if (o_.modes) found = t_.reached_groups(o_.modes->states);
    if (o_.modes && !o_.modes->region.empty())
      regions = t_.reached_groups(o_.modes->states, o_.modes->region);
    const std::vector<double> rho = o_.spearman ? t_.spearman() : std::vector<double>();
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    for (int32_t r = 0; r < c_.runs; ++r) {
      RunResult& run = res_.runs[r];
      update(r, ev[r], spent);
      run.modes_found = found[r], run.mode_regions_found = regions[r];
      run.spearman = o_.spearman ? std::optional<double>(rho[r]) : std::nullopt;
      const double tv = ev[r].metrics.tv;
      sum += tv, lo = std::min(lo, tv), hi = std::max(hi, tv);
      if (rows_) rows_(curve_row(label_, o_, r, t_, run, res_.train_seconds));
    }
    last_spent_ = spent;
    if (o_.on_progress) o_.on_progress(o_.steps > 0 ? double(t_.steps_done()) / o_.steps : 1.0);
    const auto now = clock::now();
    if (!o_.quiet && (final || now - last_print_ > std::chrono::seconds(2))) {
      last_print_ = now;
      print_progress(label_, t_, o_.steps, res_, sum / c_.runs, lo, hi);
    }
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
  clock::time_point last_print_ = clock::now() - std::chrono::seconds(10);
};
}  // namespace

LoopResult train_loop(Trainer& trainer, double log_z, const LoopOptions& o, const RowSink& rows) {
  using clock = std::chrono::steady_clock;
  const Backend b = trainer.dag().backend();
  LoopResult res;
  LoopRecorder recorder(trainer, log_z, o, rows, res);
  recorder.record(o.steps == 0);
  if (o.after_step) o.after_step(trainer);
  for (int64_t done = 1; done <= o.steps; ++done) {
    const auto t0 = clock::now();
    trainer.step();
    const bool due = evaluation_due(done, o.steps, o.eval_every);  // Trainer::train's schedule
    if (due) synchronize(b);
    res.train_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    if (due) recorder.record(done == o.steps);
    if (o.after_step) o.after_step(trainer);
    if (due && recorder.any_diverged() && o.stop_on_divergence) {
      res.stopped_early = done < o.steps;
      break;
    }
  }
  res.steps = trainer.steps_done();
  return res;
}

std::vector<std::string> divergence_lines(const LoopResult& r, const std::string& label,
                                          uint64_t seed, int32_t first_run) {
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < r.runs.size(); ++i) {
    const RunResult& run = r.runs[i];
    if (run.diverged_at < 0) continue;
    const int64_t k = first_run + static_cast<int64_t>(i);
    lines.push_back(label + " run " + std::to_string(k) + " (seed " +
                    std::to_string(seed + uint64_t(k)) + "): diverged between steps " +
                    std::to_string(run.finite_until) + " and " + std::to_string(run.diverged_at));
  }
  return lines;
}

std::string divergence_message(const std::vector<std::string>& lines, bool stopped) {
  std::string text = std::to_string(lines.size()) + (lines.size() == 1 ? " run" : " runs") +
                     " diverged (tables no longer finite: try a smaller --lr, --lr-log-z or "
                     "regression parameter): ";
  for (std::size_t i = 0; i < lines.size() && i < 8; ++i) text += (i ? "; " : "") + lines[i];
  if (lines.size() > 8) text += "; and " + std::to_string(lines.size() - 8) + " more";
  return text + (stopped ? ". Training stopped at that evaluation; the CSV holds every row up "
                           "to it, the diverged runs' with nan"
                         : ". The CSV holds every row, the diverged runs' with nan from that "
                           "evaluation on");
}

namespace {
// Runs whose tables went non-finite: the run and the steps of the last finite and the first
// diverged evaluation (empty when none did).
nlohmann::json diverged_runs(const LoopResult& r) {
  nlohmann::json diverged = nlohmann::json::array();
  for (std::size_t i = 0; i < r.runs.size(); ++i)
    if (r.runs[i].diverged_at >= 0)
      diverged.push_back({{"run", i}, {"finite_until", r.runs[i].finite_until},
                          {"diverged_at", r.runs[i].diverged_at}});
  return diverged;
}

// The modes of R each run's samples reached, and (with --spearman) each run's rank correlation.
void add_modes_and_ranks(nlohmann::json& j, const LoopResult& r) {
  nlohmann::json found = nlohmann::json::array(), regions = nlohmann::json::array();
  for (const RunResult& x : r.runs) {
    found.push_back(x.modes_found < 0 ? nlohmann::json() : nlohmann::json(x.modes_found));
    regions.push_back(x.mode_regions_found < 0 ? nlohmann::json()
                                               : nlohmann::json(x.mode_regions_found));
  }
  j["final_modes_found"] = found;  // distinct modes of R the run's samples have reached
  j["final_mode_regions_found"] = regions;
  if (!r.runs.empty() && r.runs[0].spearman) {  // with --spearman
    std::vector<double> rho;
    for (const RunResult& x : r.runs) rho.push_back(*x.spearman);
    j["final_spearman"] = rho;
  }
}

// Per run, the trajectories (steps for the exact gradient) by the first evaluation with
// TV <= the threshold (null: never); their median over runs, null when most never got there.
void add_trajectories_to_tv(nlohmann::json& j, const LoopResult& r) {
  std::vector<int64_t> reached;
  nlohmann::json to_tv = nlohmann::json::array();
  for (const RunResult& x : r.runs) {
    to_tv.push_back(x.to_tv < 0 ? nlohmann::json() : nlohmann::json(x.to_tv));
    reached.push_back(x.to_tv < 0 ? INT64_MAX : x.to_tv);
  }
  std::sort(reached.begin(), reached.end());
  const int64_t median = reached.empty() ? INT64_MAX : reached[(reached.size() - 1) / 2];
  j["tv_threshold"] = r.tv_threshold;
  j["trajectories_to_tv"] = to_tv;
  j["median_trajectories_to_tv"] = median == INT64_MAX ? nlohmann::json() : nlohmann::json(median);
}
}  // namespace

nlohmann::json summarize(const LoopResult& r, const TrainConfig& c, const std::string& label) {
  nlohmann::json j;
  std::vector<double> tv, lze, elbo, eubo;
  for (const RunResult& x : r.runs) {
    tv.push_back(x.last.metrics.tv), lze.push_back(x.log_z_error);
    elbo.push_back(x.last.metrics.elbo), eubo.push_back(x.last.metrics.eubo);
  }
  double mean = 0;
  for (double v : tv) mean += v;
  mean /= tv.empty() ? 1 : tv.size();
  j["algo"] = label.empty() ? algo_name(c.algo) : label;
  j["runs"] = c.runs;
  j["optimizer"] = optimizer_name(c.optimizer);
  j["regression"] = regression_name(c.regression);
  if (c.algo == Algo::SubTB) j["subtb_weighting"] = subtb_weighting_name(c.subtb_weighting);
  if (c.forward_looking) j["forward_looking"] = true;
  if (c.regression == Regression::Huber || c.regression == Regression::Linex)
    j["regression_param"] = c.regression_param;
  j["exact_gradient"] = c.exact_gradient;
  j["steps"] = r.steps;
  j["trajectories_per_run"] = c.exact_gradient ? 0 : r.steps * c.batch;  // exact: none sampled
  j["final_tv_mean"] = mean;
  j["final_tv_min"] = tv.empty() ? 0 : *std::min_element(tv.begin(), tv.end());
  j["final_tv_max"] = tv.empty() ? 0 : *std::max_element(tv.begin(), tv.end());
  j["final_tv"] = tv;
  j["final_log_z_error"] = lze;
  j["final_elbo"] = elbo;  // NaN (null) for a base-policy target
  j["final_eubo"] = eubo;
  j["diverged_runs"] = diverged_runs(r);
  if (r.stopped_early) j["stopped_early"] = true;
  add_modes_and_ranks(j, r);
  add_trajectories_to_tv(j, r);
  j["train_seconds"] = r.train_seconds;
  j["eval_seconds"] = r.eval_seconds;
  j["steps_per_second"] = r.train_seconds > 0 ? r.steps / r.train_seconds : 0.0;
  return j;
}

}  // namespace gfnrl::cli
