// CPU reductions in double over fixed chunks: each chunk is summed in kLanes partial sums (element
// i into sum i mod kLanes, added in that order at the chunk's end) and the chunk results are
// combined in order, so the result is the same for any thread count. Not quite for any vector
// width: the x86-64-v4 and v3 clones of these loops may round differently in the last bits, as
// the baseline's do (a KL of 2.4e-12 on dag-structure read 2.445990941623e-12 against
// 2.445990941650e-12; no masked FMA is involved, and which instruction differs was not tracked
// down). The exponentials and logarithms are
// vexp_d / vlog_d (cpu/vector_math.hpp), so the loops vectorise: libm's exp and log, one value per
// call, and a per-element merge of the correlation's moments (three divisions) made these
// reductions several times the exact marginals they follow (4-D H=32, 2 cores: ~16 ms against
// 4 ms).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/vector_math.hpp"
#include "ops/reduction_ops.hpp"

namespace gfnrl::detail::cpu {

namespace {
constexpr std::size_t kChunk = 4096;
// 16 lanes, not 8: GCC kept 8 doubles in two 256-bit halves even in the x86-64-v4 clone, and 16
// let it take whole 512-bit vectors (4-D H=32, one thread: compare_to_target 11.5 -> 6.6 ms).
constexpr int kLanes = 16;
constexpr double kInf = std::numeric_limits<double>::infinity();

template <class Acc, class Chunk, class Merge>
Acc chunked_reduce(std::size_t n, Chunk chunk, Merge merge) {
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<Acc> part(chunks);
#pragma omp parallel for schedule(static) if (chunks > 1) num_threads(::gfnrl::cpu_threads())
  for (std::size_t c = 0; c < chunks; ++c)
    part[c] = chunk(c * kChunk, std::min(n, (c + 1) * kChunk));
  Acc total{};
  for (const Acc& a : part) total = merge(total, a);
  return total;
}

/// fn(i, l) for the elements i of [begin, end), l = (i - begin) mod kLanes, a vector of kLanes
/// at a time. fn must be GFNRL_LAMBDA_INLINE, or the clones would call a baseline copy of it.
template <class Fn>
GFNRL_CPU_INLINE void by_lanes(std::size_t begin, std::size_t end, Fn fn) {
  std::size_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) fn(i + l, l);
  }
  for (int l = 0; i + l < end; ++l) fn(i + l, l);
}

GFNRL_CPU_INLINE double lane_total(const double* acc) {
  double s = 0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

/// sum exp(x - m) over [begin, end).
GFNRL_CPU_CLONES
double sum_exp(const float* __restrict x, std::size_t begin, std::size_t end, float m) {
  double acc[kLanes] = {};
  by_lanes(begin, end, [&](std::size_t i, int l) GFNRL_LAMBDA_INLINE {
    acc[l] += vexp_d(double(x[i]) - m);
  });
  return lane_total(acc);
}

struct MetricArgs {
  const float *log_target, *log_terminal, *log_visit;
  double log_z, log_mass, log_mode_threshold;
};

/// x (log x - log y) with 0 log 0 = 0 and x log(x/0) = +inf (state_math.hpp's xlogxy).
GFNRL_CPU_INLINE double xlogxy(double x, double log_x, double log_y) {
  return x > 0 ? x * (log_x - log_y) : 0.0;
}

/// The chunk's metric sums: state_math.hpp's metric_terms summed, with the correlation's moments
/// taken in two passes (the chunk's means, then the centred sums) and merged once per chunk.
GFNRL_CPU_CLONES
MetricSums metric_chunk(const MetricArgs& a, std::size_t begin, std::size_t end) {
  double tv[kLanes] = {}, kl_pq[kLanes] = {}, kl_qp[kLanes] = {}, jsd[kLanes] = {};
  double visits[kLanes] = {}, mode_p[kLanes] = {}, mode_q[kLanes] = {}, modes[kLanes] = {};
  double count[kLanes] = {}, sum_a[kLanes] = {}, sum_b[kLanes] = {};
  by_lanes(begin, end, [&](std::size_t i, int l) GFNRL_LAMBDA_INLINE {
    const double log_p = double(a.log_target[i]) - a.log_z;
    const double log_q = double(a.log_terminal[i]) - a.log_mass;
    const double p = vexp_d(log_p), q = vexp_d(log_q), m = 0.5 * (p + q);
    // m >= DBL_MIN / 2 may be subnormal; its log then only scales a p or q < 2.3e-308.
    const double log_m =
        m > 0 ? vlog_d(m > std::numeric_limits<double>::min() ? m
                                                              : std::numeric_limits<double>::min())
              : -kInf;
    tv[l] += 0.5 * (p > q ? p - q : q - p);
    kl_pq[l] += xlogxy(p, log_p, log_q);
    kl_qp[l] += xlogxy(q, log_q, log_p);
    jsd[l] += 0.5 * xlogxy(p, log_p, log_m) + 0.5 * xlogxy(q, log_q, log_m);
    visits[l] += double(vexp(a.log_visit[i]));
    const bool mode = a.log_target[i] >= a.log_mode_threshold;
    mode_p[l] += mode ? p : 0.0;
    mode_q[l] += mode ? q : 0.0;
    modes[l] += mode ? 1.0 : 0.0;
    const bool in = log_p > -kInf;  // the correlation is over the target's support
    count[l] += in ? 1.0 : 0.0;
    sum_a[l] += in ? log_q : 0.0;
    sum_b[l] += in ? log_p : 0.0;
  });
  MetricSums r;
  r.tv = lane_total(tv), r.kl_pq = lane_total(kl_pq), r.kl_qp = lane_total(kl_qp);
  r.jsd = lane_total(jsd), r.visits = lane_total(visits);
  r.mode_p = lane_total(mode_p), r.mode_q = lane_total(mode_q), r.modes = lane_total(modes);
  CovAcc& c = r.log_qp;
  c.n = lane_total(count);
  if (c.n == 0) return r;
  c.ma = lane_total(sum_a) / c.n, c.mb = lane_total(sum_b) / c.n;
  double saa[kLanes] = {}, sbb[kLanes] = {}, sab[kLanes] = {};
  by_lanes(begin, end, [&](std::size_t i, int l) GFNRL_LAMBDA_INLINE {
    const double log_p = double(a.log_target[i]) - a.log_z;
    const double log_q = double(a.log_terminal[i]) - a.log_mass;
    const bool in = log_p > -kInf;
    const double da = in ? log_q - c.ma : 0.0, db = in ? log_p - c.mb : 0.0;
    saa[l] += da * da, sbb[l] += db * db, sab[l] += da * db;
  });
  c.saa = lane_total(saa), c.sbb = lane_total(sbb), c.sab = lane_total(sab);
  return r;
}

GFNRL_CPU_CLONES
void exp_chunk(const float* __restrict x, std::size_t begin, std::size_t end,
               double* __restrict p) {
#pragma omp simd
  for (std::size_t i = begin; i < end; ++i) p[i] = vexp_d(double(x[i]));
}

// A gather into a block on the stack, then the vectorised exp pass over it (exp_chunk); whether
// every entry of the order was below `size`.
bool exp_in_order_chunk(const float* __restrict x, int64_t size, const int64_t* __restrict order,
                        std::size_t begin, std::size_t end, double* __restrict p) {
  float v[kChunk];
  bool past = false;
  for (std::size_t i = begin; i < end; ++i) {
    const int64_t s = order[i];
    past |= s >= size;
    v[i - begin] = s >= 0 && s < size ? x[s] : -INFINITY;
  }
  exp_chunk(v, 0, end - begin, p + begin);
  return !past;
}

BoundSums bound_chunk(const BoundArgs& a, std::size_t begin, std::size_t end) {
  BoundSums acc{};
  for (std::size_t s = begin; s < end; ++s)
    acc = BoundSums::merge(acc, bound_terms(a, static_cast<int32_t>(s)));
  return acc;
}
}  // namespace

// log sum exp(x) = m + log sum exp(x - m). Each chunk takes its maximum first (float compares,
// vectorised) and then sums exp(x - m) in double: one exp per element, no data-dependent
// branch (the running-maximum form rescales, and mispredicts, whenever the maximum grows).
double log_sum_exp(const float* x, std::size_t n) {
  using Acc = LseAcc<double>;
  const auto chunk = [&](std::size_t begin, std::size_t end) {
    Acc acc;
    float m = -INFINITY;
    for (std::size_t i = begin; i < end; ++i) m = std::max(m, x[i]);
    if (!(m > -INFINITY)) return acc;  // an empty chunk (all -inf) stays the identity
    acc.m = m;
    acc.s = m == INFINITY ? 1.0 : sum_exp(x, begin, end, m);  // +inf, not inf - inf = NaN
    return acc;
  };
  return chunked_reduce<Acc>(n, chunk, [](const Acc& p, const Acc& q) { return Acc::merge(p, q); })
      .value();
}

float max_value(const float* x, std::size_t n) {
  float m = -INFINITY;
#pragma omp parallel for reduction(max : m) if (n >= (1u << 16)) num_threads(::gfnrl::cpu_threads())
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

MetricSums metric_sums(const float* log_target, double log_z, const float* log_terminal,
                       double log_mass, const float* log_visit, std::size_t n,
                       double log_mode_threshold) {
  const MetricArgs a{log_target, log_terminal, log_visit, log_z, log_mass, log_mode_threshold};
  return chunked_reduce<MetricSums>(
      n, [&](std::size_t begin, std::size_t end) { return metric_chunk(a, begin, end); },
      [](const MetricSums& p, const MetricSums& q) { return MetricSums::merge(p, q); });
}

GFNRL_CPU_CLONES
bool any_nan_or_inf(const float* __restrict x, std::size_t begin, std::size_t end) {
  int bad = 0;  // an or of the failures vectorises; a short-circuit && does not
#pragma omp simd reduction(| : bad)
  for (std::size_t i = begin; i < end; ++i) bad |= !(x[i] < INFINITY);
  return bad != 0;
}

GFNRL_CPU_CLONES
void row_sum_chunk(const int64_t* __restrict off, int32_t begin, int32_t end,
                   const float* __restrict e, const float* __restrict x, double* __restrict sums) {
  double p[kChunk];
  for (int64_t k0 = off[begin]; k0 < off[end]; k0 += kChunk) {
    const int64_t k1 = std::min<int64_t>(off[end], k0 + kChunk);
#pragma omp simd
    for (int64_t k = k0; k < k1; ++k) p[k - k0] = vexp_d(double(e[k]));
    // Add each edge's probability to its state (states in order, edges contiguous per state).
    int32_t s = begin;
    for (int64_t k = k0; k < k1; ++k) {
      while (off[s + 1] <= k) ++s;
      sums[s] += p[k - k0];
    }
  }
#pragma omp simd
  for (int32_t s = begin; s < end; ++s) sums[s] += vexp_d(double(x[s]));
}

void row_sums(const int64_t* off, int32_t n, const float* e, const float* x, double* sums) {
  constexpr int32_t kStates = 2048;
  const int32_t chunks = (n + kStates - 1) / kStates;
#pragma omp parallel for schedule(static) if (chunks > 1) num_threads(::gfnrl::cpu_threads())
  for (int32_t c = 0; c < chunks; ++c) {
    const int32_t begin = c * kStates, end = std::min(n, begin + kStates);
    for (int32_t s = begin; s < end; ++s) sums[s] = 0.0;
    row_sum_chunk(off, begin, end, e, x, sums);
  }
}

void exp_to_double(const float* x, std::size_t n, double* p) {
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 4) num_threads(::gfnrl::cpu_threads())
  for (std::size_t c = 0; c < chunks; ++c)
    exp_chunk(x, c * kChunk, std::min(n, (c + 1) * kChunk), p);
}

bool exp_to_double_in_order(const float* x, int64_t size, const int64_t* order, std::size_t n,
                            double* p) {
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  bool in_range = true;
#pragma omp parallel for schedule(static) reduction(&& : in_range) if (chunks > 4) \
    num_threads(::gfnrl::cpu_threads())
  for (std::size_t c = 0; c < chunks; ++c)
    in_range = exp_in_order_chunk(x, size, order, c * kChunk, std::min(n, (c + 1) * kChunk), p) &&
               in_range;
  return in_range;
}

BoundSums bound_sums(const BoundArgs& a) {
  return chunked_reduce<BoundSums>(
      static_cast<std::size_t>(a.dag.num_states),
      [&](std::size_t begin, std::size_t end) { return bound_chunk(a, begin, end); },
      [](const BoundSums& p, const BoundSums& q) { return BoundSums::merge(p, q); });
}

}  // namespace gfnrl::detail::cpu
