// Trainer: checks its inputs, sizes and allocates its parts (trainer_parts.hpp), and sequences
// the backend operations of one training step (see train.hpp).
#include <algorithm>
#include <limits>

#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"
#include "gfnrl/metrics.hpp"
#include "gfnrl/train.hpp"
#include "gfnrl/training_loop.hpp"
#include "training/trainer_parts.hpp"

namespace gfnrl {

namespace {
// Everything the configuration, the DAG and the backward policy must satisfy, before anything
// is allocated.
void check_inputs(const Dag& dag, const BackwardPolicy* correction, const TrainConfig& c) {
  c.validate();
  // Trajectories, replay and the table layout store edge ids as int32; only the exact core
  // (soft values, marginals, metrics) takes DAGs beyond that.
  if (dag.num_edges() > kMaxIndex)
    throw InputError("training needs a DAG of at most 2^31-1 edges (int32 edge ids in "
                     "trajectories and tables); this one has " +
                     std::to_string(dag.num_edges()) +
                     " (the exact solvers, marginals and metrics take it)");
  if (correction) check_fixed_backward(c.algo, correction->name);
  if (correction) {
    check_backward_shape(dag, *correction);
    // Every loss reads log P_B on the edges it samples; a zero (-inf) there makes the residual
    // infinite and the tables NaN. The solvers mask such edges; training refuses them up front.
    check_backward_positive(dag, *correction,
                            "the training losses take log P_B of every sampled edge");
    if (c.backward != BackwardMode::Fixed)
      throw InputError("backward mode " + backward_mode_name(c.backward) +
                       " trains its own P_B: give no fixed correction");
  }
  if (c.forward_looking) flow_potential(dag);  // log R or -E(s) at every state, else InputError
  if (c.algo == Algo::ModifiedDB || (is_dqn(c.algo) && c.energy_reward)) {
    // Energy differences need R(s) at every state.
    const std::vector<float> lr = dag.log_reward().to_host();
    const std::string who = c.algo == Algo::ModifiedDB ? "mdb" : "--energy-reward";
    for (std::size_t s = 0; s < lr.size(); ++s)
      if (!(lr[s] > -std::numeric_limits<float>::infinity()))
        throw InputError(who + " needs every state to terminate (energy differences), but state " +
                         std::to_string(s) + " has no reward");
  }
  if (c.prior && (correction || c.backward != BackwardMode::Fixed))
    throw InputError("a base policy replaces the backward policy (relative balance: "
                     "Z P_F(tau) = R(x) mu(tau)); give no correction and a fixed backward mode");
  if (c.prior) check_policy_shape(dag, *c.prior, "prior policy");
}
}  // namespace

// The parts of one Trainer, and the three kinds of forward loss they are combined into.
struct Trainer::State {
  State(const Dag& dag, const BackwardPolicy* correction, const TrainConfig& c)
      : dag(dag), c(c), tables(dag, c), batch(dag, c), eval(dag, c) {
    if (is_dqn(c.algo)) replay = std::make_unique<training::ReplayBuffer>(dag.backend(), c);
    if (c.backward != BackwardMode::Fixed)
      learned = std::make_unique<training::LearnedBackward>(dag, c);
    if (c.exact_gradient) exact = std::make_unique<training::ExactGradient>(dag, c);
    if (correction) fixed_log_pb = correction->log_prob;
    if (c.forward_looking) {
      const std::vector<float> pot = flow_potential(dag);
      potential = Array<float>::from_host(dag.backend(), pot);
      eval.source_potential = pot[0];  // the log Z estimate adds log R~(s0)
    }
    if (c.prior) {
      prior_edge = c.prior->log_prob;
      prior_exit = c.prior->exit_log_prob;
    }
  }

  /// The P_B of this step's forward loss: the fixed correction (or none), or the trained one
  /// after its own step (TLM).
  detail::BackwardView<float> backward_view() {
    if (learned) return learned->before_forward_loss(dag, c, tables.layout, batch.view());
    return detail::BackwardView<float>{training::or_null(fixed_log_pb), 0, nullptr};
  }

  /// pg / ac on the sampled batch, or the exact expected gradient of pg or TB.
  void policy_gradient_loss(const detail::BackwardView<float>& pb) {
    detail::PgArgs<float> a{};
    static_cast<detail::TableView<float>&>(a) = tables.view(dag, c.runs);
    static_cast<detail::BackwardView<float>&>(a) = pb;
    static_cast<detail::TrajectoryBatch&>(a) = batch.view();
    a.critic = c.algo == Algo::ActorCritic;
    a.gae_lambda = c.gae_lambda;
    a.log_pf = eval.log_prob.data();  // read by the exact gradient of a learned P_B
    a.traj_cost = batch.cost.data();
    a.advantage = training::or_null(batch.advantage);
    if (!exact) {
      GFNRL_BACKEND_CALL(dag.backend(), pg_loss, a);
      return;
    }
    // p(s) of every run's current policy: the evaluation's marginal solvers.
    eval.refresh_policies(dag, c, tables);
    eval.solve_marginals(dag, c.runs);
    a.value = exact->value.data();
    a.value2 = training::or_null(exact->value2);
    a.squared = c.algo == Algo::TB;
    a.prefix = training::or_null(exact->prefix);
    a.log_visit = eval.log_visit.data();
    GFNRL_BACKEND_CALL(dag.backend(), pg_exact, dag, a);
  }

  /// TB, DB, SubTB, modified DB (relative with a base policy), ZVar, FM on the sampled batch.
  void trajectory_loss(const detail::BackwardView<float>& pb) {
    detail::TrajectoryLossArgs<float> a{};
    static_cast<detail::TableView<float>&>(a) = tables.view(dag, c.runs);
    static_cast<detail::BackwardView<float>&>(a) = pb;
    static_cast<detail::TrajectoryBatch&>(a) = batch.view();
    a.lambda = c.subtb_lambda;
    a.regression = c.regression;
    a.regression_param = c.regression_param;
    a.fm_alpha = c.fm_alpha;
    a.weighting = c.subtb_weighting;
    a.flow_potential = training::or_null(potential);
    a.prior_edge = training::or_null(prior_edge);
    a.prior_exit = training::or_null(prior_exit);
    a.scratch = training::or_null(batch.scratch);
    a.zvar_log_z = tables.params.data();
    GFNRL_BACKEND_CALL(dag.backend(), trajectory_loss, training::balance_loss_kind(c.algo), a);
  }

  /// SoftDQN / Munchausen: the batch enters the replay buffer; after the warm-up, a TD step on
  /// replayed transitions. False while only filling the buffer.
  bool dqn_loss(const detail::BackwardView<float>& pb, const detail::RolloutArgs& rollout,
                int64_t step) {
    const Backend b = dag.backend();
    GFNRL_BACKEND_CALL(b, replay_insert, replay->args(), rollout);
    detail::DqnArgs<float> a{};
    static_cast<detail::TableView<float>&>(a) = tables.view(dag, c.runs);
    static_cast<detail::BackwardView<float>&>(a) = pb;
    a.target = tables.target.data();
    a.abs_td = replay->abs_td.data();
    a.samples = c.replay_batch;
    a.sample_state = replay->sample_state.data();
    a.sample_action = replay->sample_action.data();
    a.tau = c.entropy_coefficient();
    a.alpha = c.algo == Algo::Munchausen ? c.munchausen_alpha : 0.0f;
    a.l0 = c.munchausen_l0;
    a.huber = c.huber;
    a.energy_reward = c.energy_reward;
    // The reference rule: the new transitions enter with their own TD error's priority.
    if (c.prioritized && c.priority == ReplayPriority::HuberLoss) {
      // Every transition of the batch: a superset of the newest ones it reads.
      tables.catch_up_target(rollout, a.alpha > 0.0f);
      GFNRL_BACKEND_CALL(b, replay_prioritize_new, replay->args(), rollout, a, c.priority_exponent);
    }
    if (step < c.learning_starts) return false;
    replay->sample(b, c, step);
    tables.catch_up_target(a);
    GFNRL_BACKEND_CALL(b, dqn_loss, a);
    replay->update_priorities(b, c);
    return true;
  }

  /// What this step's forward loss can have written into the tables: the batch's rows (with
  /// the edges into its states for flow matching), or the DQN learners' replayed samples.
  detail::TouchedEntries touched_entries() const {
    detail::TouchedEntries t{};
    t.dag = dag.view();
    t.layout = tables.layout;
    if (is_dqn(c.algo)) {
      t.sample_action = replay->sample_action.data();
      t.samples = c.replay_batch;
    } else {
      t.batch = batch.view();
      t.in_edges = c.algo == Algo::FM;
    }
    return t;
  }

  const Dag& dag;
  const TrainConfig& c;
  training::ForwardTables tables;
  training::Trajectories batch;
  training::Evaluation eval;
  std::unique_ptr<training::ReplayBuffer> replay;       // DQN learners
  std::unique_ptr<training::LearnedBackward> learned;   // a trained P_B
  std::unique_ptr<training::ExactGradient> exact;       // --exact-gradient
  Array<float> fixed_log_pb;                            // the correction, if any
  Array<float> prior_edge, prior_exit;                  // a base policy mu, if any
  Array<float> potential;                               // forward-looking flows: log R~
};

std::size_t Trainer::estimate_bytes(const Dag& dag, const TrainConfig& c) {
  using namespace training;
  return ForwardTables::bytes(dag, c) + Trajectories::bytes(dag, c) +
         ExactGradient::bytes(dag, c) + LearnedBackward::bytes(dag, c) +
         (is_dqn(c.algo) ? ReplayBuffer::bytes(c) : 0) + Evaluation::bytes(dag, c);
}

Trainer::Trainer(const Dag& dag, const BackwardPolicy* correction, TrainConfig config,
                 Stream stream)
    : dag_(dag), config_(std::move(config)) {
  const StreamScope scope(stream);
  check_inputs(dag_, correction, config_);
  require_bytes(dag_.backend(), estimate_bytes(dag_, config_),
                "training " + std::to_string(config_.runs) + " runs of " + algo_name(config_.algo));
  st_ = std::make_unique<State>(dag_, correction, config_);
}

Trainer::~Trainer() = default;

// sample -> backward policy -> forward loss -> update.
void Trainer::step(Stream stream) {
  const StreamScope scope(stream);
  State& s = *st_;
  const Backend b = dag_.backend();
  const TrainConfig& c = config_;
  const detail::RolloutArgs rollout =
      s.batch.rollout(dag_, c, s.tables.layout, s.tables.params.data(), steps_);
  if (!c.exact_gradient) GFNRL_BACKEND_CALL(b, rollout, rollout);  // the exact gradient samples none
  const detail::BackwardView<float> pb = s.backward_view();
  GFNRL_BACKEND_CALL(b, fill, s.tables.loss.data(), s.tables.loss.size(), 0.0f);
  bool updated = true;
  if (is_policy_gradient(c.algo) || c.exact_gradient)
    s.policy_gradient_loss(pb);
  else if (is_dqn(c.algo))
    updated = s.dqn_loss(pb, rollout, steps_);
  else
    s.trajectory_loss(pb);
  if (updated) {
    const detail::TouchedEntries touched = s.touched_entries();
    s.tables.update(b, c, c.optimizer_scan || c.exact_gradient ? nullptr : &touched);
    if (pb.pb_grad) {
      const detail::TrajectoryBatch visited = s.batch.view();
      s.learned->optimize(dag_, c, 1.0f,
                          training::LearnedBackward::visits_only(c) ? &visited : nullptr);
    }
    if (s.learned && s.learned->critic) s.learned->coupled_step(dag_, c, s.tables, s.batch, steps_);
  }
  ++steps_;
}

void Trainer::train(int64_t steps, int64_t eval_every, const EvaluationCallback& on_evaluation,
                    Stream stream) {
  const StreamScope scope(stream);
  LoopOptions o;  // the front ends' loop (training_loop.hpp), without rows
  o.steps = steps, o.eval_every = eval_every;
  if (on_evaluation)
    o.on_evaluation = [&](const LoopEvaluation& e) { on_evaluation(steps_, e.runs); };
  train_loop(*this, target_log_z(), o, {});
}

std::vector<RunEvaluation> Trainer::evaluate(const Array<float>* log_target_weight, Stream stream) {
  const StreamScope scope(stream);
  std::vector<RunEvaluation> out =
      st_->eval.evaluate(dag_, config_, st_->tables, log_target_weight);
  // The bounds are on log Z of R: not for a base-policy target or a caller's own target.
  if (!config_.prior && !log_target_weight)
    st_->eval.bound(dag_, config_, !st_->learned,
                    [this](int32_t r) { return backward_policy(r); }, out);
  return out;
}

std::vector<double> Trainer::spearman(const Array<float>* log_target_weight) const {
  const training::Evaluation& e = st_->eval;
  if (e.solvers.size() < std::size_t(config_.runs))
    throw InputError("spearman: no evaluation yet (call evaluate() first)");
  const std::vector<float> target =
      (log_target_weight ? *log_target_weight
                         : e.target_weight.empty() ? dag_.log_reward() : e.target_weight)
          .to_host();
  if (target.size() != std::size_t(dag_.num_states()))
    throw InputError("spearman: " + std::to_string(target.size()) + " target weights for " +
                     std::to_string(dag_.num_states()) + " states");
  const std::vector<float> all = e.log_terminal.to_host();
  const std::size_t N = dag_.num_states();
  std::vector<double> out(config_.runs);
  // Runs in parallel: each sorts its own copy (spearman_correlation throws only on sizes,
  // checked above).
#pragma omp parallel for schedule(dynamic, 1) if (config_.runs > 1) num_threads(::gfnrl::cpu_threads())
  for (int32_t r = 0; r < config_.runs; ++r)
    out[r] = spearman_correlation(
        std::vector<float>(all.begin() + r * N, all.begin() + (r + 1) * N), target,
        rank_log_tolerance(dag_));
  return out;
}

namespace {
void check_run(int32_t run, int32_t runs) {
  if (run < 0 || run >= runs)
    throw InputError("run " + std::to_string(run) + " is out of range [0, " +
                     std::to_string(runs) + ")");
}
}  // namespace

ForwardPolicy Trainer::policy(int32_t run) const {
  check_run(run, config_.runs);
  st_->eval.refresh_policies(dag_, config_, st_->tables);
  return st_->eval.policy(dag_, run);
}

BackwardPolicy Trainer::backward_policy(int32_t run) const {
  check_run(run, config_.runs);
  const State& s = *st_;
  if (s.learned) return {s.learned->policy(dag_, run), backward_mode_name(config_.backward)};
  if (s.fixed_log_pb.empty()) return uniform_backward_policy(dag_);
  return BackwardPolicy{s.fixed_log_pb.to(dag_.backend()), "fixed"};
}

std::vector<int64_t> Trainer::reached_groups(const std::vector<int32_t>& states,
                                             const std::vector<int32_t>& group) const {
  if (!group.empty() && group.size() != states.size())
    throw InputError("reached_groups: " + std::to_string(group.size()) + " groups for " +
                     std::to_string(states.size()) + " states (give one per state, or none)");
  std::vector<int32_t> g = group;
  if (g.empty())
    for (std::size_t i = 0; i < states.size(); ++i) g.push_back(static_cast<int32_t>(i));
  for (std::size_t i = 0; i < states.size(); ++i) {
    if (states[i] < 0 || states[i] >= dag_.num_states())
      throw InputError("reached_groups: state " + std::to_string(states[i]) +
                       " is out of range [0, " + std::to_string(dag_.num_states()) + ")");
    if (g[i] < 0 || (i > 0 && g[i] < g[i - 1]))
      throw InputError("reached_groups: groups must be >= 0 and nondecreasing (group " +
                       std::to_string(g[i]) + " at position " + std::to_string(i) + ")");
  }
  std::vector<int64_t> out(config_.runs, 0);
  if (states.empty()) return out;
  const Backend b = dag_.backend();
  const Array<int32_t> s = Array<int32_t>::from_host(b, states), gd = Array<int32_t>::from_host(b, g);
  Array<int32_t> count(b, static_cast<std::size_t>(config_.runs));
  GFNRL_BACKEND_CALL(b, count_reached, st_->batch.reached.data(), config_.runs, dag_.num_states(),
                     s.data(), gd.data(), static_cast<int32_t>(states.size()), count.data());
  const std::vector<int32_t> h = count.to_host();
  std::copy(h.begin(), h.end(), out.begin());
  return out;
}

double Trainer::target_log_z() const { return st_->eval.target_log_z; }

std::vector<double> Trainer::last_loss() const {
  if (!st_->tables.loss_valid) return std::vector<double>(config_.runs, 0.0);
  const std::vector<float> l = st_->tables.loss.to_host();
  return std::vector<double>(l.begin(), l.end());
}

std::vector<double> Trainer::last_backward_loss() const {
  if (!st_->learned) return std::vector<double>(config_.runs, 0.0);
  const std::vector<float> h = st_->learned->loss.to_host();
  return std::vector<double>(h.begin(), h.end());
}

std::vector<float> Trainer::parameters() const { return st_->tables.params.to_host(); }

SampledBatch Trainer::last_batch() const {
  SampledBatch out;
  if (steps_ == 0 || config_.exact_gradient) return out;
  const training::Trajectories& t = st_->batch;
  out.runs = config_.runs;
  out.batch = t.batch;
  out.max_len = t.max_len;
  out.states = t.states.to_host();
  out.actions = t.actions.to_host();
  out.lengths = t.lengths.to_host();
  return out;
}

}  // namespace gfnrl
