// Tuning grids, the score of a setting, and a tune result read back for study.
#include "tuning.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

namespace gfnrl::cli {

namespace {
double number(const std::string& item, const std::string& text, const std::string& flag) {
  char* end = nullptr;
  const double v = std::strtod(item.c_str(), &end);
  if (item.empty() || end == item.c_str() || *end != '\0' || !std::isfinite(v))
    throw InputError(flag + " '" + text + "': '" + item + "' is not a finite number");
  return v;
}
}  // namespace

std::string shortest(float v) {
  char buf[32];
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, double(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  return buf;
}

double decimal(float v) { return std::strtod(shortest(v).c_str(), nullptr); }

std::vector<float> parse_values(const std::string& text, const std::string& flag, bool log) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
  if (parts.size() == 3) {
    const double from = number(parts[0], text, flag), to = number(parts[1], text, flag);
    char* end = nullptr;
    const long n = std::strtol(parts[2].c_str(), &end, 10);
    if (parts[2].empty() || *end != '\0' || n < 1 || n > 1000)
      throw InputError(flag + " '" + text + "': N = '" + parts[2] + "' must be a whole number in [1, 1000]");
    if (log && !(from > 0 && to > 0))
      throw InputError(flag + " '" + text + "': FROM and TO must be > 0 (the values are log-spaced)");
    std::vector<float> v;
    for (long i = 0; i < n; ++i) {
      const double f = n == 1 ? 0.0 : double(i) / double(n - 1);
      v.push_back(static_cast<float>(
          log ? std::pow(10.0, std::log10(from) + f * (std::log10(to) - std::log10(from)))
              : from + f * (to - from)));
    }
    return v;
  }
  if (parts.size() != 1)
    throw InputError(flag + " '" + text + "': give a comma list or FROM:TO:N");
  std::vector<float> v;
  for (const std::string& item : comma_items(text, flag)) v.push_back(float_value(item, text, flag));
  return v;
}

TuneGrid parse_tune_grid(const LearnerOptions& o, int64_t epsilon_decay_steps) {
  TuneGrid g{parse_values(o.lr, "--lr", true), parse_values(o.lr_log_z, "--lr-log-z", true),
             parse_values(o.epsilon, "--epsilon", false),
             parse_values(o.epsilon_end, "--epsilon-end", false),
             parse_values(o.temperature, "--temperature", true)};
  if (g.epsilon_end.size() > 1 && epsilon_decay_steps <= 0)
    throw InputError("--epsilon-end '" + o.epsilon_end + "' tries " +
                     std::to_string(g.epsilon_end.size()) + " values, but --epsilon-decay-steps "
                     "is 0 (constant epsilon): give --epsilon-decay-steps > 0 or one value");
  return g;
}

nlohmann::json setting_summary(const Setting& s, const TrainConfig& c,
                               const std::vector<RunResult>& runs) {
  double sum = 0, sq = 0, tv = 0, tv_max = 0;
  std::vector<int64_t> reached;
  int64_t diverged = 0;  // their score is +inf: a diverged setting is never the best
  for (const RunResult& r : runs) {
    diverged += r.diverged_at >= 0 ? 1 : 0;
    sum += r.mean_log10_tv, sq += r.mean_log10_tv * r.mean_log10_tv;
    tv += r.last.metrics.tv, tv_max = std::max(tv_max, r.last.metrics.tv);
    reached.push_back(r.to_tv < 0 ? INT64_MAX : r.to_tv);
  }
  const double n = double(runs.size()), mean = sum / n;
  const double var = n > 1 ? std::max(0.0, (sq - n * mean * mean) / (n - 1)) : 0.0;
  std::sort(reached.begin(), reached.end());
  const int64_t median = reached[(reached.size() - 1) / 2];
  nlohmann::json j;
  j["lr"] = decimal(s.lr);
  j["lr_log_z"] = std::isnan(s.lr_log_z) ? nlohmann::json() : nlohmann::json(decimal(s.lr_log_z));
  j["epsilon"] = decimal(s.epsilon);
  j["epsilon_end"] = decimal(s.epsilon_end);
  j["epsilon_decay_steps"] = c.epsilon_decay_steps;
  j["temperature"] = decimal(s.temperature);
  j["temperature_end"] = decimal(c.temperature_end.at(0));
  j["temperature_decay_steps"] = c.temperature_decay_steps;
  j["score"] = mean;
  j["score_sem"] = std::sqrt(var / n);
  j["final_tv_mean"] = tv / n;
  j["final_tv_max"] = tv_max;
  j["median_trajectories_to_tv"] = median == INT64_MAX ? nlohmann::json() : nlohmann::json(median);
  j["diverged_runs"] = diverged;
  return j;
}

std::size_t best_setting(const nlohmann::json& settings) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < settings.size(); ++i)
    if (settings[i]["score"].get<double>() < settings[best]["score"].get<double>()) best = i;
  return best;
}

namespace {
// A whole number of a tune JSON, exactly: a JSON integer (not 2.5, not 1e19) within [lo, hi];
// InputError naming the file and the key otherwise.
int64_t json_whole(const nlohmann::json& v, const std::string& what, const std::string& path,
                   int64_t lo, int64_t hi) {
  const bool whole = v.is_number_integer();
  const bool big = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX);
  if (!whole || big || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
    throw InputError("--tuned " + path + ": " + what + " = " + v.dump().substr(0, 40) +
                     " is not a whole number in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  return v.get<int64_t>();
}
}  // namespace

nlohmann::json read_tuned(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("--tuned " + path + ": cannot be read");
  nlohmann::json j;
  try {
    // The whole file is one JSON value: parse() refuses anything after it.
    j = nlohmann::json::parse(std::string(std::istreambuf_iterator<char>(in), {}));
  } catch (const nlohmann::json::exception& e) {
    throw InputError("--tuned " + path + ": not JSON (" + e.what() + ")");
  }
  if (!j.is_object() || j.value("command", "") != "tune" || !j.contains("best") ||
      !j["best"].is_object())
    throw InputError("--tuned " + path + ": not a gfnrl tune result (write one with gfnrl tune --best)");
  // What study reads besides the settings: the budget and the seeds, as whole numbers.
  if (j.contains("steps")) json_whole(j["steps"], "steps", path, 0, INT64_MAX);
  if (j.contains("seeds")) {
    const nlohmann::json& seeds = j["seeds"];
    if (!seeds.is_array() || seeds.size() != 2 || !seeds[0].is_number_unsigned() ||
        !seeds[1].is_number_unsigned() || seeds[0].get<uint64_t>() > seeds[1].get<uint64_t>())
      throw InputError("--tuned " + path + ": seeds = " + seeds.dump().substr(0, 60) +
                       " is not [FIRST, LAST], two whole numbers in [0, 18446744073709551615] "
                       "with FIRST <= LAST");
  }
  return j;
}

void apply_tuned(const nlohmann::json& tuned, const std::string& label, const std::string& path,
                 TrainConfig& cfg) {
  const nlohmann::json& best = tuned["best"];
  if (!best.contains(label)) {
    std::vector<std::string> have;
    for (const auto& [k, v] : best.items()) have.push_back(k);
    throw InputError("--tuned " + path + " has no setting for " + label + " (it has: " +
                     join_names(have) + ")");
  }
  const nlohmann::json& s = best[label];
  try {
    cfg.lr = {s.at("lr").get<float>()};
    if (!s.at("lr_log_z").is_null()) cfg.lr_log_z = {s["lr_log_z"].get<float>()};
    cfg.epsilon = {s.at("epsilon").get<float>()};
    // The schedule, in tunes that record it (older ones tuned epsilon alone: left as given).
    if (s.contains("epsilon_end")) {
      cfg.epsilon_end = {s["epsilon_end"].get<float>()};
      cfg.epsilon_decay_steps =
          json_whole(s.at("epsilon_decay_steps"), label + "'s epsilon_decay_steps", path, 0, INT64_MAX);
      cfg.temperature = {s.at("temperature").get<float>()};
      cfg.temperature_end = {s.at("temperature_end").get<float>()};
      cfg.temperature_decay_steps = json_whole(s.at("temperature_decay_steps"),
                                               label + "'s temperature_decay_steps", path, 0, INT64_MAX);
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError("--tuned " + path + ": " + label + "'s setting is malformed (" + e.what() + ")");
  }
  cfg.validate();
}

}  // namespace gfnrl::cli
