// P_T per terminating state as CSV (gfnrl eval --out-pt, gfnrl train --snapshot-every): the uniform
// policy's P_T and R/Z recomputed here from the hypergrid's definition, snapshots against the
// saved policy's evaluation, and bad combinations refused before any work.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli_runner.hpp"

namespace {

const char* kGrid = "--ndim 2 --height 4 --backend cpu --quiet";

// The standard reward of a grid point, decided in integers: with u = |2x - (H-1)|,
// |x/(H-1) - 1/2| = u / (2(H-1)), so 0.25 < . iff 2u > H-1, and 0.3 < . < 0.4 iff
// 6(H-1) < 10u < 8(H-1).
double reward(const std::vector<int>& x, int h) {
  bool outer = true, band = true;
  for (int v : x) {
    const int u = std::abs(2 * v - (h - 1));
    outer = outer && 2 * u > h - 1;
    band = band && 6 * (h - 1) < 10 * u && 10 * u < 8 * (h - 1);
  }
  return 1e-3 + 0.5 * outer + 2.0 * band;
}

// 1-based ranks, ties at their average, counted pair by pair.
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<double> r;
  for (double a : v) {
    double below = 0, equal = 0;
    for (double b : v) below += b < a, equal += b == a;
    r.push_back(1 + below + (equal - 1) / 2);
  }
  return r;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0, ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ma += a[i] / a.size(), mb += b[i] / b.size();
  for (std::size_t i = 0; i < a.size(); ++i)
    ab += (a[i] - ma) * (b[i] - mb), aa += (a[i] - ma) * (a[i] - ma), bb += (b[i] - mb) * (b[i] - mb);
  return ab / std::sqrt(aa * bb);
}

TEST(CliDistribution, EvalOutPtIsTheUniformPolicysTerminatingDistributionAndRoverZ) {
  const std::string out = temp_path("pt.csv");
  const Result r = run("eval --policy uniform --json --out-pt " + out + " " + kGrid);
  ASSERT_EQ(r.code, 0) << r.err;
  const int h = 4;
  // Uniform over the valid actions (each +1 that stays inside, and the exit), by dynamic
  // programming over x0 + x1 (the grid's levels).
  std::map<std::pair<int, int>, double> visit{{{0, 0}, 1.0}}, pt;
  for (int level = 0; level <= 2 * (h - 1); ++level)
    for (int a = 0; a < h; ++a) {
      const int b = level - a;
      if (b < 0 || b >= h) continue;
      const double p = visit[{a, b}];
      const int n = 1 + (a < h - 1) + (b < h - 1);
      pt[{a, b}] = p / n;
      if (a < h - 1) visit[{a + 1, b}] += p / n;
      if (b < h - 1) visit[{a, b + 1}] += p / n;
    }
  double z = 0;
  for (const auto& [x, p] : pt) z += reward({x.first, x.second}, h);
  const auto rows = read_csv(out);
  ASSERT_EQ(rows[0], (std::vector<std::string>{"state", "label", "x0", "x1", "p_t", "target"}));
  ASSERT_EQ(rows.size(), 1u + h * h);
  std::set<std::pair<int, int>> seen;
  double tv = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const std::pair<int, int> x{std::stoi(rows[i][2]), std::stoi(rows[i][3])};
    seen.insert(x);
    EXPECT_NEAR(std::stod(rows[i][4]), pt[x], 1e-6) << rows[i][2] << "," << rows[i][3];
    EXPECT_NEAR(std::stod(rows[i][5]), reward({x.first, x.second}, h) / z, 1e-6);
    tv += 0.5 * std::abs(std::stod(rows[i][4]) - std::stod(rows[i][5]));
  }
  EXPECT_EQ(seen.size(), std::size_t(h * h));  // every grid point once
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_NEAR(tv, j["tv"].get<double>(), 1e-6);
  // Spearman from the CSV (9 digits tell every float apart and keep its ties).
  std::vector<double> q, p;
  for (std::size_t i = 1; i < rows.size(); ++i)
    q.push_back(std::stod(rows[i][4])), p.push_back(std::stod(rows[i][5]));
  EXPECT_NEAR(j["spearman"].get<double>(), pearson(ranks(q), ranks(p)), 1e-12);
}

TEST(CliDistribution, TrainSnapshotsAreRunZerosPolicyAtThoseSteps) {
  const std::string snaps = temp_path("snaps.csv"), policy = temp_path("run0.policy"),
                    final_pt = temp_path("final_pt.csv");
  const Result r = run("train --algo db --runs 2 --steps 12 --eval-every 4 --snapshot-every 5 "
                       "--snapshot-out " + snaps + " --save-policy " + policy +
                       " --out /dev/null " + kGrid);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = read_csv(snaps);
  ASSERT_EQ(rows[0][0], "step");
  std::map<std::string, std::vector<std::string>> by_step;  // step -> p_t column
  for (std::size_t i = 1; i < rows.size(); ++i) by_step[rows[i][0]].push_back(rows[i][5]);
  EXPECT_EQ(by_step.size(), 4u);  // steps 0, 5, 10 and the last, 12
  for (const char* s : {"0", "5", "10", "12"}) EXPECT_EQ(by_step[s].size(), 16u) << s;
  EXPECT_NE(by_step["0"], by_step["12"]);
  ASSERT_EQ(run("eval --policy " + policy + " --out-pt " + final_pt + " " + kGrid).code, 0);
  std::vector<std::string> evaluated;
  for (const auto& row : read_csv(final_pt)) evaluated.push_back(row[4]);
  evaluated.erase(evaluated.begin());
  EXPECT_EQ(by_step["12"], evaluated);
}

TEST(CliDistribution, SnapshotFlagsGoTogetherAndRefuseABasePolicyTarget) {
  const std::string snaps = temp_path("refused_snaps.csv");
  for (const std::string& args :
       {std::string("train --snapshot-every 5 --out /dev/null "),
        "train --snapshot-out " + snaps + " --out /dev/null ",
        "train --algo rtb --snapshot-every 5 --snapshot-out " + snaps + " --out /dev/null "}) {
    const Result r = run(args + kGrid);
    EXPECT_EQ(r.code, 2) << args << r.err;
    EXPECT_NE(r.err.find("--snapshot"), std::string::npos) << r.err;
    EXPECT_FALSE(any_file_with_prefix(snaps)) << args;
  }
}

}  // namespace
