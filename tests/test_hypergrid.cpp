// The hypergrid DAG against its definition: states, edges, actions, levels, rewards, path counts
// n(x) = (sum x)! / prod x_d!, and every parameter error.
#include <cstdlib>
#include <optional>

#include "rational.hpp"
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

// The field's reward, written independently of the library: the regions decided in rationals.
double reward(const std::vector<int>& x, int h, double r0, double r1, double r2) {
  return hypergrid_reward_exact(x, h, r0, r1, r2);
}

// The float64 reference codes' decision, |x/(H-1) - 0.5| in double: what the compatibility
// rule must reproduce cell by cell.
double reward_float64(const std::vector<int>& x, int h, double r0, double r1, double r2) {
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
  for (auto [d, h] : {std::pair{1, 6}, {2, 5}, {3, 4}, {2, 8}, {2, 16}, {3, 11}}) {
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

// x -> (H-1-x) on every coordinate maps the grid onto itself and |x/(H-1) - 1/2| onto itself, so
// R is mirror-symmetric in each coordinate: R(x) and R(x with x_k -> H-1-x_k) agree bit for bit.
// Returns the number of states that break it.
int64_t mirror_violations(const Dag& dag, const HypergridConfig& c) {
  const DagArrays a = dag.to_host();
  std::vector<int32_t> state_of(a.label.size());
  for (std::size_t s = 0; s < a.label.size(); ++s) state_of[a.label[s]] = static_cast<int32_t>(s);
  int64_t bad = 0;
  for (std::size_t s = 0; s < a.label.size(); ++s) {
    const int64_t code = a.label[s];
    int64_t stride = 1;
    for (int k = 0; k < c.ndim; ++k, stride *= c.height) {
      const int64_t x = code / stride % c.height;
      const int64_t mirrored = code + (c.height - 1 - 2 * x) * stride;
      bad += a.log_reward[s] != a.log_reward[state_of[mirrored]];
    }
  }
  return bad;
}

TEST(HypergridExact, RewardIsMirrorSymmetricForEveryHeight) {
  for (int d = 1; d <= 3; ++d)
    for (int h = 2; h <= 64; ++h) {
      const HypergridConfig c{d, h, 1e-3, 0.5, 2.0};
      EXPECT_EQ(mirror_violations(make_hypergrid(c, Backend::Cpu), c), 0) << "D=" << d << " H=" << h;
    }
  for (Backend b : test_backends()) {
    const HypergridConfig c{3, 31, 1e-3, 0.5, 2.0};
    EXPECT_EQ(mirror_violations(make_hypergrid(c, b), c), 0) << backend_name(b);
  }
}

TEST(HypergridExact, CoordinateRegionsEqualRationalDecisions) {
  // D = 1: R(x) alone tells which regions x is in; every height up to 200 and both backends.
  for (Backend b : test_backends())
    for (int h = 2; h <= 200; ++h) {
      const HypergridConfig c{1, h, 1e-3, 0.5, 2.0};
      const DagArrays a = make_hypergrid(c, b).to_host();
      for (std::size_t s = 0; s < a.label.size(); ++s) {
        const int x = static_cast<int>(a.label[s]);
        const double want = 1e-3 + (in_outer(x, h) ? 0.5 : 0) + (in_ring(x, h) ? 2.0 : 0);
        ASSERT_EQ(a.log_reward[s], static_cast<float>(std::log(want))) << "H=" << h << " x=" << x;
      }
    }
}

TEST(HypergridExact, RegionCountsOnH16EqualARationalCount) {
  // Brute force over {0..15}^2 with rationals: the ring is {2,13}^2 (x = 12 sits at exactly
  // 3/10, outside the open interval), the outer region {0..3, 12..15}^2.
  int64_t ring = 0, outer = 0;
  for (int x = 0; x < 16; ++x)
    for (int y = 0; y < 16; ++y) {
      ring += in_ring(x, 16) && in_ring(y, 16);
      outer += in_outer(x, 16) && in_outer(y, 16);
    }
  ASSERT_EQ(ring, 4);
  ASSERT_EQ(outer, 64);
  const HypergridConfig c{2, 16, 1e-3, 0.5, 2.0};
  const DagArrays a = make_hypergrid(c, Backend::Cpu).to_host();
  int64_t got_ring = 0, got_outer = 0;
  for (float lr : a.log_reward) {
    const double r = std::exp(double(lr));
    got_ring += r > 2.0;
    got_outer += r > 0.4;
  }
  EXPECT_EQ(got_ring, ring);
  EXPECT_EQ(got_outer, outer);
}

TEST(HypergridExact, LogPartitionOn2DH16) {
  // Z = 256 * 0.1 + 64 * 0.5 + 4 * 2 = 65.6; log Z = 4.18357569595...
  for (Backend b : test_backends()) {
    const double lz = log_partition(make_hypergrid({2, 16, 0.1, 0.5, 2.0}, b));
    EXPECT_NEAR(lz, 4.183575695950047, 1e-6) << backend_name(b);
  }
}

TEST(HypergridExact, Float64RuleReproducesTheFloat64Codes) {
  // The compatibility rule equals the double-precision decision cell by cell, which differs from
  // the definition on H = 16 (9 ring cells, log Z = log 75.6) and breaks mirror symmetry there.
  for (auto [d, h] : {std::pair{2, 16}, {2, 6}, {3, 11}, {2, 26}, {2, 9}}) {
    for (Backend b : test_backends()) {
      HypergridConfig c{d, h, 0.1, 0.5, 2.0};
      c.regions = HypergridRegions::Float64;
      const DagArrays a = make_hypergrid(c, b).to_host();
      for (std::size_t s = 0; s < a.label.size(); ++s)
        ASSERT_EQ(a.log_reward[s],
                  static_cast<float>(std::log(reward_float64(coords(a.label[s], d, h), h, 0.1, 0.5, 2.0))))
            << "D=" << d << " H=" << h << " state " << s;
    }
  }
  HypergridConfig c{2, 16, 0.1, 0.5, 2.0};
  c.regions = HypergridRegions::Float64;
  const Dag dag = make_hypergrid(c, Backend::Cpu);
  EXPECT_NEAR(log_partition(dag), std::log(75.6), 1e-6);
  EXPECT_GT(mirror_violations(dag, c), 0);
  EXPECT_EQ(parse_hypergrid_regions("float64"), HypergridRegions::Float64);
  EXPECT_STREQ(hypergrid_regions_name(HypergridRegions::Exact), "exact");
  EXPECT_THROW(parse_hypergrid_regions("float32"), InputError);
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
  HypergridConfig bad_rule{2, 8};
  bad_rule.regions = static_cast<HypergridRegions>(4);
  expect_config_error(bad_rule, "regions = 4 is out of range [0, 1]");
}

// make_hypergrid(c) under GFNRL_MEMORY_LIMIT = limit: the AllocationError it threw, if any.
std::optional<AllocationError> memory_refusal(const HypergridConfig& c, const char* limit) {
  ::setenv("GFNRL_MEMORY_LIMIT", limit, 1);
  std::optional<AllocationError> refused;
  try {
    make_hypergrid(c, Backend::Cpu);
  } catch (const AllocationError& e) {
    refused = e;
  }
  ::unsetenv("GFNRL_MEMORY_LIMIT");
  return refused;
}

// Edge ids are int64: a grid past 2^31-1 edges (but not states) is a question of memory only,
// and its estimate counts the 8-byte CSC edge ids.
TEST(HypergridErrors, MoreThan2To31EdgesIsRefusedByMemoryNotByIndexWidth) {
  const HypergridConfig c{2, 40000};  // 1.6e9 states, 2 * 40000 * 39999 edges
  EXPECT_NO_THROW(validate(c));
  EXPECT_EQ(hypergrid_num_edges(c), int64_t(2) * 40000 * 39999);
  EXPECT_GT(hypergrid_num_edges(c), kMaxIndex);
  EXPECT_EQ(estimate_hypergrid_bytes(c),
            std::size_t(1600000000) * 72 + std::size_t(3199920000) * 48 + (std::size_t(1) << 20));
  const std::optional<AllocationError> e = memory_refusal(c, "1000000000");
  ASSERT_TRUE(e) << "expected AllocationError";
  EXPECT_EQ(e->bytes_needed(), estimate_hypergrid_bytes(c));
}

TEST(HypergridErrors, RefusesSizesOverTheMemoryBudgetWithTheEstimate) {
  HypergridConfig c{4, 20};
  const std::optional<AllocationError> e = memory_refusal(c, "1000000");
  ASSERT_TRUE(e) << "expected AllocationError";
  EXPECT_EQ(e->bytes_needed(), estimate_hypergrid_bytes(c));
  EXPECT_LE(e->bytes_available(), 1000000u);
  EXPECT_NE(std::string(e->what()).find("needs an estimated"), std::string::npos) << e->what();
}

}  // namespace
}  // namespace gfnrl::test
