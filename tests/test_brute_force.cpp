// DP results against explicit enumeration of every trajectory (double precision) on random small
// DAGs and tiny hypergrids: P_F^T, n(x), V(s0) = log Z for every correction, the uncorrected
// soft-optimal policy's bias toward n(x)R(x), and KL-regularised soft VI with a uniform base policy.
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

TEST(BruteForce, TerminatingDistributionOfRandomAndUniformPolicies) {
  for (Backend b : test_backends()) {
    unsigned seed = 100;
    for (const Dag& dag : small_dags(b)) {
      const BruteForce bf(dag);
      for (const ForwardPolicy& pf : {random_policy(dag, ++seed), uniform_forward_policy(dag)}) {
        const auto want = bf.terminal(pf.log_prob.to_host(), pf.exit_log_prob.to_host());
        const Marginals m = compute_marginals(dag, pf);
        const auto got = exp_vector(m.log_terminal.to_host());
        for (int s = 0; s < bf.n(); ++s) EXPECT_NEAR(got[s], want[s], 2e-6) << "state " << s;
        const Metrics met = compare_to_target(dag, m);
        EXPECT_NEAR(met.model_mass, 1.0, 1e-5);
        EXPECT_NEAR(met.tv, tv_distance(want, normalised(exp_vector(bf.a.log_reward))), 2e-6);
        // Expected number of actions = E[#states visited] = sum over trajectories P(tau)*(T+1).
        double len = 0;
        const auto lp = pf.log_prob.to_host();
        const auto ex = pf.exit_log_prob.to_host();
        bf.for_each_trajectory([&](const std::vector<int>& path, int x) {
          double l = ex[x];
          for (int e : path) l += lp[e];
          len += std::exp(l) * (path.size() + 1);
        });
        EXPECT_NEAR(met.expected_length, len, 1e-5);
      }
    }
  }
}

TEST(BruteForce, PolicyThatNeverTerminatesIsAnError) {
  for (Backend b : test_backends()) {
    const Dag dag = make_hypergrid({2, 3}, b);
    ForwardPolicy pf = uniform_forward_policy(dag);
    pf.exit_log_prob = Array<float>::from_host(
        b, std::vector<float>(dag.num_states(), -std::numeric_limits<float>::infinity()));
    EXPECT_THROW(compare_to_target(dag, compute_marginals(dag, pf)), InputError);
  }
}

TEST(BruteForce, PathCounts) {
  for (Backend b : test_backends())
    for (const Dag& dag : small_dags(b)) {
      const auto want = BruteForce(dag).path_counts();
      const auto got = exp_vector(log_path_counts(dag).to_host());
      for (std::size_t s = 0; s < want.size(); ++s) EXPECT_NEAR(got[s], want[s], 1e-5 * want[s]);
    }
}

TEST(BruteForce, CorrectedSoftValueIsLogZAndSamplesRewardsExactly) {
  for (Backend b : test_backends())
    for (const Dag& dag : small_dags(b)) {
      const BruteForce bf(dag);
      const auto target = normalised(exp_vector(bf.a.log_reward));
      for (const BackwardPolicy& pb : {uniform_backward_policy(dag), maxent_backward_policy(dag)}) {
        const auto pbh = pb.log_prob.to_host();
        EXPECT_NEAR(bf.soft_value(&pbh, false), bf.log_z(), 1e-6) << "oracle self-check (float P_B)";
        SoftValueSolver solver(dag, &pb);
        solver.run();
        EXPECT_NEAR(solver.log_z(), bf.log_z(), 1e-5) << pb.name;
        const auto& pol = solver.result().policy;
        const auto pt = bf.terminal(pol.log_prob.to_host(), pol.exit_log_prob.to_host());
        EXPECT_LT(tv_distance(pt, target), 1e-6) << pb.name;
      }
    }
}

TEST(BruteForce, UncorrectedSoftOptimalPolicySamplesPathCountTimesReward) {
  for (Backend b : test_backends())
    for (const Dag& dag : small_dags(b)) {
      const BruteForce bf(dag);
      const auto n = bf.path_counts();
      std::vector<double> biased(bf.n());
      for (int s = 0; s < bf.n(); ++s) biased[s] = n[s] * std::exp(double(bf.a.log_reward[s]));
      double zb = std::accumulate(biased.begin(), biased.end(), 0.0);
      const SoftValues sv = solve_soft_values(dag, nullptr);
      EXPECT_NEAR(sv.value.to_host()[0], std::log(zb), 1e-5);
      EXPECT_NEAR(bf.soft_value(nullptr, false), std::log(zb), 1e-9) << "oracle self-check";
      const auto pt = bf.terminal(sv.policy.log_prob.to_host(), sv.policy.exit_log_prob.to_host());
      EXPECT_LT(tv_distance(pt, normalised(biased)), 1e-6);
    }
}

TEST(BruteForce, UniformBasePolicySoftValue) {
  // KL-regularised soft RL: V(s0) = log sum_tau prod_t mu(a_t|s_t) exp(r_t) R(x) for any inner
  // reward r; with r = 0 the optimal policy samples mu^T(x)R(x) / sum mu^T R (Deleu's talk).
  for (Backend b : test_backends())
    for (const Dag& dag : small_dags(b)) {
      const BruteForce bf(dag);
      SoftValueOptions opt;
      opt.uniform_base_policy = true;
      const BackwardPolicy pb = uniform_backward_policy(dag);
      const auto pbh = pb.log_prob.to_host();
      EXPECT_NEAR(solve_soft_values(dag, &pb, opt).value.to_host()[0], bf.soft_value(&pbh, true),
                  1e-5);
      const SoftValues sv = solve_soft_values(dag, nullptr, opt);
      EXPECT_NEAR(sv.value.to_host()[0], bf.soft_value(nullptr, true), 1e-5);
      const ForwardPolicy mu = uniform_forward_policy(dag);
      const auto mut = bf.terminal(mu.log_prob.to_host(), mu.exit_log_prob.to_host());
      std::vector<double> w(bf.n());
      for (int s = 0; s < bf.n(); ++s) w[s] = mut[s] * std::exp(double(bf.a.log_reward[s]));
      const auto pt = bf.terminal(sv.policy.log_prob.to_host(), sv.policy.exit_log_prob.to_host());
      EXPECT_LT(tv_distance(pt, normalised(w)), 1e-6);
    }
}

}  // namespace
}  // namespace gfnrl::test

namespace gfnrl::test {
namespace {
// first_unnormalised_state: every row of the uniform policy sums to 1; a row pushed off by 1e-3
// (its exit, or one of its edges) is found, with its sum, and the first of several is named.
TEST(RowSums, FirstUnnormalisedStateFindsTheRow) {
  for (const Dag& dag : small_dags(Backend::Cpu)) {
    const ForwardPolicy p = uniform_forward_policy(dag);
    std::vector<float> e = p.log_prob.to_host(), x = p.exit_log_prob.to_host();
    ASSERT_EQ(first_unnormalised_state(dag, e.data(), x.data(), 1e-4), dag.num_states());
    const DagArrays a = dag.to_host();
    const int32_t s = dag.num_states() / 2, t = dag.num_states() - 1;
    // State s: one more 1e-3 of mass on its first edge (or its exit when it has none).
    const double before = [&] {
      double sum = std::exp(double(x[s]));
      for (int64_t k = a.child_offsets[s]; k < a.child_offsets[s + 1]; ++k) sum += std::exp(double(e[k]));
      return sum;
    }();
    float& bump = a.child_offsets[s + 1] > a.child_offsets[s] ? e[a.child_offsets[s]] : x[s];
    bump = static_cast<float>(std::log(std::exp(double(bump)) + 1e-3));
    x[t] = static_cast<float>(std::log(std::exp(double(x[t])) + 0.5));
    double sum = 0;
    EXPECT_EQ(first_unnormalised_state(dag, e.data(), x.data(), 1e-4, &sum), s);
    EXPECT_NEAR(sum, before + 1e-3, 1e-6);
    EXPECT_EQ(first_unnormalised_state(dag, e.data(), x.data(), 2e-3), t == s ? dag.num_states() : t);
  }
}
}  // namespace
}  // namespace gfnrl::test
