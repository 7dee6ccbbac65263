// Training configuration: the names of learners, backward modes and optimizers, and the
// validation of every hyperparameter.
#include <algorithm>
#include <cmath>
#include <string>

#include "gfnrl/error.hpp"
#include "gfnrl/names.hpp"
#include "gfnrl/train.hpp"
#include "gfnrl/train_options.hpp"
#include "training/trainer_parts.hpp"
#include "gfnrl/detail/rollout_math.hpp"

namespace gfnrl {

namespace {
void require(bool ok, const std::string& name, double v, const std::string& range) {
  if (!ok) throw InputError(name + " = " + format_number(v) + " is out of range: must be " + range);
}

}  // namespace

// One name table per enum, in the enum's order (names.hpp).
const std::vector<std::string>& algo_names() {
  static const std::vector<std::string> names{"tb", "db", "subtb", "softdqn", "munchausen",
                                              "mdb", "pg", "ac", "zvar", "fm"};
  return names;
}
Algo parse_algo(const std::string& name) {
  return static_cast<Algo>(detail::parse_name(algo_names(), name, "algorithm"));
}
std::string algo_name(Algo a) { return algo_names().at(static_cast<std::size_t>(a)); }

void check_fixed_backward(Algo algo, const std::string& correction) {
  // fm keeps its own in-flows in place of P_B: a fixed P_B other than the uniform default would
  // be ignored, so it is refused.
  if (algo == Algo::FM && correction != "uniform" && correction != "none")
    throw InputError("backward policy " + correction + ": fm has no backward policy (its "
                     "in-flows play that part), so a fixed P_B would be ignored; use uniform "
                     "(the default) or none");
}

detail::LossKind training::balance_loss_kind(Algo a) {
  switch (a) {
    case Algo::TB: return detail::LossKind::TB;
    case Algo::DB: return detail::LossKind::DB;
    case Algo::SubTB: return detail::LossKind::SubTB;
    case Algo::ModifiedDB: return detail::LossKind::ModifiedDB;
    case Algo::ZVar: return detail::LossKind::ZVar;
    case Algo::FM: return detail::LossKind::FM;
    default:
      throw InputError("algorithm " + algo_name(a) + " has no balance loss (softdqn, munchausen, "
                       "pg and ac train through their own)");
  }
}

const std::vector<std::string>& backward_mode_names() {
  static const std::vector<std::string> names{"fixed", "learned", "tlm", "coupled", "guided"};
  return names;
}
BackwardMode parse_backward_mode(const std::string& name) {
  return static_cast<BackwardMode>(detail::parse_name(backward_mode_names(), name, "backward mode"));
}
std::string backward_mode_name(BackwardMode m) {
  return backward_mode_names().at(static_cast<std::size_t>(m));
}

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names{"adam", "sgd", "lazy-adam"};
  return names;
}
OptimizerKind parse_optimizer(const std::string& name) {
  return static_cast<OptimizerKind>(detail::parse_name(optimizer_names(), name, "optimizer"));
}
std::string optimizer_name(OptimizerKind k) {
  return optimizer_names().at(static_cast<std::size_t>(k));
}

const std::vector<std::string>& replay_priority_names() {
  static const std::vector<std::string> names{"huber-loss", "abs-td"};
  return names;
}
ReplayPriority parse_replay_priority(const std::string& name) {
  return static_cast<ReplayPriority>(
      detail::parse_name(replay_priority_names(), name, "replay priority"));
}
std::string replay_priority_name(ReplayPriority p) {
  return replay_priority_names().at(static_cast<std::size_t>(p));
}

const std::vector<std::string>& td_loss_names() {
  static const std::vector<std::string> names{"huber", "mse"};
  return names;
}
bool parse_td_loss_is_huber(const std::string& name) {
  return detail::parse_name(td_loss_names(), name, "TD loss") == 0;
}

const std::vector<std::string>& replay_mode_names() {
  static const std::vector<std::string> names{"prioritized", "uniform"};
  return names;
}
bool parse_replay_mode_is_prioritized(const std::string& name) {
  return detail::parse_name(replay_mode_names(), name, "replay mode") == 0;
}

const std::vector<std::string>& regression_names() {
  static const std::vector<std::string> names{"squared", "absolute", "huber", "linex",
                                              "shifted-cosh"};
  return names;
}
Regression parse_regression(const std::string& name) {
  return static_cast<Regression>(detail::parse_name(regression_names(), name, "regression"));
}
std::string regression_name(Regression r) {
  return regression_names().at(static_cast<std::size_t>(r));
}

const std::vector<std::string>& subtb_weighting_names() {
  static const std::vector<std::string> names{"geometric-within", "geometric", "equal-within",
                                              "equal",           "tb",        "db",
                                              "modified-db",     "geometric-batch"};
  return names;
}
SubTBWeighting parse_subtb_weighting(const std::string& name) {
  return static_cast<SubTBWeighting>(
      detail::parse_name(subtb_weighting_names(), name, "subtb weighting"));
}
std::string subtb_weighting_name(SubTBWeighting w) {
  return subtb_weighting_names().at(static_cast<std::size_t>(w));
}

namespace {
// Learners named for a variant of an Algo: with a base policy (relative) or forward-looking flows.
struct Variant {
  const char* name;
  Algo algo;
  bool prior, forward_looking;
};
const Variant kVariants[] = {{"rtb", Algo::TB, true, false},
                             {"trust-pcl", Algo::SubTB, true, false},
                             {"fldb", Algo::DB, false, true},
                             {"flsubtb", Algo::SubTB, false, true}};
}  // namespace

const std::vector<std::string>& learner_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n = algo_names();
    for (const Variant& v : kVariants) n.push_back(v.name);
    return n;
  }();
  return names;
}
Learner parse_learner(const std::string& name) {
  const int i = detail::parse_name(learner_names(), name, "algorithm");
  const int algos = static_cast<int>(algo_names().size());
  if (i < algos) return {static_cast<Algo>(i), name, false};
  const Variant& v = kVariants[i - algos];
  return {v.algo, name, v.prior, v.forward_looking};
}

bool is_dqn(Algo a) { return a == Algo::SoftDQN || a == Algo::Munchausen; }

bool is_policy_gradient(Algo a) { return a == Algo::PolicyGradient || a == Algo::ActorCritic; }

bool is_coupled(BackwardMode m) { return m == BackwardMode::Coupled || m == BackwardMode::Guided; }

namespace {
constexpr double kPi = 3.14159265358979323846;

}  // namespace

float TrainConfig::scheduled_epsilon(int64_t t, int32_t run) const {
  return detail::linear_schedule(of_run(epsilon, run), of_run(epsilon_end, run),
                                 epsilon_decay_steps, t);
}

float TrainConfig::scheduled_temperature(int64_t t, int32_t run) const {
  return detail::linear_schedule(of_run(temperature, run), of_run(temperature_end, run),
                                 temperature_decay_steps, t);
}

float TrainConfig::lr_factor(int64_t u) const {
  if (u <= lr_warmup_steps) return static_cast<float>(double(u) / double(lr_warmup_steps));
  if (lr_cosine_steps <= 0) return 1.0f;
  const int64_t k = std::min(u - lr_warmup_steps, lr_cosine_steps);
  return static_cast<float>(0.5 * (1.0 + std::cos(kPi * double(k) / double(lr_cosine_steps))));
}

TrainConfig recommended_config(Algo a) {
  // gfnrl tune --seeds 8 --lr 0.01,0.02,0.03,0.05,0.1,0.2 --epsilon 0,0.1 --algos ... (defaults
  // otherwise); the setting with the lowest mean log10 TV over the budget. Final exact TV over
  // the 8 tuning seeds, mean (max): tb 3.3e-4 (9.8e-4), db 0.046 (0.079), subtb 0.018 (0.032),
  // softdqn 7.6e-4 (2.2e-3), munchausen 1.9e-4 (5.1e-4), mdb 3.5e-3 (6.5e-3), pg 0.24 (0.32: no
  // rate of the grid finds every mode in the budget), ac 0.015 (0.049); zvar, tuned later on
  // lr {0.01, 0.02, 0.05, 0.1, 0.2}: 1.6e-3 (4.3e-3); fm, tuned later on the same grid: 6.9e-3
  // (1.1e-2), lr 0.05 within its error (3.1e-3 final).
  struct Tuned {
    float lr, epsilon;
  };
  static const Tuned table[] = {
      {0.05f, 0.1f},  // tb
      {0.2f, 0.1f},   // db
      {0.1f, 0.1f},   // subtb
      {0.03f, 0.1f},  // softdqn
      {0.03f, 0.1f},  // munchausen
      {0.1f, 0.1f},   // mdb
      {0.1f, 0.1f},   // pg
      {0.1f, 0.1f},   // ac
      {0.05f, 0.1f},  // zvar
      {0.1f, 0.1f},   // fm
  };
  static_assert(sizeof(table) / sizeof(table[0]) == 10, "one entry per Algo, in algo_names() order");
  TrainConfig c;
  c.algo = a;
  const Tuned& t = table[static_cast<int>(a)];
  c.lr = {t.lr};
  c.epsilon = {t.epsilon};
  return c;
}

TrainConfig recommended_config(const Learner& learner) {
  TrainConfig c = recommended_config(learner.algo);
  c.forward_looking = learner.forward_looking;
  // gfnrl tune --algos fldb,flsubtb --lr 0.05,0.1,0.2,0.5,1 --epsilon 0,0.1,0.3 --seeds 4
  // --steps 5000 --ndim 2 --height 8: final exact TV mean (max) fldb 0.026 (0.029) where db's
  // rates gave 0.17 (0.24); flsubtb 0.013 (0.018) where subtb's gave 0.026 (0.029).
  if (learner.forward_looking && learner.algo == Algo::DB) c.lr = {0.1f}, c.epsilon = {0.3f};
  if (learner.forward_looking && learner.algo == Algo::SubTB) c.lr = {0.05f}, c.epsilon = {0.1f};
  return c;
}

float TrainConfig::entropy_coefficient() const {
  return algo == Algo::Munchausen ? 1.0f / (1.0f - munchausen_alpha) : 1.0f;
}

namespace {
// The options that shape the balance losses: each only where the learner has what it shapes.
void validate_loss_options(const TrainConfig& c) {
  if (c.forward_looking && c.algo != Algo::DB && c.algo != Algo::SubTB)
    throw InputError("forward-looking flows apply to db and subtb (fl-db, fl-subtb); " +
                     algo_name(c.algo) + " has no flow table" +
                     (c.algo == Algo::ModifiedDB ? " (mdb is fl-db with log F~(s) = -log P_F(exit|s))" : ""));
  if (c.subtb_weighting != SubTBWeighting::GeometricWithin && c.algo != Algo::SubTB)
    throw InputError("subtb weighting " + subtb_weighting_name(c.subtb_weighting) + " applies to "
                     "subtb and trust-pcl; " + algo_name(c.algo) + " has no sub-trajectories");
  if (c.regression != Regression::Squared) {
    const bool balance = c.algo == Algo::TB || c.algo == Algo::DB || c.algo == Algo::SubTB ||
                         c.algo == Algo::ModifiedDB || c.algo == Algo::ZVar ||
                         c.algo == Algo::FM;
    if (!balance)
      throw InputError("regression " + regression_name(c.regression) + " shapes the balance "
                       "residuals of tb, db, subtb, mdb, zvar and fm (and rtb, trust-pcl); " +
                       algo_name(c.algo) + " has its own loss" +
                       (is_dqn(c.algo) ? " (--huber for its TD errors)" : ""));
    if (c.exact_gradient)
      throw InputError("regression " + regression_name(c.regression) + ": tb's exact expected "
                       "gradient is of the squared loss only");
    if (c.regression == Regression::Huber)
      require(std::isfinite(c.regression_param) && c.regression_param > 0,
              regression_name(c.regression) + " parameter", c.regression_param, "finite and > 0");
    if (c.regression == Regression::Linex)  // a < 0: zero-forcing, as torchgfn allows
      require(std::isfinite(c.regression_param) && c.regression_param != 0,
              regression_name(c.regression) + " parameter", c.regression_param,
              "finite and != 0");
  }
}
}  // namespace

TrainConfig TrainConfig::runs_slice(int32_t first, int32_t count) const {
  if (first < 0 || count < 1 || int64_t(first) + count > runs)
    throw InputError("runs_slice(" + std::to_string(first) + ", " + std::to_string(count) +
                     "): the slice must lie in the batch's runs [0, " + std::to_string(runs) +
                     ") and hold at least one run");
  validate();  // every per-run list holds one value or `runs`
  TrainConfig s = *this;
  s.runs = count;
  s.seed = seed + static_cast<uint64_t>(first);
  for (std::vector<float>* v : {&s.epsilon, &s.temperature, &s.epsilon_end, &s.temperature_end,
                                &s.lr, &s.lr_log_z})
    if (v->size() != 1) *v = std::vector<float>(v->begin() + first, v->begin() + first + count);
  return s;
}

void TrainConfig::validate() const {
  require(runs >= 1, "runs", runs, ">= 1");
  require(batch >= 1, "batch", batch, ">= 1");
  check_train_option_ranges(*this);  // every field's own range (train_options.hpp)
  if (exact_gradient && algo != Algo::PolicyGradient && algo != Algo::TB)
    throw InputError("the exact expected gradient applies to pg and tb (the on-policy KL "
                     "objective and its squared form); " + algo_name(algo) +
                     " learns from sampled trajectories only");
  if (exact_gradient && (epsilon_decay_steps > 0 || temperature_decay_steps > 0))
    throw InputError("the exact expected gradient is on-policy (it samples nothing): an epsilon "
                     "or temperature schedule would be ignored");
  const auto explores = [](float e) { return e != 0.0f; };
  if (exact_gradient && (std::any_of(epsilon.begin(), epsilon.end(), explores) ||
                         std::any_of(temperature.begin(), temperature.end(),
                                     [](float t) { return t != 1.0f; })))
    throw InputError("the exact expected gradient is on-policy (it samples nothing), so epsilon = " +
                     format_number(*std::max_element(epsilon.begin(), epsilon.end())) + " and temperature = " +
                     format_number(*std::max_element(temperature.begin(), temperature.end())) +
                     " would be ignored: leave them at 0 and 1, or drop --exact-gradient");
  if (exact_gradient && algo == Algo::TB && prior)
    throw InputError("tb's exact expected gradient takes no prior (relative TB is supported with "
                     "sampled trajectories)");
  validate_loss_options(*this);
  const bool pg = is_policy_gradient(algo);
  const bool coupled = is_coupled(backward);
  if (coupled && !pg)
    throw InputError("backward mode " + backward_mode_name(backward) + " (Niu et al.'s coupled "
                     "P_B training) applies to pg and ac; " + algo_name(algo) +
                     " takes fixed, learned or tlm");
  if (algo == Algo::FM && backward != BackwardMode::Fixed)
    throw InputError("backward mode " + backward_mode_name(backward) + ": fm has no backward "
                     "policy to train (its in-flows play that part); use fixed");
  if (exact_gradient && (backward == BackwardMode::Tlm || coupled))
    throw InputError("backward mode " + backward_mode_name(backward) + " trains P_B on sampled "
                     "trajectories, which --exact-gradient does not draw; use learned (its exact "
                     "expected gradient is TLM's) or a fixed P_B");
  if (prior && (is_dqn(algo) || algo == Algo::ModifiedDB || algo == Algo::PolicyGradient ||
                algo == Algo::ActorCritic || algo == Algo::ZVar || algo == Algo::FM))
    throw InputError("a base policy (prior) applies to tb, db and subtb (relative TB / DB, "
                     "Trust-PCL); " + algo_name(algo) + " does not take one");
}

}  // namespace gfnrl
