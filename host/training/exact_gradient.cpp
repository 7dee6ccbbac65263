// The exact expected gradient (pg, tb): sweeps over the DAG instead of sampled trajectories.
#include "training/trainer_parts.hpp"

namespace gfnrl::training {

// V per state; TB adds its second moment V2 and, with a learned P_B, the prefix cost A.
std::size_t ExactGradient::bytes(const Dag& dag, const TrainConfig& c) {
  if (!c.exact_gradient) return 0;
  const std::size_t rows =
      c.algo == Algo::TB ? (c.backward == BackwardMode::Learned ? 3 : 2) : 1;
  return rows * std::size_t(c.runs) * dag.num_states() * sizeof(float);
}

ExactGradient::ExactGradient(const Dag& dag, const TrainConfig& c) {
  const Backend b = dag.backend();
  const std::size_t n = std::size_t(c.runs) * dag.num_states();
  value = Array<float>(b, n);
  if (c.algo == Algo::TB) value2 = Array<float>(b, n);
  if (c.algo == Algo::TB && c.backward == BackwardMode::Learned) prefix = Array<float>(b, n);
}

}  // namespace gfnrl::training
