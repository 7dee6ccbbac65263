// CPU reductions in double over fixed chunks: each chunk is summed sequentially and the chunk
// results are combined in order, so the result is the same for any thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/reduction_ops.hpp"

namespace gfnrl::detail::cpu {

namespace {
constexpr std::size_t kChunk = 4096;

template <class Acc, class Term, class Merge>
Acc chunked_reduce(std::size_t n, Term term, Merge merge) {
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<Acc> part(chunks);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (std::size_t c = 0; c < chunks; ++c) {
    Acc a{};
    const std::size_t end = std::min(n, (c + 1) * kChunk);
    for (std::size_t i = c * kChunk; i < end; ++i) a = merge(a, term(i));
    part[c] = a;
  }
  Acc total{};
  for (const Acc& a : part) total = merge(total, a);
  return total;
}
}  // namespace

// log sum exp(x) = m + log sum exp(x - m). Each chunk takes its maximum first (float compares,
// vectorised) and then sums exp(x - m) in double: one exp per element, no data-dependent
// branch (the running-maximum form rescales, and mispredicts, whenever the maximum grows).
double log_sum_exp(const float* x, std::size_t n) {
  using Acc = LseAcc<double>;
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<Acc> part(chunks);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t begin = c * kChunk, end = std::min(n, begin + kChunk);
    float m = -INFINITY;
    for (std::size_t i = begin; i < end; ++i) m = std::max(m, x[i]);
    if (!(m > -INFINITY)) continue;  // an empty chunk (all -inf) stays the identity
    if (m == INFINITY) {               // log sum exp = +inf, not inf - inf = NaN
      part[c].m = m;
      part[c].s = 1;
      continue;
    }
    double s = 0;
    for (std::size_t i = begin; i < end; ++i) s += std::exp(static_cast<double>(x[i]) - m);
    part[c].m = m;
    part[c].s = s;
  }
  Acc total{};
  for (const Acc& a : part) total = Acc::merge(total, a);
  return total.value();
}

float max_value(const float* x, std::size_t n) {
  float m = -INFINITY;
#pragma omp parallel for reduction(max : m) if (n >= (1u << 16))
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

MetricSums metric_sums(const float* log_target, double log_z, const float* log_terminal,
                       double log_mass, const float* log_visit, std::size_t n,
                       double log_mode_threshold) {
  return chunked_reduce<MetricSums>(
      n,
      [&](std::size_t i) {
        return metric_terms(static_cast<double>(log_target[i]) - log_z,
                            static_cast<double>(log_terminal[i]) - log_mass, log_visit[i],
                            log_target[i] >= log_mode_threshold);
      },
      [](const MetricSums& p, const MetricSums& q) { return MetricSums::merge(p, q); });
}

BoundSums bound_sums(const BoundArgs& a) {
  return chunked_reduce<BoundSums>(
      static_cast<std::size_t>(a.dag.num_states),
      [&](std::size_t s) { return bound_terms(a, static_cast<int32_t>(s)); },
      [](const BoundSums& p, const BoundSums& q) { return BoundSums::merge(p, q); });
}

}  // namespace gfnrl::detail::cpu
