// Internal to host/cpu/implicit_grid.cpp: the implicit hypergrid's row kernels in their general
// (logsumexp) form, for soft values and visits of any policy the layout holds.
#pragma once
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

// A segment whose values span more than the scaled range: each state by the per-state form, from
// x_0 = lo + n - 1 down (each reads V of its x_0 + 1 child).
GFNRL_CPU_INLINE void soft_values_one_by_one(const ImplicitGrid& g, const int32_t* x, int32_t lo,
                                             int32_t n, int64_t c0, const float* log_r, float* v) {
  for (int32_t i = n - 1; i >= 0; --i) {
    int32_t xs[kMaxHypergridDim];
    for (int32_t k = 1; k < g.ndim; ++k) xs[k] = x[k];
    xs[0] = lo + i;
    v[c0 + i] = implicit_soft_value<CpuMath>(v, c0 + i, xs, log_r[c0 + i], g);
  }
}

// The same for the visits, from x_0 = lo up (each reads rho of its x_0 - 1 parent).
GFNRL_CPU_INLINE void visits_one_by_one(const ImplicitGrid& g, const int32_t* x, int32_t lo,
                                        int32_t n, int64_t c0, const float* v, float* log_visit) {
  for (int32_t i = 0; i < n; ++i) {
    int32_t xs[kMaxHypergridDim];
    for (int32_t k = 1; k < g.ndim; ++k) xs[k] = x[k];
    xs[0] = lo + i;
    log_visit[c0 + i] = implicit_log_visit<CpuMath>(v, log_visit, c0 + i, xs, g);
  }
}

// log pi(parent along k -> s) per x_0 = lo + i, into s.ca (and s.cb). Optimal: c(s) + V(s) -
// V(parent), c(s) by nnz(s) = nnz_rest + [x_0 > 0] (ca). Uniform: -log(k(parent) + 1),
// k(parent) = k(s) + [x_k = H-1], k(s) = k_rest + [x_0 < H-1] (ca: -log(k(s) + 1), cb:
// -log(k(s) + 2)).
GFNRL_CPU_INLINE void parent_coefficients(const ImplicitGrid& g, int32_t lo, int32_t n,
                                          int32_t nnz_rest, int32_t k_rest, RowScratch& s) {
  const int32_t top = g.height - 1;
  for (int32_t i = 0; i < n; ++i) {
    if (g.uniform_policy) {
      const int32_t k = k_rest + (lo + i < top);
      s.ca[i] = -g.log_count[k + 1];
      s.cb[i] = -g.log_count[k + 2];
    } else {
      s.ca[i] = implicit_correction(nnz_rest + (lo + i > 0), g);
    }
  }
}

// The visit chain's weights w[i] = pi(x0-1 -> x0) for x0 = lo + i >= 1 (w[0] = 0 at x_0 = 0):
// optimal c(s) + V(x0) - V(x0-1), c(s) with nnz_rest + 1; uniform -log(k(x0-1) + 1),
// k(x0-1) = k_rest + 1.
GFNRL_CPU_INLINE void chain_weights(const ImplicitGrid& g, int32_t lo, int32_t n, int64_t c0,
                                    int32_t nnz_rest, int32_t k_rest, const float* __restrict v,
                                    double* __restrict w) {
  const float* __restrict vs = v + c0;
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
  if (!(double(low) - m >= -g.scale_range))
    return soft_values_one_by_one(g, x, lo, n, c0, log_r, v);
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
  parent_coefficients(g, lo, n, nnz_rest, k_rest, s);
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
  double* __restrict w = s.w;
  chain_weights(g, lo, n, c0, nnz_rest, k_rest, v, w);
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
  if (!(low > g.tiny_scaled))  // a state fell out of the scaled range: one at a time
    return visits_one_by_one(g, x, lo, n, c0, v, log_visit);
  float* __restrict out = log_visit + c0;
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) out[i] = m + float(vlog_d(e[i]));
}

}  // namespace

}  // namespace gfnrl::detail::cpu
