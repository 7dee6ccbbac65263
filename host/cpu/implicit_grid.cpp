// CPU passes of the implicit hypergrid layout: no edges stored, each state's children, parents
// and reward computed from its coordinates (detail/implicit_grid_math.hpp).
//
// Order and parallel work. Reverse code order is topological (every child has a larger code).
// The grid is cut into blocks (along x_1..x_{D-1}, rows along x_0 kept whole from D = 3 on); a
// block's children lie in itself or in blocks one step further along one coordinate, so the
// blocks of one block level (sum of block coordinates) are independent: the threads share a
// level, with a barrier between levels (a blocked wavefront). Inside a block, rows (x_1..x_{D-1}
// fixed) in topological order, each by the row kernels below: the terms through the other rows
// in vectors, the dependence along x_0 as one multiply-add per state. Each state's arithmetic is
// its own in a fixed order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/vector_math.hpp"
#include "gfnrl/backend.hpp"
#include "ops/implicit_grid_ops.hpp"

namespace gfnrl::detail::cpu {

namespace {

struct CpuMath {
  static GFNRL_CPU_INLINE float exp(float x) { return vexp(x); }
  static GFNRL_CPU_INLINE float log(float x) { return vlog(x); }
  static GFNRL_CPU_INLINE double exp_d(double x) { return vexp_d(x); }
};

struct BlockPlan {
  int32_t side = 1, per_dim = 1;
  bool whole_rows = false;  // x_0 not cut: each block holds whole rows
  std::vector<int64_t> blocks;       // block codes (base per_dim), sorted by block level
  std::vector<int64_t> level_start;  // blocks of level l: [level_start[l], level_start[l+1])
};

// About 32 blocks per thread in all, so that a wavefront's middle levels hold several blocks per
// thread; one block (a serial sweep) for small grids and one thread, where a barrier costs more
// than it shares. Rows along x_0 stay whole from D = 3 on (the row kernels' vectors); a 2-D grid
// has too few rows for that, so x_0 is cut too.
BlockPlan plan_blocks(const ImplicitGrid& g, int threads) {
  BlockPlan p;
  const int32_t d = g.ndim, h = g.height;
  const int32_t cut = d >= 3 ? d - 1 : d;  // dimensions cut into blocks
  if (threads > 1 && g.num_states >= (int64_t{1} << 14) && d > 1) {
    const double want = std::ceil(std::pow(32.0 * threads, 1.0 / cut));
    p.per_dim = static_cast<int32_t>(std::clamp(want, 1.0, double(h)));
  }
  p.side = (h + p.per_dim - 1) / p.per_dim;
  p.per_dim = (h + p.side - 1) / p.side;
  p.whole_rows = cut < d;
  int64_t count = 1;
  for (int32_t k = 0; k < cut; ++k) count *= p.per_dim;
  const int32_t levels = cut * (p.per_dim - 1) + 1;
  std::vector<int32_t> level(count);
  p.level_start.assign(levels + 1, 0);
  for (int64_t b = 0; b < count; ++b) {
    int64_t r = b;
    int32_t l = 0;
    for (int32_t k = 0; k < cut; ++k, r /= p.per_dim) l += static_cast<int32_t>(r % p.per_dim);
    level[b] = l;
    ++p.level_start[l + 1];
  }
  for (int32_t l = 0; l < levels; ++l) p.level_start[l + 1] += p.level_start[l];
  p.blocks.resize(count);
  std::vector<int64_t> next(p.level_start.begin(), p.level_start.end() - 1);
  for (int64_t b = 0; b < count; ++b) p.blocks[next[level[b]]++] = b;
  return p;
}

struct Box {
  int32_t lo[kMaxHypergridDim], hi[kMaxHypergridDim];  // inclusive
};

/// row_fn(base, x) for the rows of `box` (x_1..x_{D-1} fixed, x_0 from box.lo[0] to
/// box.hi[0]; base = the code at x_0 = 0, x[0] unused), in topological order: children first
/// (descending codes) when `reverse`, parents first otherwise.
template <class Fn>
GFNRL_CPU_INLINE void for_each_row_in_box(const ImplicitGrid& g, const Box& box, bool reverse,
                                          Fn&& fn) {
  const int32_t d = g.ndim;
  int32_t x[kMaxHypergridDim] = {};
  for (int32_t k = 1; k < d; ++k) x[k] = reverse ? box.hi[k] : box.lo[k];
  for (;;) {
    int64_t base = 0;
    for (int32_t k = 1; k < d; ++k) base += x[k] * g.stride[k];
    fn(base, x);
    int32_t k = 1;
    for (; k < d; ++k) {
      if (reverse ? x[k] > box.lo[k] : x[k] < box.hi[k]) {
        x[k] += reverse ? -1 : 1;
        break;
      }
      x[k] = reverse ? box.hi[k] : box.lo[k];
    }
    if (k >= d) return;
  }
}

/// block_fn(box) for every block, block levels in topological order, the blocks of one level
/// shared by the threads.
template <class BlockFn>
void wavefront(const ImplicitGrid& g, bool reverse, BlockFn block_fn) {
  const int threads = ::gfnrl::cpu_threads();
  const BlockPlan p = plan_blocks(g, threads);
  const int32_t levels = static_cast<int32_t>(p.level_start.size()) - 1;
#pragma omp parallel num_threads(threads) if (p.blocks.size() > 1)
  for (int32_t i = 0; i < levels; ++i) {
    const int32_t l = reverse ? levels - 1 - i : i;
#pragma omp for schedule(dynamic, 1)
    for (int64_t j = p.level_start[l]; j < p.level_start[l + 1]; ++j) {
      Box box;
      int64_t r = p.blocks[j];
      for (int32_t k = 0; k < g.ndim; ++k) {
        if (k == 0 && p.whole_rows) {
          box.lo[0] = 0, box.hi[0] = g.height - 1;
          continue;
        }
        box.lo[k] = static_cast<int32_t>(r % p.per_dim) * p.side;
        box.hi[k] = std::min(g.height, box.lo[k] + p.side) - 1;
        r /= p.per_dim;
      }
      block_fn(box);
    }
  }
}

// The row kernels. Along a row (x_1..x_{D-1} fixed) every term but the one through the x_0
// neighbour is independent of the row's other states, and sits at contiguous codes: those are
// summed in vectors, x_0 by x_0. What is left is linear in exp space:
//   soft values  exp V(x0) = A(x0) + w exp V(x0+1),   w = exp c(x0+1), the same along the row;
//   visits       rho(x0)   = B(x0) + pi(x0-1 -> x0) rho(x0-1),
// a chain of one multiply-add per state, run in double on values scaled by the segment's
// largest term (they stay within [0, segment length + 1]), then back to logs in vectors. A
// segment whose scaled values would leave double's range (a term more than kScaleRange below
// the largest) is redone state by state with the logsumexp of implicit_grid_math.hpp.
constexpr int32_t kSegment = 512;

struct RowScratch {
  float mx[kSegment], sm[kSegment], la[kSegment];
  float ca[kSegment], cb[kSegment];  // per x_0: a constant plus [x_0 > 0] (or [x_0 < H-1])
  double e[kSegment], w[kSegment];
};

GFNRL_CPU_INLINE float fmax_(float a, float b) { return a > b ? a : b; }

/// mx = max(mx, t), then (second pass) sm += exp(t - mx), for the terms t(i) of one neighbour
/// direction: the two passes of a logsumexp, in vectors.
template <class Term>
GFNRL_CPU_INLINE void max_pass(float* __restrict mx, int32_t n, Term t) {
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) mx[i] = fmax_(mx[i], t(i));
}
template <class Term>
GFNRL_CPU_INLINE void sum_pass(float* __restrict sm, const float* __restrict mx, int32_t n,
                               Term t) {
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) sm[i] += vexp(t(i) - mx[i]);
}

/// Soft values of the row segment x_0 in [lo, hi] (V(hi+1) already known when hi < H-1).
GFNRL_CPU_CLONES
void soft_value_segment(const ImplicitGrid& g, int64_t base, const int32_t* x, int32_t lo,
                        int32_t hi, const float* __restrict log_r, float* v, RowScratch& s) {
  const int32_t n = hi - lo + 1;
  const int64_t c0 = base + lo;
  int32_t nnz_rest = 0;
  for (int32_t k = 1; k < g.ndim; ++k) nnz_rest += x[k] > 0;
  float* __restrict mx = s.mx;
  float* __restrict sm = s.sm;
  float* __restrict la = s.la;
  // c of the child along k >= 1: nnz(child) = nnz_rest + [x_0 > 0] + [x_k = 0].
  for (int32_t i = 0; i < n; ++i) {
    const int32_t nnz = nnz_rest + (lo + i > 0);
    s.ca[i] = implicit_correction(nnz, g);
    s.cb[i] = implicit_correction(nnz + 1, g);
  }
  const float* __restrict lr = log_r + c0;
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) mx[i] = lr[i];
  for (int32_t k = 1; k < g.ndim; ++k) {
    if (x[k] >= g.height - 1) continue;
    const float* __restrict vc = v + c0 + g.stride[k];
    const float* __restrict c = x[k] == 0 ? s.cb : s.ca;
    max_pass(mx, n, [&](int32_t i) GFNRL_LAMBDA_INLINE { return vc[i] + c[i]; });
  }
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) sm[i] = vexp(lr[i] - mx[i]);
  for (int32_t k = 1; k < g.ndim; ++k) {
    if (x[k] >= g.height - 1) continue;
    const float* __restrict vc = v + c0 + g.stride[k];
    const float* __restrict c = x[k] == 0 ? s.cb : s.ca;
    sum_pass(sm, mx, n, [&](int32_t i) GFNRL_LAMBDA_INLINE { return vc[i] + c[i]; });
  }
  float m = -INFINITY, low = INFINITY;
#pragma omp simd reduction(max : m) reduction(min : low)
  for (int32_t i = 0; i < n; ++i) {
    la[i] = mx[i] + vlog(sm[i]);
    m = fmax_(m, la[i]);
    low = low < la[i] ? low : la[i];
  }
  // The chain, from hi down: exp(V(x0) - m) = exp(la - m) + w exp(V(x0+1) - m).
  const float c_next = implicit_correction(nnz_rest + 1, g);  // the x_0 + 1 child's c
  const bool has_next = hi < g.height - 1;
  if (has_next) m = fmax_(m, v[c0 + n] + c_next);
  if (!(double(low) - m >= -g.scale_range)) {
    for (int32_t i = n - 1; i >= 0; --i) {
      int32_t xs[kMaxHypergridDim];
      for (int32_t k = 1; k < g.ndim; ++k) xs[k] = x[k];
      xs[0] = lo + i;
      v[c0 + i] = implicit_soft_value<CpuMath>(v, c0 + i, xs, log_r[c0 + i], g);
    }
    return;
  }
  double* __restrict e = s.e;
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) e[i] = vexp_d(double(la[i]) - m);
  const double w = std::exp(double(c_next));
  double next = has_next ? std::exp(double(v[c0 + n]) - m) : 0.0;
  for (int32_t i = n - 1; i >= 0; --i) e[i] = next = e[i] + w * next;
  float* __restrict out = v + c0;
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) out[i] = m + float(vlog_d(e[i]));
}

/// Visit log-probabilities of the row segment x_0 in [lo, hi] (rho(lo-1) already known when
/// lo > 0).
GFNRL_CPU_CLONES
void visit_segment(const ImplicitGrid& g, int64_t base, const int32_t* x, int32_t lo, int32_t hi,
                   const float* __restrict v, float* log_visit, RowScratch& s) {
  const int32_t n = hi - lo + 1;
  const int64_t c0 = base + lo;
  const int32_t top = g.height - 1;
  int32_t nnz_rest = 0, k_rest = 0;
  for (int32_t k = 1; k < g.ndim; ++k) nnz_rest += x[k] > 0, k_rest += x[k] < top;
  float* __restrict mx = s.mx;
  float* __restrict sm = s.sm;
  float* __restrict la = s.la;
  // log pi(parent along k -> s) per x_0. Optimal: c(s) + V(s) - V(parent), c(s) by
  // nnz(s) = nnz_rest + [x_0 > 0] (ca). Uniform: -log(k(parent) + 1), k(parent) = k(s) +
  // [x_k = H-1], k(s) = k_rest + [x_0 < H-1] (ca: -log(k(s) + 1), cb: -log(k(s) + 2)).
  for (int32_t i = 0; i < n; ++i) {
    if (g.uniform_policy) {
      const int32_t k = k_rest + (lo + i < top);
      s.ca[i] = -g.log_count[k + 1];
      s.cb[i] = -g.log_count[k + 2];
    } else {
      s.ca[i] = implicit_correction(nnz_rest + (lo + i > 0), g);
    }
  }
  const float* __restrict vs = v + c0;
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) mx[i] = -INFINITY, sm[i] = 0.0f;
  for (int pass = 0; pass < 2; ++pass)
    for (int32_t k = 1; k < g.ndim; ++k) {
      if (x[k] == 0) continue;
      const float* __restrict pv = log_visit + c0 - g.stride[k];
      if (g.uniform_policy) {
        const float* __restrict u = x[k] == top ? s.cb : s.ca;
        const auto t = [&](int32_t i) GFNRL_LAMBDA_INLINE { return pv[i] + u[i]; };
        pass == 0 ? max_pass(mx, n, t) : sum_pass(sm, mx, n, t);
      } else {
        const float* __restrict vp = vs - g.stride[k];
        const float* __restrict c = s.ca;
        const auto t = [&](int32_t i) GFNRL_LAMBDA_INLINE { return pv[i] + (c[i] + vs[i] - vp[i]); };
        pass == 0 ? max_pass(mx, n, t) : sum_pass(sm, mx, n, t);
      }
    }
  // log B(x0); the source (every coordinate 0) has rho = 1 and no parents.
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int32_t i = 0; i < n; ++i) {
    la[i] = mx[i] > -INFINITY ? mx[i] + vlog(sm[i]) : -INFINITY;
    m = fmax_(m, la[i]);
  }
  if (base == 0 && lo == 0) m = fmax_(m, la[0] = 0.0f);
  // pi(x0-1 -> x0) for x0 >= 1: optimal c(s) + V(x0) - V(x0-1), c(s) with nnz_rest + 1;
  // uniform -log(k(x0-1) + 1), k(x0-1) = k_rest + 1.
  double* __restrict w = s.w;
  const float c1 = implicit_correction(nnz_rest + 1, g), u1 = -g.log_count[k_rest + 2];
  if (g.uniform_policy) {
    const double wu = std::exp(double(u1));
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) w[i] = wu;
  } else {
#pragma omp simd
    for (int32_t i = 1; i < n; ++i) w[i] = vexp_d(double(c1) + vs[i] - vs[i - 1]);
    if (lo > 0) w[0] = std::exp(double(c1) + vs[0] - v[c0 - 1]);
  }
  if (lo == 0) w[0] = 0.0;
  const bool has_prev = lo > 0;
  if (has_prev) m = fmax_(m, log_visit[c0 - 1]);
  double* __restrict e = s.e;
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) e[i] = la[i] > -INFINITY ? vexp_d(double(la[i]) - m) : 0.0;
  double prev = has_prev ? std::exp(double(log_visit[c0 - 1]) - m) : 0.0, low = INFINITY;
  for (int32_t i = 0; i < n; ++i) {
    e[i] = prev = e[i] + w[i] * prev;
    low = std::min(low, prev);
  }
  if (!(low > g.tiny_scaled)) {  // a state fell out of the scaled range: one at a time
    for (int32_t i = 0; i < n; ++i) {
      int32_t xs[kMaxHypergridDim];
      for (int32_t k = 1; k < g.ndim; ++k) xs[k] = x[k];
      xs[0] = lo + i;
      log_visit[c0 + i] = implicit_log_visit<CpuMath>(v, log_visit, c0 + i, xs, g);
    }
    return;
  }
  float* __restrict out = log_visit + c0;
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) out[i] = m + float(vlog_d(e[i]));
}

// The flow form, for the soft-optimal policy with the uniform-P_B correction: F = exp V obeys
//   F(s) = R(s) + sum_{d: x_d<H-1} F(s+e_d) / nnz(s+e_d),
// linear, no exp or log per term, and F stays in [R0, sum R] (float's range). Its visits, scaled
// by the flows, q(s) = rho(s) / F(s), obey (pi(p -> s) = F(s) / (nnz(s) F(p)))
//   q(s) = (1/nnz(s)) sum_{parents p} q(p),   q(s0) = 1/F(s0),
// so log rho = log q + V. Rows as above: the terms off the row in vectors, then the chain
// along x_0 in double.
// The visits' chain along x_0, y_i = v (b_i + y_(i-1)), as two interleaved ones: it is also
// y_i = (v b_i + v^2 b_(i-1)) + v^2 y_(i-2), so the states of odd and even offset form
// independent chains of one multiply-add each, run side by side (the chain's latency bounds
// the row; the pairs' first terms are one vector pass into t). out[i] = float(y_i) for i in
// [i0, n), y_(i0-1) = y0.
GFNRL_CPU_INLINE void visit_chain(const double* __restrict b, double* __restrict t, int32_t i0,
                                  int32_t n, double v, double y0, float* __restrict out) {
  if (i0 >= n) return;
  const double v2 = v * v;
#pragma omp simd
  for (int32_t i = i0 + 1; i < n; ++i) t[i] = v * b[i] + v2 * b[i - 1];
  double even = v * (b[i0] + y0);  // y_i0, then y_(i0+2), ...
  double odd = y0;                 // y_(i0-1), then y_(i0+1), ...
  out[i0] = static_cast<float>(even);
  int32_t i = i0 + 1;
  for (; i + 1 < n; i += 2) {
    odd = t[i] + v2 * odd;
    even = t[i + 1] + v2 * even;
    out[i] = static_cast<float>(odd);
    out[i + 1] = static_cast<float>(even);
  }
  if (i < n) out[i] = static_cast<float>(t[i] + v2 * odd);
}

struct RewardTable {
  std::vector<unsigned char> region;  // per x_0: outer + 2 ring
  // R along a row: row[rest][x_0] = R0 + R1 [outer] + R2 [ring], with `rest` (outer + 2 ring of
  // x_1..x_{D-1}) and'ed with x_0's: a row's rewards are one contiguous copy, in vectors.
  std::vector<double> row[4];
};

RewardTable reward_table(const ImplicitGrid& g, const double* r) {
  RewardTable t;
  double value[4];
  for (int i = 0; i < 4; ++i) value[i] = r[0] + ((i & 1) ? r[1] : 0.0) + ((i & 2) ? r[2] : 0.0);
  t.region.resize(g.height);
  for (int32_t x = 0; x < g.height; ++x) {
    bool o, q;
    implicit_regions(x, g, &o, &q);
    t.region[x] = static_cast<unsigned char>(o + 2 * q);
  }
  for (int rest = 0; rest < 4; ++rest)
    for (int32_t x = 0; x < g.height; ++x) t.row[rest].push_back(value[rest & t.region[x]]);
  return t;
}

GFNRL_CPU_CLONES
void flow_segment(const ImplicitGrid& g, const RewardTable& rt, int64_t base, const int32_t* x,
                  int32_t lo, int32_t hi, float* f, RowScratch& s) {
  const int32_t n = hi - lo + 1;
  const int64_t c0 = base + lo;
  int32_t nnz_rest = 0;
  int rest = 3;  // outer and ring of x_1..x_{D-1}
  for (int32_t k = 1; k < g.ndim; ++k) {
    nnz_rest += x[k] > 0;
    rest &= rt.region[x[k]];
  }
  // R along the row: one contiguous copy (a lookup by region per state was a seventh of it).
  double* __restrict a = s.e;
  const double* __restrict r = rt.row[rest].data() + lo;
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) a[i] = r[i];
  // 1 / nnz(child along k >= 1) = 1 / (nnz_rest + [x_0 > 0] + [x_k = 0]).
  const double w_in = 1.0 / (nnz_rest + 1), w_in2 = 1.0 / (nnz_rest + 2);
  const double w_zero = nnz_rest > 0 ? 1.0 / nnz_rest : 0.0;  // x_0 = 0, x_k > 0
  // One pass per child row (three rows fused per pass measured slower: 1.70 against 1.47 ms).
  double first = 0;  // x_0 = 0 takes weight w0 where the vector pass gave w
  for (int32_t k = 1; k < g.ndim; ++k) {
    if (x[k] >= g.height - 1) continue;
    const float* __restrict fc = f + c0 + g.stride[k];
    const double w = x[k] == 0 ? w_in2 : w_in;  // for x_0 > 0
    const double w0 = x[k] == 0 ? w_in : w_zero;  // for x_0 = 0
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) a[i] += double(fc[i]) * w;
    // Gathered in a register and added once below: a scalar store to a[0] here made the next
    // pass's first vector load wait for it (no store forwarding).
    if (lo == 0) first += double(fc[0]) * (w0 - w);
  }
  a[0] += first;
  // One chain here: two interleaved (as the visits run) measured slower, 1.65-1.69 against
  // 1.42-1.50 ms on 4-D H=32.
  double next = hi < g.height - 1 ? double(f[c0 + n]) : 0.0;
  for (int32_t i = n - 1; i >= 0; --i) {
    next = a[i] + w_in * next;
    f[c0 + i] = static_cast<float>(next);
  }
}

GFNRL_CPU_CLONES
void scaled_visit_segment(const ImplicitGrid& g, int64_t base, const int32_t* x, int32_t lo,
                          int32_t hi, float q_source, float* q, RowScratch& s) {
  const int32_t n = hi - lo + 1;
  const int64_t c0 = base + lo;
  int32_t nnz_rest = 0;
  for (int32_t k = 1; k < g.ndim; ++k) nnz_rest += x[k] > 0;
  double* __restrict b = s.e;
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) b[i] = 0.0;
  for (int32_t k = 1; k < g.ndim; ++k) {
    if (x[k] == 0) continue;
    const float* __restrict qp = q + c0 - g.stride[k];
#pragma omp simd
    for (int32_t i = 0; i < n; ++i) b[i] += double(qp[i]);
  }
  const double inv = 1.0 / (nnz_rest + 1);  // x_0 > 0
  double prev = lo > 0 ? double(q[c0 - 1]) : 0.0;
  int32_t i = 0;
  if (lo == 0) {  // x_0 = 0: no parent along x_0; the source has none at all
    prev = nnz_rest > 0 ? b[0] / nnz_rest : double(q_source);
    q[c0] = static_cast<float>(prev);
    i = 1;
  }
  visit_chain(b, s.w, i, n, inv, prev, q + c0);
}

// The variational bounds' terms (implicit_bound_terms) of one row segment in vectors, x_0 by
// x_0: per lane the in- and out-degrees and their logs, then one pass per neighbour direction.
struct BoundScratch {
  // Per lane (x_0): log nnz, log(nnz + 1), log(k + 1), log(k + 2) with nnz the in- and k the
  // out-degree, 1/nnz (0 at the source), and the sums being built.
  double lnnz[kSegment], lnnz1[kSegment], lk1[kSegment], lk2[kSegment], inv[kSegment];
  double elbo[kSegment], in[kSegment];
};

GFNRL_CPU_CLONES
ImplicitBoundTerms bound_segment(const ImplicitGrid& g, int64_t base, const int32_t* x,
                                 int32_t lo, int32_t hi, const float* __restrict v,
                                 const float* __restrict vb, const float* __restrict log_visit,
                                 const float* __restrict log_r, double log_z, BoundScratch& s) {
  const int32_t n = hi - lo + 1;
  const int64_t c0 = base + lo;
  const int32_t top = g.height - 1;
  int32_t nnz_rest = 0, k_rest = 0;
  for (int32_t k = 1; k < g.ndim; ++k) nnz_rest += x[k] > 0, k_rest += x[k] < top;
  for (int32_t i = 0; i < n; ++i) {  // small integers: the grid's table of logs
    const int32_t nnz = nnz_rest + (lo + i > 0), k = k_rest + (lo + i < top);
    s.lnnz[i] = nnz > 0 ? g.log_count[nnz] : 0.0;
    s.lnnz1[i] = g.log_count[nnz + 1];
    s.lk1[i] = g.log_count[k + 1];
    s.lk2[i] = g.log_count[k + 2];
    s.inv[i] = nnz > 0 ? 1.0 / nnz : 0.0;
  }
  const bool uni = g.uniform_policy;
  const double cz = g.corrected ? 1.0 : 0.0;  // c = -cz log nnz
  const float* __restrict lv = log_visit + c0;
  const float* __restrict vs = v + c0;
  const float* __restrict lr = log_r + c0;
  double* __restrict elbo = s.elbo;
  double* __restrict in = s.in;
  const double* __restrict lnnz = s.lnnz;
  const double* __restrict lnnz1 = s.lnnz1;
  const double* __restrict lk1 = s.lk1;
  const double* __restrict lk2 = s.lk2;
  // Exit: log pi = log R - V (optimal) or -log(k + 1); the ELBO's and the EUBO's exit terms.
  double eubo_exit = 0;
#pragma omp simd reduction(+ : eubo_exit)
  for (int32_t i = 0; i < n; ++i) {
    const double e = uni ? -lk1[i] : double(lr[i]) - double(vs[i]);
    elbo[i] = vexp_d(double(lv[i]) + e) * (double(lr[i]) - e);
    eubo_exit += vexp_d(double(lr[i]) - log_z) * (double(lr[i]) - e);
    in[i] = 0.0;
  }
  // Children along k: nnz(child) = nnz + [x_k = 0] (along x_0: nnz_rest + 1); log pi =
  // c(child) + V(child) - V(s) or -log(k + 1). The ELBO adds rho pi (-log nnz(child) - log pi).
  // Along x_0 only the lanes below H-1 have a child.
  for (int32_t k = 0; k < g.ndim; ++k) {
    if (k > 0 && x[k] >= top) continue;
    const float* __restrict vc = vs + g.stride[k];
    const int32_t end = k == 0 && hi == top ? n - 1 : n;
    const double l0 = g.log_count[nnz_rest + 1];
    const double* __restrict lc = k > 0 && x[k] == 0 ? lnnz1 : lnnz;  // for k > 0
    if (uni) {
#pragma omp simd
      for (int32_t i = 0; i < end; ++i) {
        const double lb = k == 0 ? l0 : lc[i];
        elbo[i] += vexp_d(double(lv[i]) - lk1[i]) * (lk1[i] - lb);
      }
    } else {
#pragma omp simd
      for (int32_t i = 0; i < end; ++i) {
        const double lb = k == 0 ? l0 : lc[i];
        const double lp = -cz * lb + (double(vc[i]) - double(vs[i]));
        elbo[i] += vexp_d(double(lv[i]) + lp) * (-lb - lp);
      }
    }
  }
  // Parents along k: log pi(p -> s) = c(s) + V(s) - V(p), or -log(k(p) + 1) with
  // k(p) = k + [x_k = H-1] (along x_0: k_rest + 1). The EUBO adds F(s)/Z / nnz
  // sum (-log nnz - log pi). Along x_0 only the lanes above 0 have a parent.
  for (int32_t k = 0; k < g.ndim; ++k) {
    if (k > 0 && x[k] == 0) continue;
    const float* __restrict vp = vs - g.stride[k];
    const int32_t begin = k == 0 && lo == 0 ? 1 : 0;
    if (uni) {
      const double l0 = g.log_count[k_rest + 2];
      const double* __restrict lkp = k > 0 && x[k] == top ? lk2 : lk1;
#pragma omp simd
      for (int32_t i = begin; i < n; ++i) in[i] += (k == 0 ? l0 : lkp[i]) - lnnz[i];
    } else {
#pragma omp simd
      for (int32_t i = begin; i < n; ++i)
        in[i] += -lnnz[i] - (-cz * lnnz[i] + (double(vs[i]) - double(vp[i])));
    }
  }
  double elbo_sum = 0, eubo_in = 0;
  const float* __restrict vbs = vb + c0;
  const double* __restrict inv = s.inv;
#pragma omp simd reduction(+ : elbo_sum, eubo_in)
  for (int32_t i = 0; i < n; ++i) {
    elbo_sum += elbo[i];
    eubo_in += vexp_d(double(vbs[i]) - log_z) * inv[i] * in[i];
  }
  return {elbo_sum, eubo_exit + eubo_in};
}

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
