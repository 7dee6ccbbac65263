// CPU twin of kernels/train_losses.cu: the learners' loss gradients.
// Every gradient, replay and priority operation runs in parallel over runs, each run on one
// thread in a fixed order, so results are identical for every thread count.
#include <vector>

#include "cpu/vector_math.hpp"
#include "ops/training_ops.hpp"
#include "parallel.hpp"

namespace gfnrl::detail::cpu {

void trajectory_loss(LossKind kind, const TrajectoryLossArgs<float>& a) {
  const OpScope op(CpuOp::TrajectoryLoss, int64_t(a.runs) * a.batch * a.max_len);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(a.runs)) num_threads(::gfnrl::cpu_threads())
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
  for_each_run_item(op, a.runs, a.samples, [&](int32_t r, int32_t i) { dqn_sample(a, r, i); });
}

namespace {
constexpr int32_t kBackwardBlock = 512;

// Per parent edge the logit and its child's shift; per child the max (then the log-normaliser)
// and the sum.
struct BackwardScratch {
  std::vector<float> term, shift, exp_term, max, sum;
};

// log P_B = log-softmax of theta over the parent edges of children [c0, c1) of one run, as
// backward_log_probs_state computes it, in passes that vectorise (soft_values.cpp's scheme): the
// logits gathered in CSC order with each child's max, exp of the block's terms in one loop
// (vexp), the sums, log of every sum in one loop (vlog), the outputs scattered back.
GFNRL_CPU_CLONES
void backward_block(const DagView& d, const float* theta, int32_t c0, int32_t c1, float* log_pb,
                    BackwardScratch& w) {
  const int64_t j0 = d.parent_offsets[c0], edges = d.parent_offsets[c1] - j0;
  const int32_t n = c1 - c0;
  w.term.resize(edges), w.shift.resize(edges), w.exp_term.resize(edges);
  w.max.resize(n), w.sum.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    float m = neg_inf();
    for (int64_t j = d.parent_offsets[c0 + i]; j < d.parent_offsets[c0 + i + 1]; ++j) {
      const float t = theta[d.parent_edge[j]];
      w.term[j - j0] = t;
      m = t > m ? t : m;
    }
    w.max[i] = m;
    const float shift = m > neg_inf() ? m : 0.0f;
    for (int64_t j = d.parent_offsets[c0 + i]; j < d.parent_offsets[c0 + i + 1]; ++j)
      w.shift[j - j0] = shift;
  }
#pragma omp simd
  for (int32_t j = 0; j < edges; ++j) w.exp_term[j] = vexp(w.term[j] - w.shift[j]);
  for (int32_t i = 0; i < n; ++i) {
    float sum = 0.0f;
    for (int64_t j = d.parent_offsets[c0 + i]; j < d.parent_offsets[c0 + i + 1]; ++j)
      sum += w.exp_term[j - j0];
    w.sum[i] = sum;
  }
#pragma omp simd
  for (int32_t i = 0; i < n; ++i)
    w.max[i] = w.max[i] > neg_inf() ? w.max[i] + vlog(w.sum[i]) : neg_inf();
  for (int32_t i = 0; i < n; ++i)
    for (int64_t j = d.parent_offsets[c0 + i]; j < d.parent_offsets[c0 + i + 1]; ++j)
      log_pb[d.parent_edge[j]] = w.term[j - j0] - w.max[i];
}
}  // namespace

void backward_log_probs(const DagView& d, const float* theta, int32_t runs, float* log_pb) {
  const OpScope op(CpuOp::ExactSweep, int64_t(runs) * d.num_states);
  for_run_blocks<BackwardScratch>(op, runs, d.num_states, kBackwardBlock,
                                  [&](int32_t r, int32_t c0, int32_t c1, BackwardScratch& w) {
                                    backward_block(d, theta + int64_t(r) * d.num_edges, c0, c1,
                                                   log_pb + int64_t(r) * d.num_edges, w);
                                  });
}

// One thread per run; each state on its trajectories as a block of one, so every value is the
// one backward_log_probs writes (the same clone, the same per-state arithmetic). A state seen
// twice is computed twice, to the same values.
void backward_log_probs_visited(const DagView& d, const float* theta, int32_t runs,
                                const TrajectoryBatch& batch, float* log_pb) {
  const OpScope op(CpuOp::PolicySoftmax, int64_t(runs) * batch.batch * batch.max_len);
#pragma omp parallel if (op.parallel(runs)) num_threads(::gfnrl::cpu_threads())
  {
    BackwardScratch w;
#pragma omp for schedule(static)
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t m = 0; m < batch.batch; ++m) {
        const int64_t traj = int64_t(r) * batch.batch + m, base = traj * batch.max_len;
        for (int32_t k = 0; k < batch.lengths[traj]; ++k) {
          const int32_t s = batch.states[base + k];
          backward_block(d, theta + int64_t(r) * d.num_edges, s, s + 1,
                         log_pb + int64_t(r) * d.num_edges, w);
        }
      }
  }
}

void tlm_loss(const TlmArgs<float>& a) {
  const OpScope op(CpuOp::PolicyGradient, int64_t(a.runs) * a.batch * a.max_len);
  for_each_run_item(op, a.runs, a.batch, [&](int32_t r, int32_t m) { tlm_trajectory(a, r, m); });
}

void pg_loss(const PgArgs<float>& a) {
  const OpScope op(CpuOp::PolicyGradient, int64_t(a.runs) * a.batch * a.max_len);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(a.runs)) num_threads(::gfnrl::cpu_threads())
  for (int32_t r = 0; r < a.runs; ++r) {
    for (int32_t m = 0; m < a.batch; ++m) pg_trajectory_cost(a, r, m);
    for (int32_t m = 0; m < a.batch; ++m) pg_trajectory(a, r, m);
  }
}

void pg_exact(const Dag& dag, const PgArgs<float>& a) {
  const auto& lv = dag.level_offsets();
  if (a.prefix)  // TB with a learned P_B: A(s), parents first (A(s0) = 0)
    for (int32_t l = 0; l < dag.num_levels(); ++l) {
      const int32_t w = lv[l + 1] - lv[l];
      const OpScope op(CpuOp::ExactSweep, int64_t(a.runs) * w);
      for_each_run_item_apart(op, a.runs, w,
                              [&](int32_t r, int32_t k) { pg_prefix_state(a, r, lv[l] + k); });
    }
  for (int32_t l = dag.num_levels() - 1; l >= 0; --l) {  // children first
    const int32_t w = lv[l + 1] - lv[l];
    const OpScope op(CpuOp::ExactSweep, int64_t(a.runs) * w);
    for_each_run_item_apart(op, a.runs, w,
                            [&](int32_t r, int32_t k) { pg_value_state(a, r, lv[l] + k); });
  }
  const OpScope op(CpuOp::ExactSweep, int64_t(a.runs) * a.dag.num_states);
  for_each_run_item_apart(op, a.runs, a.dag.num_states,
                          [&](int32_t r, int32_t s) { pg_exact_grad_state(a, r, s); });
}

void backward_rollout(const BackwardRolloutArgs& a) {
  const OpScope op(CpuOp::BackwardRollout, int64_t(a.runs) * a.batch * a.max_len);
  for_each_run_item_apart(
      op, a.runs, a.batch, [&](int32_t r, int32_t m) { backward_rollout_trajectory(a, r, m); }, 16);
}

void coupled_loss(const CoupledArgs<float>& a) {
  const OpScope op(CpuOp::PolicyGradient, int64_t(a.runs) * a.batch * a.max_len);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(a.runs)) num_threads(::gfnrl::cpu_threads())
  for (int32_t r = 0; r < a.runs; ++r) {
    for (int32_t m = 0; m < a.batch; ++m) coupled_trajectory_cost(a, r, m);
    for (int32_t m = 0; m < a.batch; ++m) coupled_trajectory(a, r, m);
  }
}

}  // namespace gfnrl::detail::cpu
