// A trained backward policy: learned through the forward loss, trained by TLM, or coupled /
// guided with its own critic (Niu et al.).
#include <cmath>
#include <limits>

#include "training/trainer_parts.hpp"

namespace gfnrl::training {

namespace {
// The guide's default threshold: the smallest finite log R of the DAG.
float smallest_log_reward(const Dag& dag) {
  float lo = std::numeric_limits<float>::infinity();
  for (float x : dag.log_reward().to_host())
    if (x > -std::numeric_limits<float>::infinity() && x < lo) lo = x;
  return lo;
}
}  // namespace

// The critic, its gradient and moments per state; backward trajectories and their advantages.
std::size_t BackwardCritic::bytes(const Dag& dag, const TrainConfig& c) {
  if (!is_coupled(c.backward)) return 0;
  const std::size_t len = dag.num_levels();
  return std::size_t(c.runs) * (4 * std::size_t(dag.num_states()) * sizeof(float) +
                                c.batch * ((2 * len + 1) * sizeof(int32_t) + sizeof(float)));
}

BackwardCritic::BackwardCritic(const Dag& dag, const TrainConfig& c) {
  const Backend b = dag.backend();
  const std::size_t nv = std::size_t(c.runs) * dag.num_states();
  value = zeros(b, nv);
  value_grad = zeros(b, nv);
  value_m = zeros(b, nv);
  value_v = zeros(b, nv);
  const std::size_t traj = std::size_t(c.runs) * c.batch;
  adv_sum = Array<float>(b, traj);
  states = Array<int32_t>(b, traj * dag.num_levels());
  edges = Array<int32_t>(b, traj * dag.num_levels());
  lengths = Array<int32_t>(b, traj);
  guide_log_reward = c.guide_log_reward ? *c.guide_log_reward : smallest_log_reward(dag);
}

// Logits, gradient, Adam moments, TLM target, log P_B.
std::size_t LearnedBackward::bytes(const Dag& dag, const TrainConfig& c) {
  if (c.backward == BackwardMode::Fixed) return 0;
  return 6 * std::size_t(c.runs) * dag.num_edges() * sizeof(float) + BackwardCritic::bytes(dag, c);
}

LearnedBackward::LearnedBackward(const Dag& dag, const TrainConfig& c) {
  const Backend b = dag.backend();
  const std::size_t pe = std::size_t(c.runs) * dag.num_edges();
  theta = zeros(b, pe);  // uniform P_B
  grad = zeros(b, pe);
  m = zeros(b, pe);
  v = zeros(b, pe);
  if (c.backward == BackwardMode::Tlm) target = zeros(b, pe);
  log_pb = Array<float>(b, pe);
  loss = zeros(b, c.runs);
  lr = Array<float>::from_host(b, std::vector<float>(c.runs, c.lr_backward));
  if (is_coupled(c.backward)) critic = std::make_unique<BackwardCritic>(dag, c);
}

bool LearnedBackward::visits_only(const TrainConfig& c) {
  return c.backward == BackwardMode::Learned && c.optimizer == OptimizerKind::LazyAdam &&
         !c.optimizer_scan && !is_dqn(c.algo) && !is_policy_gradient(c.algo) && !c.exact_gradient;
}

detail::BackwardView<float> LearnedBackward::before_forward_loss(
    const Dag& dag, const TrainConfig& c, const detail::TableLayout& L,
    const detail::TrajectoryBatch& batch) {
  const Backend b = dag.backend();
  if (visits_only(c))  // the forward loss reads log P_B at the batch's transitions only
    GFNRL_BACKEND_CALL(b, backward_log_probs_visited, dag.view(), theta.data(), c.runs, batch,
                       log_pb.data());
  else
    GFNRL_BACKEND_CALL(b, backward_log_probs, dag.view(), theta.data(), c.runs, log_pb.data());
  if (c.backward == BackwardMode::Tlm) {
    GFNRL_BACKEND_CALL(b, fill, loss.data(), loss.size(), 0.0f);
    detail::TlmArgs<float> ta{};
    static_cast<detail::TrajectoryBatch&>(ta) = batch;
    ta.dag = dag.view();
    ta.layout = L;
    ta.log_pb = log_pb.data();
    ta.grad = grad.data();
    ta.loss = loss.data();
    ta.runs = c.runs;
    GFNRL_BACKEND_CALL(b, tlm_loss, ta);
    optimize(dag, c, static_cast<float>(std::pow(double(c.tlm_lr_decay), double(updates))));
    GFNRL_BACKEND_CALL(b, polyak, target.data(), theta.data(), target.size(), c.tlm_target_rate);
    GFNRL_BACKEND_CALL(b, backward_log_probs, dag.view(), target.data(), c.runs, log_pb.data());
  }
  detail::BackwardView<float> pb{};
  pb.log_pb = log_pb.data();
  pb.log_pb_stride = dag.num_edges();
  pb.pb_grad = c.backward == BackwardMode::Learned ? grad.data() : nullptr;
  return pb;
}

void LearnedBackward::optimize(const Dag& dag, const TrainConfig& c, float lr_scale,
                               const detail::TrajectoryBatch* visited) {
  ++updates;
  detail::OptimizerArgs oa = optimizer_args(c, updates, true, lr_scale);
  oa.params = theta.data();
  oa.grad = grad.data();
  oa.m = m.data();
  oa.v = v.data();
  oa.stride = dag.num_edges();
  oa.log_z_entry = -1;  // no log Z among the backward logits
  oa.lr = lr.data();
  oa.lr_log_z = lr.data();
  if (visited && oa.lazy) {
    detail::TouchedEntries t{};
    t.dag = dag.view();
    t.batch = *visited;
    t.backward_logits = true;
    GFNRL_BACKEND_CALL(dag.backend(), optimizer_step_touched, oa, t);
  } else {
    GFNRL_BACKEND_CALL(dag.backend(), optimizer_step, oa);
  }
  if (!critic) return;
  oa.params = critic->value.data();
  oa.grad = critic->value_grad.data();
  oa.m = critic->value_m.data();
  oa.v = critic->value_v.data();
  oa.stride = dag.num_states();
  GFNRL_BACKEND_CALL(dag.backend(), optimizer_step, oa);
}

// Uses log P_B of the online logits, as before_forward_loss wrote it this step.
void LearnedBackward::coupled_step(const Dag& dag, const TrainConfig& c,
                                   const ForwardTables& tables, const Trajectories& batch,
                                   int64_t step) {
  const Backend b = dag.backend();
  BackwardCritic& k = *critic;
  detail::BackwardRolloutArgs br{};
  br.dag = dag.view();
  br.log_pb = log_pb.data();
  br.runs = c.runs;
  br.batch = c.batch;
  br.max_len = batch.max_len;
  br.seed = c.seed;
  br.step = static_cast<uint64_t>(step);
  br.forward_states = batch.states.data();
  br.forward_lengths = batch.lengths.data();
  br.states = k.states.data();
  br.edges = k.edges.data();
  br.lengths = k.lengths.data();
  GFNRL_BACKEND_CALL(b, backward_rollout, br);
  GFNRL_BACKEND_CALL(b, fill, loss.data(), loss.size(), 0.0f);
  detail::CoupledArgs<float> ca{};
  ca.dag = dag.view();
  ca.layout = tables.layout;
  ca.params = tables.params.data();
  ca.log_pb = log_pb.data();
  ca.pb_grad = grad.data();
  ca.value = k.value.data();
  ca.value_grad = k.value_grad.data();
  ca.loss = loss.data();
  ca.adv_sum = k.adv_sum.data();
  ca.runs = c.runs;
  ca.batch = c.batch;
  ca.max_len = batch.max_len;
  ca.states = k.states.data();
  ca.edges = k.edges.data();
  ca.lengths = k.lengths.data();
  ca.guided = c.backward == BackwardMode::Guided;
  ca.guide_log_reward = k.guide_log_reward;
  GFNRL_BACKEND_CALL(b, coupled_loss, ca);
  optimize(dag, c, 1.0f);
}

Array<float> LearnedBackward::policy(const Dag& dag, int32_t run) const {
  Array<float> out(dag.backend(), dag.num_edges());
  GFNRL_BACKEND_CALL(dag.backend(), backward_log_probs, dag.view(),
                     theta.data() + std::size_t(run) * dag.num_edges(), 1, out.data());
  return out;
}

}  // namespace gfnrl::training
