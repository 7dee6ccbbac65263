// Trainer: owns every run's tables, trajectories, replay buffers and evaluation solvers on one
// backend, and sequences the backend operations of one training step (see train.hpp).
#include <cmath>
#include <limits>

#include "ops/training_ops.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/marginals.hpp"
#include "gfnrl/memory_budget.hpp"
#include "gfnrl/train.hpp"

namespace gfnrl {

namespace {
detail::TableLayout layout_of(const Dag& dag) {
  detail::TableLayout L;
  L.num_states = dag.num_states();
  L.num_edges = dag.num_edges();
  return L;
}

std::vector<float> per_run(const std::vector<float>& v, int32_t runs) {
  return v.size() == 1 ? std::vector<float>(runs, v[0]) : v;
}

bool coupled_backward(BackwardMode m) {
  return m == BackwardMode::Coupled || m == BackwardMode::Guided;
}

// The guide's default threshold: the smallest finite log R of the DAG.
float smallest_log_reward(const Dag& dag) {
  float lo = std::numeric_limits<float>::infinity();
  for (float x : dag.log_reward().to_host())
    if (x > -std::numeric_limits<float>::infinity() && x < lo) lo = x;
  return lo;
}
}  // namespace

struct Trainer::State {
  detail::TableLayout layout;
  int32_t max_len = 0;
  Array<float> params, grad, m, v, target, loss;
  Array<float> lr, lr_log_z, log_pb;
  Array<int32_t> states, actions, lengths;
  Array<float> scratch;  // SubTB
  // Replay (DQN learners).
  Array<int32_t> slot_state, slot_action, sample_slot, sample_state, sample_action;
  Array<float> priority, max_priority, abs_td;
  Array<double> cumsum;
  Array<int64_t> inserted;
  // Learned / TLM backward policy: logits, their optimizer state, the TLM target copy, and the
  // log P_B rows the losses read.
  Array<float> pb_theta, pb_grad, pb_m, pb_v, pb_target, pb_log, pb_loss, lr_pb;
  int64_t pb_updates = 0;
  // Coupled / guided P_B: the backward critic V_B [runs x N] with its gradient and Adam moments,
  // and the backward trajectories [runs x batch (x max_len)].
  Array<float> pb_value, pb_value_grad, pb_value_m, pb_value_v, back_adv;
  Array<int32_t> back_states, back_edges, back_lengths;
  float guide_log_reward = 0;
  // A base policy mu: its tables, and the target log R + log mu^T it implies.
  Array<float> prior_edge, prior_exit, target_weight;
  double target_log_z = 0;
  // pg / ac: each trajectory's total cost [runs x batch]; --exact-gradient: V(s), [runs x N].
  // V2 and A: exact TB's second moment and, with a learned P_B, the expected cost before s.
  Array<float> pg_cost, pg_value, pg_value2, pg_prefix, pg_advantage;
  // Evaluation.
  Array<float> log_prob, exit_log_prob, log_z;
  Array<float> log_visit, log_terminal;  // [runs x N]: every run's solver writes its slice
  std::vector<std::unique_ptr<MarginalSolver>> solvers;
  std::size_t entries = 0;  // runs x stride
  int64_t updates = 0;
  bool loss_valid = false;
};

std::size_t Trainer::estimate_bytes(const Dag& dag, const TrainConfig& c) {
  const detail::TableLayout L = layout_of(dag);
  const std::size_t runs = c.runs, stride = L.stride();
  const std::size_t len = dag.num_levels();
  std::size_t tables = 2 + (c.optimizer != OptimizerKind::Sgd ? 2 : 0) + (is_dqn(c.algo) ? 1 : 0);
  std::size_t bytes = tables * runs * stride * sizeof(float);
  bytes += runs * c.batch * (2 * len + 1) * sizeof(int32_t);
  if (c.algo == Algo::ActorCritic) bytes += runs * c.batch * len * sizeof(float);  // advantages
  if (c.exact_gradient)  // V, and TB's second moment V2 and (learned P_B) prefix A, per state
    bytes += runs * std::size_t(dag.num_states()) * sizeof(float) *
             (c.algo == Algo::TB ? (c.backward == BackwardMode::Learned ? 3 : 2) : 1);
  if (c.backward != BackwardMode::Fixed)  // logits, gradient, Adam moments, target, log P_B
    bytes += 6 * runs * std::size_t(dag.num_edges()) * sizeof(float);
  if (coupled_backward(c.backward))  // critic, its gradient and moments; backward trajectories
    bytes += runs * (4 * std::size_t(dag.num_states()) * sizeof(float) +
                     c.batch * ((2 * len + 1) * sizeof(int32_t) + sizeof(float)));
  if (c.algo == Algo::SubTB)
    bytes += runs * c.batch * detail::kSubTBScratch * (len + 1) * sizeof(float);
  if (is_dqn(c.algo)) {
    const std::size_t slot = 2 * sizeof(int32_t) + (c.prioritized ? sizeof(float) + sizeof(double) : 0);
    bytes += runs * std::size_t(c.replay_capacity) * slot;
    bytes += runs * std::size_t(c.replay_batch) * (3 * sizeof(int32_t) + sizeof(float));
  }
  // Evaluation: every run's policy plus one marginal solver (visit + terminal) per run.
  bytes += runs * (std::size_t(dag.num_edges()) + 3 * std::size_t(dag.num_states())) * sizeof(float);
  return bytes;
}

Trainer::Trainer(const Dag& dag, const BackwardPolicy* correction, TrainConfig config,
                 Stream stream)
    : dag_(dag), config_(std::move(config)), st_(std::make_unique<State>()) {
  const StreamScope scope(stream);
  config_.validate();
  const Backend b = dag.backend();
  if (correction) {
    check_backward_shape(dag, *correction);
    // Every loss reads log P_B on the edges it samples; a zero (-inf) there makes the residual
    // infinite and the tables NaN. The solvers mask such edges; training refuses them up front.
    check_backward_positive(dag, *correction,
                            "the training losses take log P_B of every sampled edge");
  }
  if (config_.algo == Algo::ModifiedDB || (is_dqn(config_.algo) && config_.energy_reward)) {
    // Energy differences need R(s) at every state.
    const std::vector<float> lr = dag.log_reward().to_host();
    for (std::size_t s = 0; s < lr.size(); ++s)
      if (!(lr[s] > -std::numeric_limits<float>::infinity()))
        throw InputError(std::string(config_.algo == Algo::ModifiedDB ? "mdb" : "--energy-reward") +
                         " needs every state to terminate (energy differences), but state " +
                         std::to_string(s) + " has no reward");
  }
  if (config_.prior && (correction || config_.backward != BackwardMode::Fixed))
    throw InputError("a base policy replaces the backward policy (relative balance: "
                     "Z P_F(tau) = R(x) mu(tau)); give no correction and a fixed backward mode");
  if (config_.prior) check_policy_shape(dag, *config_.prior, "prior policy");
  require_bytes(b, estimate_bytes(dag, config_),
                "training " + std::to_string(config_.runs) + " runs of " + algo_name(config_.algo));
  State& s = *st_;
  const int32_t R = config_.runs;
  s.layout = layout_of(dag);
  s.max_len = dag.num_levels();  // (levels - 1) edges plus the exit
  const std::size_t n = s.entries = std::size_t(R) * s.layout.stride();
  auto zeros = [&](std::size_t count) {
    Array<float> a(b, count);
    GFNRL_BACKEND_CALL(b, fill, a.data(), count, 0.0f);
    return a;
  };
  s.params = zeros(n);
  s.grad = zeros(n);  // the optimizer step re-zeroes every entry it consumes
  if (config_.optimizer != OptimizerKind::Sgd) {
    s.m = zeros(n);
    s.v = zeros(n);
  }
  s.loss = zeros(R);
  s.lr = Array<float>::from_host(b, per_run(config_.lr, R));
  s.lr_log_z = Array<float>::from_host(b, per_run(config_.lr_log_z, R));
  if (correction && config_.backward != BackwardMode::Fixed)
    throw InputError("backward mode " + backward_mode_name(config_.backward) +
                     " trains its own P_B: give no fixed correction");
  if (correction) s.log_pb = correction->log_prob;
  if (config_.backward != BackwardMode::Fixed) {
    const std::size_t pe = std::size_t(R) * dag.num_edges();
    s.pb_theta = zeros(pe);  // uniform P_B
    s.pb_grad = zeros(pe);
    s.pb_m = zeros(pe);
    s.pb_v = zeros(pe);
    if (config_.backward == BackwardMode::Tlm) s.pb_target = zeros(pe);
    s.pb_log = Array<float>(b, pe);
    s.pb_loss = zeros(R);
    s.lr_pb = Array<float>::from_host(b, std::vector<float>(R, config_.lr_backward));
  }
  if (coupled_backward(config_.backward)) {
    const std::size_t nv = std::size_t(R) * dag.num_states();
    s.pb_value = zeros(nv);
    s.pb_value_grad = zeros(nv);
    s.pb_value_m = zeros(nv);
    s.pb_value_v = zeros(nv);
    const std::size_t traj = std::size_t(R) * config_.batch;
    s.back_adv = Array<float>(b, traj);
    s.back_states = Array<int32_t>(b, traj * dag.num_levels());
    s.back_edges = Array<int32_t>(b, traj * dag.num_levels());
    s.back_lengths = Array<int32_t>(b, traj);
    s.guide_log_reward = config_.guide_log_reward ? *config_.guide_log_reward
                                                  : smallest_log_reward(dag);
  }
  const std::size_t traj = std::size_t(R) * config_.batch;
  s.states = Array<int32_t>(b, traj * s.max_len);
  s.actions = Array<int32_t>(b, traj * s.max_len);
  s.lengths = Array<int32_t>(b, traj);
  if (config_.algo == Algo::SubTB)
    s.scratch = Array<float>(b, traj * detail::kSubTBScratch * (s.max_len + 1));
  if (is_dqn(config_.algo)) {
    s.target = zeros(n);
    const std::size_t slots = std::size_t(R) * config_.replay_capacity;
    s.slot_state = Array<int32_t>(b, slots);
    s.slot_action = Array<int32_t>(b, slots);
    const std::size_t k = std::size_t(R) * config_.replay_batch;
    s.sample_slot = Array<int32_t>(b, k);
    s.sample_state = Array<int32_t>(b, k);
    s.sample_action = Array<int32_t>(b, k);
    s.abs_td = Array<float>(b, k);
    s.inserted = Array<int64_t>::from_host(b, std::vector<int64_t>(R, 0));
    s.max_priority = Array<float>::from_host(b, std::vector<float>(R, 1.0f));
    if (config_.prioritized) {
      s.priority = Array<float>(b, slots);
      s.cumsum = Array<double>(b, slots);
    }
  }
  if (config_.prior) {
    // Target weights log R(x) + log mu^T(x), once (the exact core on this backend).
    s.prior_edge = config_.prior->log_prob;
    s.prior_exit = config_.prior->exit_log_prob;
    s.target_weight = base_policy_target(dag, *config_.prior, &s.target_log_z);
  } else {
    s.target_log_z = log_partition(dag);
  }
  if (config_.algo == Algo::PolicyGradient || config_.algo == Algo::ActorCritic)
    s.pg_cost = Array<float>(b, std::size_t(R) * config_.batch);
  if (config_.algo == Algo::ActorCritic)
    s.pg_advantage = Array<float>(b, std::size_t(R) * config_.batch * s.max_len);
  if (config_.exact_gradient) {
    s.pg_value = Array<float>(b, std::size_t(R) * dag.num_states());
    if (config_.algo == Algo::TB) s.pg_value2 = Array<float>(b, std::size_t(R) * dag.num_states());
    if (config_.algo == Algo::TB && config_.backward == BackwardMode::Learned)
      s.pg_prefix = Array<float>(b, std::size_t(R) * dag.num_states());
  }
  s.log_prob = Array<float>(b, std::size_t(R) * dag.num_edges());
  s.log_visit = Array<float>(b, std::size_t(R) * dag.num_states());
  s.log_terminal = Array<float>(b, std::size_t(R) * dag.num_states());
  s.exit_log_prob = Array<float>(b, std::size_t(R) * dag.num_states());
  s.log_z = Array<float>(b, R);
}

Trainer::~Trainer() = default;

namespace {
detail::RolloutArgs rollout_args(const Dag& dag, const TrainConfig& c, int32_t max_len,
                                 const detail::TableLayout& L, const float* params,
                                 int32_t* states, int32_t* actions, int32_t* lengths,
                                 int64_t step) {
  detail::RolloutArgs a{};
  a.dag = dag.view();
  a.layout = L;
  a.params = params;
  a.runs = c.runs;
  a.batch = c.batch;
  a.max_len = max_len;
  a.scale = 1.0f / (c.entropy_coefficient() * c.temperature);
  a.epsilon = c.epsilon;
  a.seed = c.seed;
  a.step = static_cast<uint64_t>(step);
  a.states = states;
  a.actions = actions;
  a.lengths = lengths;
  return a;
}
}  // namespace

void Trainer::step(Stream stream) {
  const StreamScope scope(stream);
  State& s = *st_;
  const Backend b = dag_.backend();
  const TrainConfig& c = config_;
  const auto ra = rollout_args(dag_, c, s.max_len, s.layout, s.params.data(), s.states.data(),
                               s.actions.data(), s.lengths.data(), steps_);
  const bool exact = c.exact_gradient;  // pg, or TB (twice pg's gradient: pg_math.hpp)
  if (!exact) GFNRL_BACKEND_CALL(b, rollout, ra);
  const float* log_pb = s.log_pb.empty() ? nullptr : s.log_pb.data();
  int64_t log_pb_stride = 0;
  float* pb_grad = nullptr;
  if (c.backward != BackwardMode::Fixed) {
    backward_step();
    log_pb = s.pb_log.data();
    log_pb_stride = dag_.num_edges();
    if (c.backward == BackwardMode::Learned) pb_grad = s.pb_grad.data();
  }
  bool update = false;
  GFNRL_BACKEND_CALL(b, fill, s.loss.data(), s.loss.size(), 0.0f);
  if (c.algo == Algo::PolicyGradient || c.algo == Algo::ActorCritic || exact) {
    detail::PgArgs<float> pa{};
    pa.critic = c.algo == Algo::ActorCritic;
    pa.gae_lambda = c.gae_lambda;
    pa.dag = dag_.view();
    pa.layout = s.layout;
    pa.params = s.params.data();
    pa.grad = s.grad.data();
    pa.loss = s.loss.data();
    pa.log_pb = log_pb;
    pa.log_pb_stride = log_pb_stride;
    pa.pb_grad = pb_grad;
    pa.log_pf = s.log_prob.data();  // read by the exact gradient of a learned P_B
    pa.runs = c.runs;
    pa.batch = c.batch;
    pa.max_len = s.max_len;
    pa.states = s.states.data();
    pa.actions = s.actions.data();
    pa.lengths = s.lengths.data();
    pa.traj_cost = s.pg_cost.data();
    pa.advantage = s.pg_advantage.empty() ? nullptr : s.pg_advantage.data();
    if (exact) {
      // p(s) of every run's current policy: the evaluation's marginal solvers, which write
      // their slices of one [runs x N] buffer.
      refresh_policies();
      ensure_solvers();
      for (int32_t r = 0; r < c.runs; ++r) s.solvers[r]->run();
      pa.value = s.pg_value.data();
      pa.value2 = s.pg_value2.empty() ? nullptr : s.pg_value2.data();
      pa.squared = c.algo == Algo::TB;
      pa.prefix = s.pg_prefix.empty() ? nullptr : s.pg_prefix.data();
      pa.log_visit = s.log_visit.data();
      GFNRL_BACKEND_CALL(b, pg_exact, dag_, pa);
    } else {
      GFNRL_BACKEND_CALL(b, pg_loss, pa);
    }
    update = true;
  } else if (!is_dqn(c.algo)) {
    detail::TrajectoryLossArgs<float> la{};
    la.dag = dag_.view();
    la.layout = s.layout;
    la.params = s.params.data();
    la.grad = s.grad.data();
    la.loss = s.loss.data();
    la.log_pb = log_pb;
    la.log_pb_stride = log_pb_stride;
    la.pb_grad = pb_grad;
    la.runs = c.runs;
    la.batch = c.batch;
    la.max_len = s.max_len;
    la.states = s.states.data();
    la.actions = s.actions.data();
    la.lengths = s.lengths.data();
    la.lambda = c.subtb_lambda;
    la.prior_edge = s.prior_edge.empty() ? nullptr : s.prior_edge.data();
    la.prior_exit = s.prior_exit.empty() ? nullptr : s.prior_exit.data();
    la.scratch = s.scratch.empty() ? nullptr : s.scratch.data();
    const auto kind = c.algo == Algo::TB            ? detail::LossKind::TB
                      : c.algo == Algo::DB          ? detail::LossKind::DB
                      : c.algo == Algo::ModifiedDB  ? detail::LossKind::ModifiedDB
                                                    : detail::LossKind::SubTB;
    GFNRL_BACKEND_CALL(b, trajectory_loss, kind, la);
    update = true;
  } else {
    detail::ReplayArgs rb{};
    rb.runs = c.runs;
    rb.capacity = c.replay_capacity;
    rb.slot_state = s.slot_state.data();
    rb.slot_action = s.slot_action.data();
    rb.priority = s.priority.empty() ? nullptr : s.priority.data();
    rb.cumsum = s.cumsum.empty() ? nullptr : s.cumsum.data();
    rb.inserted = s.inserted.data();
    rb.max_priority = s.max_priority.data();
    GFNRL_BACKEND_CALL(b, replay_insert, rb, ra);
    if (steps_ >= c.learning_starts) {
      GFNRL_BACKEND_CALL(b, replay_sample, rb, c.seed, static_cast<uint64_t>(steps_),
                         c.replay_batch, s.sample_slot.data(), s.sample_state.data(),
                         s.sample_action.data());
      detail::DqnArgs<float> da{};
      da.dag = dag_.view();
      da.layout = s.layout;
      da.params = s.params.data();
      da.target = s.target.data();
      da.grad = s.grad.data();
      da.loss = s.loss.data();
      da.abs_td = s.abs_td.data();
      da.log_pb = log_pb;
      da.log_pb_stride = log_pb_stride;
      da.pb_grad = pb_grad;
      da.runs = c.runs;
      da.samples = c.replay_batch;
      da.sample_state = s.sample_state.data();
      da.sample_action = s.sample_action.data();
      da.tau = c.entropy_coefficient();
      da.alpha = c.algo == Algo::Munchausen ? c.munchausen_alpha : 0.0f;
      da.l0 = c.munchausen_l0;
      da.huber = c.huber;
      da.energy_reward = c.energy_reward;
      GFNRL_BACKEND_CALL(b, dqn_loss, da);
      if (rb.priority)
        GFNRL_BACKEND_CALL(b, replay_update_priorities, rb, c.replay_batch, s.sample_slot.data(),
                           s.abs_td.data(), c.priority_exponent);
      update = true;
    }
  }
  if (update) {
    ++s.updates;
    detail::OptimizerArgs oa{};
    oa.params = s.params.data();
    oa.grad = s.grad.data();
    oa.m = s.m.empty() ? nullptr : s.m.data();
    oa.v = s.v.empty() ? nullptr : s.v.data();
    oa.stride = s.layout.stride();
    oa.log_z_entry = s.layout.log_z_entry();
    oa.runs = c.runs;
    oa.lr = s.lr.data();
    oa.lr_log_z = s.lr_log_z.data();
    oa.adam = c.optimizer != OptimizerKind::Sgd;
    oa.lazy = c.optimizer == OptimizerKind::LazyAdam;
    oa.beta1 = c.adam_beta1;
    oa.beta2 = c.adam_beta2;
    oa.eps = c.adam_eps;
    oa.bias1 = static_cast<float>(1.0 - std::pow(double(c.adam_beta1), double(s.updates)));
    oa.bias2 = static_cast<float>(1.0 - std::pow(double(c.adam_beta2), double(s.updates)));
    GFNRL_BACKEND_CALL(b, optimizer_step, oa);
    if (pb_grad) optimize_backward(1.0f);
    if (coupled_backward(c.backward)) coupled_backward_step();
    if (is_dqn(c.algo) && s.updates % c.target_every == 0)
      GFNRL_BACKEND_CALL(b, polyak, s.target.data(), s.params.data(), s.entries,
                         c.target_rate);
    s.loss_valid = true;
  }
  ++steps_;
}

// An Adam step on every run's backward logits (learned: with the forward step; TLM and coupled:
// their own), and on the coupled modes' backward critic at the same rate.
void Trainer::optimize_backward(float lr_scale) {
  State& s = *st_;
  const TrainConfig& c = config_;
  ++s.pb_updates;
  detail::OptimizerArgs oa{};
  oa.params = s.pb_theta.data();
  oa.grad = s.pb_grad.data();
  oa.m = s.pb_m.data();
  oa.v = s.pb_v.data();
  oa.stride = dag_.num_edges();
  oa.log_z_entry = -1;  // no log Z among the backward logits
  oa.runs = c.runs;
  oa.lr = s.lr_pb.data();
  oa.lr_log_z = s.lr_pb.data();
  oa.adam = true;
  oa.lazy = c.optimizer == OptimizerKind::LazyAdam;
  oa.beta1 = c.adam_beta1;
  oa.beta2 = c.adam_beta2;
  oa.eps = c.adam_eps;
  oa.bias1 = static_cast<float>(1.0 - std::pow(double(c.adam_beta1), double(s.pb_updates)));
  oa.bias2 = static_cast<float>(1.0 - std::pow(double(c.adam_beta2), double(s.pb_updates)));
  oa.lr_scale = lr_scale;
  GFNRL_BACKEND_CALL(dag_.backend(), optimizer_step, oa);
  if (s.pb_value.empty()) return;
  oa.params = s.pb_value.data();
  oa.grad = s.pb_value_grad.data();
  oa.m = s.pb_value_m.data();
  oa.v = s.pb_value_v.data();
  oa.stride = dag_.num_states();
  GFNRL_BACKEND_CALL(dag_.backend(), optimizer_step, oa);
}

// Niu et al.'s coupled P_B, after the forward update: backward trajectories from the batch's
// terminal states with the current P_B (log P_B of the online logits, written by
// backward_step), then a policy-gradient step of P_B toward the guide read from the updated P_F.
void Trainer::coupled_backward_step() {
  State& s = *st_;
  const TrainConfig& c = config_;
  const Backend b = dag_.backend();
  detail::BackwardRolloutArgs br{};
  br.dag = dag_.view();
  br.log_pb = s.pb_log.data();
  br.runs = c.runs;
  br.batch = c.batch;
  br.max_len = s.max_len;
  br.seed = c.seed;
  br.step = static_cast<uint64_t>(steps_);
  br.forward_states = s.states.data();
  br.forward_lengths = s.lengths.data();
  br.states = s.back_states.data();
  br.edges = s.back_edges.data();
  br.lengths = s.back_lengths.data();
  GFNRL_BACKEND_CALL(b, backward_rollout, br);
  GFNRL_BACKEND_CALL(b, fill, s.pb_loss.data(), s.pb_loss.size(), 0.0f);
  detail::CoupledArgs<float> ca{};
  ca.dag = dag_.view();
  ca.layout = s.layout;
  ca.params = s.params.data();
  ca.log_pb = s.pb_log.data();
  ca.pb_grad = s.pb_grad.data();
  ca.value = s.pb_value.data();
  ca.value_grad = s.pb_value_grad.data();
  ca.loss = s.pb_loss.data();
  ca.adv_sum = s.back_adv.data();
  ca.runs = c.runs;
  ca.batch = c.batch;
  ca.max_len = s.max_len;
  ca.states = s.back_states.data();
  ca.edges = s.back_edges.data();
  ca.lengths = s.back_lengths.data();
  ca.guided = c.backward == BackwardMode::Guided;
  ca.guide_log_reward = s.guide_log_reward;
  GFNRL_BACKEND_CALL(b, coupled_loss, ca);
  optimize_backward(1.0f);
}

// Before the forward loss: log P_B of the online logits; TLM then takes its own step on the
// fresh trajectories and hands the forward loss its Polyak-averaged target instead.
void Trainer::backward_step() {
  State& s = *st_;
  const TrainConfig& c = config_;
  const Backend b = dag_.backend();
  GFNRL_BACKEND_CALL(b, backward_log_probs, dag_.view(), s.pb_theta.data(), c.runs,
                     s.pb_log.data());
  if (c.backward != BackwardMode::Tlm) return;
  GFNRL_BACKEND_CALL(b, fill, s.pb_loss.data(), s.pb_loss.size(), 0.0f);
  detail::TlmArgs<float> ta{};
  ta.dag = dag_.view();
  ta.layout = s.layout;
  ta.log_pb = s.pb_log.data();
  ta.grad = s.pb_grad.data();
  ta.loss = s.pb_loss.data();
  ta.runs = c.runs;
  ta.batch = c.batch;
  ta.max_len = s.max_len;
  ta.states = s.states.data();
  ta.actions = s.actions.data();
  ta.lengths = s.lengths.data();
  GFNRL_BACKEND_CALL(b, tlm_loss, ta);
  optimize_backward(static_cast<float>(std::pow(double(c.tlm_lr_decay), double(s.pb_updates))));
  GFNRL_BACKEND_CALL(b, polyak, s.pb_target.data(), s.pb_theta.data(), s.pb_target.size(),
                     c.tlm_target_rate);
  GFNRL_BACKEND_CALL(b, backward_log_probs, dag_.view(), s.pb_target.data(), c.runs,
                     s.pb_log.data());
}

double Trainer::target_log_z() const { return st_->target_log_z; }

std::vector<double> Trainer::last_backward_loss() const {
  if (st_->pb_loss.empty()) return std::vector<double>(config_.runs, 0.0);
  const std::vector<float> h = st_->pb_loss.to_host();
  return std::vector<double>(h.begin(), h.end());
}

BackwardPolicy Trainer::backward_policy(int32_t run) const {
  const State& s = *st_;
  if (run < 0 || run >= config_.runs)
    throw InputError("run " + std::to_string(run) + " is out of range [0, " +
                     std::to_string(config_.runs) + ")");
  if (config_.backward == BackwardMode::Fixed)
    return s.log_pb.empty() ? uniform_backward_policy(dag_) : BackwardPolicy{s.log_pb.to(dag_.backend()), "fixed"};
  Array<float> out(dag_.backend(), dag_.num_edges());
  GFNRL_BACKEND_CALL(dag_.backend(), backward_log_probs, dag_.view(),
                     s.pb_theta.data() + std::size_t(run) * dag_.num_edges(), 1, out.data());
  return {out, backward_mode_name(config_.backward)};
}

// One marginal solver per run over its slice of the policy tables (created once: on CUDA each
// captures its sweep as a graph and replays it).
void Trainer::ensure_solvers() const {
  State& s = *st_;
  const std::size_t E = dag_.num_edges(), N = dag_.num_states();
  for (std::size_t r = s.solvers.size(); r < std::size_t(config_.runs); ++r) {
    const Marginals out{s.log_visit.slice(r * N, N), s.log_terminal.slice(r * N, N)};
    s.solvers.push_back(std::make_unique<MarginalSolver>(
        dag_, ForwardPolicy{s.log_prob.slice(r * E, E), s.exit_log_prob.slice(r * N, N)},
        SweepOptions{}, &out));
  }
}

void Trainer::refresh_policies() const {
  State& s = *st_;
  GFNRL_BACKEND_CALL(dag_.backend(), policy_log_probs, dag_.view(), s.layout, s.params.data(),
                     config_.runs, 1.0f / config_.entropy_coefficient(), s.log_prob.data(),
                     s.exit_log_prob.data());
}

void Trainer::train(int64_t steps, int64_t eval_every, const EvaluationCallback& on_evaluation,
                    Stream stream) {
  const StreamScope scope(stream);
  if (steps < 0) throw InputError("train: steps = " + std::to_string(steps) + " must be >= 0");
  if (eval_every < 1)
    throw InputError("train: eval_every = " + std::to_string(eval_every) + " must be >= 1");
  auto report = [&] {
    if (on_evaluation) on_evaluation(steps_, evaluate());
  };
  report();
  for (int64_t i = 1; i <= steps; ++i) {
    step();
    if (i % eval_every == 0 || i == steps) report();
  }
}

std::vector<RunEvaluation> Trainer::evaluate(const Array<float>* log_target_weight, Stream stream) {
  const StreamScope scope(stream);
  State& s = *st_;
  const Backend b = dag_.backend();
  refresh_policies();
  const int32_t mode = config_.algo == Algo::TB || config_.algo == Algo::PolicyGradient ||
                               config_.algo == Algo::ActorCritic
                           ? 0
                       : config_.algo == Algo::ModifiedDB ? 3
                       : is_dqn(config_.algo)             ? (config_.energy_reward ? 4 : 2)
                                                          : 1;
  GFNRL_BACKEND_CALL(b, log_z_estimates, dag_.view(), s.layout, s.params.data(), config_.runs,
                     mode, config_.entropy_coefficient(), s.log_z.data());
  const std::vector<float> log_z = s.log_z.to_host();
  if (!log_target_weight && !s.target_weight.empty()) log_target_weight = &s.target_weight;
  std::vector<RunEvaluation> out(config_.runs);
  ensure_solvers();
  for (int32_t r = 0; r < config_.runs; ++r) {
    s.solvers[r]->run();
    out[r].metrics = compare_to_target(dag_, s.solvers[r]->result(), log_target_weight);
    out[r].log_z_estimate = log_z[r];
  }
  return out;
}

ForwardPolicy Trainer::policy(int32_t run) const {
  if (run < 0 || run >= config_.runs)
    throw InputError("run " + std::to_string(run) + " is out of range [0, " +
                     std::to_string(config_.runs) + ")");
  refresh_policies();
  const std::size_t E = dag_.num_edges(), N = dag_.num_states();
  const Backend b = dag_.backend();
  return ForwardPolicy{st_->log_prob.slice(run * E, E).to(b),
                       st_->exit_log_prob.slice(run * N, N).to(b)};
}

std::vector<double> Trainer::last_loss() const {
  std::vector<double> out(config_.runs, 0.0);
  if (!st_->loss_valid) return out;
  const std::vector<float> l = st_->loss.to_host();
  for (int32_t r = 0; r < config_.runs; ++r) out[r] = l[r];
  return out;
}

std::vector<float> Trainer::parameters() const { return st_->params.to_host(); }

}  // namespace gfnrl
