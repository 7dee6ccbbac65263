// CPU reductions in double over fixed chunks: each chunk is summed sequentially and the chunk
// results are combined in order, so the result is the same for any thread count.
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

double log_sum_exp(const float* x, std::size_t n) {
  using Acc = LseAcc<double>;
  const Acc a = chunked_reduce<Acc>(
      n,
      [&](std::size_t i) {
        Acc t;
        t.add(static_cast<double>(x[i]));
        return t;
      },
      [](const Acc& p, const Acc& q) { return Acc::merge(p, q); });
  return a.value();
}

MetricSums metric_sums(const float* log_target, double log_z, const float* log_terminal,
                       double log_mass, const float* log_visit, std::size_t n) {
  return chunked_reduce<MetricSums>(
      n,
      [&](std::size_t i) {
        return metric_terms(static_cast<double>(log_target[i]) - log_z,
                            static_cast<double>(log_terminal[i]) - log_mass,
                            static_cast<double>(log_visit[i]));
      },
      [](const MetricSums& p, const MetricSums& q) { return MetricSums::merge(p, q); });
}

}  // namespace gfnrl::detail::cpu
