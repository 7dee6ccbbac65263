// build_dag: the layout invariants, the relabelling, and every validation error.
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

TEST(DagBuilder, LayoutInvariantsOnRandomDags) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    const DagSpec spec = random_dag_spec(14, seed);
    const Dag dag = build_dag(spec, Backend::Cpu);
    const DagArrays a = dag.to_host();
    ASSERT_EQ(dag.num_states(), spec.num_states);
    ASSERT_EQ(dag.num_edges(), static_cast<int32_t>(spec.edges.size()));
    EXPECT_EQ(a.label[0], spec.source);
    EXPECT_EQ(a.level_offsets[0], 0);
    EXPECT_EQ(a.level_offsets[1], 1) << "level 0 must hold the source alone";
    std::vector<int> level(dag.num_states());
    for (int l = 0; l < dag.num_levels(); ++l)
      for (int s = a.level_offsets[l]; s < a.level_offsets[l + 1]; ++s) level[s] = l;
    // Same edge set (through labels), edges go to higher levels, CSC is the transpose of CSR.
    std::set<std::tuple<int64_t, int64_t, int>> want, got;
    for (const auto& e : spec.edges) want.insert({e.from, e.to, e.action});
    for (int s = 0; s < dag.num_states(); ++s)
      for (int e = a.child_offsets[s]; e < a.child_offsets[s + 1]; ++e) {
        got.insert({a.label[s], a.label[a.child_index[e]], a.child_action[e]});
        EXPECT_LT(level[s], level[a.child_index[e]]);
      }
    EXPECT_EQ(want, got);
    for (int c = 0; c < dag.num_states(); ++c)
      for (int j = a.parent_offsets[c]; j < a.parent_offsets[c + 1]; ++j) {
        const int e = a.parent_edge[j];
        EXPECT_EQ(a.child_index[e], c);
        EXPECT_GE(e, a.child_offsets[a.parent_index[j]]);
        EXPECT_LT(e, a.child_offsets[a.parent_index[j] + 1]);
      }
    // Rewards follow their states.
    std::map<int64_t, double> r(spec.rewards.begin(), spec.rewards.end());
    for (int s = 0; s < dag.num_states(); ++s) {
      if (r.count(a.label[s]))
        EXPECT_NEAR(a.log_reward[s], std::log(r[a.label[s]]), 1e-6);
      else
        EXPECT_TRUE(std::isinf(a.log_reward[s]));
    }
    int max_action = -1;
    for (const auto& e : spec.edges) max_action = std::max(max_action, e.action);
    EXPECT_EQ(a.exit_action, max_action + 1);
  }
}

DagSpec diamond() {
  // 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3; 3 terminates, 1 terminates.
  DagSpec s;
  s.num_states = 4;
  s.edges = {{0, 1, 0}, {0, 2, 1}, {1, 3, 1}, {2, 3, 0}};
  s.rewards = {{3, 2.0}, {1, 0.5}};
  return s;
}

void expect_error(const DagSpec& spec, const std::string& fragment) {
  try {
    build_dag(spec, Backend::Cpu);
    ADD_FAILURE() << "expected an InputError mentioning '" << fragment << "'";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(DagBuilder, AcceptsDiamond) {
  const Dag d = build_dag(diamond(), Backend::Cpu);
  EXPECT_EQ(d.num_levels(), 3);
  EXPECT_EQ(d.num_edges(), 4);
}

TEST(DagBuilderErrors, Cycle) {
  DagSpec s = diamond();
  s.edges.push_back({3, 1, 0});
  s.edges.push_back({1, 2, 2});
  expect_error(s, "cycle through state");
}

TEST(DagBuilderErrors, SelfLoop) {
  DagSpec s = diamond();
  s.edges.push_back({2, 2, 0});
  expect_error(s, "self-loop");
}

TEST(DagBuilderErrors, Unreachable) {
  DagSpec s = diamond();
  s.num_states = 5;
  s.edges.push_back({4, 3, 0});
  expect_error(s, "state 4 is unreachable from the source state 0");
}

TEST(DagBuilderErrors, NoTerminatingState) {
  DagSpec s = diamond();
  s.rewards.clear();
  expect_error(s, "no terminating state");
}

TEST(DagBuilderErrors, NonFiniteReward) {
  DagSpec s = diamond();
  s.rewards[0].second = std::nan("");
  expect_error(s, "reward of state 3 is nan");
  s.rewards[0].second = INFINITY;
  expect_error(s, "reward of state 3 is inf");
}

TEST(DagBuilderErrors, NegativeOrZeroReward) {
  DagSpec s = diamond();
  s.rewards[1].second = -1.0;
  expect_error(s, "reward of state 1 is -1");
  s.rewards[1].second = 0.0;
  expect_error(s, "must be finite and > 0");
}

TEST(DagBuilderErrors, DeadEnd) {
  DagSpec s = diamond();
  s.num_states = 5;
  s.edges.push_back({2, 4, 2});
  expect_error(s, "state 4 has no children and no reward");
}

TEST(DagBuilderErrors, OutOfRangeEndpointSourceAndReward) {
  DagSpec s = diamond();
  s.edges.push_back({1, 7, 0});
  expect_error(s, "endpoint out of range [0, 4)");
  s = diamond();
  s.source = 9;
  expect_error(s, "source 9 is out of range");
  s = diamond();
  s.rewards.push_back({-1, 1.0});
  expect_error(s, "state out of range");
  s = diamond();
  s.num_states = 0;
  expect_error(s, "num_states must be >= 1");
}

TEST(DagBuilderErrors, DuplicateEdgeRewardAndNegativeAction) {
  DagSpec s = diamond();
  s.edges.push_back({0, 1, 3});
  expect_error(s, "duplicate edge");
  s = diamond();
  s.rewards.push_back({3, 1.0});
  expect_error(s, "given twice");
  s = diamond();
  s.edges[0].action = -2;
  expect_error(s, "action id -2");
}

}  // namespace
}  // namespace gfnrl::test
