// CPU twin of kernels/soft_values.cu: soft value iteration, children before parents.
// Levels in order, OpenMP across the states of a level; each state runs the same per-state
// function as the CUDA kernel (detail/state_math.hpp) and writes only its own outputs, so results
// do not depend on the thread count.
#include "ops/sweep_ops.hpp"

namespace gfnrl::detail::cpu {

void soft_values(const Dag& dag, const SoftValueArgs& args, const SweepOptions&, SweepGraphPtr&) {
  const auto& lv = dag.level_offsets();
  for (int32_t l = dag.num_levels() - 1; l >= 0; --l) {
#pragma omp parallel for schedule(static) if (lv[l + 1] - lv[l] > 1024)
    for (int32_t s = lv[l]; s < lv[l + 1]; ++s) soft_value_state(args, s);
  }
}

}  // namespace gfnrl::detail::cpu
