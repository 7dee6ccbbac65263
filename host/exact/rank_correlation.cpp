// Spearman's rank correlation of a terminating distribution with its target, on the host.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "gfnrl/error.hpp"
#include "gfnrl/metrics.hpp"

namespace gfnrl {

namespace {
// 1-based ranks of v, each group of equal values sharing its average rank. A group is the
// smallest value not yet grouped and every value within `tolerance` above it (anchored, so a
// chain of small steps never merges values further apart than the tolerance); -inf equals -inf.
std::vector<double> average_ranks(const std::vector<float>& v, double tolerance) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  const auto same = [&](float anchor, float x) {
    return x == anchor || double(x) - double(anchor) <= tolerance;
  };
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && same(v[order[i]], v[order[j + 1]])) ++j;
    const double mean = 0.5 * double(i + j) + 1.0;  // positions i..j share ranks i+1..j+1
    for (std::size_t k = i; k <= j; ++k) rank[order[k]] = mean;
    i = j + 1;
  }
  return rank;
}

// Pearson's r of two equally long series, two-pass in double; NaN when either is constant.
double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = double(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : NAN;
}
}  // namespace

double rank_log_tolerance(const Dag& dag) {
  return kRankLogTolerancePerLevel * double(dag.num_levels() + 1);
}

double spearman_correlation(const std::vector<float>& log_p_t, const std::vector<float>& log_target,
                            double log_tolerance) {
  if (!(log_tolerance >= 0) || !std::isfinite(log_tolerance))
    throw InputError("spearman_correlation: log_tolerance = " + std::to_string(log_tolerance) +
                     " must be finite and >= 0");
  if (log_p_t.size() != log_target.size())
    throw InputError("spearman_correlation: " + std::to_string(log_p_t.size()) + " values of "
                     "log P_T against " + std::to_string(log_target.size()) + " of the target");
  std::vector<float> q, p;  // over the target's support; log P_T = -inf ranks lowest
  for (std::size_t x = 0; x < log_target.size(); ++x)
    if (log_target[x] > -INFINITY) q.push_back(log_p_t[x]), p.push_back(log_target[x]);
  for (float v : q)
    if (std::isnan(v)) return NAN;
  if (q.size() < 2) return NAN;
  return pearson(average_ranks(q, log_tolerance), average_ranks(p, 0.0));  // targets: exact
}

double spearman_correlation(const Dag& dag, const Marginals& m, const Array<float>* log_target) {
  return spearman_correlation(m.log_terminal.to_host(),
                              (log_target ? *log_target : dag.log_reward()).to_host(),
                              rank_log_tolerance(dag));
}

}  // namespace gfnrl
