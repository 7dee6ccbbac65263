// CPU passes of the implicit hypergrid layout: no edges stored, each state's children, parents
// and reward computed from its coordinates (detail/implicit_grid_math.hpp). The order and
// parallel work (a blocked wavefront of rows) are in cpu/implicit_wavefront.hpp, the row kernels
// in cpu/implicit_rows.hpp (logsumexp form) and cpu/implicit_flow_rows.hpp (flow form, bounds):
// per row the terms through the other rows in vectors, the dependence along x_0 as a chain of
// multiply-adds. Each state's arithmetic is its own in a fixed order, so results do not depend
// on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/vector_math.hpp"
#include "gfnrl/backend.hpp"
#include "ops/implicit_grid_ops.hpp"

#include "cpu/implicit_flow_rows.hpp"
#include "cpu/implicit_rows.hpp"
#include "cpu/implicit_wavefront.hpp"

namespace gfnrl::detail::cpu {

namespace {

void soft_value_block(const ImplicitGrid& g, const Box& box, const float* log_r, float* v) {
  RowScratch s;
  for_each_row_in_box(g, box, true, [&](int64_t base, const int32_t* x) {
    for (int32_t hi = box.hi[0]; hi >= box.lo[0]; hi -= kSegment)
      soft_value_segment(g, base, x, std::max(box.lo[0], hi - kSegment + 1), hi, log_r, v, s);
  });
}

void visit_block(const ImplicitGrid& g, const Box& box, const float* v, float* log_visit) {
  RowScratch s;
  for_each_row_in_box(g, box, false, [&](int64_t base, const int32_t* x) {
    for (int32_t lo = box.lo[0]; lo <= box.hi[0]; lo += kSegment)
      visit_segment(g, base, x, lo, std::min(box.hi[0], lo + kSegment - 1), v, log_visit, s);
  });
}

// Code-order passes: fixed chunks, each decoded once and then walked by an odometer.
constexpr int64_t kChunk = 1 << 14;

template <class Fn>
GFNRL_CPU_INLINE void for_each_in_chunk(const ImplicitGrid& g, int64_t begin, int64_t end,
                                        Fn&& fn) {
  int32_t x[kMaxHypergridDim];
  int64_t r = begin;
  for (int32_t k = 0; k < g.ndim; ++k, r /= g.height) x[k] = static_cast<int32_t>(r % g.height);
  for (int64_t c = begin; c < end; ++c) {
    fn(c, x);
    for (int32_t k = 0; k < g.ndim; ++k) {
      if (++x[k] < g.height) break;
      x[k] = 0;
    }
  }
}

GFNRL_CPU_CLONES
void log_reward_chunk(const ImplicitGrid& g, int64_t begin, int64_t end, float* log_r) {
  for_each_in_chunk(g, begin, end, [&](int64_t c, const int32_t* x) GFNRL_LAMBDA_INLINE {
    log_r[c] = implicit_log_reward(x, g);
  });
}

GFNRL_CPU_CLONES
void terminal_chunk(const ImplicitGrid& g, int64_t begin, int64_t end, const float* v,
                    const float* log_r, const float* log_visit, float* out) {
  for_each_in_chunk(g, begin, end, [&](int64_t c, const int32_t* x) GFNRL_LAMBDA_INLINE {
    out[c] = log_visit[c] + implicit_log_exit(v, c, log_r[c], implicit_out_degree(x, g), g);
  });
}

int64_t num_chunks(const ImplicitGrid& g) { return (g.num_states + kChunk - 1) / kChunk; }

template <class Fn>
void by_chunks(const ImplicitGrid& g, Fn fn) {
  const int64_t chunks = num_chunks(g);
#pragma omp parallel for schedule(static) if (chunks > 1) num_threads(::gfnrl::cpu_threads())
  for (int64_t i = 0; i < chunks; ++i) fn(i * kChunk, std::min(g.num_states, (i + 1) * kChunk));
}

GFNRL_CPU_CLONES
void log_chunk(float* __restrict v, int64_t begin, int64_t end) {
#pragma omp simd
  for (int64_t c = begin; c < end; ++c) v[c] = vlog(v[c]);
}

GFNRL_CPU_CLONES
void log_add_chunk(float* __restrict q, const float* __restrict v, int64_t begin, int64_t end) {
#pragma omp simd
  for (int64_t c = begin; c < end; ++c) q[c] = vlog(q[c]) + v[c];
}

/// The flow form needs the corrected reward (with none, F grows like the path counts, past
/// float's range).
bool flow_form(const ImplicitGrid& g) { return g.corrected && g.flow_form; }

}  // namespace

void implicit_log_reward(const ImplicitGrid& g, float* log_r) {
  const int64_t chunks = num_chunks(g);
#pragma omp parallel for schedule(static) if (chunks > 1) num_threads(::gfnrl::cpu_threads())
  for (int64_t i = 0; i < chunks; ++i)
    log_reward_chunk(g, i * kChunk, std::min(g.num_states, (i + 1) * kChunk), log_r);
}

void implicit_soft_values(const ImplicitGrid& g, const float* log_r, float* v) {
  if (!flow_form(g)) {
    wavefront(g, true, [&](const Box& box) { soft_value_block(g, box, log_r, v); });
    return;
  }
  const RewardTable rt = reward_table(g, g.reward);
  wavefront(g, true, [&](const Box& box) {
    RowScratch s;
    for_each_row_in_box(g, box, true, [&](int64_t base, const int32_t* x) {
      for (int32_t hi = box.hi[0]; hi >= box.lo[0]; hi -= kSegment)
        flow_segment(g, rt, base, x, std::max(box.lo[0], hi - kSegment + 1), hi, v, s);
    });
  });
  by_chunks(g, [&](int64_t begin, int64_t end) { log_chunk(v, begin, end); });
}

void implicit_visits(const ImplicitGrid& g, const float* v, float* log_visit) {
  if (!flow_form(g) || g.uniform_policy) {
    wavefront(g, false, [&](const Box& box) { visit_block(g, box, v, log_visit); });
    return;
  }
  const float q_source = std::exp(-double(v[0]));
  wavefront(g, false, [&](const Box& box) {
    RowScratch s;
    for_each_row_in_box(g, box, false, [&](int64_t base, const int32_t* x) {
      for (int32_t lo = box.lo[0]; lo <= box.hi[0]; lo += kSegment)
        scaled_visit_segment(g, base, x, lo, std::min(box.hi[0], lo + kSegment - 1), q_source,
                             log_visit, s);
    });
  });
  // log rho = log q + V.
  by_chunks(g, [&](int64_t begin, int64_t end) { log_add_chunk(log_visit, v, begin, end); });
}

// By rows, in fixed chunks of rows summed in order: the same for any thread count.
ImplicitBoundTerms implicit_bounds(const ImplicitGrid& g, const float* v, const float* vb,
                                   const float* log_visit, const float* log_r, double log_z) {
  const int64_t rows = g.num_states / g.height;
  const int64_t per_chunk = std::max<int64_t>(1, kChunk / g.height);
  const int64_t chunks = (rows + per_chunk - 1) / per_chunk;
  std::vector<ImplicitBoundTerms> part(chunks);
#pragma omp parallel for schedule(static) if (chunks > 1) num_threads(::gfnrl::cpu_threads())
  for (int64_t ch = 0; ch < chunks; ++ch) {
    BoundScratch s;
    ImplicitBoundTerms acc;
    int32_t x[kMaxHypergridDim] = {};
    int64_t r = ch * per_chunk;
    for (int32_t k = 1; k < g.ndim; ++k, r /= g.height) x[k] = static_cast<int32_t>(r % g.height);
    const int64_t end = std::min(rows, (ch + 1) * per_chunk);
    for (int64_t row = ch * per_chunk; row < end; ++row) {
      for (int32_t lo = 0; lo < g.height; lo += kSegment) {
        const ImplicitBoundTerms t =
            bound_segment(g, row * g.height, x, lo, std::min(g.height - 1, lo + kSegment - 1), v,
                          vb, log_visit, log_r, log_z, s);
        acc.elbo += t.elbo, acc.eubo += t.eubo;
      }
      for (int32_t k = 1; k < g.ndim; ++k) {
        if (++x[k] < g.height) break;
        x[k] = 0;
      }
    }
    part[ch] = acc;
  }
  ImplicitBoundTerms total;
  for (const ImplicitBoundTerms& t : part) total.elbo += t.elbo, total.eubo += t.eubo;
  return total;
}

void implicit_terminal(const ImplicitGrid& g, const float* v, const float* log_r,
                       const float* log_visit, float* out) {
  const int64_t chunks = num_chunks(g);
#pragma omp parallel for schedule(static) if (chunks > 1) num_threads(::gfnrl::cpu_threads())
  for (int64_t i = 0; i < chunks; ++i)
    terminal_chunk(g, i * kChunk, std::min(g.num_states, (i + 1) * kChunk), v, log_r, log_visit,
                   out);
}

}  // namespace gfnrl::detail::cpu
