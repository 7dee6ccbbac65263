// The batch of forward trajectories every run samples per step.
#include "training/trainer_parts.hpp"

namespace gfnrl::training {

// States and actions per position, lengths; AC's advantages; SubTB's scratch rows.
std::size_t Trajectories::bytes(const Dag& dag, const TrainConfig& c) {
  const std::size_t traj = std::size_t(c.runs) * c.batch, len = dag.num_levels();
  std::size_t bytes = traj * (2 * len + 1) * sizeof(int32_t) + 4 * std::size_t(c.runs) * sizeof(float) +
                      std::size_t(c.runs) * dag.num_states();  // the reached flags
  if (c.algo == Algo::ActorCritic) bytes += traj * len * sizeof(float);
  if (c.algo == Algo::SubTB) bytes += traj * detail::kSubTBScratch * (len + 1) * sizeof(float);
  if (c.algo == Algo::ZVar) bytes += traj * 2 * sizeof(float);
  return bytes;
}

Trajectories::Trajectories(const Dag& dag, const TrainConfig& c) : batch(c.batch), max_len(dag.num_levels()) {
  const Backend b = dag.backend();
  const std::size_t traj = std::size_t(c.runs) * c.batch;
  states = Array<int32_t>(b, traj * max_len);
  actions = Array<int32_t>(b, traj * max_len);
  lengths = Array<int32_t>(b, traj);
  if (c.algo == Algo::SubTB)
    scratch = Array<float>(b, traj * detail::kSubTBScratch * (max_len + 1));
  if (c.algo == Algo::ZVar) scratch = Array<float>(b, traj * 2);  // residual; the run's mean slope
  if (c.algo == Algo::PolicyGradient || c.algo == Algo::ActorCritic) cost = Array<float>(b, traj);
  if (c.algo == Algo::ActorCritic) advantage = Array<float>(b, traj * max_len);
  epsilon_start = Array<float>::from_host(b, per_run(c.epsilon, c.runs));
  epsilon_end = Array<float>::from_host(b, per_run(c.epsilon_end, c.runs));
  temperature_start = Array<float>::from_host(b, per_run(c.temperature, c.runs));
  temperature_end = Array<float>::from_host(b, per_run(c.temperature_end, c.runs));
  reached = Array<uint8_t>::from_host(b, std::vector<uint8_t>(traj / c.batch * dag.num_states(), 0));
}

detail::TrajectoryBatch Trajectories::view() const {
  detail::TrajectoryBatch t{};
  t.batch = batch;
  t.max_len = max_len;
  t.states = states.data();
  t.actions = actions.data();
  t.lengths = lengths.data();
  return t;
}

detail::RolloutArgs Trajectories::rollout(const Dag& dag, const TrainConfig& c,
                                          const detail::TableLayout& L, const float* params,
                                          int64_t step) {
  detail::RolloutArgs a{};
  a.dag = dag.view();
  a.layout = L;
  a.params = params;
  a.runs = c.runs;
  a.batch = c.batch;
  a.max_len = max_len;
  a.tau = c.entropy_coefficient();
  a.temperature_start = temperature_start.data();
  a.temperature_end = temperature_end.data();
  a.temperature_steps = c.temperature_decay_steps;
  a.epsilon_start = epsilon_start.data();
  a.epsilon_end = epsilon_end.data();
  a.epsilon_steps = c.epsilon_decay_steps;
  a.seed = c.seed;
  a.step = static_cast<uint64_t>(step);
  a.states = states.data();
  a.actions = actions.data();
  a.lengths = lengths.data();
  a.reached = reached.data();
  return a;
}

}  // namespace gfnrl::training
