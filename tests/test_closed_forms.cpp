// Closed forms on hypergrids up to 10^5 states: the soft-optimal policy of every correction has
// TV < 1e-5 to R/Z and V(s0) = log Z; without the correction, the TV to R/Z equals the TV between
// R/Z and n R / sum n R computed directly from multinomial path counts.
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

struct Grid {
  int d, h;
};
const Grid kGrids[] = {{2, 20}, {3, 12}, {4, 8}, {2, 300}, {5, 10}, {4, 17}};

std::vector<double> multinomial_counts(const HypergridConfig& c, const std::vector<int64_t>& label) {
  std::vector<double> n(label.size());
  for (std::size_t s = 0; s < label.size(); ++s) {
    const auto x = hypergrid_coordinates(c, label[s]);
    double l = std::lgamma(std::accumulate(x.begin(), x.end(), 0) + 1.0);
    for (int v : x) l -= std::lgamma(v + 1.0);
    n[s] = std::exp(l);
  }
  return n;
}

TEST(ClosedForms, SoftOptimalPolicyIsExactForEveryCorrection) {
  for (const Grid& g : kGrids) {
    const HypergridConfig c{g.d, g.h};
    const Dag dag = make_hypergrid(c, Backend::Cpu);
    ASSERT_LE(dag.num_states(), 100000);
    const double log_z = log_partition(dag);
    for (const BackwardPolicy& pb : {uniform_backward_policy(dag), maxent_backward_policy(dag)}) {
      SoftValueSolver solver(dag, &pb);
      solver.run();
      EXPECT_NEAR(solver.log_z(), log_z, 1e-5 * std::max(1.0, std::abs(log_z)));
      const Metrics m = compare_to_target(dag, compute_marginals(dag, solver.result().policy));
      EXPECT_LT(m.tv, 1e-5) << "D=" << g.d << " H=" << g.h << " correction " << pb.name;
      EXPECT_NEAR(m.model_mass, 1.0, 1e-5);
      // P_T is normalised by its mass before distances, so KL is second order in the rounding.
      EXPECT_LT(m.kl_target_model, 1e-9);
      EXPECT_GE(m.kl_target_model, -1e-12);
      EXPECT_GE(m.kl_model_target, -1e-12);
      EXPECT_LT(m.jsd, 1e-8);
    }
  }
}

TEST(ClosedForms, UncorrectedBiasMatchesPathCountTimesReward) {
  for (const Grid& g : kGrids) {
    const HypergridConfig c{g.d, g.h};
    const Dag dag = make_hypergrid(c, Backend::Cpu);
    const auto label = dag.label().to_host();
    const auto r = exp_vector(dag.log_reward().to_host());
    const auto n = multinomial_counts(c, label);
    std::vector<double> nr(r.size());
    for (std::size_t s = 0; s < r.size(); ++s) nr[s] = n[s] * r[s];
    const double want = tv_distance(normalised(r), normalised(nr));
    const SoftValues sv = solve_soft_values(dag, nullptr);
    const Metrics m = compare_to_target(dag, compute_marginals(dag, sv.policy));
    // Uncorrected values are large (V(s0) = log sum n R, ~410 on the 2x300 grid) and float32
    // tables resolve them to |V| * 2^-24 per level: the tolerance scales with that ulp.
    const double v0 = std::abs(sv.value.to_host()[0]);
    const double tol = std::max(1e-5, 8.0 * v0 * std::ldexp(1.0, -24));
    EXPECT_NEAR(m.tv, want, tol) << "D=" << g.d << " H=" << g.h << " V(s0)=" << v0;
    EXPECT_GT(m.tv, 0.05) << "the bias must be visible on a grid that is not a tree";
    // And against the biased target itself, the uncorrected policy is exact.
    std::vector<float> log_nr(nr.size());
    for (std::size_t s = 0; s < nr.size(); ++s) log_nr[s] = static_cast<float>(std::log(nr[s]));
    const Array<float> biased = Array<float>::from_host(Backend::Cpu, log_nr);
    EXPECT_LT(compare_to_target(dag, compute_marginals(dag, sv.policy), &biased).tv, tol);
  }
}

TEST(ClosedForms, OneDimensionalGridIsATreeSoCorrectionIsANoOp) {
  const Dag dag = make_hypergrid({1, 50}, Backend::Cpu);
  const BackwardPolicy pb = uniform_backward_policy(dag);
  const auto a = solve_soft_values(dag, &pb).value.to_host();
  const auto b = solve_soft_values(dag, nullptr).value.to_host();
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace gfnrl::test
