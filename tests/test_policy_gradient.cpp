// Policy-gradient training (seed 002) and the exact expected gradient: the exact gradient
// equals finite differences of J = E_{P_F}[sum_t c_t] computed by enumerating every trajectory
// (double precision); REINFORCE's sampled gradients average to it within a stated statistical
// tolerance; both modes learn R/Z on the 2-D H=8 grid within a stated budget.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "gfnrl/detail/loss_math.hpp"
#include "gfnrl/detail/pg_math.hpp"
#include "gfnrl/detail/rollout_math.hpp"
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

using detail::TableLayout;

struct PgFixture {
  Dag dag;
  BruteForce bf;
  TableLayout L;
  std::vector<double> params, log_pb;

  PgFixture(const Dag& d, unsigned seed) : dag(d), bf(d) {
    L.num_states = dag.num_states();
    L.num_edges = dag.num_edges();
    std::mt19937 rng(seed);
    std::normal_distribution<double> g(0.0, 0.7);
    params.resize(L.stride());
    for (double& p : params) p = g(rng);
    log_pb = exp_vector(uniform_backward_policy(dag).log_prob.to_host());
    for (double& x : log_pb) x = std::log(x);
  }
  double log_pi(const std::vector<double>& p, int32_t s, int64_t a) const {
    double z = 0;
    for (int64_t e = bf.a.child_offsets[s]; e < bf.a.child_offsets[s + 1]; ++e) z += std::exp(p[e]);
    if (bf.terminates(s)) z += std::exp(p[L.exit_entry(s)]);
    return p[a] - std::log(z);
  }
  // J = sum over every trajectory of P_F(tau) * sum_t c_t, written from the definition.
  double objective(const std::vector<double>& p) const {
    double j = 0;
    bf.for_each_trajectory([&](const std::vector<int>& path, int x) {
      double lp = 0, cost = 0;
      int s = 0;
      for (int e : path) {
        const double l = log_pi(p, s, e);
        lp += l;
        cost += l - log_pb[e];
        s = bf.a.child_index[e];
      }
      const double le = log_pi(p, x, L.exit_entry(x));
      lp += le;
      cost += le - bf.a.log_reward[x] + p[L.log_z_entry()];
      j += std::exp(lp) * cost;
    });
    return j;
  }
  // log pi(e) of every edge into `log_pf`, and log p(s), the probability that a trajectory of
  // the current policy visits s, by a forward DP (states are level-sorted: parents first).
  std::vector<double> log_visits(std::vector<double>& log_pf) const {
    std::vector<double> log_visit(bf.n(), -INFINITY);
    log_pf.assign(L.num_edges, 0.0);
    log_visit[0] = 0;
    for (int s = 0; s < bf.n(); ++s)
      for (int64_t e = bf.a.child_offsets[s]; e < bf.a.child_offsets[s + 1]; ++e) {
        const int c = bf.a.child_index[e];
        log_pf[e] = log_pi(params, s, e);
        const double add = log_visit[s] + log_pf[e];
        log_visit[c] = std::isinf(log_visit[c]) ? add : std::log(std::exp(log_visit[c]) + std::exp(add));
      }
    return log_visit;
  }
  // Exact gradient from the library's per-state functions (double), with p(s) by a forward DP;
  // with `pb_grad`, also the gradient of the backward logits (a learned P_B).
  std::vector<double> exact_gradient(double* loss, std::vector<double>* pb_grad = nullptr) const {
    const int n = bf.n();
    std::vector<double> value(n, 0.0), grad(params.size(), 0.0), l(1, 0.0), log_pf;
    std::vector<double> log_visit = log_visits(log_pf);
    if (pb_grad) pb_grad->assign(L.num_edges, 0.0);
    detail::PgArgs<double> a{};
    a.dag = dag.view();
    a.layout = L;
    a.params = params.data();
    a.grad = grad.data();
    a.loss = l.data();
    a.log_pb = log_pb.data();
    a.runs = 1;
    a.value = value.data();
    a.log_visit = log_visit.data();
    a.pb_grad = pb_grad ? pb_grad->data() : nullptr;
    a.log_pf = log_pf.data();
    for (int s = n - 1; s >= 0; --s) detail::pg_value_state(a, 0, s);
    for (int s = 0; s < n; ++s) detail::pg_exact_grad_state(a, 0, s);
    *loss = l[0];
    return grad;
  }
};

TEST(PolicyGradient, ExactGradientEqualsFiniteDifferencesOfTheEnumeratedObjective) {
  for (unsigned seed = 1; seed <= 4; ++seed) {
    const PgFixture f(build_dag(random_dag_spec(10, seed), Backend::Cpu), seed);
    double loss = 0;
    const std::vector<double> g = f.exact_gradient(&loss);
    EXPECT_NEAR(loss, f.objective(f.params), 1e-9 * (1 + std::abs(loss)));
    std::vector<double> p = f.params;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (i == std::size_t(f.L.log_z_entry())) continue;  // log Z follows E[sum c], not dJ/dlogZ
      const double keep = p[i], h = 1e-6;
      p[i] = keep + h;
      const double up = f.objective(p);
      p[i] = keep - h;
      const double down = f.objective(p);
      p[i] = keep;
      EXPECT_NEAR(g[i], (up - down) / (2 * h), 1e-6) << "seed " << seed << " entry " << i;
    }
    EXPECT_NEAR(g[f.L.log_z_entry()], loss, 1e-12) << "log Z moves along E[sum_t c_t]";
  }
}

// A learned P_B (logits theta_B) descends the same J: the exact gradient of the backward logits
// (pg_exact_backward_grad) equals central finite differences of the enumerated J, with log P_B
// recomputed from theta_B as a softmax over each state's parents.
TEST(PolicyGradient, ExactBackwardGradientEqualsFiniteDifferences) {
  for (unsigned seed = 1; seed <= 3; ++seed) {
    PgFixture f(build_dag(random_dag_spec(10, seed), Backend::Cpu), seed);
    const int E = f.L.num_edges;
    std::mt19937 rng(100 + seed);
    std::normal_distribution<double> g(0.0, 0.8);
    std::vector<double> theta(E);
    for (double& t : theta) t = g(rng);
    auto set_pb = [&](const std::vector<double>& th) { f.log_pb = parent_log_softmax(f.bf.a, th); };
    set_pb(theta);
    double loss = 0;
    std::vector<double> pb_grad;
    f.exact_gradient(&loss, &pb_grad);
    for (int e = 0; e < E; ++e) {
      const double keep = theta[e], h = 1e-6;
      theta[e] = keep + h;
      set_pb(theta);
      const double up = f.objective(f.params);
      theta[e] = keep - h;
      set_pb(theta);
      const double down = f.objective(f.params);
      theta[e] = keep;
      EXPECT_NEAR(pb_grad[e], (up - down) / (2 * h), 1e-6) << "seed " << seed << " edge " << e;
    }
  }
}

// REINFORCE's gradient, averaged over many independent batches, converges to the exact one:
// every entry within 5 standard errors of the batch-gradient mean, the backward logits' (a
// learned P_B) included.
TEST(PolicyGradient, SampledGradientMeanConvergesToTheExactGradient) {
  const Dag dag = make_hypergrid({2, 4}, Backend::Cpu);
  const PgFixture f(dag, 5);
  double loss = 0;
  std::vector<double> exact = f.exact_gradient(&loss), exact_pb;
  f.exact_gradient(&loss, &exact_pb);
  exact.insert(exact.end(), exact_pb.begin(), exact_pb.end());  // [table | backward logits]
  const std::vector<float> params_f(f.params.begin(), f.params.end());
  const int32_t batch = 8, batches = 4000, max_len = dag.num_levels();
  std::vector<int32_t> states(batch * max_len), actions(batch * max_len), lengths(batch);
  std::vector<double> mean(exact.size(), 0.0), sq(exact.size(), 0.0), cost(batch);
  for (int32_t k = 0; k < batches; ++k) {
    detail::RolloutArgs ra{};
    ra.dag = dag.view();
    ra.layout = f.L;
    ra.params = params_f.data();
    ra.runs = 1;
    ra.batch = batch;
    ra.max_len = max_len;
    const float on_policy = 0.0f, unit = 1.0f;
    ra.tau = 1.0f;
    ra.temperature_start = ra.temperature_end = &unit;
    ra.epsilon_start = ra.epsilon_end = &on_policy;
    ra.seed = 77;
    ra.step = static_cast<uint64_t>(k);
    ra.states = states.data();
    ra.actions = actions.data();
    ra.lengths = lengths.data();
    for (int32_t m = 0; m < batch; ++m) detail::rollout_trajectory(ra, 0, m);
    std::vector<double> grad(exact.size(), 0.0), l(1, 0.0);
    detail::PgArgs<double> a{};
    a.pb_grad = grad.data() + f.params.size();
    a.dag = dag.view();
    a.layout = f.L;
    a.params = f.params.data();
    a.grad = grad.data();
    a.loss = l.data();
    a.log_pb = f.log_pb.data();
    a.runs = 1;
    a.batch = batch;
    a.max_len = max_len;
    a.states = states.data();
    a.actions = actions.data();
    a.lengths = lengths.data();
    a.traj_cost = cost.data();
    for (int32_t m = 0; m < batch; ++m) detail::pg_trajectory_cost(a, 0, m);
    for (int32_t m = 0; m < batch; ++m) detail::pg_trajectory(a, 0, m);
    for (std::size_t i = 0; i < grad.size(); ++i) mean[i] += grad[i], sq[i] += grad[i] * grad[i];
  }
  double worst_z = 0;
  for (std::size_t i = 0; i < mean.size(); ++i) {
    const double m = mean[i] / batches;
    const double se = std::sqrt(std::max(sq[i] / batches - m * m, 0.0) / batches);
    const double z = std::abs(m - exact[i]) / (se + 1e-12);
    if (se > 0) worst_z = std::max(worst_z, z);
    EXPECT_LT(std::abs(m - exact[i]), 5 * se + 1e-9) << "entry " << i << ": mean " << m
                                                      << " exact " << exact[i] << " se " << se;
  }
  RecordProperty("worst_z", std::to_string(worst_z));
}

TEST(PolicyGradient, ExactAndSampledLearnRz) {
  const Dag dag = make_hypergrid({2, 8}, Backend::Cpu);
  const BackwardPolicy pb = uniform_backward_policy(dag);
  // Budgets: exact, 3000 steps (lr 1e-2); sampled REINFORCE, 3000 steps of 128 trajectories.
  TrainConfig exact;
  exact.algo = Algo::PolicyGradient;
  exact.runs = 2;
  exact.seed = 11;
  exact.exact_gradient = true;
  TrainConfig sampled = exact;
  sampled.exact_gradient = false;
  sampled.batch = 128;
  for (const TrainConfig& c : {exact, sampled}) {
    Trainer t(dag, &pb, c);
    for (int i = 0; i < 3000; ++i) t.step();
    for (const RunEvaluation& e : t.evaluate()) {
      EXPECT_LT(e.metrics.tv, c.exact_gradient ? 0.005 : 0.05) << "exact " << c.exact_gradient;
      EXPECT_LT(std::abs(e.log_z_estimate - log_partition(dag)), 0.1);
    }
  }
}

// Actor-critic (GAE, lambda 0.99): learns R/Z within 3000 steps of 64 trajectories, and its
// tabular critic approaches the exact expected cost-to-go V^pi of its own policy (the backward
// value sweep of the exact gradient), weighted by how often states are visited.
TEST(ActorCritic, LearnsRzAndItsCriticMatchesTheExactValues) {
  const Dag dag = make_hypergrid({2, 8}, Backend::Cpu);
  const BackwardPolicy pb = uniform_backward_policy(dag);
  TrainConfig c;
  c.algo = Algo::ActorCritic;
  c.runs = 2;
  c.seed = 11;
  c.batch = 64;
  Trainer t(dag, &pb, c);
  for (int i = 0; i < 3000; ++i) t.step();
  for (const RunEvaluation& e : t.evaluate()) EXPECT_LT(e.metrics.tv, 0.05);
  // Exact V^pi of run 0's tables, in double, and its visit probabilities.
  const std::vector<float> table = t.parameters();
  TableLayout L;
  L.num_states = dag.num_states();
  L.num_edges = dag.num_edges();
  const std::vector<double> row(table.begin(), table.begin() + L.stride());
  std::vector<double> log_pb = exp_vector(pb.log_prob.to_host());
  for (double& x : log_pb) x = std::log(x);
  const int n = dag.num_states();
  std::vector<double> value(n, 0.0), grad(row.size(), 0.0), loss(1, 0.0);
  detail::PgArgs<double> a{};
  a.dag = dag.view();
  a.layout = L;
  a.params = row.data();
  a.grad = grad.data();
  a.loss = loss.data();
  a.log_pb = log_pb.data();
  a.runs = 1;
  a.value = value.data();
  for (int s = n - 1; s >= 0; --s) detail::pg_value_state(a, 0, s);
  const std::vector<float> lv = compute_marginals(dag, t.policy(0)).log_visit.to_host();
  double err = 0, mass = 0;
  for (int s = 0; s < n; ++s) {
    const double p = std::exp(double(lv[s]));
    err += p * std::abs(row[L.flow_entry(s)] - value[s]);
    mass += p;
  }
  RecordProperty("critic_error", std::to_string(err / mass));
  EXPECT_LT(err / mass, 0.1) << "visit-weighted |V_critic - V^pi|";
}

// TB's exact expected gradient (the pg sweep with `squared`) equals the brute-force expectation,
// over every trajectory tau weighted by P_F(tau), of the library's per-trajectory TB gradient
// (tb_trajectory on a batch of one), and its loss E[delta^2] likewise: double precision, random
// DAGs, every table entry including log Z, and the backward logits of a learned P_B (random,
// seeds 5-8) through the forward prefix sweep.
TEST(TrajectoryBalance, ExactGradientIsTheExpectationOfTheSampledGradient) {
  for (unsigned seed = 1; seed <= 8; ++seed) {
    PgFixture f(build_dag(random_dag_spec(10, seed), Backend::Cpu), seed);
    const bool learned = seed > 4;
    const int n = f.bf.n(), E = f.L.num_edges;
    if (learned) {  // log P_B = log-softmax over each state's parents of random logits
      std::mt19937 rng(seed);
      std::normal_distribution<double> g(0.0, 0.8);
      std::vector<double> theta(E);
      for (double& t : theta) t = g(rng);
      f.log_pb = parent_log_softmax(f.bf.a, theta);
    }
    const int32_t max_len = f.dag.num_levels();
    std::vector<double> expected(f.params.size(), 0.0), expected_pb(E, 0.0);
    double expected_loss = 0, mass = 0;
    f.bf.for_each_trajectory([&](const std::vector<int>& path, int x) {
      std::vector<int32_t> states(max_len), actions(max_len), length(1);
      double lp = 0;
      int s = 0, t = 0;
      for (int e : path) {
        states[t] = s, actions[t++] = e;
        lp += f.log_pi(f.params, s, e);
        s = f.bf.a.child_index[e];
      }
      states[t] = x, actions[t++] = static_cast<int32_t>(f.L.exit_entry(x));
      lp += f.log_pi(f.params, x, f.L.exit_entry(x));
      length[0] = t;
      std::vector<double> grad(f.params.size(), 0.0), pb_grad(E, 0.0), loss(1, 0.0);
      detail::TrajectoryLossArgs<double> a{};
      if (learned) a.pb_grad = pb_grad.data();
      a.dag = f.dag.view();
      a.layout = f.L;
      a.params = f.params.data();
      a.grad = grad.data();
      a.loss = loss.data();
      a.log_pb = f.log_pb.data();
      a.runs = 1;
      a.batch = 1;
      a.max_len = max_len;
      a.states = states.data();
      a.actions = actions.data();
      a.lengths = length.data();
      detail::trajectory_loss(detail::LossKind::TB, a, 0, 0);
      const double w = std::exp(lp);
      for (std::size_t i = 0; i < grad.size(); ++i) expected[i] += w * grad[i];
      for (int e = 0; e < E; ++e) expected_pb[e] += w * pb_grad[e];
      expected_loss += w * loss[0];
      mass += w;
    });
    ASSERT_NEAR(mass, 1.0, 1e-9);
    // The exact sweep, squared (TB), in double.
    std::vector<double> value(n), value2(n), prefix(n), grad(f.params.size(), 0.0),
        pb_grad(E, 0.0), log_pf, loss(1, 0.0);
    std::vector<double> log_visit = f.log_visits(log_pf);
    detail::PgArgs<double> a{};
    a.dag = f.dag.view();
    a.layout = f.L;
    a.params = f.params.data();
    a.grad = grad.data();
    a.loss = loss.data();
    a.log_pb = f.log_pb.data();
    a.runs = 1;
    a.value = value.data();
    a.value2 = value2.data();
    a.squared = true;
    a.log_visit = log_visit.data();
    a.log_pf = log_pf.data();
    if (learned) {
      a.pb_grad = pb_grad.data();
      a.prefix = prefix.data();
      for (int s = 0; s < n; ++s) detail::pg_prefix_state(a, 0, s);  // parents first
    }
    for (int s = n - 1; s >= 0; --s) detail::pg_value_state(a, 0, s);
    for (int s = 0; s < n; ++s) detail::pg_exact_grad_state(a, 0, s);
    EXPECT_NEAR(loss[0], expected_loss, 1e-9 * (1 + expected_loss)) << "E[delta^2], seed " << seed;
    for (std::size_t i = 0; i < grad.size(); ++i)
      EXPECT_NEAR(grad[i], expected[i], 1e-9) << "seed " << seed << " entry " << i;
    double largest = 0;
    for (int e = 0; e < E; ++e) {
      EXPECT_NEAR(pb_grad[e], expected_pb[e], 1e-9) << "seed " << seed << " backward logit " << e;
      largest = std::max(largest, std::abs(expected_pb[e]));
    }
    if (learned) EXPECT_GT(largest, 1e-3) << "the learned P_B's gradient must not vanish";
  }
}

// TB with the exact gradient learns R/Z on the 2-D H=8 grid, with the fixed uniform P_B and with
// a learned one: TV < 0.005 within 3000 steps.
TEST(TrajectoryBalance, ExactGradientLearnsRz) {
  const Dag dag = make_hypergrid({2, 8}, Backend::Cpu);
  const BackwardPolicy pb = uniform_backward_policy(dag);
  for (BackwardMode mode : {BackwardMode::Fixed, BackwardMode::Learned}) {
    TrainConfig c;
    c.algo = Algo::TB;
    c.runs = 2;
    c.seed = 11;
    c.exact_gradient = true;
    c.backward = mode;
    Trainer t(dag, mode == BackwardMode::Fixed ? &pb : nullptr, c);
    for (int i = 0; i < 3000; ++i) t.step();
    for (const RunEvaluation& e : t.evaluate()) {
      EXPECT_LT(e.metrics.tv, 0.005) << backward_mode_name(mode);
      EXPECT_LT(std::abs(e.log_z_estimate - log_partition(dag)), 0.01) << backward_mode_name(mode);
    }
    EXPECT_GE(t.last_loss()[0], 0.0);
    RecordProperty("tv_" + backward_mode_name(mode), std::to_string(t.evaluate()[0].metrics.tv));
    RecordProperty("expected_tb_loss_" + backward_mode_name(mode), std::to_string(t.last_loss()[0]));
  }
}

TEST(PolicyGradient, BadCombinationsAreRejected) {
  TrainConfig c;
  c.algo = Algo::TB;
  c.exact_gradient = true;
  EXPECT_NO_THROW(c.validate()) << "tb has an exact expected gradient";
  c.backward = BackwardMode::Learned;
  EXPECT_NO_THROW(c.validate()) << "nor with a learned P_B";
  c.backward = BackwardMode::Fixed;
  c.prior = uniform_forward_policy(make_hypergrid({2, 4}, Backend::Cpu));
  EXPECT_THROW(c.validate(), InputError) << "exact relative TB is not supported";
  c.prior.reset();
  c.algo = Algo::DB;
  EXPECT_THROW(c.validate(), InputError) << "DB's expectation is not a KL gradient";
  c.algo = Algo::PolicyGradient;
  c.backward = BackwardMode::Tlm;
  EXPECT_THROW(c.validate(), InputError) << "TLM needs sampled trajectories";
  c.backward = BackwardMode::Coupled;
  EXPECT_THROW(c.validate(), InputError) << "coupled P_B needs sampled trajectories";
  c.backward = BackwardMode::Learned;
  EXPECT_NO_THROW(c.validate()) << "a learned P_B has an exact expected gradient";
  c.exact_gradient = false;
  for (BackwardMode m : {BackwardMode::Tlm, BackwardMode::Coupled, BackwardMode::Guided}) {
    c.backward = m;
    EXPECT_NO_THROW(c.validate()) << backward_mode_name(m);
  }
  c.algo = Algo::ActorCritic;
  c.backward = BackwardMode::Fixed;
  c.exact_gradient = true;
  EXPECT_THROW(c.validate(), InputError) << "the exact gradient is pg's and tb's";
  c.exact_gradient = false;
  c.gae_lambda = 1.5f;
  EXPECT_THROW(c.validate(), InputError);
  c.gae_lambda = 0.99f;
  c.algo = Algo::PolicyGradient;
  c.backward = BackwardMode::Fixed;
  c.prior = uniform_forward_policy(make_hypergrid({2, 4}, Backend::Cpu));
  EXPECT_THROW(c.validate(), InputError);
}

TEST(PolicyGradient, CudaMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  TrainConfig c;
  c.algo = Algo::PolicyGradient;
  c.runs = 2;
  c.exact_gradient = true;
  const Dag cpu = make_hypergrid({2, 8}, Backend::Cpu), gpu = make_hypergrid({2, 8}, Backend::Cuda);
  const BackwardPolicy pc = uniform_backward_policy(cpu), pg = uniform_backward_policy(gpu);
  Trainer a(cpu, &pc, c), b(gpu, &pg, c);
  for (int i = 0; i < 500; ++i) a.step(), b.step();
  EXPECT_NEAR(a.evaluate()[0].metrics.tv, b.evaluate()[0].metrics.tv, 1e-3);
}

}  // namespace
}  // namespace gfnrl::test
