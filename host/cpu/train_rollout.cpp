// CPU twin of kernels/train_rollout.cu: every run's policy softmax (in vectorised blocks), the
// log Z estimates, and the rollouts, in parallel over (run, trajectory); each trajectory writes
// only its own slots.
#include <vector>

#include "cpu/vector_math.hpp"
#include "ops/training_ops.hpp"
#include "parallel.hpp"

namespace gfnrl::detail::cpu {

namespace {
constexpr int32_t kPolicyBlock = 512;

// Per edge the term scale * row and its state's shift; per state the exit term, max and sum.
struct PolicyScratch {
  std::vector<float> term, shift, exp_term, exit_term, max, sum;
};

// softmax(scale * row) over the actions of states [s0, s1) of one run, as policy_state computes
// it, in soft_values.cpp's passes that vectorise: the terms and each state's max, exp of every
// term of the block in one loop (vexp), the sums, log of every sum in one loop (vlog), the
// outputs. A state's edges are contiguous in the row, so the terms are one stream.
GFNRL_CPU_CLONES
void policy_block(const DagView& d, const TableLayout& L, const float* row, int32_t s0,
                  int32_t s1, float scale, float* log_prob, float* exit_log_prob,
                  PolicyScratch& w) {
  const int64_t e0 = d.child_offsets[s0], edges = d.child_offsets[s1] - e0;
  const int32_t n = s1 - s0;
  w.term.resize(edges), w.shift.resize(edges), w.exp_term.resize(edges);
  w.exit_term.resize(n), w.max.resize(n), w.sum.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t s = s0 + i;
    const float x = terminates(d, s) ? scale * row[L.exit_entry(s)] : neg_inf();
    float m = x;
    for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e) {
      const float t = scale * row[e];
      w.term[e - e0] = t;
      m = t > m ? t : m;
    }
    w.exit_term[i] = x, w.max[i] = m;
    const float shift = m > neg_inf() ? m : 0.0f;  // no action: every term -inf, sum 0
    for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e) w.shift[e - e0] = shift;
  }
#pragma omp simd
  for (int32_t j = 0; j < edges; ++j) w.exp_term[j] = vexp(w.term[j] - w.shift[j]);
#pragma omp simd
  for (int32_t i = 0; i < n; ++i)
    w.sum[i] = vexp(w.exit_term[i] - (w.max[i] > neg_inf() ? w.max[i] : 0.0f));
  for (int32_t i = 0; i < n; ++i) {
    float sum = w.sum[i];
    for (int64_t e = d.child_offsets[s0 + i]; e < d.child_offsets[s0 + i + 1]; ++e)
      sum += w.exp_term[e - e0];
    w.sum[i] = sum;
  }
#pragma omp simd
  for (int32_t i = 0; i < n; ++i)  // the log-normaliser, into max
    w.max[i] = w.max[i] > neg_inf() ? w.max[i] + vlog(w.sum[i]) : neg_inf();
  for (int32_t i = 0; i < n; ++i) {
    const int32_t s = s0 + i;
    const float lse = w.max[i];
    for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e)
      log_prob[e] = w.term[e - e0] - lse;
    exit_log_prob[s] = terminates(d, s) ? w.exit_term[i] - lse : neg_inf();
  }
}
}  // namespace

void policy_log_probs(const DagView& d, const TableLayout& L, const float* params, int32_t runs,
                      float scale, float* log_prob, float* exit_log_prob) {
  const OpScope op(CpuOp::PolicySoftmax, int64_t(runs) * d.num_states);
  for_run_blocks<PolicyScratch>(op, runs, d.num_states, kPolicyBlock,
                                [&](int32_t r, int32_t s0, int32_t s1, PolicyScratch& w) {
                                  policy_block(d, L, params + int64_t(r) * L.stride(), s0, s1,
                                               scale, log_prob + int64_t(r) * d.num_edges,
                                               exit_log_prob + int64_t(r) * d.num_states, w);
                                });
}

void log_z_estimates(const DagView& d, const TableLayout& L, const float* params, int32_t runs,
                     LogZEstimate mode, float tau, float* out) {
  for (int32_t r = 0; r < runs; ++r)
    out[r] = log_z_estimate(d, L, params + int64_t(r) * L.stride(), mode, tau);
}

void rollout(const RolloutArgs& a) {
  const OpScope op(CpuOp::Rollout, int64_t(a.runs) * a.batch * a.max_len);
  for_each_run_item_apart(op, a.runs, a.batch,
                          [&](int32_t r, int32_t m) { rollout_trajectory(a, r, m); }, 16);
}

void count_reached(const uint8_t* reached, int32_t runs, int32_t num_states, const int32_t* states,
                   const int32_t* group, int32_t k, int32_t* out) {
  const OpScope op(CpuOp::Fill, int64_t(runs) * k);  // one lookup per state and run
#pragma omp parallel for schedule(static) if (op.parallel(runs)) num_threads(::gfnrl::cpu_threads())
  for (int32_t r = 0; r < runs; ++r)
    out[r] = reached_groups(reached + int64_t(r) * num_states, states, group, k);
}

}  // namespace gfnrl::detail::cpu
