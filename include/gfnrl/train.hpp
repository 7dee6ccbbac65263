/// @file train.hpp
/// Batched tabular training: many independent runs (seeds and/or learning rates) of one learner on
/// one DAG, stored as one table [runs x entries] and advanced by the same launches, with the exact
/// terminating distribution of every run's current policy available at any step.
///
/// One step of every run:
///   1. sample `batch` trajectories from the current policy (Philox, counter = (step, trajectory,
///      position), key = seed + run), with epsilon-uniform exploration and a temperature
///      (pg / tb with exact_gradient sample nothing: they follow the exact expected gradient);
///   2. a trained P_B first: TLM's likelihood step, or coupled / guided P_B's backward rollouts
///      and policy-gradient step (pg, ac);
///   3. the forward learner's gradient: TB / DB / SubTB / modified DB / relative TB on the
///      trajectories; SoftDQN / Munchausen on `replay_batch` replayed transitions after the
///      warm-up; pg / ac by REINFORCE or actor-critic (a learned P_B gets its gradient here too);
///   4. an Adam, lazy Adam or SGD step; DQN learners then update their target table.
/// The backward policy in the losses and the DQN reward is fixed (the `correction` given to the
/// Trainer; it must be positive on every edge), learned through the forward loss, trained by TLM,
/// or coupled / guided (BackwardMode). Formulas: detail/loss_math.hpp, detail/dqn_math.hpp,
/// detail/pg_math.hpp, detail/backward_math.hpp, detail/coupled_backward_math.hpp,
/// detail/optimizer_math.hpp; references in docs/ALGORITHMS.md.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gfnrl/array.hpp"
#include "gfnrl/backward_policy.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/loss_shapes.hpp"
#include "gfnrl/metrics.hpp"
#include "gfnrl/soft_values.hpp"

namespace gfnrl {

enum class Algo {
  TB, DB, SubTB, SoftDQN, Munchausen, ModifiedDB, PolicyGradient, ActorCritic, ZVar, FM
};
/// Adam updates every entry each step; LazyAdam only those with a non-zero gradient
/// (detail/optimizer_math.hpp).
enum class OptimizerKind { Adam, Sgd, LazyAdam };

/// How a replayed transition's priority follows from its TD error d (before the exponent):
/// HuberLoss (named for the default loss), the TD loss in use, huber(|d|) = d^2/2 below 1 and
/// |d| - 1/2 above, or d^2 with `huber` off (--loss mse), and new transitions enter with their
/// own TD loss's priority, as the SoftDQN reference code does; AbsTd, |d| with new transitions
/// at the running maximum (Schaul et al.'s proportional rule).
enum class ReplayPriority { HuberLoss, AbsTd };

/// How P_B is obtained: the fixed correction handed to the Trainer; logits per edge and run
/// trained through the learner's own loss ("learned", the reference code's "naive"); or logits
/// trained by Trajectory Likelihood Maximisation with their own Adam, a decaying rate, and a
/// Polyak-averaged copy used inside the forward loss ("tlm", Gritsaev et al.); or, for pg and
/// ac, Niu et al.'s coupled training: after each forward step P_B takes a policy-gradient step
/// on backward trajectories sampled from the batch's terminal states, toward P_F's backward
/// kernel ("coupled", their RL-B) or toward a guide that avoids stopping in low-reward states
/// ("guided", RL-G); detail/coupled_backward_math.hpp. Every trained P_B starts uniform.
enum class BackwardMode { Fixed, Learned, Tlm, Coupled, Guided };

/// The names of the backward modes, indexed by BackwardMode: fixed, learned, tlm, coupled,
/// guided. parse_backward_mode throws InputError naming the value and the allowed names.
const std::vector<std::string>& backward_mode_names();
BackwardMode parse_backward_mode(const std::string& name);
std::string backward_mode_name(BackwardMode m);

/// The names of the learners, indexed by Algo: tb, db, subtb, softdqn, munchausen, mdb, pg, ac,
/// zvar, fm.
/// mdb is modified detailed balance, for DAGs where every state terminates; pg the
/// policy-gradient GFlowNet of Niu et al. (detail/pg_math.hpp); ac its actor-critic form (a
/// tabular critic, GAE). parse_algo throws InputError naming the value and the allowed names.
/// The per-state log R~(s) of forward-looking flows: log R(s) where s terminates, else the
/// DAG's intermediate log-reward -E(s) (Dag::intermediate_log_reward). InputError naming the
/// first state that has neither.
std::vector<float> flow_potential(const Dag& dag);

const std::vector<std::string>& algo_names();
Algo parse_algo(const std::string& name);
std::string algo_name(Algo a);

/// The names of the optimizers, indexed by OptimizerKind: adam, sgd, lazy-adam.
const std::vector<std::string>& optimizer_names();
OptimizerKind parse_optimizer(const std::string& name);
std::string optimizer_name(OptimizerKind k);
/// The names of the priority rules, indexed by ReplayPriority: huber-loss, abs-td.
const std::vector<std::string>& replay_priority_names();
ReplayPriority parse_replay_priority(const std::string& name);
std::string replay_priority_name(ReplayPriority p);
/// The DQN TD losses by name: huber (TrainConfig::huber true), mse (false).
const std::vector<std::string>& td_loss_names();
/// huber -> true, mse -> false; InputError otherwise, listing them.
bool parse_td_loss_is_huber(const std::string& name);
/// The DQN replay modes by name: prioritized (TrainConfig::prioritized true), uniform (false).
const std::vector<std::string>& replay_mode_names();
/// prioritized -> true, uniform -> false; InputError otherwise, listing them.
bool parse_replay_mode_is_prioritized(const std::string& name);
/// The names of the loss shapes, indexed by Regression: squared, absolute, huber, linex,
/// shifted-cosh.
const std::vector<std::string>& regression_names();
Regression parse_regression(const std::string& name);
std::string regression_name(Regression r);
/// The names of SubTB's weightings, indexed by SubTBWeighting: geometric-within, geometric,
/// equal-within, equal, tb, db, modified-db, geometric-batch.
const std::vector<std::string>& subtb_weighting_names();
SubTBWeighting parse_subtb_weighting(const std::string& name);
std::string subtb_weighting_name(SubTBWeighting w);

/// A learner as users name it: every Algo by its name, and the relative forms that need a base
/// policy (uniform unless one is given): "rtb" (relative TB: TB with a prior) and "trust-pcl"
/// (SubTB with a prior).
struct Learner {
  Algo algo;
  std::string name;
  bool needs_prior;
  bool forward_looking = false;  ///< fldb, flsubtb: TrainConfig::forward_looking
};
/// algo_names() followed by rtb, trust-pcl (tb, subtb with a base policy) and fldb, flsubtb
/// (db, subtb with forward-looking flows).
const std::vector<std::string>& learner_names();
Learner parse_learner(const std::string& name);

/// True for the learners that keep a Q table (policy softmax(Q / tau)) rather than logits.
bool is_dqn(Algo a);
/// True for pg and ac, the policy-gradient learners (Niu et al.).
bool is_policy_gradient(Algo a);
/// True for Niu et al.'s coupled P_B training: coupled and guided (pg and ac only).
bool is_coupled(BackwardMode m);

struct TrainConfig {
  Algo algo = Algo::TB;
  int32_t runs = 1;
  uint64_t seed = 0;          ///< run r draws with seed + r
  int32_t batch = 16;         ///< trajectories sampled per step and run
  // Exploration of the behaviour policy.
  /// Probability of a uniformly random action, in [0, 1]; one value, or one per run (a tuning
  /// grid's runs each explore at their own rate).
  std::vector<float> epsilon{0.0f};
  std::vector<float> temperature{1.0f};  ///< behaviour logits divided by this, > 0; one or one per run
  // Exploration schedules (scheduled_epsilon / scheduled_temperature): linear from the values
  // above to these over the given number of steps, then constant (gfnx's multi-seed TB decays
  // epsilon from 0.1 to 0 over 30,000 steps). 0 steps: constant.
  std::vector<float> epsilon_end{0.0f};  ///< in [0, 1]; one value, or one per run
  int64_t epsilon_decay_steps = 0;   ///< >= 0
  std::vector<float> temperature_end{1.0f};  ///< finite and > 0; one value or one per run
  int64_t temperature_decay_steps = 0;  ///< >= 0
  // Optimizer.
  OptimizerKind optimizer = OptimizerKind::Adam;
  std::vector<float> lr{1e-2f};       ///< table learning rate; one value, or one per run
  std::vector<float> lr_log_z{1e-1f}; ///< TB's log Z learning rate; one value, or one per run
  float adam_beta1 = 0.9f, adam_beta2 = 0.999f, adam_eps = 1e-8f;
  /// Learning-rate schedule of the forward tables (lr_factor): a linear warm-up over this many
  /// updates, then a cosine decay to 0 over lr_cosine_steps updates; 0: none of either.
  int64_t lr_warmup_steps = 0;  ///< >= 0
  int64_t lr_cosine_steps = 0;  ///< >= 0
  /// Lazy Adam and SGD on the CPU visit only the entries the step's loss can have touched (the
  /// rows of the batch's states, the replayed samples); true: scan every entry instead. The
  /// results are bit-identical (tests and benches compare the two).
  bool optimizer_scan = false;
  // Backward policy.
  BackwardMode backward = BackwardMode::Fixed;
  float lr_backward = 1e-2f;      ///< P_B logits' learning rate (learned, TLM), > 0
  float tlm_lr_decay = 0.999f;    ///< TLM: rate multiplied by this per update, in (0, 1]
  float tlm_target_rate = 0.25f;  ///< TLM: Polyak rate of the P_B the forward loss uses, (0, 1]
  /// Guided (RL-G): the exit is capped at states with log R(s) <= this; unset: the smallest
  /// log R of the DAG (the hypergrid's R0 level, as in the reference code).
  std::optional<float> guide_log_reward;
  // SubTB.
  float subtb_lambda = 0.9f;  ///< geometric weight of sub-trajectory length, in (0, 1]
  // SoftDQN / Munchausen.
  bool huber = true;              ///< Huber (delta 1) TD loss, else squared error
  float target_rate = 0.25f;      ///< Polyak rate of the target table, in (0, 1]
  int32_t target_every = 1;       ///< target update period in steps (rate 1: hard copies)
  int32_t replay_capacity = 100000;
  int32_t replay_batch = 256;
  bool prioritized = true;        ///< proportional prioritized replay (no importance weights)
  float priority_exponent = 0.5f;
  ReplayPriority priority = ReplayPriority::HuberLoss;
  /// Steps that only fill the buffer: learning starts at step index learning_starts (0-based),
  /// the (learning_starts + 1)-th step. The SoftDQN reference learns when `iteration >
  /// learning_starts` (0-based), one step later: the reference's 16 is the library's 17.
  int32_t learning_starts = 16;
  float munchausen_alpha = 0.15f; ///< in [0, 1); the entropy coefficient is tau = 1 / (1 - alpha)
  float munchausen_l0 = -100.0f;  ///< lower clip of the Munchausen term, < 0
  /// KL-regularised learning with this base policy mu (TB, DB, SubTB: TB becomes Relative TB,
  /// SubTB Trust-PCL); the target, and the evaluation, become mu^T(x) R(x) / Z_mu. mu takes the
  /// place of P_B (the Trainer then takes no correction).
  std::optional<ForwardPolicy> prior;
  /// SoftDQN / Munchausen: energy differences log R(s') - log R(s) as intermediate rewards and 0
  /// on the exit (every state must terminate).
  bool energy_reward = false;
  /// pg and tb: the exact expected gradient by forward and backward sweeps over the DAG instead
  /// of sampled trajectories (no sampling noise: the tabular limit; tb's is twice pg's).
  bool exact_gradient = false;
  float gae_lambda = 0.99f;  ///< ac: GAE lambda, in [0, 1]
  /// tb, db, subtb, mdb (and rtb, trust-pcl): the loss shape of every residual, and its
  /// parameter (huber's k: finite and > 0; linex's a: finite and != 0, a < 0 zero-forcing;
  /// ignored by the others). The shapes, their sources and their fixed point:
  /// detail/loss_math.hpp.
  Regression regression = Regression::Squared;
  float regression_param = 1.0f;
  /// db and subtb: forward-looking flows (Pan et al. 2023; FL-DB, FL-SubTB): the table holds
  /// log F~(s) and log F(s) = log F~(s) + log R~(s), with log R~ = flow_potential(dag): log R
  /// where a state terminates, its intermediate log-reward (-E(s)) elsewhere; every state needs
  /// one or the other.
  bool forward_looking = false;
  /// subtb (and trust-pcl): which sub-trajectories the loss weighs, and how.
  SubTBWeighting subtb_weighting = SubTBWeighting::GeometricWithin;
  /// fm: the weight of the reward-matching term (torchgfn's FMGFlowNet alpha), finite and >= 0.
  float fm_alpha = 1.0f;

  /// Throws InputError naming the first bad value and its allowed range.
  void validate() const;
  /// tau: 1 for the logit learners and SoftDQN, 1 / (1 - alpha) for Munchausen.
  float entropy_coefficient() const;
  /// The behaviour policy at training step t (0-based): with K decay steps,
  ///   epsilon(t) = epsilon + (epsilon_end - epsilon) * min(t, K) / K   (epsilon when K = 0),
  /// for run r's values, and the same for the temperature (shared by every run).
  float scheduled_epsilon(int64_t t, int32_t run = 0) const;
  /// Run r's entry of a per-run list (one value: every run's).
  static float of_run(const std::vector<float>& values, int32_t run) {
    return values.size() == 1 ? values[0] : values[static_cast<std::size_t>(run)];
  }
  float scheduled_temperature(int64_t t, int32_t run = 0) const;
  /// The factor on every table rate at update u (1-based): with W warm-up and C cosine updates,
  ///   u <= W: u / W;   then 0.5 (1 + cos(pi min(u - W, C) / C)) when C > 0, else 1.
  float lr_factor(int64_t u) const;
  /// Runs [first, first + count) of this batch as a batch of their own: seed + first, and each
  /// per-run list cut to those runs (one-value lists stay). Its run r trains exactly as run
  /// first + r of the whole batch (runs share launches, not state), which is what lets
  /// `gfnrl train` under MPI give each rank a slice. Throws InputError for a range outside
  /// [0, runs) or count < 1.
  TrainConfig runs_slice(int32_t first, int32_t count) const;
};

/// The header of the training curves' CSV, one row per (run, evaluation), that `gfnrl train` /
/// `gfnrl study` and Python's gfnrl.study write (`seconds`: training time so far, evaluations
/// excluded; modes_found, mode_regions_found and spearman empty when not tracked).
inline constexpr const char* kTrainingCurveHeader =
    "algo,run,seed,step,trajectories,tv,kl,jsd,log_z_error,elbo,eubo,corr,spearman,mode_mass,"
    "modes_found,mode_regions_found,seconds";

/// A learner's recommended configuration, the CLI's and the Python Trainer's defaults:
/// TrainConfig's defaults with the table learning rate and exploration rate that `gfnrl tune`
/// chose on the reference grid (2-D H=8 hypergrid, R0 1e-3, R1 0.5, R2 2, uniform P_B; 2,000
/// steps of 16 trajectories; 8 seeds per setting from seed 1000; lr in {0.01, 0.02, 0.03, 0.05,
/// 0.1, 0.2} x epsilon in {0, 0.1}; docs/RESULTS.md "Tuning"). Larger grids and longer budgets prefer
/// smaller rates: tune on yours (gfnrl tune, gfnrl study --tune).
TrainConfig recommended_config(Algo a);
/// InputError when learner `algo` cannot use the fixed backward policy named `correction`
/// (uniform, maxent, file / a table, none): fm has none of its own, so only uniform and none.
/// The Trainer checks it; front ends call it before any work.
void check_fixed_backward(Algo algo, const std::string& correction);
/// The same for a learner by name, its variant's flags set: fldb and flsubtb have their own
/// rates (gfnrl tune on the same grid for 5,000 steps, lr in {0.05, 0.1, 0.2, 0.5, 1} x
/// epsilon in {0, 0.1, 0.3}, 4 seeds: fldb lr 0.1 and epsilon 0.3, flsubtb lr 0.05 and
/// epsilon 0.1); rtb and trust-pcl take tb's and subtb's.
TrainConfig recommended_config(const Learner& learner);

/// One evaluation of one run.
struct RunEvaluation {
  Metrics metrics;        ///< exact P_T of the run's policy against the target
  double log_z_estimate;  ///< TB: log Z; DB/SubTB: F(s0); DQN: tau * LSE(Q(s0, .) / tau)
  /// The run's tables are no longer finite (a learning rate far too large): its P_T has no
  /// finite mass, or its log Z estimate is NaN or infinite. Its metrics are then NaN; the other
  /// runs of the batch are evaluated as usual.
  bool diverged = false;
};

/// The evaluation schedule of Trainer::train (and of the CLI's loops): after step `done` of
/// `steps` (1-based), evaluate every `eval_every` steps and after the last one; step 0, before
/// training, is always evaluated.
inline bool evaluation_due(int64_t done, int64_t steps, int64_t eval_every) {
  return done == 0 || done == steps || done % eval_every == 0;
}

/// The trajectories a training step sampled, copied to the host: trajectory m of run r takes
/// lengths[r * batch + m] actions (the last an exit), from states[(r * batch + m) * max_len + t]
/// with action ids actions[...] (edge ids, or E + s for the exit of s; positions past the length
/// are unspecified).
struct SampledBatch {
  int32_t runs = 0, batch = 0, max_len = 0;
  std::vector<int32_t> states, actions, lengths;
};

class Trainer {
 public:
  /// `correction` is the backward policy of the losses and the DQN reward correction, or nullptr
  /// for none (log P_B = 0: the learners then target n(x) R(x)). Tables start at zero (uniform
  /// policy, log F = log Z = 0). Refuses (AllocationError) a configuration that does not fit in
  /// the backend's memory before allocating anything.
  Trainer(const Dag& dag, const BackwardPolicy* correction, TrainConfig config, Stream stream = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// One training step of every run.
  void step(Stream stream = {});
  int64_t steps_done() const { return steps_; }
  /// Trajectories sampled per run so far: 0 with the exact gradient, which samples none.
  int64_t trajectories_per_run() const {
    return config_.exact_gradient ? 0 : steps_ * config_.batch;
  }

  /// The exact terminating distribution of every run's current policy (computed on the
  /// trainer's backend; only scalars reach the host) compared with the target: R/Z (mu^T R / Z_mu
  /// with a prior), or w / sum w for `log_target_weight` (one entry per state).
  std::vector<RunEvaluation> evaluate(const Array<float>* log_target_weight = nullptr,
                                      Stream stream = {});
  /// Spearman's rank correlation (spearman_correlation) of every run's P_T at the last
  /// evaluate() with that evaluation's target over its support (R, mu^T R with a prior, or
  /// `log_target_weight`, which must be the one given to evaluate()). A host-side sort, O(S log S)
  /// per run, and a copy of every run's P_T to the host: why evaluate() leaves it out.
  /// InputError before the first evaluate().
  std::vector<double> spearman(const Array<float>* log_target_weight = nullptr) const;
  /// Called after each evaluation of train(): the step count and every run's evaluation.
  using EvaluationCallback =
      std::function<void(int64_t step, const std::vector<RunEvaluation>& runs)>;
  /// Runs `steps` steps, evaluating (and calling `on_evaluation`) before the first step and
  /// after every step where evaluation_due() says so. InputError for steps < 0 or eval_every < 1.
  void train(int64_t steps, int64_t eval_every, const EvaluationCallback& on_evaluation,
             Stream stream = {});

  /// Per run: how many groups of `states` the run's sampled trajectories have exited from so far
  /// (a group counts once any of its states was reached; 0 for the exact gradient, which samples
  /// nothing). `group` holds one nondecreasing id >= 0 per state; empty: each state its own group
  /// (the number of those states reached: modes_found, given the modes).
  std::vector<int64_t> reached_groups(const std::vector<int32_t>& states,
                                      const std::vector<int32_t>& group = {}) const;
  /// The current forward policy of run r (log-probabilities, on the backend; a fresh copy).
  ForwardPolicy policy(int32_t run) const;
  /// Mean loss of each run at the last step (0 before the first update).
  std::vector<double> last_loss() const;
  /// log of the target's normaliser: log sum_x R(x), or log sum_x mu^T(x) R(x) with a prior.
  double target_log_z() const;
  /// TLM: each run's backward loss L_TLM at the last step, before its update; coupled / guided:
  /// the batch mean of the backward cost sum_i k_i (0 otherwise).
  std::vector<double> last_backward_loss() const;
  /// The backward policy run r uses: the fixed correction (uniform when none), or its current
  /// learned / TLM-trained P_B (a fresh copy, on the backend).
  BackwardPolicy backward_policy(int32_t run) const;
  /// Every run's table, [runs x entries], copied to the host (for tests and checkpoints).
  std::vector<float> parameters() const;
  /// The trajectories the last step sampled (empty before the first step, and with the exact
  /// gradient, which samples none).
  SampledBatch last_batch() const;
  static std::size_t estimate_bytes(const Dag& dag, const TrainConfig& config);

  const TrainConfig& config() const { return config_; }
  const Dag& dag() const { return dag_; }

 private:
  struct State;  // the parts: host/training/trainer_parts.hpp
  Dag dag_;
  TrainConfig config_;
  int64_t steps_ = 0;
  std::unique_ptr<State> st_;
};

}  // namespace gfnrl
