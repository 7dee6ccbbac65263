// CPU twin of kernels/soft_values.cu: soft value iteration, children before parents.
//   Q(s,e) = r(e) + V(child(e)),  V(s) = log sum_a mu(a|s) exp Q(s,a),  log pi = log mu + Q - V
// the formulas of detail/state_math.hpp, computed a block of states at a time in passes that
// vectorise: gather Q and each state's max, then exp(Q + log mu - max) over the block's edges
// (vexp), then V = max + log(sum) over its states (vlog), then log pi. Two passes (max, then sum)
// instead of the kernel's streaming logsumexp: the same value up to rounding. One OpenMP team for
// the whole sweep, a barrier per level; every state's arithmetic is its own, in a fixed order, so
// results do not depend on the thread count or the blocking.
#include <algorithm>
#include <vector>

#include "cpu/vector_math.hpp"
#include "ops/sweep_ops.hpp"

namespace gfnrl::detail::cpu {

namespace {
constexpr int32_t kBlockStates = 512;
constexpr int32_t kParallelStates = 4096;  // below: one thread (barriers cost more)

// Per-thread scratch for one block: per edge the term Q + log mu and its state's max, per state
// the exit term, max, sum and value.
struct SoftScratch {
  std::vector<float> term, shift, exp_term;
  std::vector<float> exit_term, max, sum, value;
};

GFNRL_CPU_CLONES
void soft_block(const SoftValueArgs& a, int32_t s0, int32_t s1, SoftScratch& w) {
  const DagView& d = a.dag;
  const int64_t e0 = d.child_offsets[s0], edges = d.child_offsets[s1] - e0;
  const int32_t n = s1 - s0;
  w.term.resize(edges), w.shift.resize(edges), w.exp_term.resize(edges);
  w.exit_term.resize(n), w.max.resize(n), w.sum.resize(n), w.value.resize(n);
  float* lmu = w.value.data();  // log mu of the state, before its value is known
  if (a.uniform_base) {
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) {
      const int32_t s = s0 + i;
      const auto k = static_cast<int32_t>(d.child_offsets[s + 1] - d.child_offsets[s]) +
                     (d.log_reward[s] > neg_inf());
      lmu[i] = -vlog(static_cast<float>(k > 0 ? k : 1));
    }
  } else {
    std::fill(lmu, lmu + n, 0.0f);
  }
  // Pass 1: Q per edge (written out), the terms and each state's max.
  for (int32_t i = 0; i < n; ++i) {
    const int32_t s = s0 + i;
    const float x = d.log_reward[s] + (a.base_exit_log_prob ? a.base_exit_log_prob[s] : lmu[i]);
    float m = x;
    for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e) {
      const float q = soft_edge_q(a, e);
      a.q[e] = q;
      const float t = q + (a.base_log_prob ? a.base_log_prob[e] : lmu[i]);
      w.term[e - e0] = t;
      m = t > m ? t : m;
    }
    w.exit_term[i] = x, w.max[i] = m;
    const float shift = m > neg_inf() ? m : 0.0f;  // all -inf: exp(-inf - 0) = 0, never NaN
    for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e) w.shift[e - e0] = shift;
  }
  // Pass 2: the exponentials, vectorised over the block's edges and states.
#pragma omp simd
  for (int32_t j = 0; j < edges; ++j) w.exp_term[j] = vexp(w.term[j] - w.shift[j]);
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) {
    const float shift = w.max[i] > neg_inf() ? w.max[i] : 0.0f;
    w.sum[i] = vexp(w.exit_term[i] - shift);
  }
  for (int32_t i = 0; i < n; ++i) {
    float s = w.sum[i];
    for (int64_t e = d.child_offsets[s0 + i]; e < d.child_offsets[s0 + i + 1]; ++e)
      s += w.exp_term[e - e0];
    w.sum[i] = s;
  }
  // Pass 3: V = max + log(sum), sum >= 1 when the max is finite.
#pragma omp simd
  for (int32_t i = 0; i < n; ++i)
    w.value[i] = w.max[i] > neg_inf() ? w.max[i] + vlog(w.sum[i]) : neg_inf();
  // Pass 4: the outputs.
  for (int32_t i = 0; i < n; ++i) {
    const int32_t s = s0 + i;
    const float v = w.value[i];
    a.value[s] = v;
    a.exit_q[s] = d.log_reward[s];
    a.exit_log_pi[s] = terminates(d, s) ? log_ratio(w.exit_term[i], v) : neg_inf();
    for (int64_t e = d.child_offsets[s]; e < d.child_offsets[s + 1]; ++e)
      a.log_pi[e] = log_ratio(w.term[e - e0], v);
  }
}
}  // namespace

void soft_values(const Dag& dag, const SoftValueArgs& args, const SweepOptions&, SweepGraphPtr&) {
  const auto& lv = dag.level_offsets();
#pragma omp parallel if (dag.num_states() > kParallelStates)
  {
    SoftScratch scratch;
    for (int32_t l = dag.num_levels() - 1; l >= 0; --l) {
      const int32_t blocks = (lv[l + 1] - lv[l] + kBlockStates - 1) / kBlockStates;
#pragma omp for schedule(static)
      for (int32_t b = 0; b < blocks; ++b) {
        const int32_t s0 = lv[l] + b * kBlockStates;
        soft_block(args, s0, std::min(lv[l + 1], s0 + kBlockStates), scratch);
      }
    }
  }
}

}  // namespace gfnrl::detail::cpu
