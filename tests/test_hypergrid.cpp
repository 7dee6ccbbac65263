// The hypergrid DAG against its definition: states, edges, actions, levels, rewards, path counts
// n(x) = (sum x)! / prod x_d!, and every parameter error.
#include <cstdlib>

#include "test_support.hpp"

namespace gfnrl::test {
namespace {

// The field's reward, written independently of the library.
double reward(const std::vector<int>& x, int h, double r0, double r1, double r2) {
  bool outer = true, ring = true;
  for (int v : x) {
    const double a = std::abs(double(v) / (h - 1) - 0.5);
    outer &= a > 0.25;
    ring &= a > 0.3 && a < 0.4;
  }
  return r0 + (outer ? r1 : 0) + (ring ? r2 : 0);
}

std::vector<int> coords(int64_t code, int d, int h) {
  std::vector<int> x(d);
  for (int i = 0; i < d; ++i, code /= h) x[i] = static_cast<int>(code % h);
  return x;
}

TEST(Hypergrid, MatchesDefinition) {
  for (auto [d, h] : {std::pair{1, 6}, {2, 5}, {3, 4}, {2, 8}}) {
    for (Backend b : test_backends()) {
      HypergridConfig c{d, h, 1e-3, 0.5, 2.0};
      const Dag dag = make_hypergrid(c, b);
      const DagArrays a = dag.to_host();
      int64_t n = 1;
      for (int i = 0; i < d; ++i) n *= h;
      ASSERT_EQ(dag.num_states(), n);
      ASSERT_EQ(dag.num_edges(), d * (n / h) * (h - 1));
      ASSERT_EQ(dag.num_levels(), d * (h - 1) + 1);
      EXPECT_EQ(dag.exit_action(), d);
      std::map<int64_t, int> id;  // code -> state
      for (int s = 0; s < n; ++s) id[a.label[s]] = s;
      ASSERT_EQ(static_cast<int64_t>(id.size()), n) << "labels must be a permutation";
      for (int l = 0; l < dag.num_levels(); ++l)
        for (int s = a.level_offsets[l]; s < a.level_offsets[l + 1]; ++s) {
          const auto x = coords(a.label[s], d, h);
          ASSERT_EQ(std::accumulate(x.begin(), x.end(), 0), l) << "state " << s;
          EXPECT_NEAR(a.log_reward[s], std::log(reward(x, h, 1e-3, 0.5, 2.0)), 1e-6);
          // Children: +1 on each coordinate below H-1, action = coordinate.
          std::set<std::pair<int, int>> want, got;
          int64_t stride = 1;
          for (int k = 0; k < d; ++k, stride *= h)
            if (x[k] < h - 1) want.insert({id[a.label[s] + stride], k});
          for (int e = a.child_offsets[s]; e < a.child_offsets[s + 1]; ++e)
            got.insert({a.child_index[e], a.child_action[e]});
          EXPECT_EQ(want, got) << "state " << s;
          for (int j = a.parent_offsets[s]; j < a.parent_offsets[s + 1]; ++j)
            EXPECT_EQ(a.child_index[a.parent_edge[j]], s);
        }
    }
  }
}

TEST(Hypergrid, KnownRewards) {
  // H = 8: |1/7 - 1/2| = 0.357 (outer and ring), |0 - 1/2| = 0.5 (outer), |3/7 - 1/2| = 0.07.
  EXPECT_NEAR(reward({1, 1}, 8, 1e-3, 0.5, 2.0), 2.501, 1e-12);
  HypergridConfig c{2, 8, 1e-3, 0.5, 2.0};
  const Dag dag = make_hypergrid(c, Backend::Cpu);
  const DagArrays a = dag.to_host();
  for (int s = 0; s < dag.num_states(); ++s) {
    const auto x = hypergrid_coordinates(c, a.label[s]);
    if (x == std::vector<int32_t>{1, 1}) EXPECT_NEAR(std::exp(a.log_reward[s]), 2.501, 1e-5);
    if (x == std::vector<int32_t>{0, 0}) EXPECT_NEAR(std::exp(a.log_reward[s]), 0.501, 1e-6);
    if (x == std::vector<int32_t>{3, 4}) EXPECT_NEAR(std::exp(a.log_reward[s]), 1e-3, 1e-8);
  }
}

TEST(Hypergrid, PathCountsAreMultinomials) {
  for (Backend b : test_backends()) {
    HypergridConfig c{3, 7, 1e-3, 0.5, 2.0};
    const Dag dag = make_hypergrid(c, b);
    const auto logn = log_path_counts(dag).to_host();
    const auto labels = dag.label().to_host();
    for (int s = 0; s < dag.num_states(); ++s) {
      const auto x = hypergrid_coordinates(c, labels[s]);
      double want = std::lgamma(x[0] + x[1] + x[2] + 1.0);
      for (int v : x) want -= std::lgamma(v + 1.0);
      EXPECT_NEAR(logn[s], want, 1e-12 * (1 + want)) << "state " << s;
    }
  }
}

TEST(Hypergrid, LogPartitionIsLogSumOfRewards) {
  for (Backend b : test_backends()) {
    HypergridConfig c{4, 9, 1e-4, 1.0, 3.0};
    double z = 0;
    for (int64_t code = 0; code < 9 * 9 * 9 * 9; ++code)
      z += reward(coords(code, 4, 9), 9, 1e-4, 1.0, 3.0);
    EXPECT_NEAR(log_partition(make_hypergrid(c, b)), std::log(z), 1e-6);
  }
}

void expect_config_error(HypergridConfig c, const std::string& fragment) {
  try {
    validate(c);
    ADD_FAILURE() << "expected InputError with '" << fragment << "'";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(HypergridErrors, ParametersOutOfRange) {
  expect_config_error({0, 8}, "ndim = 0 is out of range [1, 16]");
  expect_config_error({17, 2}, "ndim = 17 is out of range [1, 16]");
  expect_config_error({2, 1}, "height = 1 is out of range: must be >= 2");
  expect_config_error({2, 8, 0.0}, "r0 = 0.000000 is out of range: must be finite and > 0");
  expect_config_error({2, 8, std::nan("")}, "r0 = nan");
  expect_config_error({2, 8, 1e-3, -0.5}, "r1 = -0.500000 is out of range");
  expect_config_error({2, 8, 1e-3, 0.5, INFINITY}, "r2 = inf is out of range");
  expect_config_error({10, 10}, "more than 2^31-1 states");
  expect_config_error({2, 40000}, "3199920000 edges: state and edge counts must be at most 2^31-1");
}

TEST(HypergridErrors, RefusesSizesOverTheMemoryBudgetWithTheEstimate) {
  HypergridConfig c{4, 20};
  ::setenv("GFNRL_MEMORY_LIMIT", "1000000", 1);
  try {
    make_hypergrid(c, Backend::Cpu);
    ADD_FAILURE() << "expected AllocationError";
  } catch (const AllocationError& e) {
    EXPECT_EQ(e.bytes_needed(), estimate_hypergrid_bytes(c));
    EXPECT_LE(e.bytes_available(), 1000000u);
    EXPECT_NE(std::string(e.what()).find("needs an estimated"), std::string::npos) << e.what();
  }
  ::unsetenv("GFNRL_MEMORY_LIMIT");
}

}  // namespace
}  // namespace gfnrl::test
