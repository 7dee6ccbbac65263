// modes_found: which terminating states a run's sampled trajectories have exited from so far.
// With epsilon = 1 every action is uniform whatever the table holds, so the trajectories of all
// steps can be drawn again here, from the same Philox streams, with a zero table: the Trainer's
// reached states must be exactly the exits of those trajectories.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <vector>

#include "gfnrl/detail/rollout_math.hpp"
#include "gfnrl/gfnrl.hpp"
#include "test_support.hpp"

namespace gfnrl {
namespace {

Dag grid() {
  HypergridConfig g;
  g.ndim = 2, g.height = 5, g.r0 = 0.1;
  return make_hypergrid(g, Backend::Cpu);
}

// The exit states of every trajectory of run r over `steps` steps, drawn again with epsilon 1.
std::set<int32_t> exits_by_hand(const Dag& dag, const TrainConfig& c, int32_t r, int steps) {
  detail::TableLayout L;
  L.num_states = dag.num_states();
  L.num_edges = dag.num_edges();
  const std::vector<float> zero(L.stride() * c.runs, 0.0f);
  const int32_t len = dag.num_levels();
  std::vector<int32_t> st(std::size_t(c.runs) * c.batch * len), ac(st.size()),
      lengths(std::size_t(c.runs) * c.batch);
  const std::vector<float> ones(c.runs, 1.0f);
  std::set<int32_t> exits;
  for (int step = 0; step < steps; ++step) {
    detail::RolloutArgs a{};
    a.dag = dag.view();
    a.layout = L;
    a.params = zero.data();
    a.runs = c.runs, a.batch = c.batch, a.max_len = len;
    a.tau = 1.0f;
    a.temperature_start = a.temperature_end = ones.data();
    a.epsilon_start = a.epsilon_end = ones.data();
    a.seed = c.seed, a.step = static_cast<uint64_t>(step);
    a.states = st.data(), a.actions = ac.data(), a.lengths = lengths.data();
    for (int32_t m = 0; m < c.batch; ++m) {
      detail::rollout_trajectory(a, r, m);
      const int64_t base = (int64_t(r) * c.batch + m) * len;
      exits.insert(st[base + lengths[r * c.batch + m] - 1]);
    }
  }
  return exits;
}

TEST(ModesFound, ReachedStatesAreExactlyTheExitsOfTheSampledTrajectories) {
  const Dag dag = grid();
  const BackwardPolicy pb = uniform_backward_policy(dag);
  TrainConfig c;
  c.algo = Algo::DB, c.runs = 3, c.seed = 11, c.batch = 4, c.epsilon = {1.0f};
  Trainer t(dag, &pb, c);
  std::vector<int32_t> every(dag.num_states());
  for (int32_t s = 0; s < dag.num_states(); ++s) every[s] = s;
  EXPECT_EQ(t.reached_groups(every), std::vector<int64_t>(3, 0));  // nothing sampled yet
  const int steps = 3;  // 12 trajectories per run: far from every one of the 25 states
  for (int i = 0; i < steps; ++i) t.step();
  // A random grouping: states sorted by group, 4 groups.
  std::vector<int32_t> order = every, group(every.size());
  std::vector<int32_t> group_of(every.size());
  for (int32_t s = 0; s < dag.num_states(); ++s) group_of[s] = (s * 7 + 3) % 4;
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return group_of[a] < group_of[b]; });
  for (std::size_t i = 0; i < order.size(); ++i) group[i] = group_of[order[i]];
  const std::vector<int64_t> states = t.reached_groups(every), groups = t.reached_groups(order, group);
  for (int32_t r = 0; r < c.runs; ++r) {
    const std::set<int32_t> exits = exits_by_hand(dag, c, r, steps);
    EXPECT_EQ(states[r], int64_t(exits.size())) << "run " << r;
    EXPECT_LT(exits.size(), 25u);
    std::set<int32_t> hit;
    for (int32_t x : exits) hit.insert(group_of[x]);
    EXPECT_EQ(groups[r], int64_t(hit.size())) << "run " << r;
    for (int32_t x = 0; x < dag.num_states(); ++x)  // state by state
      EXPECT_EQ(t.reached_groups({x})[r], exits.count(x)) << "run " << r << " state " << x;
  }
}

TEST(ModesFound, TheExactGradientSamplesNothingAndBadGroupsAreRefused) {
  const Dag dag = grid();
  TrainConfig c;
  c.algo = Algo::PolicyGradient, c.exact_gradient = true, c.epsilon = {0.0f}, c.runs = 2;
  Trainer t(dag, nullptr, c);
  for (int i = 0; i < 5; ++i) t.step();
  EXPECT_EQ(t.reached_groups({0, 1, 2}), std::vector<int64_t>(2, 0));
  EXPECT_THROW(t.reached_groups({0, 1}, {1, 0}), InputError);  // not nondecreasing
  EXPECT_THROW(t.reached_groups({0, 99}), InputError);         // no such state
  EXPECT_THROW(t.reached_groups({0, 1}, {0}), InputError);     // one group for two states
}

// The modes of the standard 2-D H=16 reward, decided in integers: the band 0.3 < |x/15 - 1/2| <
// 0.4 is 9 < |2x - 15| < 12, so x in {2, 13} on both axes: one mode per corner region.
TEST(ModesFound, RewardModesAreTheBandCornersSortedByRegion) {
  HypergridConfig g;
  g.ndim = 2, g.height = 16;
  const Dag dag = make_hypergrid(g, Backend::Cpu);
  const RewardModes m = reward_modes(dag, &g);
  const std::vector<int64_t> labels = dag.label().to_host();
  ASSERT_EQ(m.states.size(), 4u);
  EXPECT_EQ(m.region, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(m.num_regions, 4);
  for (std::size_t i = 0; i < 4; ++i) {
    const std::vector<int32_t> x = hypergrid_coordinates(g, labels[m.states[i]]);
    for (int d = 0; d < 2; ++d) {
      const int u = std::abs(2 * x[d] - 15);
      EXPECT_TRUE(9 < u && u < 12) << x[d];
      EXPECT_EQ((m.region[i] >> d) & 1, x[d] > 7 ? 1 : 0);
    }
  }
  const RewardModes plain = reward_modes(dag);  // no grid: by state, no regions
  EXPECT_TRUE(plain.region.empty());
  EXPECT_EQ(plain.num_regions, 0);
  EXPECT_TRUE(std::is_sorted(plain.states.begin(), plain.states.end()));
  EXPECT_EQ(plain.states.size(), 4u);
}

// With epsilon = 1 the trajectories do not depend on the tables, so the CUDA rollout and count
// must give the CPU's reached states exactly (per-run epsilon lists included).
TEST(ModesFound, CudaReachedStatesEqualTheCpus) {
  REQUIRE_CUDA_DEVICE();
  HypergridConfig g;
  g.ndim = 2, g.height = 5, g.r0 = 0.1;
  const Dag cpu = make_hypergrid(g, Backend::Cpu), gpu = make_hypergrid(g, Backend::Cuda);
  const BackwardPolicy pc = uniform_backward_policy(cpu), pg = uniform_backward_policy(gpu);
  TrainConfig c;
  c.algo = Algo::SoftDQN, c.runs = 3, c.seed = 5, c.batch = 4, c.epsilon = {1.0f, 1.0f, 1.0f};
  Trainer a(cpu, &pc, c), b(gpu, &pg, c);
  for (int i = 0; i < 3; ++i) a.step(), b.step();
  for (int32_t x = 0; x < cpu.num_states(); ++x)
    EXPECT_EQ(a.reached_groups({x}), b.reached_groups({x})) << "state " << x;
  const RewardModes m = reward_modes(cpu, &g);
  EXPECT_EQ(a.reached_groups(m.states, m.region), b.reached_groups(m.states, m.region));
}

}  // namespace
}  // namespace gfnrl
