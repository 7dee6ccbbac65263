// CPU twin of kernels/forward_sweep.cu: exact marginals and path counts, parents before children,
// and the uniform forward policy.
// Levels in order, OpenMP across the states of a level; each state runs the same per-state
// function as the CUDA kernel (detail/state_math.hpp) and writes only its own outputs, so results
// do not depend on the thread count.
#include "ops/sweep_ops.hpp"

namespace gfnrl::detail::cpu {

namespace {
template <class R>
void forward_levels(const Dag& dag, const ForwardArgsT<R>& args) {
  const auto& lv = dag.level_offsets();
  for (int32_t l = 0; l < dag.num_levels(); ++l) {
#pragma omp parallel for schedule(static) if (lv[l + 1] - lv[l] > 1024)
    for (int32_t s = lv[l]; s < lv[l + 1]; ++s) forward_state(args, s);
  }
}
}  // namespace

void forward_sweep(const Dag& dag, const ForwardArgs& args, const SweepOptions&, SweepGraphPtr&) {
  forward_levels(dag, args);
}

void path_counts(const Dag& dag, const PathCountArgs& args) { forward_levels(dag, args); }

void uniform_forward_policy(const DagView& d, float* log_prob, float* exit_log_prob) {
#pragma omp parallel for schedule(static) if (d.num_states > 4096)
  for (int32_t s = 0; s < d.num_states; ++s) uniform_forward_state(d, s, log_prob, exit_log_prob);
}

}  // namespace gfnrl::detail::cpu
