// The shared per-trajectory math of training, held against independent computations: Philox
// against Random123's known answers; every loss gradient against central finite differences of
// the loss written out from its definition (double precision); sampled trajectories against the
// exact terminating distribution of the behaviour policy.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "gfnrl/detail/dqn_math.hpp"
#include "gfnrl/detail/loss_math.hpp"
#include "gfnrl/detail/philox.hpp"
#include "gfnrl/detail/rollout_math.hpp"
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

using detail::TableLayout;

TEST(Philox, MatchesRandom123KnownAnswers) {
  struct Kat {
    detail::Philox4 ctr;
    uint32_t k0, k1;
    uint32_t out[4];
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const Kat& k : kats) {
    const detail::Philox4 r = detail::philox4x32_10(k.ctr, k.k0, k.k1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], k.out[i]) << "word " << i;
  }
}

// ---- a random DAG with random tables and random trajectories --------------------------------
struct Fixture {
  Dag dag;
  DagArrays h;
  TableLayout L;
  int32_t runs = 2, batch = 5, max_len = 0;
  std::vector<double> params;
  std::vector<float> log_pb;
  std::vector<int32_t> states, actions, lengths;

  explicit Fixture(unsigned seed) {
    dag = build_dag(random_dag_spec(14, seed, 10), Backend::Cpu);
    h = dag.to_host();
    L.num_states = dag.num_states();
    L.num_edges = dag.num_edges();
    max_len = dag.num_levels();
    std::mt19937 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    params.resize(std::size_t(runs) * L.stride());
    for (double& p : params) p = g(rng);
    log_pb.resize(L.num_edges);
    for (float& p : log_pb) p = static_cast<float>(-std::abs(g(rng)));  // any constant works
    states.assign(std::size_t(runs) * batch * max_len, -1);
    actions.assign(states.size(), -1);
    lengths.assign(std::size_t(runs) * batch, 0);
    for (int32_t t = 0; t < runs * batch; ++t) {  // uniformly random valid actions
      int32_t s = 0, k = 0;
      while (true) {
        const int32_t b = h.child_offsets[s], n = h.child_offsets[s + 1] - b;
        const bool ex = std::isfinite(h.log_reward[s]);
        const int32_t c = static_cast<int32_t>(rng() % (n + (ex ? 1 : 0)));
        states[t * max_len + k] = s;
        actions[t * max_len + k] = c < n ? b + c : static_cast<int32_t>(L.exit_entry(s));
        ++k;
        if (c >= n) break;
        s = h.child_index[b + c];
      }
      lengths[t] = k;
    }
  }

  // log P_F(a|s) of run r written out directly.
  double log_pf(const std::vector<double>& p, int32_t r, int32_t s, int64_t a) const {
    const double* row = p.data() + int64_t(r) * L.stride();
    double z = 0;
    for (int32_t e = h.child_offsets[s]; e < h.child_offsets[s + 1]; ++e) z += std::exp(row[e]);
    if (std::isfinite(h.log_reward[s])) z += std::exp(row[L.exit_entry(s)]);
    return row[a] - std::log(z);
  }
  double pb(int64_t a) const { return a < L.num_edges ? log_pb[a] : 0.0; }
  int32_t st(int32_t t, int32_t k) const { return states[t * max_len + k]; }
  int64_t ac(int32_t t, int32_t k) const { return actions[t * max_len + k]; }

  // Each loss from its definition (train.hpp / loss_math.hpp), summed over runs.
  double tb_loss(const std::vector<double>& p) const {
    double total = 0;
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t m = 0; m < batch; ++m) {
        const int32_t t = r * batch + m, len = lengths[t];
        double d = p[r * L.stride() + L.log_z_entry()] - h.log_reward[st(t, len - 1)];
        for (int32_t k = 0; k < len; ++k) d += log_pf(p, r, st(t, k), ac(t, k)) - pb(ac(t, k));
        total += d * d / batch;
      }
    return total;
  }
  double flow(const std::vector<double>& p, int32_t r, int32_t s) const {
    return p[r * L.stride() + L.flow_entry(s)];
  }
  double db_loss(const std::vector<double>& p) const {
    double total = 0;
    for (int32_t r = 0; r < runs; ++r) {
      double sum = 0, count = 0;
      for (int32_t m = 0; m < batch; ++m) {
        const int32_t t = r * batch + m, len = lengths[t];
        for (int32_t k = 0; k < len; ++k) {
          const int32_t s = st(t, k);
          const int64_t a = ac(t, k);
          const double end = k + 1 < len ? flow(p, r, st(t, k + 1)) + pb(a) : h.log_reward[s];
          const double d = flow(p, r, s) + log_pf(p, r, s, a) - end;
          sum += d * d;
          ++count;
        }
      }
      total += sum / count;
    }
    return total;
  }
  double subtb_loss(const std::vector<double>& p, double lambda) const {
    double total = 0;
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t m = 0; m < batch; ++m) {
        const int32_t t = r * batch + m, len = lengths[t];
        auto phi = [&](int32_t k) {
          return k < len ? flow(p, r, st(t, k)) : double(h.log_reward[st(t, len - 1)]);
        };
        double num = 0, den = 0;
        for (int32_t i = 0; i <= len; ++i)
          for (int32_t j = i + 1; j <= len; ++j) {
            double d = phi(i) - phi(j);
            for (int32_t k = i; k < j; ++k)
              d += log_pf(p, r, st(t, k), ac(t, k)) - (k + 1 < len ? pb(ac(t, k)) : 0.0);
            const double w = std::pow(lambda, j - i);
            num += w * d * d;
            den += w;
          }
        total += num / den / batch;
      }
    return total;
  }
};

template <class LossFn>
void expect_gradient_matches(const Fixture& f, const std::vector<double>& grad, LossFn loss) {
  std::vector<double> p = f.params;
  const double h = 1e-6;
  double worst = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double keep = p[i];
    p[i] = keep + h;
    const double up = loss(p);
    p[i] = keep - h;
    const double down = loss(p);
    p[i] = keep;
    const double fd = (up - down) / (2 * h);
    EXPECT_NEAR(grad[i], fd, 1e-6 * (1 + std::abs(fd))) << "entry " << i;
    worst = std::max(worst, std::abs(grad[i] - fd));
  }
  ::testing::Test::RecordProperty("max_abs_error", std::to_string(worst));
}

std::vector<double> analytic(const Fixture& f, detail::LossKind kind, double lambda,
                             bool with_pb, double* loss_out) {
  std::vector<double> grad(f.params.size(), 0.0), loss(f.runs, 0.0);
  std::vector<double> scratch(std::size_t(f.runs) * f.batch * detail::kSubTBScratch * (f.max_len + 1));
  detail::TrajectoryLossArgs<double> a{};
  a.dag = f.dag.view();
  a.layout = f.L;
  a.params = f.params.data();
  a.grad = grad.data();
  a.loss = loss.data();
  a.log_pb = with_pb ? f.log_pb.data() : nullptr;
  a.runs = f.runs;
  a.batch = f.batch;
  a.max_len = f.max_len;
  a.states = f.states.data();
  a.actions = f.actions.data();
  a.lengths = f.lengths.data();
  a.lambda = lambda;
  a.scratch = scratch.data();
  for (int32_t r = 0; r < f.runs; ++r)
    for (int32_t m = 0; m < f.batch; ++m) detail::trajectory_loss(kind, a, r, m);
  *loss_out = loss[0] + loss[1];
  return grad;
}

class LossGradient : public ::testing::TestWithParam<unsigned> {};

TEST_P(LossGradient, TrajectoryBalanceMatchesFiniteDifferences) {
  const Fixture f(GetParam());
  double loss = 0;
  const auto g = analytic(f, detail::LossKind::TB, 0, true, &loss);
  EXPECT_NEAR(loss, f.tb_loss(f.params), 1e-9 * (1 + loss));
  expect_gradient_matches(f, g, [&](const std::vector<double>& p) { return f.tb_loss(p); });
}

TEST_P(LossGradient, DetailedBalanceMatchesFiniteDifferences) {
  const Fixture f(GetParam());
  double loss = 0;
  const auto g = analytic(f, detail::LossKind::DB, 0, true, &loss);
  EXPECT_NEAR(loss, f.db_loss(f.params), 1e-9 * (1 + loss));
  expect_gradient_matches(f, g, [&](const std::vector<double>& p) { return f.db_loss(p); });
}

TEST_P(LossGradient, SubTrajectoryBalanceMatchesFiniteDifferences) {
  const Fixture f(GetParam());
  for (double lambda : {0.9, 1.0, 0.3}) {
    double loss = 0;
    const auto g = analytic(f, detail::LossKind::SubTB, lambda, true, &loss);
    EXPECT_NEAR(loss, f.subtb_loss(f.params, lambda), 1e-9 * (1 + loss)) << "lambda " << lambda;
    expect_gradient_matches(
        f, g, [&](const std::vector<double>& p) { return f.subtb_loss(p, lambda); });
  }
}

// SoftDQN / Munchausen: replayed transitions = every transition of the fixture's trajectories.
TEST_P(LossGradient, SoftDqnAndMunchausenMatchFiniteDifferences) {
  const Fixture f(GetParam());
  const int32_t samples = 6;
  std::vector<int32_t> ss, sa;
  for (int32_t r = 0; r < f.runs; ++r)
    for (int32_t i = 0; i < samples; ++i) {  // transitions of trajectory i (and its exit)
      const int32_t t = r * f.batch + i % f.batch;
      const int32_t k = i < f.batch ? 0 : f.lengths[t] - 1;
      ss.push_back(f.st(t, k));
      sa.push_back(static_cast<int32_t>(f.ac(t, k)));
    }
  std::mt19937 rng(GetParam() + 7);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> target(f.params.size());
  for (double& x : target) x = g(rng);
  for (double alpha : {0.0, 0.15, 0.6}) {
    for (bool huber : {true, false}) {
      const double tau = 1.0 / (1.0 - alpha);
      std::vector<double> grad(f.params.size(), 0.0), loss(f.runs, 0.0), td(f.runs * samples);
      detail::DqnArgs<double> a{};
      a.dag = f.dag.view();
      a.layout = f.L;
      a.params = f.params.data();
      a.target = target.data();
      a.grad = grad.data();
      a.loss = loss.data();
      a.abs_td = td.data();
      a.log_pb = f.log_pb.data();
      a.runs = f.runs;
      a.samples = samples;
      a.sample_state = ss.data();
      a.sample_action = sa.data();
      a.tau = tau;
      a.alpha = alpha;
      a.l0 = -1.0;  // small enough to be active on some samples
      a.huber = huber;
      for (int32_t r = 0; r < f.runs; ++r)
        for (int32_t i = 0; i < samples; ++i) detail::dqn_sample(a, r, i);
      // The TD loss from its definition (dqn_math.hpp), targets from the target table.
      auto lse = [&](const double* row, int32_t s) {
        double z = 0;
        for (int32_t e = f.h.child_offsets[s]; e < f.h.child_offsets[s + 1]; ++e)
          z += std::exp(row[e] / tau);
        if (std::isfinite(f.h.log_reward[s])) z += std::exp(row[f.L.exit_entry(s)] / tau);
        return std::log(z);
      };
      auto td_loss = [&](const std::vector<double>& p) {
        double total = 0;
        for (int32_t r = 0; r < f.runs; ++r)
          for (int32_t i = 0; i < samples; ++i) {
            const int32_t s = ss[r * samples + i];
            const int64_t act = sa[r * samples + i];
            const double* tr = target.data() + r * f.L.stride();
            double y = act >= f.L.num_edges
                           ? double(f.h.log_reward[s])
                           : f.log_pb[act] + tau * lse(tr, f.h.child_index[act]);
            const double munch = tau * (tr[act] / tau - lse(tr, s));
            y += alpha * std::min(0.0, std::max(-1.0, munch));
            const double d = p[r * f.L.stride() + act] - y;
            total += (huber ? (std::abs(d) <= 1 ? 0.5 * d * d : std::abs(d) - 0.5) : d * d) / samples;
          }
        return total;
      };
      EXPECT_NEAR(loss[0] + loss[1], td_loss(f.params), 1e-9);
      expect_gradient_matches(f, grad, td_loss);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(RandomDags, LossGradient, ::testing::Values(1u, 2u, 3u));

// ---- rollouts ---------------------------------------------------------------------------------
// The histogram of sampled terminal states against the exact P_T of the behaviour policy
// (1 - eps) softmax(scale * row) + eps uniform, computed by brute-force path enumeration.
TEST(Rollout, SampledTerminalStatesFollowTheBehaviourPolicy) {
  const Fixture f(5);
  const BruteForce bf(f.dag);
  const float scale = 0.7f, eps = 0.3f;
  std::vector<float> row(f.L.stride());
  for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<float>(f.params[i]);
  std::vector<float> lp(f.L.num_edges), exit_lp(f.L.num_states);
  for (int32_t s = 0; s < f.L.num_states; ++s) {
    double z = 0;
    const int32_t b = f.h.child_offsets[s], end = f.h.child_offsets[s + 1];
    const bool ex = std::isfinite(f.h.log_reward[s]);
    for (int32_t e = b; e < end; ++e) z += std::exp(double(scale) * row[e]);
    if (ex) z += std::exp(double(scale) * row[f.L.exit_entry(s)]);
    const double n = end - b + (ex ? 1 : 0);
    for (int32_t e = b; e < end; ++e)
      lp[e] = float(std::log((1 - eps) * std::exp(double(scale) * row[e]) / z + eps / n));
    exit_lp[s] = ex ? float(std::log((1 - eps) * std::exp(double(scale) * row[f.L.exit_entry(s)]) / z + eps / n))
                    : -INFINITY;
  }
  const std::vector<double> pt = bf.terminal(lp, exit_lp);

  const int32_t batch = 200000;
  std::vector<int32_t> states(std::size_t(batch) * f.max_len), actions(states.size()), lengths(batch);
  detail::RolloutArgs a{};
  a.dag = f.dag.view();
  a.layout = f.L;
  a.params = row.data();
  a.runs = 1;
  a.batch = batch;
  a.max_len = f.max_len;
  a.scale = scale;
  a.epsilon = eps;
  a.seed = 42;
  a.step = 3;
  a.states = states.data();
  a.actions = actions.data();
  a.lengths = lengths.data();
  std::vector<double> hist(f.L.num_states, 0.0);
  for (int32_t m = 0; m < batch; ++m) {
    detail::rollout_trajectory(a, 0, m);
    const int32_t len = lengths[m];
    ASSERT_GE(len, 1);
    ASSERT_TRUE(f.L.is_exit(actions[std::size_t(m) * f.max_len + len - 1]));
    hist[states[std::size_t(m) * f.max_len + len - 1]] += 1.0 / batch;
  }
  for (int32_t s = 0; s < f.L.num_states; ++s)
    EXPECT_NEAR(hist[s], pt[s], 5 * std::sqrt(pt[s] * (1 - pt[s]) / batch) + 1e-4) << "state " << s;
}

TEST(Rollout, SameSeedSameTrajectoriesOtherSeedOthers) {
  const Fixture f(6);
  std::vector<float> row(f.L.stride(), 0.0f);
  auto sample = [&](uint64_t seed, uint64_t step) {
    std::vector<int32_t> st(64 * f.max_len, -1), ac(st.size(), -1), len(64);
    detail::RolloutArgs a{f.dag.view(), f.L, row.data(), 1, 64, f.max_len, 1.0f, 0.1f,
                          seed, step, st.data(), ac.data(), len.data()};
    for (int32_t m = 63; m >= 0; --m) detail::rollout_trajectory(a, 0, m);  // any order
    ac.insert(ac.end(), len.begin(), len.end());
    return ac;
  };
  EXPECT_EQ(sample(1, 0), sample(1, 0));
  EXPECT_NE(sample(1, 0), sample(2, 0));
  EXPECT_NE(sample(1, 0), sample(1, 1));
}

}  // namespace
}  // namespace gfnrl::test
