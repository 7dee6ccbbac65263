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
// One CSV row (kCurveHeader) of run r at the trainer's current step: run first_run + r, seed
// the trainer's seed + r, then row_suffix's cells.
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

LoopResult train_loop(Trainer& trainer, double log_z, const LoopOptions& o, const RowSink& rows) {
  using clock = std::chrono::steady_clock;
  const TrainConfig& c = trainer.config();
  const Backend b = trainer.dag().backend();
  const std::string label = o.label.empty() ? algo_name(c.algo) : o.label;
  LoopResult res;
  res.tv_threshold = o.tv_threshold;
  auto last_print = clock::now() - std::chrono::seconds(10);
  std::vector<double> area(c.runs, 0.0), last_log_tv(c.runs, 0.0);
  int64_t last_spent = 0;
  bool any_diverged = false;
  auto record = [&](bool final) {
    const auto t0 = clock::now();
    const std::vector<RunEvaluation> ev = trainer.evaluate();
    res.eval_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    res.runs.resize(c.runs);
    // The exact gradient samples nothing: its budget is counted in steps.
    const int64_t spent = c.exact_gradient ? trainer.steps_done() : trainer.trajectories_per_run();
    std::vector<int64_t> found(c.runs, -1), regions(c.runs, -1);
    if (o.modes) found = trainer.reached_groups(o.modes->states);
    if (o.modes && !o.modes->region.empty())
      regions = trainer.reached_groups(o.modes->states, o.modes->region);
    const std::vector<double> rho = o.spearman ? trainer.spearman() : std::vector<double>();
    for (int32_t r = 0; r < c.runs; ++r) {
      const Metrics& m = ev[r].metrics;
      const double lze = std::abs(ev[r].log_z_estimate - log_z);
      RunResult& run = res.runs[r];
      run.last = ev[r], run.log_z_error = lze;
      if (run.to_tv < 0 && m.tv <= o.tv_threshold) run.to_tv = spent;
      // Trapezoids of log10 TV between evaluations; the mean over the budget when final.
      const double log_tv = std::log10(std::max(m.tv, 1e-12));
      if (spent > 0) area[r] += 0.5 * (log_tv + last_log_tv[r]) * double(spent - last_spent);
      last_log_tv[r] = log_tv;
      run.mean_log10_tv = spent > 0 ? area[r] / double(spent) : log_tv;
      if (ev[r].diverged && run.diverged_at < 0) run.diverged_at = trainer.steps_done();
      if (run.diverged_at < 0) run.finite_until = trainer.steps_done();
      if (run.diverged_at >= 0) run.mean_log10_tv = INFINITY;  // the worst score, once diverged
      if (run.diverged_at >= 0) any_diverged = true;
      run.modes_found = found[r], run.mode_regions_found = regions[r], run.spearman = o.spearman ? std::optional<double>(rho[r]) : std::nullopt;
      sum += m.tv, lo = std::min(lo, m.tv), hi = std::max(hi, m.tv);
      if (rows) rows(curve_row(label, o, r, trainer, run, res.train_seconds));
    }
    last_spent = spent;
    if (o.on_progress) o.on_progress(o.steps > 0 ? double(trainer.steps_done()) / o.steps : 1.0);
    const auto now = clock::now();
    if (!o.quiet && (final || now - last_print > std::chrono::seconds(2))) {
      last_print = now;
      print_progress(label, trainer, o.steps, res, sum / c.runs, lo, hi);
    }
  };
  record(o.steps == 0);
  if (o.after_step) o.after_step(trainer);
  for (int64_t done = 1; done <= o.steps; ++done) {
    const auto t0 = clock::now();
    trainer.step();
    const bool due = evaluation_due(done, o.steps, o.eval_every);  // Trainer::train's schedule
    if (due) synchronize(b);
    res.train_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    if (due) record(done == o.steps);
    if (o.after_step) o.after_step(trainer);
    if (due && any_diverged && o.stop_on_divergence) {
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
  // Runs whose tables went non-finite: the run and the steps of the last finite and the first
  // diverged evaluation (empty when none did).
  nlohmann::json diverged = nlohmann::json::array();
  for (std::size_t i = 0; i < r.runs.size(); ++i)
    if (r.runs[i].diverged_at >= 0)
      diverged.push_back({{"run", i}, {"finite_until", r.runs[i].finite_until},
                          {"diverged_at", r.runs[i].diverged_at}});
  j["diverged_runs"] = diverged;
  if (r.stopped_early) j["stopped_early"] = true;
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
  // Per run, the trajectories (steps for the exact gradient) by the first evaluation with
  // TV <= the threshold (null: never); their median over runs, null when most never got there.
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
  j["train_seconds"] = r.train_seconds;
  j["eval_seconds"] = r.eval_seconds;
  j["steps_per_second"] = r.train_seconds > 0 ? r.steps / r.train_seconds : 0.0;
  return j;
}

}  // namespace gfnrl::cli
