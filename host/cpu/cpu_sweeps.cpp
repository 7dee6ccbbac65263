// CPU backend of the level-synchronous sweeps: OpenMP across the states of a level, levels in
// order. Each state runs the same per-state function as the CUDA kernels (detail/state_math.hpp),
// and writes only its own outputs, so results do not depend on the thread count.
#include "backend_ops.hpp"

namespace gfnrl::detail::cpu {

void soft_values(const Dag& dag, const SoftValueArgs& args, const SweepOptions&, SweepGraphPtr&) {
  const auto& lv = dag.level_offsets();
  for (int32_t l = dag.num_levels() - 1; l >= 0; --l) {
#pragma omp parallel for schedule(static) if (lv[l + 1] - lv[l] > 1024)
    for (int32_t s = lv[l]; s < lv[l + 1]; ++s) soft_value_state(args, s);
  }
}

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

void backward_policy(const DagView& d, const double* log_n, float* log_prob) {
#pragma omp parallel for schedule(static) if (d.num_states > 4096)
  for (int32_t c = 0; c < d.num_states; ++c) backward_state(d, c, log_n, log_prob);
}

void backward_sums(const DagView& d, const float* log_prob, double* sums) {
#pragma omp parallel for schedule(static) if (d.num_states > 4096)
  for (int32_t c = 0; c < d.num_states; ++c) {
    double s = 0;
    for (int32_t j = d.parent_offsets[c]; j < d.parent_offsets[c + 1]; ++j)
      s += exp_(static_cast<double>(log_prob[d.parent_edge[j]]));
    sums[c] = s;
  }
}

}  // namespace gfnrl::detail::cpu
