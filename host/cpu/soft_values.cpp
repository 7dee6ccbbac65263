// CPU twin of kernels/soft_values.cu: soft value iteration, children before parents.
//   Q(s,e) = r(e) + V(child(e)),  V(s) = log sum_a mu(a|s) exp Q(s,a),  log pi = log mu + Q - V
// the formulas of detail/state_math.hpp, computed a block of states at a time in passes that
// vectorise. Two forms of a block, equal bit for bit:
//   slots (blocks of alike degrees, as a hypergrid's): Q over the block's edges in one gather
//     loop, then the logsumexps slot by slot over the block's states (cpu/slot_logsumexp.hpp);
//   per edge (any block): gather Q and each state's max, exp(Q + log mu - max) over the block's
//     edges (vexp), then V = max + log(sum) over its states (vlog).
// Then log pi. Two passes (max, then sum) instead of the kernel's streaming logsumexp: the same
// value up to rounding. One OpenMP team for the whole sweep, a barrier per level, each thread an
// equal share of the level; every state's arithmetic is its own, in a fixed order, so results do
// not depend on the thread count or the blocking.
#include <algorithm>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/slot_logsumexp.hpp"
#include "cpu/slot_transpose.hpp"
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

// log mu(a|s) of states s0 .. s0 + n - 1 under the uniform base policy, -log(actions of s) (0
// without a base policy: mu is then 1).
GFNRL_CPU_INLINE void uniform_log_mu(const SoftValueArgs& a, int32_t s0, int32_t n, float* lmu) {
  const DagView& d = a.dag;
  if (!a.uniform_base) {
    std::fill(lmu, lmu + n, 0.0f);
    return;
  }
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) {
    const int32_t s = s0 + i;
    const auto k = static_cast<int32_t>(d.child_offsets[s + 1] - d.child_offsets[s]) +
                   (d.log_reward[s] > neg_inf());
    lmu[i] = -vlog(static_cast<float>(k > 0 ? k : 1));
  }
}

GFNRL_CPU_CLONES
void soft_block(const SoftValueArgs& a, int32_t s0, int32_t s1, SoftScratch& w) {
  const DagView& d = a.dag;
  const int64_t e0 = d.child_offsets[s0], edges = d.child_offsets[s1] - e0;
  const int32_t n = s1 - s0;
  w.term.resize(edges), w.shift.resize(edges), w.exp_term.resize(edges);
  w.exit_term.resize(n), w.max.resize(n), w.sum.resize(n), w.value.resize(n);
  float* lmu = w.value.data();  // log mu of the state, before its value is known
  uniform_log_mu(a, s0, n, lmu);
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

// The slot form's scratch: per edge Q and Q + log mu of a table; per state the segment of its
// edges, log mu of a uniform base (0 otherwise), the exit term, max, sum and value.
struct SlotScratch {
  std::vector<float> q, t, slots;
  std::vector<int32_t> off, deg;
  std::vector<float> lmu, exit_term, max, sum, value;
};

// Per state of the slot form's block: log mu of a uniform base (else 0) and the exit's term
// log R + log mu (a table's log mu of the exit, else the state's).
GFNRL_CPU_INLINE void soft_slot_state_terms(const SoftValueArgs& a, int32_t s0, int32_t n,
                                            const int32_t* __restrict deg, float* __restrict lmu,
                                            float* __restrict x) {
  const float* __restrict lr = a.dag.log_reward + s0;
  if (a.uniform_base) {
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) {
      const int32_t k = deg[i] + (lr[i] > neg_inf());
      lmu[i] = -vlog(static_cast<float>(k > 0 ? k : 1));
    }
  } else {
    std::fill(lmu, lmu + n, 0.0f);
  }
  if (a.base_exit_log_prob) {
    const float* __restrict b = a.base_exit_log_prob + s0;
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) x[i] = lr[i] + b[i];
  } else {
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) x[i] = lr[i] + lmu[i];
  }
}

// The slot form's outputs: V, the exits' Q and log pi per state, log pi = t + c - V per edge.
GFNRL_CPU_INLINE void soft_slot_outputs(const SoftValueArgs& a, int32_t s0, int32_t n, int64_t e0,
                                        const int32_t* __restrict off,
                                        const int32_t* __restrict deg, const float* __restrict t,
                                        const float* __restrict c, const float* __restrict x,
                                        const float* __restrict val) {
  const float* __restrict lr = a.dag.log_reward + s0;
  float* __restrict v_out = a.value + s0;
  float* __restrict exit_q = a.exit_q + s0;
  float* __restrict exit_lp = a.exit_log_pi + s0;
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) {
    v_out[i] = val[i];
    exit_q[i] = lr[i];
    exit_lp[i] = lr[i] > neg_inf() && val[i] > neg_inf() ? x[i] - val[i] : neg_inf();
  }
  float* __restrict lp = a.log_pi + e0;
  for (int32_t i = 0; i < n; ++i) {
    const float v = val[i], ci = c[i];
    for (int32_t j = off[i]; j < off[i] + deg[i]; ++j)
      lp[j] = v > neg_inf() ? (t[j] + ci) - v : neg_inf();
  }
}

/// The block in the slot form, when it pays (else false, and nothing is written).
GFNRL_CPU_CLONES
bool soft_block_slots(const SoftValueArgs& a, int32_t s0, int32_t s1, SlotScratch& w) {
  const DagView& d = a.dag;
  const auto [e0, edges, kmax] = slot_segments(d.child_offsets, s0, s1, w.off, w.deg);
  if (kmax < 0) return false;
  const int32_t n = s1 - s0;
  w.q.resize(edges + kSlotPad), w.t.resize(edges + kSlotPad), w.slots.resize(int64_t(kmax) * n);
  w.lmu.resize(n), w.exit_term.resize(n), w.max.resize(n), w.sum.resize(n), w.value.resize(n);
  float* __restrict q = w.q.data();
  const int32_t* __restrict off = w.off.data();
  const int32_t* __restrict deg = w.deg.data();
  float* __restrict lmu = w.lmu.data();
  float* __restrict x = w.exit_term.data();
  float* __restrict val = w.value.data();
  soft_slot_state_terms(a, s0, n, deg, lmu, x);
  // Q over the block's edges in one loop: r(e) + V(child(e)), kept and written out.
  const int32_t* __restrict child = d.child_index + e0;
  const float* __restrict v_in = a.value;
  float* __restrict q_out = a.q + e0;
  if (a.correction) {
    const float* __restrict r = a.correction + e0;
#pragma omp simd
    for (int32_t j = 0; j < edges; ++j) q_out[j] = q[j] = r[j] + v_in[child[j]];
  } else {
#pragma omp simd
    for (int32_t j = 0; j < edges; ++j) q_out[j] = q[j] = 0.0f + v_in[child[j]];
  }
  // The terms: Q + log mu, a table's per edge (t) or a uniform base's per state (lmu).
  const float* __restrict t = q;
  if (a.base_log_prob) {
    const float* __restrict b = a.base_log_prob + e0;
    float* __restrict tb = w.t.data();
#pragma omp simd
    for (int32_t j = 0; j < edges; ++j) tb[j] = q[j] + b[j];
    t = tb;
    std::fill(lmu, lmu + n, 0.0f);
  }
  slot_transpose(n, kmax, off, deg, t, w.slots.data());
  // log mu per state only for a uniform base; otherwise lmu holds zeros, passed as none.
  const float* c = a.uniform_base && !a.base_log_prob ? lmu : nullptr;
  slot_logsumexp(n, kmax, w.slots.data(), c, x, w.max.data(), w.sum.data(), val);
  soft_slot_outputs(a, s0, n, e0, off, deg, t, lmu, x, val);
  return true;
}
}  // namespace

void soft_values(const Dag& dag, const SoftValueArgs& args, const SweepOptions&, SweepGraphPtr&) {
  const auto& lv = dag.level_offsets();
#pragma omp parallel if (dag.num_states() > kParallelStates) num_threads(::gfnrl::cpu_threads())
  {
    SoftScratch scratch;
    SlotScratch slots;
    for (int32_t l = dag.num_levels() - 1; l >= 0; --l) {
      const auto [first, end] = thread_share(lv[l], lv[l + 1]);
      for (int32_t s0 = first; s0 < end; s0 += kBlockStates) {
        const int32_t s1 = std::min(end, s0 + kBlockStates);
        if (!soft_block_slots(args, s0, s1, slots)) soft_block(args, s0, s1, scratch);
      }
#pragma omp barrier
    }
  }
}

}  // namespace gfnrl::detail::cpu
