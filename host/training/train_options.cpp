// The table of TrainConfig's options (train_options.hpp): names, flags, ranges, help; setting
// one from text and checking every range.
#include "gfnrl/train_options.hpp"

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "gfnrl/error.hpp"
#include "gfnrl/names.hpp"

namespace gfnrl {

namespace {
using C = TrainConfig;

bool probability(double v) { return v >= 0 && v <= 1; }
bool positive(double v) { return std::isfinite(v) && v > 0; }
bool unit_rate(double v) { return v > 0 && v <= 1; }  // (0, 1]
bool below_one(double v) { return v >= 0 && v < 1; }  // [0, 1)
bool non_negative(double v) { return v >= 0; }
bool at_least_one(double v) { return v >= 1; }
bool finite_non_negative(double v) { return std::isfinite(v) && v >= 0; }
bool any_positive(double v) { return v > 0; }
bool negative(double v) { return v < 0; }
bool finite(double v) { return std::isfinite(v); }

template <class Enum, const std::vector<std::string>& (*Names)(), Enum (*Parse)(const std::string&),
          std::string (*Name)(Enum), Enum C::*Member>
NamedField named() {
  return {Names, [](C& c, const std::string& v) { c.*Member = Parse(v); },
          [](const C& c) { return Name(c.*Member); }};
}

}  // namespace

namespace {
// The options of the rates, the optimizer and the loss shapes.
std::vector<TrainOption> rate_and_loss_rows() {
  return {
      {"lr", "--lr", &C::lr, "finite and > 0", positive,
       "table learning rate: one value, or one per run"},
      {"lr_log_z", "--lr-log-z", &C::lr_log_z, "finite and > 0", positive,
       "TB's log Z learning rate: one value or one per run"},
      {"optimizer", "--optimizer",
       named<OptimizerKind, optimizer_names, parse_optimizer, optimizer_name, &C::optimizer>(), "",
       nullptr,
       "adam (beta 0.9/0.999, eps 1e-8; every entry each step), lazy-adam (only the entries "
       "with a gradient: far fewer bytes on large tables) or sgd"},
      {"adam_beta1", "--adam-beta1", &C::adam_beta1, "in [0, 1)", below_one,
       "Adam's first-moment decay"},
      {"adam_beta2", "--adam-beta2", &C::adam_beta2, "in [0, 1)", below_one,
       "Adam's second-moment decay"},
      {"adam_eps", "--adam-eps", &C::adam_eps, "> 0", any_positive, "Adam's epsilon"},
      {"regression", "--regression",
       named<Regression, regression_names, parse_regression, regression_name, &C::regression>(),
       "", nullptr,
       "loss shape of the tb/db/subtb/mdb/zvar/fm residuals: squared, absolute, huber, linex or "
       "shifted-cosh"},
      {"regression_param", nullptr, &C::regression_param, "", nullptr,
       "the loss shape's parameter: huber's k (> 0), linex's a (!= 0; a < 0 zero-forcing)"},
      {"forward_looking", "--forward-looking", &C::forward_looking, "", nullptr,
       "db, subtb: forward-looking flows (FL-DB, Pan et al. 2023): the table holds log F~(s), "
       "F(s) = F~(s) R(s); every state must terminate"},
      {"subtb_weighting", "--subtb-weighting",
       named<SubTBWeighting, subtb_weighting_names, parse_subtb_weighting, subtb_weighting_name,
             &C::subtb_weighting>(),
       "", nullptr, "subtb's sub-trajectory weights"},
      {"fm_alpha", "--fm-alpha", &C::fm_alpha, "finite and >= 0", finite_non_negative,
       "fm: the weight of the reward-matching term (torchgfn's FMGFlowNet alpha)"},
  };
}

// The options of exploration and its schedules.
std::vector<TrainOption> exploration_rows() {
  return {
      {"epsilon", "--epsilon", &C::epsilon, "in [0, 1]", probability,
       "probability of a uniformly random action while sampling: one value, or one per run"},
      {"temperature", "--temperature", &C::temperature, "finite and > 0", positive,
       "behaviour-policy temperature (logits divided by it): one value, or one per run"},
      {"epsilon_end", "--epsilon-end", &C::epsilon_end, "in [0, 1]", probability,
       "epsilon schedule: epsilon moves linearly to this over epsilon_decay_steps steps, then "
       "stays (gfnx: 0.1 to 0 over 30000); one value or one per run"},
      {"epsilon_decay_steps", "--epsilon-decay-steps", &C::epsilon_decay_steps, ">= 0",
       non_negative, "steps of the epsilon schedule (0: constant epsilon)"},
      {"temperature_end", "--temperature-end", &C::temperature_end, "finite and > 0", positive,
       "temperature schedule: linear to this over temperature_decay_steps steps; one value or "
       "one per run"},
      {"temperature_decay_steps", "--temperature-decay-steps", &C::temperature_decay_steps,
       ">= 0", non_negative, "steps of the temperature schedule (0: constant temperature)"},
      {"lr_warmup_steps", "--lr-warmup", &C::lr_warmup_steps, ">= 0", non_negative,
       "table learning rates warm up linearly over this many updates"},
      {"lr_cosine_steps", "--lr-cosine", &C::lr_cosine_steps, ">= 0", non_negative,
       "then decay to 0 on a cosine over this many updates (0: stay)"},
      {"subtb_lambda", "--subtb-lambda", &C::subtb_lambda, "in (0, 1]", unit_rate,
       "SubTB weight lambda^(length)"},
  };
}

// The options of the DQN learners' TD loss, target, replay and Munchausen term.
std::vector<TrainOption> dqn_rows() {
  return {
      {"huber", "--loss", &C::huber, "", nullptr, "DQN TD loss: Huber (delta 1), else squared"},
      {"target_rate", "--target-rate", &C::target_rate, "in (0, 1]", unit_rate,
       "DQN target table Polyak rate (1 = hard copy)"},
      {"target_every", "--target-every", &C::target_every, ">= 1", at_least_one,
       "DQN target update period in updates"},
      {"prioritized", "--replay", &C::prioritized, "", nullptr,
       "DQN replay: proportional prioritized, else uniform"},
      {"replay_capacity", "--replay-capacity", &C::replay_capacity, ">= 1", at_least_one,
       "DQN replay transitions per run"},
      {"replay_batch", "--replay-batch", &C::replay_batch, ">= 1", at_least_one,
       "DQN transitions replayed per update"},
      {"priority_exponent", "--priority-exponent", &C::priority_exponent, "finite and >= 0",
       finite_non_negative, "DQN prioritized replay exponent"},
      {"priority", "--priority",
       named<ReplayPriority, replay_priority_names, parse_replay_priority, replay_priority_name,
             &C::priority>(),
       "", nullptr,
       "DQN priority rule: huber-loss (the SoftDQN reference code's: the TD loss in use before "
       "the exponent, Huber's, or d^2 with --loss mse; new transitions at their own TD loss) or "
       "abs-td (Schaul et al.: |TD error|, new transitions at the running maximum)"},
      {"learning_starts", "--learning-starts", &C::learning_starts, ">= 0", non_negative,
       "DQN steps that only fill the replay buffer: learning starts at the (N+1)-th step (the "
       "SoftDQN reference's 'iteration > N' starts one later)"},
      {"munchausen_alpha", "--alpha", &C::munchausen_alpha, "in [0, 1)", below_one,
       "Munchausen alpha; tau = 1/(1 - alpha)"},
      {"munchausen_l0", "--l0", &C::munchausen_l0, "< 0", negative,
       "Munchausen lower clip l0"},
  };
}

// The options of the rest: exact gradients, GAE, energy rewards, trained P_B.
std::vector<TrainOption> other_rows() {
  return {
      {"exact_gradient", "--exact-gradient", &C::exact_gradient, "", nullptr,
       "pg, tb: the exact expected gradient by forward/backward sweeps over the DAG instead of "
       "sampled trajectories (tb's on-policy gradient is twice pg's)"},
      {"gae_lambda", "--gae-lambda", &C::gae_lambda, "in [0, 1]", probability, "ac: GAE lambda"},
      {"energy_reward", "--energy-reward", &C::energy_reward, "", nullptr,
       "DQN: energy differences log R(s') - log R(s) as intermediate rewards, 0 on the exit "
       "(every state must terminate)"},
      {"lr_backward", "--lr-backward", &C::lr_backward, "finite and > 0", positive,
       "learning rate of a trained P_B's logits (learned, tlm, coupled, guided; Adam) and of "
       "the coupled modes' backward critic"},
      {"tlm_lr_decay", "--tlm-decay", &C::tlm_lr_decay, "in (0, 1]", unit_rate,
       "TLM: backward rate multiplied by this per update"},
      {"tlm_target_rate", "--tlm-target-rate", &C::tlm_target_rate, "in (0, 1]", unit_rate,
       "TLM: Polyak rate of the P_B copy the forward loss uses"},
      {"guide_log_reward", "--guide-log-reward", &C::guide_log_reward, "finite", finite,
       "guided P_B: the guide caps the exit (below 1e-5 relative to the inner actions) where "
       "log R(s) <= this; default: the DAG's smallest log R"},
  };
}

}  // namespace

const std::vector<TrainOption>& train_options() {
  // The CLI binds some of these itself, where its text form differs (tools/cli/train_options.cpp:
  // the per-run lists take 'auto', --regression NAME:PARAM, --loss huber/mse, --replay).
  static const std::vector<TrainOption> table = [] {
    std::vector<TrainOption> all;
    for (auto rows : {rate_and_loss_rows, exploration_rows, dqn_rows, other_rows}) {
      std::vector<TrainOption> part = rows();
      all.insert(all.end(), part.begin(), part.end());
    }
    return all;
  }();
  return table;
}

const TrainOption* find_train_option(const std::string& name) {
  for (const TrainOption& o : train_options())
    if (name == o.name) return &o;
  return nullptr;
}

std::vector<std::string> train_option_names() {
  std::vector<std::string> n;
  for (const TrainOption& o : train_options()) n.push_back(o.name);
  return n;
}

std::string TrainOption::takes() const {
  struct Takes {
    std::string operator()(float C::*) const { return "a float"; }
    std::string operator()(int32_t C::*) const { return "an int"; }
    std::string operator()(int64_t C::*) const { return "an int"; }
    std::string operator()(bool C::*) const { return "a bool"; }
    std::string operator()(std::vector<float> C::*) const {
      return "a float, or a list of floats (one per run)";
    }
    std::string operator()(std::optional<float> C::*) const { return "a float"; }
    std::string operator()(const NamedField& f) const {
      return "a name (" + join_names(f.names()) + ")";
    }
  };
  return std::visit(Takes{}, field);
}

std::string TrainOption::value(const TrainConfig& c) const {
  struct Show {
    const TrainConfig& c;
    std::string operator()(float C::*m) const { return format_number(c.*m); }
    std::string operator()(int32_t C::*m) const { return std::to_string(c.*m); }
    std::string operator()(int64_t C::*m) const { return std::to_string(c.*m); }
    std::string operator()(bool C::*m) const { return c.*m ? "true" : "false"; }
    std::string operator()(std::vector<float> C::*m) const {
      std::string s;
      for (float v : c.*m) s += (s.empty() ? "" : ",") + format_number(v);
      return s;
    }
    std::string operator()(std::optional<float> C::*m) const {
      return c.*m ? format_number(*(c.*m)) : "";
    }
    std::string operator()(const NamedField& f) const { return f.get(c); }
  };
  return std::visit(Show{c}, field);
}

namespace {
[[noreturn]] void bad_text(const TrainOption& o, const std::string& text) {
  throw InputError("option " + std::string(o.name) + " = '" + text + "': not " + o.takes());
}

// A whole, finite number, representable in float.
float float_value(const TrainOption& o, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || *end != '\0' || !std::isfinite(v)) bad_text(o, text);
  if (v != 0 && (std::fabs(v) < double(FLT_MIN) || std::fabs(v) > double(FLT_MAX)))
    throw InputError("option " + std::string(o.name) + " = '" + text + "' is not representable "
                     "in float: give 0 or a magnitude in [1.2e-38, 3.4e38]");
  return float(v);
}

// A whole integer in [lo, hi].
int64_t integer_value(const TrainOption& o, const std::string& text, int64_t lo, int64_t hi) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end == text.c_str() || *end != '\0' || errno == ERANGE || v < lo || v > hi)
    bad_text(o, text);
  return v;
}
}  // namespace

void set_train_option(TrainConfig& c, const std::string& name, const std::string& text) {
  const TrainOption* o = find_train_option(name);
  if (!o)
    throw InputError("unknown option '" + name + "' (allowed: " +
                     join_names(train_option_names()) + ")");
  struct Set {
    TrainConfig& c;
    const TrainOption& o;
    const std::string& text;
    void operator()(float C::*m) const { c.*m = float_value(o, text); }
    void operator()(std::optional<float> C::*m) const { c.*m = float_value(o, text); }
    void operator()(int32_t C::*m) const {
      c.*m = int32_t(integer_value(o, text, INT32_MIN, INT32_MAX));
    }
    void operator()(int64_t C::*m) const { c.*m = integer_value(o, text, INT64_MIN, INT64_MAX); }
    void operator()(bool C::*m) const {
      if (text == "true" || text == "1") c.*m = true;
      else if (text == "false" || text == "0") c.*m = false;
      else bad_text(o, text);
    }
    void operator()(std::vector<float> C::*m) const {
      std::vector<float> v;
      std::size_t at = 0;
      for (;;) {
        const std::size_t comma = text.find(',', at);
        v.push_back(float_value(o, text.substr(at, comma - at)));
        if (comma == std::string::npos) break;
        at = comma + 1;
      }
      c.*m = std::move(v);
    }
    void operator()(const NamedField& f) const { f.set(c, text); }
  };
  std::visit(Set{c, *o, text}, o->field);
}

// "munchausen_alpha (--alpha)": the name, and the CLI's flag where it is not the name dashed.
std::string both_names(const TrainOption& o) {
  std::string dashed = "--" + std::string(o.name);
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  return o.flag && dashed != o.flag ? std::string(o.name) + " (" + o.flag + ")" : o.name;
}

void check_train_option_ranges(const TrainConfig& c) {
  for (const TrainOption& o : train_options()) {
    if (!o.ok) continue;
    const auto check = [&](double v) {
      if (!o.ok(v))
        throw InputError(both_names(o) + " = " + format_number(v) + " is out of range: must be " +
                         o.range);
    };
    if (const auto* m = std::get_if<float C::*>(&o.field)) check(c.**m);
    if (const auto* m = std::get_if<int32_t C::*>(&o.field)) check(c.**m);
    if (const auto* m = std::get_if<int64_t C::*>(&o.field)) check(double(c.**m));
    if (const auto* m = std::get_if<std::optional<float> C::*>(&o.field))
      if (c.**m) check(*(c.**m));
    if (const auto* m = std::get_if<std::vector<float> C::*>(&o.field)) {
      const std::vector<float>& v = c.**m;
      if (v.empty() || (v.size() != 1 && v.size() != static_cast<std::size_t>(c.runs)))
        throw InputError(both_names(o) + " has " + std::to_string(v.size()) +
                         " values: give one, or one per run (" + std::to_string(c.runs) + ")");
      for (float x : v) check(x);
    }
  }
}

}  // namespace gfnrl
