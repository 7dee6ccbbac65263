// The table optimizers (detail/optimizer_math.hpp) against the update rules written out here in
// double: SGD; Adam on every entry (moments decay and momentum moves entries without gradient);
// lazy Adam, equal to Adam where every gradient is non-zero and a no-op on entries without one;
// per-run rates, the log Z rate and the rate scale. Then lazy Adam trains every kind of learner,
// and the walk over a step's touched entries (detail/touched_entries.hpp) equals the scan.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>

#include "gfnrl/detail/optimizer_math.hpp"
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

constexpr int kRuns = 2, kStride = 7, kLogZ = 6;

struct Tables {
  std::vector<float> params, grad, m, v;
  std::vector<float> lr{1e-2f, 3e-2f}, lr_log_z{1e-1f, 2e-1f};
  Tables() : params(kRuns * kStride), grad(kRuns * kStride, 0.0f), m(kRuns * kStride, 0.0f),
             v(kRuns * kStride, 0.0f) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i] = 0.1f * float(i) - 0.3f;
  }
  void step(bool adam, bool lazy, int t, float scale = 1.0f) {
    detail::OptimizerArgs a{};
    a.params = params.data();
    a.grad = grad.data();
    a.m = m.data();
    a.v = v.data();
    a.stride = kStride;
    a.log_z_entry = kLogZ;
    a.runs = kRuns;
    a.lr = lr.data();
    a.lr_log_z = lr_log_z.data();
    a.adam = adam;
    a.lazy = lazy;
    a.beta1 = 0.9f, a.beta2 = 0.999f, a.eps = 1e-8f;
    a.bias1 = float(1 - std::pow(0.9, t));
    a.bias2 = float(1 - std::pow(0.999, t));
    a.lr_scale = scale;
    for (int64_t i = 0; i < kRuns * kStride; ++i) detail::optimizer_entry(a, i);
  }
};

// Adam written out in double for one entry.
struct AdamRef {
  double p, m = 0, v = 0;
  void step(double g, double lr, int t) {
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    p -= lr * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-8);
  }
};

double rate(const Tables& t, int i) {
  const int r = i / kStride;
  return (i % kStride) == kLogZ ? t.lr_log_z[r] : t.lr[r];
}

TEST(Optimizer, AdamFollowsItsUpdateRuleOnEveryEntry) {
  Tables t;
  std::vector<AdamRef> ref;
  for (float p : t.params) ref.push_back({p});
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int step = 1; step <= 50; ++step) {
    for (std::size_t i = 0; i < t.grad.size(); ++i)
      t.grad[i] = (step % 3 == 0 && i % 2 == 0) ? 0.0f : g(rng);  // some steps leave no gradient
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i].step(t.grad[i], rate(t, int(i)), step);
    t.step(true, false, step);
    for (float x : t.grad) ASSERT_EQ(x, 0.0f) << "the gradient is consumed";
  }
  for (std::size_t i = 0; i < ref.size(); ++i)
    EXPECT_NEAR(t.params[i], ref[i].p, 2e-5 * (1 + std::abs(ref[i].p))) << "entry " << i;
}

TEST(Optimizer, LazyAdamEqualsAdamWhereEveryGradientIsNonZeroAndSkipsTheRest) {
  Tables dense, lazy;
  std::mt19937 rng(2);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int step = 1; step <= 30; ++step) {
    for (std::size_t i = 0; i < dense.grad.size(); ++i) dense.grad[i] = lazy.grad[i] = g(rng) + 3.0f;
    dense.step(true, false, step);
    lazy.step(true, true, step);
  }
  EXPECT_EQ(dense.params, lazy.params) << "identical where nothing is skipped";
  EXPECT_EQ(dense.m, lazy.m);
  // A step with gradient on entry 3 only: lazy Adam moves entry 3 alone, while Adam's momentum
  // moves every entry and decays every moment.
  const Tables before = lazy;
  lazy.grad[3] = dense.grad[3] = 0.5f;
  dense.step(true, false, 31);
  lazy.step(true, true, 31);
  for (int i = 0; i < kRuns * kStride; ++i) {
    if (i == 3) {
      EXPECT_NE(lazy.params[i], before.params[i]);
      EXPECT_EQ(lazy.params[i], dense.params[i]) << "the touched entry gets Adam's update";
      continue;
    }
    EXPECT_EQ(lazy.params[i], before.params[i]) << "entry " << i << " has no gradient";
    EXPECT_EQ(lazy.m[i], before.m[i]);
    EXPECT_EQ(lazy.v[i], before.v[i]);
    EXPECT_NE(dense.params[i], before.params[i]) << "dense Adam's momentum moves entry " << i;
  }
}

TEST(Optimizer, SgdUsesEachRunsRatesAndTheScale) {
  Tables t;
  const std::vector<float> start = t.params;
  for (std::size_t i = 0; i < t.grad.size(); ++i) t.grad[i] = i % 4 == 1 ? 0.0f : float(i) - 5.0f;
  const std::vector<float> g = t.grad;
  t.step(false, false, 1, 0.5f);
  for (std::size_t i = 0; i < start.size(); ++i) {
    EXPECT_FLOAT_EQ(t.params[i], float(start[i] - 0.5 * rate(t, int(i)) * g[i])) << "entry " << i;
    EXPECT_EQ(t.grad[i], 0.0f);
  }
}

// Every kind of learner trains with lazy Adam on the 2-D H=8 grid within the budget of the dense
// tests (3000 steps of 16 trajectories; pg 128): exact TV < 0.05.
TEST(Optimizer, LazyAdamTrainsEveryKindOfLearner) {
  const Dag dag = make_hypergrid({2, 8}, Backend::Cpu);
  const BackwardPolicy pb = uniform_backward_policy(dag);
  for (Algo a : {Algo::TB, Algo::DB, Algo::SubTB, Algo::SoftDQN, Algo::PolicyGradient}) {
    TrainConfig c;
    c.algo = a;
    c.runs = 2;
    c.seed = 11;
    c.optimizer = OptimizerKind::LazyAdam;
    c.lr = {a == Algo::TB ? 3e-2f : a == Algo::DB ? 1e-1f : a == Algo::SubTB ? 3e-2f : 1e-2f};
    if (a == Algo::PolicyGradient) c.batch = 128;
    Trainer t(dag, &pb, c);
    for (int i = 0; i < 3000; ++i) t.step();
    const std::vector<RunEvaluation> ev = t.evaluate();
    for (const RunEvaluation& e : ev) EXPECT_LT(e.metrics.tv, 0.05) << algo_name(a);
    RecordProperty(algo_name(a), std::to_string(ev[0].metrics.tv));
  }
}

// Lazy Adam and SGD over the entries a step touched give the scan's tables bit for bit: every
// learner, with each trained P_B, a base policy, forward-looking flows, energy rewards and FM's
// in-edges, on a grid where every state terminates and on random DAGs where some do not. A missed
// entry would keep its gradient past the step, so the tables would part within a few steps. A
// learned P_B's log P_B and logits at the batch's states only (LearnedBackward::visits_only)
// are held against the dense passes the same way.
TEST(Optimizer, TouchedEntriesAreBitIdenticalToTheScan) {
  std::vector<Dag> dags{make_hypergrid({2, 5}, Backend::Cpu)};
  const std::vector<Dag> random = small_dags(Backend::Cpu);
  dags.push_back(random[2]);
  dags.push_back(random[7]);
  const std::vector<BackwardMode> modes{BackwardMode::Fixed, BackwardMode::Learned,
                                        BackwardMode::Tlm, BackwardMode::Coupled,
                                        BackwardMode::Guided};
  int compared = 0;
  for (std::size_t di = 0; di < dags.size(); ++di) {
    const Dag& dag = dags[di];
    for (OptimizerKind opt : {OptimizerKind::LazyAdam, OptimizerKind::Sgd})
      for (int ai = 0; ai <= int(Algo::FM); ++ai)
        for (int variant = 0; variant < int(modes.size()) + 2; ++variant) {
          TrainConfig c;
          c.algo = static_cast<Algo>(ai);
          c.runs = 2;
          c.seed = 5 + di;
          c.batch = 4;
          c.optimizer = opt;
          c.lr = {opt == OptimizerKind::Sgd ? 0.2f : 0.05f};
          c.replay_batch = 16;
          c.learning_starts = 3;
          if (variant < int(modes.size())) c.backward = modes[variant];
          else if (variant == int(modes.size())) c.prior = random_policy(dag, 9);
          else c.forward_looking = c.energy_reward = true;
          if (is_dqn(c.algo) && variant == int(modes.size()) + 1) c.forward_looking = false;
          if (!is_dqn(c.algo)) c.energy_reward = false;
          TrainConfig scan = c;
          scan.optimizer_scan = true;
          std::unique_ptr<Trainer> walk, full;
          try {
            walk = std::make_unique<Trainer>(dag, nullptr, c);
            full = std::make_unique<Trainer>(dag, nullptr, scan);
          } catch (const InputError&) {
            continue;  // a combination the learner refuses
          }
          const std::vector<float> start = walk->parameters();
          for (int i = 0; i < 25; ++i) {
            walk->step();
            full->step();
          }
          const std::string what = "dag " + std::to_string(di) + " " + algo_name(c.algo) + " " +
                                   optimizer_name(opt) + " variant " + std::to_string(variant);
          ASSERT_EQ(walk->parameters(), full->parameters()) << what;
          EXPECT_NE(walk->parameters(), start) << what << " never moved";
          if (c.backward != BackwardMode::Fixed)  // a trained P_B's logits walk their own list
            for (int32_t r = 0; r < c.runs; ++r)
              ASSERT_EQ(walk->backward_policy(r).log_prob.to_host(),
                        full->backward_policy(r).log_prob.to_host())
                  << what << " P_B of run " << r;
          ++compared;
        }
  }
  EXPECT_GE(compared, 150) << "too many combinations refused";
  RecordProperty("combinations", compared);
}

// The DQN learners' target under lazy Adam / SGD on the CPU is averaged entry by entry when read
// or about to change (ForwardTables::lazy_target); the scan averages every entry each update.
// Long enough for entries to go hundreds of updates unread, at rates from 0.01 (a catch-up of
// hundreds of applications) to 1 (hard copies), every `target_every`, with the new transitions'
// priorities (which read the target too) and without.
TEST(Optimizer, LazyDqnTargetIsBitIdenticalToThePolyakPass) {
  const Dag dag = make_hypergrid({2, 8}, Backend::Cpu);
  int compared = 0;
  for (Algo algo : {Algo::SoftDQN, Algo::Munchausen})
    for (OptimizerKind opt : {OptimizerKind::LazyAdam, OptimizerKind::Sgd})
      for (int32_t every : {1, 3})
        for (float rate : {0.01f, 0.25f, 1.0f})
          for (bool prioritized : {true, false}) {
            TrainConfig c;
            c.algo = algo;
            c.runs = 2;
            c.seed = 3;
            c.batch = 4;
            c.optimizer = opt;
            c.lr = {opt == OptimizerKind::Sgd ? 0.2f : 0.05f};
            c.replay_batch = 8;
            c.learning_starts = 5;
            c.target_every = every;
            c.target_rate = rate;
            c.prioritized = prioritized;
            TrainConfig scan = c;
            scan.optimizer_scan = true;
            Trainer lazy(dag, nullptr, c), full(dag, nullptr, scan);
            for (int i = 0; i < 400; ++i) {
              lazy.step();
              full.step();
            }
            ASSERT_EQ(lazy.parameters(), full.parameters())
                << algo_name(algo) << " " << optimizer_name(opt) << " every " << every << " rate "
                << rate << (prioritized ? " prioritized" : "");
            ++compared;
          }
  EXPECT_EQ(compared, 48);
}

}  // namespace
}  // namespace gfnrl::test
