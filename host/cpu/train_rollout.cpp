// CPU twin of kernels/train_rollout.cu: every run's policy softmax, the log Z estimates, and the
// rollouts, in parallel over (run, trajectory); each trajectory writes only its own slots.
#include "ops/training_ops.hpp"
#include "parallel.hpp"

namespace gfnrl::detail::cpu {

void policy_log_probs(const DagView& d, const TableLayout& L, const float* params, int32_t runs,
                      float scale, float* log_prob, float* exit_log_prob) {
  const int64_t n = int64_t(runs) * d.num_states;
  const OpScope op(CpuOp::PolicySoftmax, n);
#pragma omp parallel for schedule(static) if (op.parallel())
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / d.num_states;
    policy_state(d, L, params + r * L.stride(), static_cast<int32_t>(i - r * d.num_states), scale,
                 log_prob + r * d.num_edges, exit_log_prob + r * d.num_states);
  }
}

void log_z_estimates(const DagView& d, const TableLayout& L, const float* params, int32_t runs,
                     LogZEstimate mode, float tau, float* out) {
  for (int32_t r = 0; r < runs; ++r)
    out[r] = log_z_estimate(d, L, params + int64_t(r) * L.stride(), mode, tau);
}

void rollout(const RolloutArgs& a) {
  const int64_t n = int64_t(a.runs) * a.batch;
  const OpScope op(CpuOp::Rollout, n * a.max_len);
#pragma omp parallel for schedule(dynamic, 16) if (op.parallel(n))
  for (int64_t i = 0; i < n; ++i)
    rollout_trajectory(a, static_cast<int32_t>(i / a.batch), static_cast<int32_t>(i % a.batch));
}

void count_reached(const uint8_t* reached, int32_t runs, int32_t num_states, const int32_t* states,
                   const int32_t* group, int32_t k, int32_t* out) {
  const OpScope op(CpuOp::Fill, int64_t(runs) * k);  // one lookup per state and run
#pragma omp parallel for schedule(static) if (op.parallel(runs))
  for (int32_t r = 0; r < runs; ++r)
    out[r] = reached_groups(reached + int64_t(r) * num_states, states, group, k);
}

}  // namespace gfnrl::detail::cpu
