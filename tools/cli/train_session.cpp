// What `gfnrl train` and `gfnrl study` share around the library's train_loop: progress lines,
// divergence messages, the JSON summary (their options: train_options.cpp).
#include "train_session.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <sstream>

namespace gfnrl::cli {

RewardModes mode_groups(const Environment& env) {
  return reward_modes(env.dag, env.grid ? &*env.grid : nullptr);
}

std::function<void(const LoopEvaluation&)> progress_reporter(std::string label, bool quiet,
                                                             std::function<void(double)> share) {
  using clock = std::chrono::steady_clock;
  auto last_print = std::make_shared<clock::time_point>(clock::now() - std::chrono::seconds(10));
  return [label = std::move(label), quiet, share = std::move(share),
          last_print](const LoopEvaluation& e) {
    const auto now = clock::now();
    if (!quiet && (e.final || now - *last_print > std::chrono::seconds(2))) {
      *last_print = now;
      std::fprintf(stderr, "[gfnrl] %s\n", progress_line(label, e).c_str());
    }
    if (share) share(e.steps > 0 ? double(e.trainer.steps_done()) / double(e.steps) : 1.0);
  };
}

LoopOptions session_loop(const SessionOptions& so, const std::string& label,
                         const RewardModes& modes, bool quiet, std::function<void(double)> share) {
  LoopOptions lo;
  lo.steps = so.steps, lo.eval_every = so.eval_every, lo.label = label;
  lo.tv_threshold = so.tv_threshold, lo.modes = &modes, lo.spearman = so.spearman;
  lo.on_evaluation = progress_reporter(label, quiet, std::move(share));
  return lo;
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
