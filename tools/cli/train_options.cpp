// The learner and session options of `gfnrl train` and `gfnrl study`: their CLI11 binding, and
// the TrainConfig they make (checked by TrainConfig::validate).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <sstream>

#include "train_session.hpp"

namespace gfnrl::cli {

const std::vector<std::string>& pb_choices() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v = correction_names();
    for (const std::string& m : backward_mode_names())
      if (m != backward_mode_name(BackwardMode::Fixed)) v.push_back(m);
    return v;
  }();
  return all;
}

bool trained_backward(const std::string& pb) {
  const std::vector<std::string>& modes = backward_mode_names();
  return pb != backward_mode_name(BackwardMode::Fixed) &&
         std::find(modes.begin(), modes.end(), pb) != modes.end();
}

namespace {
// The table's options whose CLI form is the field itself (a number, a flag, a name), each bound
// straight to o.cfg: flag, help and range from train_options.hpp. The rest the CLI binds by hand
// below, where its text form differs.
bool bound_by_hand(const TrainOption& t) {
  static const std::vector<std::string> hand = {"regression", "subtb_weighting", "huber",
                                                "prioritized"};
  return t.flag == nullptr || std::holds_alternative<std::vector<float> TrainConfig::*>(t.field) ||
         std::holds_alternative<std::optional<float> TrainConfig::*>(t.field) ||
         std::find(hand.begin(), hand.end(), t.name) != hand.end();
}

}  // namespace

std::string help_of(const TrainOption& t) {
  return *t.range ? std::string(t.help) + "; " + t.range : std::string(t.help);
}

namespace {
void add_table_option(CLI::App& cmd, const TrainOption& t, TrainConfig& c) {
  struct Bind {
    CLI::App& cmd;
    const TrainOption& t;
    TrainConfig& c;
    void operator()(float TrainConfig::*m) const {
      cmd.add_option(t.flag, c.*m, help_of(t))->capture_default_str();
    }
    void operator()(int32_t TrainConfig::*m) const {
      cmd.add_option(t.flag, c.*m, help_of(t))->capture_default_str();
    }
    void operator()(int64_t TrainConfig::*m) const {
      cmd.add_option(t.flag, c.*m, help_of(t))->capture_default_str();
    }
    void operator()(bool TrainConfig::*m) const { cmd.add_flag(t.flag, c.*m, help_of(t)); }
    void operator()(const NamedField& f) const {
      TrainConfig* cfg = &c;
      const NamedField named = f;
      cmd.add_option_function<std::string>(
             t.flag, [cfg, named](const std::string& v) { named.set(*cfg, v); }, help_of(t))
          ->check(CLI::IsMember(f.names()))
          ->default_str(f.get(c));
    }
    void operator()(std::vector<float> TrainConfig::*) const {}
    void operator()(std::optional<float> TrainConfig::*) const {}
  };
  std::visit(Bind{cmd, t, c}, t.field);
}
}  // namespace

void add_learner_options(CLI::App& cmd, LearnerOptions& o) {
  cmd.add_option("--lr", o.lr,
                 "table learning rate: 'auto' (the learner's rate tuned on the 2-D H=8 reference "
                 "grid: tb 0.05, db 0.2, subtb 0.1, softdqn 0.03, munchausen 0.03, mdb/pg/ac 0.1, "
                 "zvar 0.05, fm 0.1, fldb 0.1, flsubtb 0.05; "
                 "docs/RESULTS.md \"Tuning\"), one value, or a comma list with one value per run")
      ->capture_default_str();
  cmd.add_option("--lr-log-z", o.lr_log_z,
                 "TB's log Z learning rate: one value or one per run (comma list)")
      ->capture_default_str();
  cmd.add_option("--regression", o.regression,
                 "loss shape of the tb/db/subtb/mdb/zvar/fm residuals: squared, absolute, "
                 "huber[:k] (t^2 below k, linear above: k > 0), linex[:a] (a != 0; a < 0 "
                 "zero-forcing) or shifted-cosh (default parameter 1); shifted-cosh, linex:1 and "
                 "linex:0.5 are Hu et al. 2025's, absolute and huber this library's")
      ->capture_default_str();
  cmd.add_option("--subtb-weighting", o.subtb_weighting,
                 "subtb's sub-trajectory weights, torchgfn's names and what its code computes: "
                 "geometric-within (lambda^len per trajectory, Madan et al.), geometric (the mean "
                 "loss of each length, lengths weighted (1-lambda) lambda^(len-1)), "
                 "equal-within, equal, tb (whole trajectories only), db (single steps only), "
                 "modified-db (single steps, 1/(len B) each), geometric-batch (lambda^len over "
                 "the batch's pairs: this library's geometric before 2026-12-05)")
      ->check(CLI::IsMember(subtb_weighting_names()))
      ->capture_default_str();
  cmd.add_option("--epsilon", o.epsilon,
                 "probability of a uniformly random action while sampling, in [0, 1]: 'auto' "
                 "(the tuned 0.1 of every learner; 0 with --exact-gradient), one value, or a comma "
                 "list with one value per run")
      ->capture_default_str();
  cmd.add_option("--temperature", o.temperature,
                 "behaviour-policy temperature (logits divided by it), > 0: one value, or a comma "
                 "list with one value per run")
      ->capture_default_str();
  cmd.add_option("--epsilon-end", o.epsilon_end,
                 "epsilon schedule: epsilon moves linearly from --epsilon to this over "
                 "--epsilon-decay-steps steps, then stays (gfnx: 0.1 to 0 over 30000), in [0, 1]; "
                 "one value or one per run")
      ->capture_default_str();
  cmd.add_option("--temperature-end", o.temperature_end,
                 "temperature schedule: linear from --temperature to this over "
                 "--temperature-decay-steps steps, > 0; one value or one per run")
      ->capture_default_str();
  cmd.add_option("--loss", o.loss, "DQN TD loss: huber (delta 1) or mse")
      ->check(CLI::IsMember(td_loss_names()))
      ->capture_default_str();
  cmd.add_option("--replay", o.replay, "DQN replay: prioritized (proportional) or uniform")
      ->check(CLI::IsMember(replay_mode_names()))
      ->capture_default_str();
  for (const TrainOption& t : train_options())
    if (!bound_by_hand(t)) add_table_option(cmd, t, o.cfg);
}

void add_session_options(CLI::App& cmd, SessionOptions& o) {
  add_env_options(cmd, o.env);
  add_preset_option(cmd, o.preset, o.backward_preset);
  cmd.add_option("--runs", o.runs, "independent runs trained together (seeds seed..seed+runs-1)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd.add_option("--seed", o.seed, "seed of run 0 (run r uses seed + r)")
      ->check(whole_number_check(UINT64_MAX))
      ->capture_default_str();
  cmd.add_option("--steps", o.steps, "training steps (per learner)")
      ->check(whole_number_check(INT64_MAX))
      ->capture_default_str();
  cmd.add_option("--batch", o.batch, "trajectories sampled per step and run")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  cmd.add_option("--eval-every", o.eval_every, "exact evaluation every K steps")
      ->capture_default_str();
  cmd.add_option("--tv-threshold", o.tv_threshold,
                 "the JSON summary's trajectories_to_tv: per run, the trajectories sampled by the "
                 "first evaluation with exact TV <= this, in (0, 1]")
      ->capture_default_str();
  cmd.add_flag("--spearman", o.spearman,
               "fill the spearman column: Spearman's rank correlation of each run's P_T with the "
               "target at every evaluation (a host sort per run; empty without this flag)");
  cmd.add_option("--out", o.out,
                 "CSV: one row per (run, evaluation): " + std::string(kTrainingCurveHeader))
      ->capture_default_str();
  add_correction_option(cmd, o.correction,
                        "backward policy of the losses and DQN reward correction");
  CLI::Option* corr = cmd.get_option("--correction");
  cmd.add_option("--pb", o.correction,
                 "backward policy P_B: uniform, maxent, file, none (fixed, as --correction), "
                 "learned (logits trained through the learner's loss), tlm (trajectory "
                 "likelihood maximisation, Gritsaev et al.), or for pg/ac coupled / guided "
                 "(Niu et al.'s RL-B / RL-G: a policy-gradient step of P_B on backward "
                 "trajectories from the batch's terminal states); trained P_B start uniform")
      ->check(CLI::IsMember(pb_choices()))
      ->excludes(corr);
  cmd.add_option("--prior", o.prior,
                 "base policy mu for KL-regularised learning (tb: relative TB, subtb: Trust-PCL, "
                 "db): uniform, or a policy file (gfnrl train --save-policy); the target becomes "
                 "mu^T(x) R(x). Default for --algo rtb / trust-pcl: uniform")
      ->check(input_file_check({"uniform"}))
      ->excludes(corr)
      ->excludes(cmd.get_option("--pb"));
  cmd.add_option("--guide-log-reward", o.guide_log_reward,
                 help_of(*find_train_option("guide_log_reward")));
  add_learner_options(cmd, o.learner);
}

TrainConfig session_config(const SessionOptions& o, const Learner& learner) {
  TrainConfig c = make_config(o.learner, learner, o.runs, o.seed, o.batch);
  c.backward = trained_backward(o.correction) ? parse_backward_mode(o.correction)
                                              : BackwardMode::Fixed;
  if (o.guide_log_reward) c.guide_log_reward = static_cast<float>(*o.guide_log_reward);
  return c;
}

std::string attach_prior(const SessionOptions& o, const Learner& l, const Dag& dag,
                         TrainConfig& cfg) {
  const std::string prior = !o.prior.empty() ? o.prior : l.needs_prior ? "uniform" : "";
  if (prior.empty()) return fixed_correction(o);
  cfg.prior = prior == "uniform" ? uniform_forward_policy(dag) : read_policy_file(prior, dag);
  cfg.validate();
  return "none";  // mu takes the place of P_B
}

std::string fixed_correction(const SessionOptions& o) {
  return trained_backward(o.correction) ? "none" : o.correction;
}

EnvOptions checked_environment(const SessionOptions& o, const CLI::App& cmd) {
  EnvOptions env = o.env;
  check_env_flags(cmd, env);
  if (!o.preset.empty() && (!env.dag_file.empty() || env.env != "hypergrid"))
    throw InputError("--preset " + o.preset + " describes a hypergrid; it cannot be combined "
                     "with " + (env.dag_file.empty() ? "--env " + env.env : "--dag " + env.dag_file));
  if (!o.preset.empty()) apply_preset(cmd, o.preset, env.grid);
  if (o.steps < 0) throw InputError("--steps = " + std::to_string(o.steps) + " must be >= 0");
  if (o.eval_every < 1)
    throw InputError("--eval-every = " + std::to_string(o.eval_every) + " must be >= 1");
  if (!(o.tv_threshold > 0 && o.tv_threshold <= 1))
    throw InputError("--tv-threshold = " + format_number(o.tv_threshold) + " must be in (0, 1]");
  return env;
}

namespace {
std::vector<float> parse_rates(const std::string& text, const std::string& name) {
  std::vector<float> out;
  for (const std::string& item : comma_items(text, "--" + name))
    out.push_back(float_value(item, text, "--" + name));
  return out;
}
}  // namespace

void parse_regression_option(const std::string& text, TrainConfig& c) {
  const std::size_t colon = text.find(':');
  const std::string name = text.substr(0, colon);
  if (std::find(regression_names().begin(), regression_names().end(), name) ==
      regression_names().end())
    throw InputError("--regression '" + text + "': unknown shape '" + name + "' (allowed: " +
                     join_names(regression_names()) + ")");
  c.regression = parse_regression(name);
  c.regression_param = 1.0f;
  if (colon == std::string::npos) return;
  if (c.regression != Regression::Huber && c.regression != Regression::Linex)
    throw InputError("--regression '" + text + "': " + name + " takes no parameter (huber:k and "
                     "linex:a do)");
  const std::string p = text.substr(colon + 1);
  const float v = float_value(p, text, "--regression");
  if (c.regression == Regression::Huber ? !(v > 0) : !(v != 0))
    throw InputError("--regression '" + text + "': the parameter '" + p + "' must be a finite "
                     "number " + (c.regression == Regression::Huber ? "> 0" : "!= 0"));
  c.regression_param = v;
}

TrainConfig make_config(const LearnerOptions& o, const Learner& learner, int32_t runs,
                        uint64_t seed, int32_t batch) {
  const Algo algo = learner.algo;
  TrainConfig c = o.cfg;
  c.algo = algo;
  c.runs = runs;
  c.seed = seed;
  c.batch = batch;
  // "auto": the learner's recommended_config (tuned on the reference grid); the exact gradient
  // samples nothing, so it explores with epsilon 0.
  // --forward-looking or the learner's name (fldb, flsubtb); db and subtb only.
  const bool forward_looking = (o.cfg.forward_looking || learner.forward_looking) &&
                               (algo == Algo::DB || algo == Algo::SubTB);
  Learner as_run = learner;
  as_run.forward_looking = forward_looking;
  const TrainConfig rec = recommended_config(as_run);
  c.lr = o.lr == "auto" ? rec.lr : parse_rates(o.lr, "lr");
  c.lr_log_z = parse_rates(o.lr_log_z, "lr-log-z");
  c.epsilon = o.epsilon != "auto"  ? parse_rates(o.epsilon, "epsilon")
              : c.exact_gradient ? std::vector<float>{0.0f}
                                 : rec.epsilon;
  c.epsilon_end = parse_rates(o.epsilon_end, "epsilon-end");
  c.temperature = parse_rates(o.temperature, "temperature");
  c.temperature_end = parse_rates(o.temperature_end, "temperature-end");
  parse_regression_option(o.regression, c);
  // study: every learner shares the options; the weighting is subtb's (train refuses it for
  // another learner).
  if (algo == Algo::SubTB) c.subtb_weighting = parse_subtb_weighting(o.subtb_weighting);
  c.forward_looking = forward_looking;
  c.huber = parse_td_loss_is_huber(o.loss);
  c.prioritized = parse_replay_mode_is_prioritized(o.replay);
  c.validate();
  return c;
}

}  // namespace gfnrl::cli
