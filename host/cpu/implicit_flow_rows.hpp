// Internal to host/cpu/implicit_grid.cpp: the implicit hypergrid's row kernels in the flow form
// (the soft-optimal policy with the uniform-P_B correction) and of the variational bounds'
// terms. Needs implicit_rows.hpp (RowScratch, kSegment) first.
#pragma once
#include "cpu/implicit_rows.hpp"

namespace gfnrl::detail::cpu {

namespace {

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

// Per lane (x_0 = lo + i) the in-degree nnz and out-degree k and their logs (small integers: the
// grid's table of logs), and 1/nnz (0 at the source).
GFNRL_CPU_INLINE void lane_degrees(const ImplicitGrid& g, int32_t lo, int32_t n, int32_t nnz_rest,
                                   int32_t k_rest, BoundScratch& s) {
  const int32_t top = g.height - 1;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t nnz = nnz_rest + (lo + i > 0), k = k_rest + (lo + i < top);
    s.lnnz[i] = nnz > 0 ? g.log_count[nnz] : 0.0;
    s.lnnz1[i] = g.log_count[nnz + 1];
    s.lk1[i] = g.log_count[k + 1];
    s.lk2[i] = g.log_count[k + 2];
    s.inv[i] = nnz > 0 ? 1.0 / nnz : 0.0;
  }
}

// Children along k: nnz(child) = nnz + [x_k = 0] (along x_0: nnz_rest + 1); log pi =
// c(child) + V(child) - V(s) or -log(k + 1). The ELBO adds rho pi (-log nnz(child) - log pi),
// into s.elbo. Along x_0 only the lanes below H-1 have a child.
GFNRL_CPU_INLINE void add_child_terms(const ImplicitGrid& g, const int32_t* x, int32_t n,
                                      int32_t hi, int32_t nnz_rest,
                                      const float* __restrict lv, const float* __restrict vs,
                                      BoundScratch& s) {
  const int32_t top = g.height - 1;
  const bool uni = g.uniform_policy;
  const double cz = g.corrected ? 1.0 : 0.0;  // c = -cz log nnz
  double* __restrict elbo = s.elbo;
  const double* __restrict lnnz = s.lnnz;
  const double* __restrict lnnz1 = s.lnnz1;
  const double* __restrict lk1 = s.lk1;
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
}

// Parents along k: log pi(p -> s) = c(s) + V(s) - V(p), or -log(k(p) + 1) with
// k(p) = k + [x_k = H-1] (along x_0: k_rest + 1). The EUBO adds F(s)/Z / nnz
// sum (-log nnz - log pi): the sums into s.in. Along x_0 only the lanes above 0 have a parent.
GFNRL_CPU_INLINE void add_parent_terms(const ImplicitGrid& g, const int32_t* x, int32_t lo,
                                       int32_t n, int32_t k_rest, const float* __restrict vs,
                                       BoundScratch& s) {
  const int32_t top = g.height - 1;
  const bool uni = g.uniform_policy;
  const double cz = g.corrected ? 1.0 : 0.0;
  double* __restrict in = s.in;
  const double* __restrict lnnz = s.lnnz;
  const double* __restrict lk1 = s.lk1;
  const double* __restrict lk2 = s.lk2;
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
}

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
  lane_degrees(g, lo, n, nnz_rest, k_rest, s);
  const bool uni = g.uniform_policy;
  const float* __restrict lv = log_visit + c0;
  const float* __restrict vs = v + c0;
  const float* __restrict lr = log_r + c0;
  double* __restrict elbo = s.elbo;
  double* __restrict in = s.in;
  const double* __restrict lk1 = s.lk1;
  // Exit: log pi = log R - V (optimal) or -log(k + 1); the ELBO's and the EUBO's exit terms.
  double eubo_exit = 0;
#pragma omp simd reduction(+ : eubo_exit)
  for (int32_t i = 0; i < n; ++i) {
    const double e = uni ? -lk1[i] : double(lr[i]) - double(vs[i]);
    elbo[i] = vexp_d(double(lv[i]) + e) * (double(lr[i]) - e);
    eubo_exit += vexp_d(double(lr[i]) - log_z) * (double(lr[i]) - e);
    in[i] = 0.0;
  }
  add_child_terms(g, x, n, hi, nnz_rest, lv, vs, s);
  add_parent_terms(g, x, lo, n, k_rest, vs, s);
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

}  // namespace

}  // namespace gfnrl::detail::cpu
