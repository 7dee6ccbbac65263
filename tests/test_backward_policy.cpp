// Backward policies: normalisation, the max-entropy closed form on hypergrids, and user tables.
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

TEST(BackwardPolicy, UniformAndMaxentAreNormalisedOverParents) {
  for (unsigned seed = 1; seed <= 10; ++seed) {
    const Dag dag = build_dag(random_dag_spec(15, seed), Backend::Cpu);
    const DagArrays a = dag.to_host();
    for (const BackwardPolicy& pb : {uniform_backward_policy(dag), maxent_backward_policy(dag)}) {
      const auto lp = pb.log_prob.to_host();
      for (int c = 1; c < dag.num_states(); ++c) {
        double s = 0;
        for (int j = a.parent_offsets[c]; j < a.parent_offsets[c + 1]; ++j)
          s += std::exp(double(lp[a.parent_edge[j]]));
        EXPECT_NEAR(s, 1.0, 1e-5) << pb.name << " state " << c;
      }
    }
  }
}

TEST(BackwardPolicy, MaxentOnHypergridIsCoordinateFraction) {
  // n(x - e_d) / n(x) = x_d / sum(x) for multinomial path counts.
  const HypergridConfig c{3, 6};
  const Dag dag = make_hypergrid(c, Backend::Cpu);
  const DagArrays a = dag.to_host();
  const auto lp = maxent_backward_policy(dag).log_prob.to_host();
  for (int s = 0; s < dag.num_states(); ++s)
    for (int e = a.child_offsets[s]; e < a.child_offsets[s + 1]; ++e) {
      const auto x = hypergrid_coordinates(c, a.label[a.child_index[e]]);
      const int d = a.child_action[e];
      EXPECT_NEAR(std::exp(lp[e]), double(x[d]) / std::accumulate(x.begin(), x.end(), 0), 1e-5);
    }
}

TEST(BackwardPolicy, UserTableRoundTripsAndIsUsedAsCorrection) {
  const Dag dag = build_dag(random_dag_spec(12, 7), Backend::Cpu);
  const auto table = maxent_backward_policy(dag).log_prob.to_host();
  const BackwardPolicy pb = backward_policy_from_table(dag, table);
  EXPECT_EQ(pb.name, "user");
  SoftValueSolver solver(dag, &pb);
  solver.run();
  EXPECT_NEAR(solver.log_z(), BruteForce(dag).log_z(), 1e-5);
}

void expect_table_error(const Dag& dag, const std::vector<float>& t, const std::string& fragment) {
  try {
    backward_policy_from_table(dag, t);
    ADD_FAILURE() << "expected InputError with '" << fragment << "'";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(BackwardPolicyErrors, UserTables) {
  const Dag dag = make_hypergrid({2, 4}, Backend::Cpu);
  auto t = uniform_backward_policy(dag).log_prob.to_host();
  expect_table_error(dag, std::vector<float>(t.begin(), t.end() - 1),
                     "has 23 entries; the DAG has 24 edges");
  auto bad = t;
  bad[3] = std::nanf("");
  expect_table_error(dag, bad, "entry of edge 3 is nan");
  bad = t;
  bad[5] = 0.5f;
  expect_table_error(dag, bad, "must be in [-inf, 0]");
  bad[5] = 1e-7f;  // tiny and positive: printed with its value, not as 0.000000
  expect_table_error(dag, bad, "entry of edge 5 is 1e-07: log-probabilities must be in [-inf, 0]");
  bad = t;
  bad[0] = std::log(0.25f);  // edge 0 -> its child, which has a single parent
  expect_table_error(dag, bad, "sums to 0.25");
}

TEST(BackwardPolicyErrors, APolicyOfAnotherDagIsRefusedBySolverAndTrainer) {
  const Dag small = make_hypergrid({2, 4}, Backend::Cpu), big = make_hypergrid({2, 5}, Backend::Cpu);
  const BackwardPolicy pb = uniform_backward_policy(small);
  const std::string want = "backward policy 'uniform' does not belong to this DAG: it has 24 "
                           "entries on the cpu backend, the DAG 40 edges on the cpu backend";
  for (int which = 0; which < 2; ++which) {
    try {
      if (which == 0) SoftValueSolver(big, &pb);
      else Trainer(big, &pb, TrainConfig{});
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace gfnrl::test
