// Coupled backward-policy training (Niu et al., seed 002; detail/coupled_backward_math.hpp):
// backward rollouts sample P_B(tau | x); the coupled P_B gradient, averaged over batches, equals
// central finite differences of the enumerated backward objective K(theta_B; x) (with a random
// critic baseline and the guided exit cap active: neither may bias it); with the forward policy
// frozen, coupled P_B approaches P_F's backward kernel; pg and ac with every trained P_B learn
// R/Z within a stated budget; the CUDA backend matches the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "gfnrl/detail/coupled_backward_math.hpp"
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

using detail::TableLayout;

// A random DAG with random forward logits, backward logits theta and critic values; x is the
// terminating state with the most paths from s0.
struct CoupledFixture {
  Dag dag;
  BruteForce bf;
  TableLayout L;
  std::vector<double> params, theta, value;
  std::vector<int> source;  // the state each edge leaves
  int x = 0;
  std::vector<std::vector<int>> paths;  // every path s0 -> x (edge lists)
  double guide = 0;                     // states with log R <= guide have their exit capped

  CoupledFixture(unsigned seed) : dag(build_dag(random_dag_spec(12, seed, 14), Backend::Cpu)), bf(dag) {
    L.num_states = dag.num_states();
    L.num_edges = dag.num_edges();
    std::mt19937 rng(seed);
    std::normal_distribution<double> g(0.0, 0.8);
    params.resize(L.stride());
    for (double& p : params) p = g(rng);
    theta.resize(L.num_edges);
    for (double& t : theta) t = g(rng);
    value.resize(L.num_states);
    for (double& v : value) v = 2 * g(rng);
    source.resize(L.num_edges);
    for (int s = 0; s < bf.n(); ++s)
      for (int64_t e = bf.a.child_offsets[s]; e < bf.a.child_offsets[s + 1]; ++e) source[e] = s;
    std::map<int, std::vector<std::vector<int>>> by_x;
    bf.for_each_trajectory([&](const std::vector<int>& p, int end) { by_x[end].push_back(p); });
    for (const auto& [end, ps] : by_x)
      if (ps.size() > paths.size()) x = end, paths = ps;
    std::vector<float> lr;
    for (int s = 0; s < bf.n(); ++s)
      if (bf.terminates(s)) lr.push_back(bf.a.log_reward[s]);
    std::sort(lr.begin(), lr.end());
    guide = lr[lr.size() / 2];  // about half the terminating states are guided
  }
  // log P_B(e) from theta: a softmax over the parents of e's child.
  std::vector<double> log_pb(const std::vector<double>& th) const {
    return parent_log_softmax(bf.a, th);
  }
  // log P_G(e): P_F's softmax at e's source, the exit logit capped at log 1e-5 above the inner
  // actions' log-sum-exp where guided.
  double log_pg(int e, bool guided) const {
    const int s = source[e];
    double inner = 0;
    for (int64_t k = bf.a.child_offsets[s]; k < bf.a.child_offsets[s + 1]; ++k) inner += std::exp(params[k]);
    double z = inner;
    if (bf.terminates(s)) {
      double ex = params[L.exit_entry(s)];
      if (guided && bf.a.log_reward[s] <= guide) ex = std::min(ex, std::log(inner) + std::log(1e-5));
      z += std::exp(ex);
    }
    return params[e] - std::log(z);
  }
  // K(theta) = sum over paths tau to x of P_B(tau | x) sum_{e in tau} (log P_B(e) - log P_G(e)).
  double objective(const std::vector<double>& th, bool guided) const {
    const std::vector<double> lpb = log_pb(th);
    double k = 0;
    for (const auto& p : paths) {
      double lp = 0, cost = 0;
      for (int e : p) lp += lpb[e], cost += lpb[e] - log_pg(e, guided);
      k += std::exp(lp) * cost;
    }
    return k;
  }
};

// Samples `batch` backward trajectories from x (a one-state forward "trajectory" ending there).
struct BackwardBatch {
  std::vector<int32_t> fwd_states, fwd_lengths, states, edges, lengths;
  BackwardBatch(int32_t batch, int32_t max_len, int x)
      : fwd_states(batch * max_len, x), fwd_lengths(batch, 1), states(batch * max_len),
        edges(batch * max_len), lengths(batch) {}
  void sample(const Dag& dag, const std::vector<float>& log_pb, int32_t batch, int32_t max_len,
              uint64_t step) {
    detail::BackwardRolloutArgs a{};
    a.dag = dag.view();
    a.log_pb = log_pb.data();
    a.runs = 1;
    a.batch = batch;
    a.max_len = max_len;
    a.seed = 5;
    a.step = step;
    a.forward_states = fwd_states.data();
    a.forward_lengths = fwd_lengths.data();
    a.states = states.data();
    a.edges = edges.data();
    a.lengths = lengths.data();
    for (int32_t m = 0; m < batch; ++m) detail::backward_rollout_trajectory(a, 0, m);
  }
};

TEST(CoupledBackward, RolloutsSamplePbGivenTheTerminalState) {
  const CoupledFixture f(3);
  ASSERT_GE(f.paths.size(), 4u) << "the fixture needs a state with several paths";
  const std::vector<double> lpb = f.log_pb(f.theta);
  const std::vector<float> lpb_f(lpb.begin(), lpb.end());
  const int32_t batch = 1000, steps = 100, max_len = f.dag.num_levels();
  BackwardBatch b(batch, max_len, f.x);
  std::map<std::vector<int>, int64_t> count;
  for (int32_t k = 0; k < steps; ++k) {
    b.sample(f.dag, lpb_f, batch, max_len, k);
    for (int32_t m = 0; m < batch; ++m) {
      std::vector<int> path;
      for (int32_t i = b.lengths[m] - 1; i >= 0; --i) path.push_back(b.edges[m * max_len + i]);
      // Each step's state is the child of its edge, and the path is connected.
      for (int32_t i = 0; i < b.lengths[m]; ++i)
        ASSERT_EQ(f.bf.a.child_index[b.edges[m * max_len + i]], b.states[m * max_len + i]);
      ++count[path];
    }
  }
  const double total = double(batch) * steps;
  double mass = 0;
  for (const auto& p : f.paths) {
    double lp = 0;
    for (int e : p) lp += lpb[e];
    const double prob = std::exp(lp), freq = count[p] / total;
    mass += prob;
    const double se = std::sqrt(prob * (1 - prob) / total);
    EXPECT_LT(std::abs(freq - prob), 5 * se + 1e-12) << "path of " << p.size() << " edges";
    count.erase(p);
  }
  EXPECT_NEAR(mass, 1.0, 1e-9) << "P_B(. | x) sums to 1 over the paths to x";
  EXPECT_TRUE(count.empty()) << "sampled " << count.size() << " paths that do not exist";
}

// The mean of the coupled gradient over many batches equals dK/dtheta by finite differences of
// the enumeration: every entry within 5 standard errors, for the coupled and the guided guide.
TEST(CoupledBackward, SampledGradientMeanEqualsFiniteDifferencesOfTheObjective) {
  for (bool guided : {false, true}) {
    const CoupledFixture f(7);
    const int E = f.L.num_edges;
    std::vector<double> fd(E), th = f.theta;
    for (int e = 0; e < E; ++e) {
      const double keep = th[e], h = 1e-6;
      th[e] = keep + h;
      const double up = f.objective(th, guided);
      th[e] = keep - h;
      const double down = f.objective(th, guided);
      th[e] = keep;
      fd[e] = (up - down) / (2 * h);
    }
    const std::vector<double> lpb = f.log_pb(f.theta);
    const std::vector<float> lpb_f(lpb.begin(), lpb.end());
    const int32_t batch = 8, batches = 6000, max_len = f.dag.num_levels();
    BackwardBatch b(batch, max_len, f.x);
    std::vector<double> mean(E, 0.0), sq(E, 0.0), adv(batch), loss_sum(1, 0.0);
    for (int32_t k = 0; k < batches; ++k) {
      b.sample(f.dag, lpb_f, batch, max_len, k);
      std::vector<double> grad(E, 0.0), vgrad(f.L.num_states, 0.0), loss(1, 0.0);
      detail::CoupledArgs<double> a{};
      a.dag = f.dag.view();
      a.layout = f.L;
      a.params = f.params.data();
      a.log_pb = lpb.data();
      a.pb_grad = grad.data();
      a.value = f.value.data();
      a.value_grad = vgrad.data();
      a.loss = loss.data();
      a.adv_sum = adv.data();
      a.runs = 1;
      a.batch = batch;
      a.max_len = max_len;
      a.states = b.states.data();
      a.edges = b.edges.data();
      a.lengths = b.lengths.data();
      a.guided = guided;
      a.guide_log_reward = f.guide;
      for (int32_t m = 0; m < batch; ++m) detail::coupled_trajectory_cost(a, 0, m);
      for (int32_t m = 0; m < batch; ++m) detail::coupled_trajectory(a, 0, m);
      for (int e = 0; e < E; ++e) mean[e] += grad[e], sq[e] += grad[e] * grad[e];
      loss_sum[0] += loss[0];
    }
    EXPECT_NEAR(loss_sum[0] / batches, f.objective(f.theta, guided), 0.05)
        << "the reported loss estimates K";
    double worst_z = 0, largest = 0;
    for (int e = 0; e < E; ++e) {
      const double m = mean[e] / batches;
      const double se = std::sqrt(std::max(sq[e] / batches - m * m, 0.0) / batches);
      if (se > 0) worst_z = std::max(worst_z, std::abs(m - fd[e]) / se);
      largest = std::max(largest, std::abs(fd[e]));
      EXPECT_LT(std::abs(m - fd[e]), 5 * se + 1e-9)
          << (guided ? "guided" : "coupled") << " edge " << e << ": mean " << m << " fd " << fd[e];
    }
    EXPECT_GT(largest, 0.05) << "the objective must depend on theta_B";
    RecordProperty(guided ? "worst_z_guided" : "worst_z_coupled", std::to_string(worst_z));
  }
}

// Sum over children c of visit(c) * TV(P_B(.|c), kernel(.|c)).
double kernel_distance(const Dag& dag, const ForwardPolicy& pf, const std::vector<float>& log_pb) {
  const DagArrays a = dag.to_host();
  const std::vector<float> lv = compute_marginals(dag, pf).log_visit.to_host();
  const std::vector<float> lp = pf.log_prob.to_host();
  double total = 0;
  for (int32_t c = 1; c < dag.num_states(); ++c) {
    double tv = 0;
    for (int64_t j = a.parent_offsets[c]; j < a.parent_offsets[c + 1]; ++j) {
      const int64_t e = a.parent_edge[j];
      const double kernel = std::exp(double(lv[a.parent_index[j]]) + lp[e] - lv[c]);
      tv += std::abs(std::exp(double(log_pb[e])) - kernel);
    }
    total += std::exp(double(lv[c])) * 0.5 * tv;
  }
  return total;
}

// With P_F frozen (learning rate 1e-30: numerically uniform), coupled P_B minimises the reverse
// KL to P_F's backward kernel p(s) P_F(s'|s) / p(s'): it must close most of the distance from
// its uniform start within 3000 steps of 16 trajectories, and its loss must fall.
TEST(CoupledBackward, PbApproachesTheFrozenForwardKernel) {
  const Dag dag = make_hypergrid({2, 8}, Backend::Cpu);
  TrainConfig c;
  c.algo = Algo::PolicyGradient;
  c.seed = 3;
  c.lr = {1e-30f};
  c.lr_log_z = {1e-30f};
  c.backward = BackwardMode::Coupled;
  c.lr_backward = 3e-2f;
  Trainer t(dag, nullptr, c);
  double first = 0, last = 0;
  for (int i = 0; i < 3000; ++i) {
    t.step();
    const double l = t.last_backward_loss()[0];
    if (i < 100) first += l;
    if (i >= 2900) last += l;
  }
  const ForwardPolicy pf = t.policy(0);
  const double start = kernel_distance(dag, pf, uniform_backward_policy(dag).log_prob.to_host());
  const double end = kernel_distance(dag, pf, t.backward_policy(0).log_prob.to_host());
  RecordProperty("distance_uniform", std::to_string(start));
  RecordProperty("distance_coupled", std::to_string(end));
  EXPECT_GT(start, 0.05);
  EXPECT_LT(end, 0.2 * start) << "coupled P_B must approach the forward kernel";
  EXPECT_LT(last, first) << "the backward loss must fall";
}

// pg (3000 steps of 128 trajectories, as with a fixed P_B) and ac (3000 steps of 64) reach exact
// TV < 0.05 with every trained P_B; pg with the exact gradient and a learned P_B descends the
// terminal KL directly and reaches TV < 0.005 in 3000 steps.
TEST(CoupledBackward, PolicyGradientsLearnRzWithEveryTrainedPb) {
  const Dag dag = make_hypergrid({2, 8}, Backend::Cpu);
  struct Case {
    Algo algo;
    BackwardMode mode;
    bool exact;
  };
  const Case cases[] = {{Algo::PolicyGradient, BackwardMode::Coupled, false},
                        {Algo::PolicyGradient, BackwardMode::Guided, false},
                        {Algo::PolicyGradient, BackwardMode::Learned, false},
                        {Algo::PolicyGradient, BackwardMode::Tlm, false},
                        {Algo::ActorCritic, BackwardMode::Coupled, false},
                        {Algo::ActorCritic, BackwardMode::Learned, false},
                        {Algo::PolicyGradient, BackwardMode::Learned, true}};
  const std::vector<float> uniform = uniform_backward_policy(dag).log_prob.to_host();
  for (const Case& k : cases) {
    TrainConfig c;
    c.algo = k.algo;
    c.runs = 2;
    c.seed = 11;
    c.batch = k.algo == Algo::ActorCritic ? 64 : 128;
    c.backward = k.mode;
    c.exact_gradient = k.exact;
    Trainer t(dag, nullptr, c);
    for (int i = 0; i < 3000; ++i) t.step();
    const std::string label = algo_name(k.algo) + "/" + backward_mode_name(k.mode) +
                              (k.exact ? "/exact" : "");
    const std::vector<RunEvaluation> ev = t.evaluate();
    for (int32_t r = 0; r < 2; ++r) {
      EXPECT_LT(ev[r].metrics.tv, k.exact ? 0.005 : 0.05) << label;
      EXPECT_LT(std::abs(ev[r].log_z_estimate - log_partition(dag)), 0.1) << label;
      const std::vector<float> pb = t.backward_policy(r).log_prob.to_host();
      double moved = 0;
      for (std::size_t e = 0; e < pb.size(); ++e)
        moved = std::max(moved, std::abs(double(pb[e] - uniform[e])));
      EXPECT_GT(moved, 1e-3) << label << ": P_B must have been trained";
    }
    RecordProperty(label, std::to_string(ev[0].metrics.tv));
  }
}

// Deterministic for any thread count (2-D H=32, 8 runs of 64 trajectories: the OpenMP paths),
// and run r of a batch equals a single run with seed + r, forward and backward tables alike.
TEST(CoupledBackward, DeterministicAndRunsIndependent) {
  HypergridConfig g;
  g.ndim = 2;
  g.height = 32;
  const Dag dag = make_hypergrid(g, Backend::Cpu);
  for (BackwardMode mode : {BackwardMode::Coupled, BackwardMode::Guided}) {
    TrainConfig c;
    c.algo = Algo::ActorCritic;
    c.backward = mode;
    c.runs = 8;
    c.batch = 64;
    c.seed = 5;
    auto run = [&](int threads, const TrainConfig& cfg) {
      return with_threads(threads, [&] {
        Trainer t(dag, nullptr, cfg);
        for (int i = 0; i < 40; ++i) t.step();
        return std::make_pair(t.parameters(), t.backward_policy(cfg.runs - 1).log_prob.to_host());
      });
    };
    const auto a = run(1, c), b = run(2, c);
    EXPECT_EQ(a.first, b.first) << backward_mode_name(mode);
    EXPECT_EQ(a.second, b.second) << backward_mode_name(mode);
    TrainConfig single = c;
    single.runs = 1;
    single.seed = c.seed + 7;
    const auto one = run(2, single);
    const std::size_t stride = one.first.size();
    EXPECT_EQ(std::vector<float>(a.first.end() - stride, a.first.end()), one.first)
        << backward_mode_name(mode) << ": run 7 of the batch is the single run with seed + 7";
    EXPECT_EQ(a.second, one.second) << backward_mode_name(mode);
  }
}

TEST(CoupledBackward, BadCombinationsAreRejected) {
  EXPECT_THROW(parse_backward_mode("rl-b"), InputError);
  EXPECT_EQ(parse_backward_mode("guided"), BackwardMode::Guided);
  TrainConfig c;
  c.algo = Algo::TB;
  c.backward = BackwardMode::Coupled;
  EXPECT_THROW(c.validate(), InputError) << "coupled P_B is the policy-gradient learners'";
  c.algo = Algo::ActorCritic;
  EXPECT_NO_THROW(c.validate());
  c.guide_log_reward = INFINITY;
  EXPECT_THROW(c.validate(), InputError);
  const Dag dag = make_hypergrid({2, 4}, Backend::Cpu);
  const BackwardPolicy pb = uniform_backward_policy(dag);
  c.guide_log_reward.reset();
  EXPECT_THROW(Trainer(dag, &pb, c), InputError) << "a trained P_B takes no fixed correction";
}

TEST(CoupledBackward, CudaMatchesCpuFinalTvBand) {
  REQUIRE_CUDA_DEVICE();
  TrainConfig c;
  c.algo = Algo::PolicyGradient;
  c.runs = 2;
  c.seed = 11;
  c.batch = 128;
  for (BackwardMode m : {BackwardMode::Coupled, BackwardMode::Guided}) {
    c.backward = m;
    Trainer a(make_hypergrid({2, 8}, Backend::Cpu), nullptr, c);
    Trainer b(make_hypergrid({2, 8}, Backend::Cuda), nullptr, c);
    for (int i = 0; i < 3000; ++i) a.step(), b.step();
    const auto ea = a.evaluate(), eb = b.evaluate();
    for (int32_t r = 0; r < 2; ++r) {
      EXPECT_LT(eb[r].metrics.tv, 0.05) << backward_mode_name(m);
      EXPECT_NEAR(ea[r].metrics.tv, eb[r].metrics.tv, 0.03) << backward_mode_name(m);
    }
  }
}

}  // namespace
}  // namespace gfnrl::test
