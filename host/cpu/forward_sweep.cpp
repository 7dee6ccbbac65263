// CPU twin of kernels/forward_sweep.cu: exact marginals and path counts, parents before children,
// and the uniform forward policy.
//   out(s0) = 0,  out(c) = log sum_{j in Pa(c)} exp(out(parent_j) + w(edge_j))
// Marginals (float) a block of children at a time in passes that vectorise, in soft_values.cpp's
// two forms, equal bit for bit: slots where the block's in-degrees are alike (the terms over the
// block's parent edges in one gather loop, then the logsumexps slot by slot over its states,
// cpu/slot_logsumexp.hpp), else per edge (the terms and each child's max, exp over the block's
// parent edges (vexp), then max + log(sum) (vlog)). Path counts (double, detail/state_math.hpp's
// forward_state) one state at a time. One OpenMP team per sweep, a barrier per level, each
// thread an equal share of the level; every state's arithmetic is its own, in a fixed order, so
// results do not depend on the thread count.
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
constexpr int32_t kParallelStates = 4096;

struct ForwardScratch {
  std::vector<float> term, shift, exp_term, max, sum, slots;
  std::vector<int32_t> off, deg;  // the slot form's segments
};

/// The block in the slot form, when it pays (else false, and nothing is written).
GFNRL_CPU_CLONES
bool forward_block_slots(const ForwardArgs& a, int32_t c0, int32_t c1, ForwardScratch& w) {
  const DagView& d = a.dag;
  const auto [j0, edges, kmax] = slot_segments(d.parent_offsets, c0, c1, w.off, w.deg);
  if (kmax < 0) return false;
  const int32_t n = c1 - c0;
  // exp_term: the sums' scratch here; sum: the logsumexps.
  w.term.resize(edges + kSlotPad), w.slots.resize(int64_t(kmax) * n);
  w.max.resize(n), w.sum.resize(n), w.exp_term.resize(n);
  float* __restrict t = w.term.data();
  // The terms over the block's parent edges in one loop: out(parent) + w(edge), the edge's
  // CSR id read in whichever width the DAG stores.
  const int32_t* __restrict parent = d.parent_index + j0;
  const float* __restrict out = a.log_out;
  const float* __restrict wt = a.edge_weight;
  if (!wt) {
#pragma omp simd
    for (int32_t j = 0; j < edges; ++j) t[j] = out[parent[j]] + 0.0f;
  } else if (d.parent_edge.narrow) {
    const int32_t* __restrict e = d.parent_edge.narrow + j0;
#pragma omp simd
    for (int32_t j = 0; j < edges; ++j) t[j] = out[parent[j]] + wt[e[j]];
  } else {
    const int64_t* __restrict e = d.parent_edge.wide + j0;
#pragma omp simd
    for (int32_t j = 0; j < edges; ++j) t[j] = out[parent[j]] + wt[e[j]];
  }
  float* __restrict lse = w.sum.data();
  slot_transpose(n, kmax, w.off.data(), w.deg.data(), t, w.slots.data());
  slot_logsumexp(n, kmax, w.slots.data(), nullptr, nullptr, w.max.data(), w.exp_term.data(),
                 lse);
  float* __restrict log_out = a.log_out + c0;
  if (a.exit_weight) {
    const float* __restrict ew = a.exit_weight + c0;
    float* __restrict term_out = a.log_terminal + c0;
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) {
      const float v = c0 + i == 0 ? 0.0f : lse[i];  // the source is visited by every trajectory
      log_out[i] = v;
      term_out[i] = v + ew[i];
    }
  } else {
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) log_out[i] = c0 + i == 0 ? 0.0f : lse[i];
  }
  return true;
}

GFNRL_CPU_CLONES
void forward_block(const ForwardArgs& a, int32_t c0, int32_t c1, ForwardScratch& w) {
  const DagView& d = a.dag;
  const int64_t j0 = d.parent_offsets[c0], edges = d.parent_offsets[c1] - j0;
  const int32_t n = c1 - c0;
  w.term.resize(edges), w.shift.resize(edges), w.exp_term.resize(edges);
  w.max.resize(n), w.sum.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t c = c0 + i;
    float m = neg_inf();
    for (int64_t j = d.parent_offsets[c]; j < d.parent_offsets[c + 1]; ++j) {
      const float t = forward_term(a, j);
      w.term[j - j0] = t;
      m = t > m ? t : m;
    }
    w.max[i] = m;
    const float shift = m > neg_inf() ? m : 0.0f;
    for (int64_t j = d.parent_offsets[c]; j < d.parent_offsets[c + 1]; ++j) w.shift[j - j0] = shift;
  }
#pragma omp simd
  for (int32_t j = 0; j < edges; ++j) w.exp_term[j] = vexp(w.term[j] - w.shift[j]);
  for (int32_t i = 0; i < n; ++i) {
    float s = 0;
    for (int64_t j = d.parent_offsets[c0 + i]; j < d.parent_offsets[c0 + i + 1]; ++j)
      s += w.exp_term[j - j0];
    w.sum[i] = s;
  }
#pragma omp simd
  for (int32_t i = 0; i < n; ++i)
    w.sum[i] = w.max[i] > neg_inf() ? w.max[i] + vlog(w.sum[i]) : neg_inf();
  for (int32_t i = 0; i < n; ++i)  // the source is visited by every trajectory
    forward_write_state(a, c0 + i, c0 + i == 0 ? 0.0f : w.sum[i]);
}

// The levels in order, `block(first, end, scratch)` over blocks of each level's states.
template <class Scratch, class Block>
void forward_levels(const Dag& dag, Block block) {
  const auto& lv = dag.level_offsets();
#pragma omp parallel if (dag.num_states() > kParallelStates) num_threads(::gfnrl::cpu_threads())
  {
    Scratch scratch;
    for (int32_t l = 0; l < dag.num_levels(); ++l) {
      const auto [first, end] = thread_share(lv[l], lv[l + 1]);
      for (int32_t s0 = first; s0 < end; s0 += kBlockStates)
        block(s0, std::min(end, s0 + kBlockStates), scratch);
#pragma omp barrier
    }
  }
}
}  // namespace

void forward_sweep(const Dag& dag, const ForwardArgs& args, const SweepOptions&, SweepGraphPtr&) {
  forward_levels<ForwardScratch>(
      dag, [&](int32_t s0, int32_t s1, ForwardScratch& w) {
        if (!forward_block_slots(args, s0, s1, w)) forward_block(args, s0, s1, w);
      });
}

void path_counts(const Dag& dag, const PathCountArgs& args) {
  struct None {};
  forward_levels<None>(dag, [&](int32_t s0, int32_t s1, None&) {
    for (int32_t s = s0; s < s1; ++s) forward_state(args, s);
  });
}

void action_table_index(const DagView& d, int64_t slots, int64_t width, EdgeIdsWriter out) {
#pragma omp parallel for schedule(static) if (slots > kParallelStates) \
    num_threads(::gfnrl::cpu_threads())
  for (int64_t j = 0; j < slots; ++j) out.set(j, action_table_slot(d, j, width));
}

void table_column(const float* table, int64_t rows, int64_t width, int64_t column, float* out) {
#pragma omp parallel for schedule(static) if (rows > 16 * kParallelStates) \
    num_threads(::gfnrl::cpu_threads())
  for (int64_t s = 0; s < rows; ++s) out[s] = table[s * width + column];
}

void uniform_forward_policy(const DagView& d, float* log_prob, float* exit_log_prob) {
#pragma omp parallel for schedule(static) if (d.num_states > 4096) num_threads(::gfnrl::cpu_threads())
  for (int32_t s = 0; s < d.num_states; ++s) uniform_forward_state(d, s, log_prob, exit_log_prob);
}

}  // namespace gfnrl::detail::cpu
