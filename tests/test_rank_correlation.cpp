// Spearman's rank correlation against ranks counted pair by pair (O(n^2), ties averaged) and
// Pearson's r of those ranks in long double; monotone maps give +-1; the target's support only.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "gfnrl/gfnrl.hpp"

namespace gfnrl {
namespace {

// rank(i) = 1 + #{v_j < v_i} + (#{v_j == v_i} - 1) / 2, counted directly.
std::vector<long double> counted_ranks(const std::vector<float>& v) {
  std::vector<long double> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    long double below = 0, equal = 0;
    for (float w : v) below += w < v[i], equal += w == v[i];
    r[i] = 1 + below + (equal - 1) / 2;
  }
  return r;
}

long double pearson(const std::vector<long double>& a, const std::vector<long double>& b) {
  long double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= a.size(), mb /= b.size();
  long double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    ab += (a[i] - ma) * (b[i] - mb), aa += (a[i] - ma) * (a[i] - ma), bb += (b[i] - mb) * (b[i] - mb);
  return ab / std::sqrt(aa * bb);
}

TEST(RankCorrelation, MatchesRanksCountedPairByPairWithTies) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 5 + trial * 7;
    std::vector<float> q(n), p(n);
    for (int i = 0; i < n; ++i) {
      q[i] = float(int(rng() % 6)) - 3.0f;            // many ties
      p[i] = float(int(rng() % (trial % 3 ? 4 : 50)));  // few or many levels
    }
    if (trial % 4 == 0) q[0] = -INFINITY;  // P_T = 0 somewhere: ranks lowest
    const double want = double(pearson(counted_ranks(q), counted_ranks(p)));
    EXPECT_NEAR(spearman_correlation(q, p), want, 1e-12) << "trial " << trial;
  }
}

TEST(RankCorrelation, MonotoneMapsGiveOneAndTheSupportIsTheTargets) {
  const std::vector<float> p{0.1f, -2.0f, 3.0f, 0.5f, -1.0f};
  std::vector<float> up, down;
  for (float v : p) up.push_back(std::exp(v)), down.push_back(-v * v * v);
  EXPECT_DOUBLE_EQ(spearman_correlation(up, p), 1.0);
  EXPECT_DOUBLE_EQ(spearman_correlation(down, p), -1.0);
  // States off the target's support (log p = -inf) are left out, whatever P_T says there.
  std::vector<float> q = up, t = p;
  q.push_back(100.0f), t.push_back(-INFINITY);
  EXPECT_DOUBLE_EQ(spearman_correlation(q, t), 1.0);
  EXPECT_TRUE(std::isnan(spearman_correlation({1.0f, 1.0f, 1.0f}, {0.0f, 1.0f, 2.0f})));
  EXPECT_TRUE(std::isnan(spearman_correlation({NAN, 1.0f, 2.0f}, {0.0f, 1.0f, 2.0f})));
  EXPECT_THROW(spearman_correlation({1.0f}, {1.0f, 2.0f}), InputError);
}

TEST(RankCorrelation, OfMarginalsEqualsOfTheirHostCopies) {
  HypergridConfig g;
  g.ndim = 2, g.height = 6;
  const Dag dag = make_hypergrid(g, Backend::Cpu);
  const Marginals m = compute_marginals(dag, uniform_forward_policy(dag));
  EXPECT_EQ(spearman_correlation(dag, m),
            spearman_correlation(m.log_terminal.to_host(), dag.log_reward().to_host()));
  EXPECT_LT(spearman_correlation(dag, m), 0.9);  // the uniform policy favours the s0 corner
}

}  // namespace
}  // namespace gfnrl
