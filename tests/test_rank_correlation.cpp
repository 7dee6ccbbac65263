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

// With a tolerance, values within it of their group's smallest share a rank. Centres spaced 1
// apart, each value moved by less than half the tolerance (0.01): the ranks are exactly those of
// the centres, counted pair by pair; without the tolerance the jitter splits them.
TEST(RankCorrelation, ValuesWithinTheToleranceShareARank) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> jitter(-0.004f, 0.004f);
  for (int trial = 0; trial < 10; ++trial) {
    const int n = 12 + trial * 9;
    std::vector<float> centre(n), q(n), p(n);
    for (int i = 0; i < n; ++i) {
      centre[i] = float(int(rng() % 5)) - 10.0f;
      q[i] = centre[i] + jitter(rng);
      p[i] = float(int(rng() % 3));
    }
    const double want = double(pearson(counted_ranks(centre), counted_ranks(p)));
    EXPECT_NEAR(spearman_correlation(q, p, 0.01), want, 1e-12) << "trial " << trial;
    EXPECT_GT(std::abs(spearman_correlation(q, p) - want), 1e-6) << "trial " << trial;
  }
  // Anchored groups: a chain of steps each within the tolerance is not one group.
  const std::vector<float> chain{0.0f, 0.006f, 0.012f, 0.018f}, rising{0.0f, 1.0f, 2.0f, 3.0f};
  EXPECT_NEAR(spearman_correlation(chain, rising, 0.01), double(pearson(counted_ranks({0, 0, 1, 1}),
                                                                        counted_ranks(rising))),
              1e-12);
  EXPECT_THROW(spearman_correlation(chain, rising, -1.0), InputError);
  EXPECT_THROW(spearman_correlation(chain, rising, NAN), InputError);
}

// The soft-optimal policy samples R/Z: its ranks are R's, up to float rounding, which used to
// split equal rewards (0.80 on 2-D H=8, 0.55 on 4-D H=8, 0.98 on the 3x3 Ising torus). A wrong
// policy still scores low: the uniform one, and P_T proportional to 1/R.
TEST(RankCorrelation, TheSoftOptimalPolicyScoresOneAndWrongOnesDoNot) {
  std::vector<Dag> dags;
  dags.push_back(make_hypergrid(HypergridConfig{2, 8}, Backend::Cpu));
  dags.push_back(make_hypergrid(HypergridConfig{4, 8}, Backend::Cpu));
  IsingConfig torus;  // 9 spins on a 3x3 lattice with wrap-around
  dags.push_back(make_ising(torus, Backend::Cpu));
  for (const Dag& dag : dags) {
    const BackwardPolicy pb = uniform_backward_policy(dag);
    const SoftValues sv = solve_soft_values(dag, &pb);
    const Marginals best = compute_marginals(dag, sv.policy);
    EXPECT_GE(spearman_correlation(dag, best), 0.999) << dag.num_states() << " states";
    // (On the Ising DAG every ordering of the spins is equally likely under the uniform policy:
    // P_T is constant, and a constant has no rank correlation: NaN.)
    const double uniform = spearman_correlation(dag, compute_marginals(dag, uniform_forward_policy(dag)));
    EXPECT_FALSE(uniform >= 0.9) << uniform << ", " << dag.num_states() << " states";
    std::vector<float> inverse = dag.log_reward().to_host();
    for (float& v : inverse) v = v > -INFINITY ? -v : v;  // P_T ~ 1/R
    EXPECT_LT(spearman_correlation(inverse, dag.log_reward().to_host(), rank_log_tolerance(dag)),
              -0.999) << dag.num_states() << " states";
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

// The spearman column of training: every run's P_T at the last evaluation, re-solved from
// Trainer::policy(r) and ranked pair by pair, against R or against the caller's own target.
TEST(RankCorrelation, TrainerSpearmanOfEachRunsLastEvaluation) {
  HypergridConfig g;
  g.ndim = 2, g.height = 6;
  const Dag dag = make_hypergrid(g, Backend::Cpu);
  const BackwardPolicy pb = uniform_backward_policy(dag);
  TrainConfig c;
  c.algo = Algo::TB, c.runs = 3, c.seed = 4, c.batch = 8, c.lr = {0.05f}, c.epsilon = {0.3f};
  Trainer t(dag, &pb, c);
  EXPECT_THROW(t.spearman(), InputError);  // nothing evaluated yet
  for (int i = 0; i < 25; ++i) t.step();
  std::vector<float> own(dag.num_states());
  std::mt19937 rng(9);
  for (float& w : own) w = float(int(rng() % 5)) - 2.0f;  // ties
  const std::vector<float> reward = dag.log_reward().to_host();
  for (const std::vector<float>* target : std::vector<const std::vector<float>*>{&reward, &own}) {
    const Array<float> weight = Array<float>::from_host(Backend::Cpu, *target);
    t.evaluate(target == &own ? &weight : nullptr);
    const std::vector<double> got = t.spearman(target == &own ? &weight : nullptr);
    ASSERT_EQ(got.size(), 3u);
    for (int32_t r = 0; r < c.runs; ++r) {
      const std::vector<float> pt = terminating_distribution(dag, t.policy(r)).to_host();
      std::vector<float> q, p;
      for (std::size_t x = 0; x < pt.size(); ++x)
        if ((*target)[x] > -INFINITY) q.push_back(pt[x]), p.push_back((*target)[x]);
      EXPECT_NEAR(got[r], double(pearson(counted_ranks(q), counted_ranks(p))), 1e-12)
          << "run " << r << (target == &own ? " (own target)" : "");
    }
  }
  const Array<float> short_target = Array<float>::from_host(Backend::Cpu, std::vector<float>(3, 0.0f));
  EXPECT_THROW(t.spearman(&short_target), InputError);
}

}  // namespace
}  // namespace gfnrl
