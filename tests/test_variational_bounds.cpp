// The exact ELBO and EUBO against sums over every trajectory (double precision) on random small
// DAGs and tiny hypergrids, random P_F and P_B; ELBO <= 0 <= EUBO; both 0 at the soft-optimal
// policy of the same P_B; the infinities where one process takes what the other never does.
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

// sum over trajectories of weight(tau) * (log R(x) + sum log P_B - sum log P_F) - log Z, with
// weight P_F(tau) (elbo) or R(x)/Z P_B(tau|x) (eubo).
double brute_bound(const BruteForce& bf, const std::vector<float>& lp, const std::vector<float>& ex,
                   const std::vector<float>& pb, bool eubo) {
  const double log_z = bf.log_z();
  double total = 0;
  bf.for_each_trajectory([&](const std::vector<int>& path, int x) {
    double log_pf = ex[x], log_pb = 0;
    for (int e : path) log_pf += lp[e], log_pb += pb[e];
    const double log_w = eubo ? bf.a.log_reward[x] - log_z + log_pb : log_pf;
    total += std::exp(log_w) * (bf.a.log_reward[x] + log_pb - log_pf);
  });
  return total - log_z;
}

TEST(VariationalBounds, ElboAndEuboEqualSumsOverEveryTrajectory) {
  for (Backend b : test_backends()) {
    unsigned seed = 300;
    for (const Dag& dag : small_dags(b)) {
      const BruteForce bf(dag);
      const BackwardPolicy pb = random_backward_policy(dag, ++seed);
      const ForwardPolicy pf = random_policy(dag, ++seed);
      const VariationalBounds got =
          variational_bounds(dag, pf, compute_marginals(dag, pf), pb);
      const auto lp = pf.log_prob.to_host(), ex = pf.exit_log_prob.to_host();
      const auto lb = pb.log_prob.to_host();
      const double elbo = brute_bound(bf, lp, ex, lb, false), eubo = brute_bound(bf, lp, ex, lb, true);
      EXPECT_NEAR(got.elbo, elbo, 1e-5 * (1 + std::abs(elbo))) << "seed " << seed;
      EXPECT_NEAR(got.eubo, eubo, 1e-5 * (1 + std::abs(eubo))) << "seed " << seed;
      EXPECT_LT(got.elbo, -1e-3) << "a random policy is not the target's";
      EXPECT_GT(got.eubo, 1e-3);
    }
  }
}

TEST(VariationalBounds, BothAreZeroAtTheSoftOptimalPolicyOfTheSameBackwardPolicy) {
  for (Backend b : test_backends())
    for (const Dag& dag : small_dags(b)) {
      for (const BackwardPolicy& pb : {uniform_backward_policy(dag), random_backward_policy(dag, 9)}) {
        const ForwardPolicy pf = solve_soft_values(dag, &pb).policy;
        const VariationalBoundSolver bounds(dag, pb);
        const VariationalBounds v = bounds(pf, compute_marginals(dag, pf));
        EXPECT_NEAR(v.elbo, 0.0, 2e-5) << pb.name;
        EXPECT_NEAR(v.eubo, 0.0, 2e-5) << pb.name;
        EXPECT_NEAR(bounds.log_z(), log_partition(dag), 1e-12);
      }
    }
}

// On the 2x3 grid: P_F that never takes the first edge of s0 (which the target's backward
// process does take) has EUBO = +inf and a finite ELBO; a P_B that never takes an edge P_F
// takes gives ELBO = -inf.
TEST(VariationalBounds, InfinitiesWhereOneProcessTakesAnEdgeTheOtherNeverTakes) {
  const Dag dag = make_hypergrid({2, 3, 1e-2, 0.5, 2.0}, Backend::Cpu);
  const BackwardPolicy uniform = uniform_backward_policy(dag);
  ForwardPolicy pf = uniform_forward_policy(dag);
  std::vector<float> lp = pf.log_prob.to_host(), ex = pf.exit_log_prob.to_host();
  const DagArrays a = dag.to_host();
  const int k = a.child_offsets[1] - a.child_offsets[0] + 1;  // s0's actions, exit included
  lp[0] = -INFINITY;
  for (int e = 1; e < a.child_offsets[1]; ++e) lp[e] = -std::log(float(k - 1));
  ex[0] = -std::log(float(k - 1));
  pf = {Array<float>::from_host(Backend::Cpu, lp), Array<float>::from_host(Backend::Cpu, ex)};
  VariationalBounds v = variational_bounds(dag, pf, compute_marginals(dag, pf), uniform);
  EXPECT_EQ(v.eubo, INFINITY);
  EXPECT_TRUE(std::isfinite(v.elbo));
  std::vector<float> lb = uniform.log_prob.to_host();
  const ForwardPolicy u = uniform_forward_policy(dag);
  const int child = a.child_index[a.child_offsets[1]];  // a state reached from state 1 ...
  for (int j = a.parent_offsets[child]; j < a.parent_offsets[child + 1]; ++j)  // ... never left
    lb[a.parent_edge[j]] = a.parent_index[j] == 1 ? -INFINITY : 0.0f;          // towards 1 by P_B
  const BackwardPolicy pb{Array<float>::from_host(Backend::Cpu, lb), "user"};
  v = variational_bounds(dag, u, compute_marginals(dag, u), pb);
  EXPECT_EQ(v.elbo, -INFINITY);
}

// Trainer::evaluate fills every run's bounds with that run's own P_B: fixed (one solver), learned
// (each run's current table), none (uniform); a base-policy target has none (NaN).
TEST(VariationalBounds, TrainerEvaluationsBoundEachRunWithItsOwnBackwardPolicy) {
  const Dag dag = make_hypergrid({2, 5, 1e-2, 0.5, 2.0}, Backend::Cpu);
  const BackwardPolicy maxent = maxent_backward_policy(dag);
  struct Case {
    Algo algo;
    BackwardMode mode;
    const BackwardPolicy* pb;
  };
  for (const Case& k : {Case{Algo::TB, BackwardMode::Fixed, &maxent},
                        Case{Algo::DB, BackwardMode::Learned, nullptr},
                        Case{Algo::SoftDQN, BackwardMode::Fixed, nullptr}}) {
    TrainConfig c;
    c.algo = k.algo, c.backward = k.mode, c.runs = 2, c.seed = 3, c.batch = 8;
    Trainer t(dag, k.pb, c);
    for (int i = 0; i < 30; ++i) t.step();
    const std::vector<RunEvaluation> ev = t.evaluate();
    for (int32_t r = 0; r < c.runs; ++r) {
      const ForwardPolicy pf = t.policy(r);
      const VariationalBounds want =
          variational_bounds(dag, pf, compute_marginals(dag, pf), t.backward_policy(r));
      EXPECT_NEAR(ev[r].metrics.elbo, want.elbo, 1e-9) << algo_name(k.algo) << " run " << r;
      EXPECT_NEAR(ev[r].metrics.eubo, want.eubo, 1e-9) << algo_name(k.algo) << " run " << r;
      EXPECT_LT(ev[r].metrics.elbo, 0.0);
    }
  }
  TrainConfig c;
  c.algo = Algo::TB;
  c.prior = uniform_forward_policy(dag);
  Trainer relative(dag, nullptr, c);
  EXPECT_TRUE(std::isnan(relative.evaluate()[0].metrics.elbo));
}

TEST(VariationalBounds, RefusesTablesOfTheWrongShape) {
  const Dag dag = make_hypergrid({2, 3}, Backend::Cpu), other = make_hypergrid({2, 4}, Backend::Cpu);
  const ForwardPolicy pf = uniform_forward_policy(dag);
  const Marginals m = compute_marginals(dag, pf);
  EXPECT_THROW(VariationalBoundSolver(dag, uniform_backward_policy(other)), InputError);
  const VariationalBoundSolver bounds(dag, uniform_backward_policy(dag));
  EXPECT_THROW(bounds(uniform_forward_policy(other), m), InputError);
  EXPECT_THROW(bounds(pf, compute_marginals(other, uniform_forward_policy(other))), InputError);
}

}  // namespace
}  // namespace gfnrl::test
