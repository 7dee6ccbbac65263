// CPU twin of kernels/train_losses.cu: the learners' loss gradients.
// Every gradient, replay and priority operation runs in parallel over runs, each run on one
// thread in a fixed order, so results are identical for every thread count.
#include "ops/training_ops.hpp"
#include "parallel.hpp"

namespace gfnrl::detail::cpu {

void trajectory_loss(LossKind kind, const TrajectoryLossArgs<float>& a) {
  const OpScope op(CpuOp::TrajectoryLoss, int64_t(a.runs) * a.batch * a.max_len);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(a.runs))
  for (int32_t r = 0; r < a.runs; ++r) {
    if (kind == LossKind::ZVar) {
      detail::zvar_run(a, r);
      continue;
    }
    for (int32_t m = 0; m < a.batch; ++m) detail::trajectory_loss(kind, a, r, m);
  }
}

void dqn_loss(const DqnArgs<float>& a) {
  const OpScope op(CpuOp::DqnLoss, int64_t(a.runs) * a.samples);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(a.runs))
  for (int32_t r = 0; r < a.runs; ++r)
    for (int32_t i = 0; i < a.samples; ++i) dqn_sample(a, r, i);
}

void backward_log_probs(const DagView& d, const float* theta, int32_t runs, float* log_pb) {
  const int64_t n = int64_t(runs) * d.num_states;
  const OpScope op(CpuOp::ExactSweep, n);
#pragma omp parallel for schedule(static) if (op.parallel())
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / d.num_states;
    backward_log_probs_state(d, theta + r * d.num_edges, static_cast<int32_t>(i - r * d.num_states),
                             log_pb + r * d.num_edges);
  }
}

void tlm_loss(const TlmArgs<float>& a) {
  const OpScope op(CpuOp::PolicyGradient, int64_t(a.runs) * a.batch * a.max_len);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(a.runs))
  for (int32_t r = 0; r < a.runs; ++r)
    for (int32_t m = 0; m < a.batch; ++m) tlm_trajectory(a, r, m);
}

void pg_loss(const PgArgs<float>& a) {
  const OpScope op(CpuOp::PolicyGradient, int64_t(a.runs) * a.batch * a.max_len);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(a.runs))
  for (int32_t r = 0; r < a.runs; ++r) {
    for (int32_t m = 0; m < a.batch; ++m) pg_trajectory_cost(a, r, m);
    for (int32_t m = 0; m < a.batch; ++m) pg_trajectory(a, r, m);
  }
}

void pg_exact(const Dag& dag, const PgArgs<float>& a) {
  const auto& lv = dag.level_offsets();
  if (a.prefix)  // TB with a learned P_B: A(s), parents first (A(s0) = 0)
    for (int32_t l = 0; l < dag.num_levels(); ++l) {
      const int64_t n = int64_t(a.runs) * (lv[l + 1] - lv[l]);
      const OpScope op(CpuOp::ExactSweep, n);
#pragma omp parallel for schedule(static) if (op.parallel())
      for (int64_t i = 0; i < n; ++i) {
        const int32_t w = lv[l + 1] - lv[l];
        pg_prefix_state(a, static_cast<int32_t>(i / w), lv[l] + static_cast<int32_t>(i % w));
      }
    }
  for (int32_t l = dag.num_levels() - 1; l >= 0; --l) {  // children first
    const int64_t n = int64_t(a.runs) * (lv[l + 1] - lv[l]);
    const OpScope op(CpuOp::ExactSweep, n);
#pragma omp parallel for schedule(static) if (op.parallel())
    for (int64_t i = 0; i < n; ++i) {
      const int32_t w = lv[l + 1] - lv[l];
      pg_value_state(a, static_cast<int32_t>(i / w), lv[l] + static_cast<int32_t>(i % w));
    }
  }
  const int64_t n = int64_t(a.runs) * a.dag.num_states;
  const OpScope op(CpuOp::ExactSweep, n);
#pragma omp parallel for schedule(static) if (op.parallel())
  for (int64_t i = 0; i < n; ++i)
    pg_exact_grad_state(a, static_cast<int32_t>(i / a.dag.num_states),
                        static_cast<int32_t>(i % a.dag.num_states));
}

void backward_rollout(const BackwardRolloutArgs& a) {
  const int64_t n = int64_t(a.runs) * a.batch;
  const OpScope op(CpuOp::BackwardRollout, n * a.max_len);
#pragma omp parallel for schedule(dynamic, 16) if (op.parallel(n))
  for (int64_t i = 0; i < n; ++i)
    backward_rollout_trajectory(a, static_cast<int32_t>(i / a.batch),
                                static_cast<int32_t>(i % a.batch));
}

void coupled_loss(const CoupledArgs<float>& a) {
  const OpScope op(CpuOp::PolicyGradient, int64_t(a.runs) * a.batch * a.max_len);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(a.runs))
  for (int32_t r = 0; r < a.runs; ++r) {
    for (int32_t m = 0; m < a.batch; ++m) coupled_trajectory_cost(a, r, m);
    for (int32_t m = 0; m < a.batch; ++m) coupled_trajectory(a, r, m);
  }
}

}  // namespace gfnrl::detail::cpu
