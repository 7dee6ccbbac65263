// Environments on the command line: --env subsets|bitseq|dag-structure and --tree, --dag FILE on
// every subcommand, and `gfnrl convert`: a hand-written text DAG solved to its brute-force log Z,
// exported environments giving the generator's answers, and the CLI's errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace {

std::string tmp(const std::string& leaf) {
  return ::testing::TempDir() + "gfnrl_cli_dag_" + std::to_string(::getpid()) + "_" + leaf;
}

nlohmann::json json_of(const Result& r) { return nlohmann::json::parse(r.out); }

// Diamond 0 -> {1, 2} -> 3 plus 0 -> 3; R(1) = 1, R(3) = e^2. Paths to 3: three; with a uniform
// P_B the corrected problem samples R/Z exactly, log Z = log(1 + e^2).
const char* kDiamond =
    "gfnrl-dag 1\n"
    "# a hand-written diamond\n"
    "states 4\n"
    "edge 0 1 0\nedge 0 2 1\nedge 1 3 0\nedge 2 3 1\nedge 0 3 2\n"
    "log_reward 1 0\n"
    "log_reward 3 2   # trailing comment\n";

std::string write_diamond() {
  const std::string p = tmp("diamond.txt");
  std::ofstream(p) << kDiamond;
  return p;
}

TEST(CliDag, SolveAndEvalReadATextFile) {
  const std::string dag = write_diamond();
  const Result r = run("solve --dag " + dag + " --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = json_of(r);
  EXPECT_EQ(j["env"], "file");
  EXPECT_EQ(j["num_states"], 4);
  EXPECT_EQ(j["num_edges"], 5);
  EXPECT_NEAR(j["log_z"].get<double>(), std::log(1 + std::exp(2.0)), 1e-6);
  EXPECT_NEAR(j["soft_vi_log_z"].get<double>(), std::log(1 + std::exp(2.0)), 1e-5);
  EXPECT_LT(j["tv"].get<double>(), 1e-6);
  // Uncorrected: samples n(x)R(x) = {1, 3e^2}: TV = |3e^2/(1+3e^2) - e^2/(1+e^2)|.
  const Result u = run("eval --dag " + dag + " --policy optimal --correction none --json --quiet");
  ASSERT_EQ(u.code, 0) << u.err;
  const double e2 = std::exp(2.0);
  EXPECT_NEAR(json_of(u)["tv"].get<double>(), 3 * e2 / (1 + 3 * e2) - e2 / (1 + e2), 1e-5);
}

TEST(CliDag, ConvertRoundTripsAndExportsEnvironments) {
  const std::string dag = write_diamond(), bin = tmp("diamond.bin"), back = tmp("back.txt");
  Result r = run("convert --dag " + dag + " --out " + bin + " --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json_of(r)["format"], "binary");
  EXPECT_EQ(json_of(r)["bytes"], 64 + 12 * 5 + 12 * 2);
  r = run("convert --dag " + bin + " --out " + back + " --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const Result a = run("solve --dag " + back + " --json --quiet");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NEAR(json_of(a)["log_z"].get<double>(), std::log(1 + std::exp(2.0)), 1e-6);

  // A hypergrid exported with its maxent P_B solves like the generator with --correction maxent.
  const std::string grid = tmp("grid.bin");
  r = run("convert --env hypergrid --ndim 2 --height 6 --with-pb maxent --out " + grid + " --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const Result f = run("solve --dag " + grid + " --correction file --json --quiet");
  const Result g = run("solve --ndim 2 --height 6 --correction maxent --json --quiet");
  ASSERT_EQ(f.code, 0) << f.err;
  ASSERT_EQ(g.code, 0) << g.err;
  for (const char* k : {"num_states", "num_edges", "num_levels"})
    EXPECT_EQ(json_of(f)[k], json_of(g)[k]) << k;
  for (const char* k : {"log_z", "soft_vi_log_z", "expected_length"})
    EXPECT_NEAR(json_of(f)[k].get<double>(), json_of(g)[k].get<double>(), 1e-6) << k;
}

TEST(CliDag, TrainAndStudyAcceptADag) {
  const std::string grid = tmp("train-grid.txt"), csv = tmp("curve.csv");
  ASSERT_EQ(run("convert --env hypergrid --ndim 2 --height 5 --out " + grid + " --quiet").code, 0);
  Result r = run("train --dag " + grid + " --algo db --runs 2 --steps 300 --eval-every 100 --out " +
                 csv + " --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json_of(r)["env"], "file");
  EXPECT_EQ(json_of(r)["num_states"], 25);
  r = run("study --dag " + grid + " --algos tb,softdqn --runs 1 --steps 200 --eval-every 100 --out " +
          csv + " --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json_of(r)["learners"].size(), 2u);
}

TEST(CliDag, ErrorsExitTwoAndNameTheProblem) {
  const std::string dag = write_diamond();
  struct Case {
    std::string args, fragment;
  };
  const std::string bad = tmp("cyclic.txt");
  std::ofstream(bad) << kDiamond << "edge 3 2 4\n";
  const std::vector<Case> cases = {
      {"solve --dag " + dag + " --ndim 3", "--ndim describes a generated environment"},
      {"train --dag " + dag + " --preset hard --out " + tmp("x.csv"), "--preset hard describes a hypergrid"},
      {"solve --dag " + dag + " --correction file", "--correction file needs a --dag file whose edges carry"},
      {"solve --dag " + tmp("missing.txt"), "No such file or directory"},
      {"solve --dag " + bad, "cycle through state"},
      {"convert --dag " + dag + " --out " + tmp("noext"), "cannot tell the format"},
      {"convert --dag " + bad + " --out " + tmp("never.bin"), "cycle through state"},
  };
  for (const Case& c : cases) {
    const Result r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
  }
  std::ifstream never(tmp("never.bin"));
  EXPECT_FALSE(never.good()) << "an invalid input must not leave an output file";
}

TEST(CliEnvironments, EveryEnvironmentSolvesExactlyAndShowsTheUncorrectedBias) {
  struct Case {
    std::string args;
    int states;
  };
  for (const Case& c : std::vector<Case>{{"--env subsets --items 8", 256},
                                         {"--env bitseq --length 8 --word 2", 1 + 4 + 16 + 64 + 256},
                                         {"--env dag-structure --nodes 4", 543},
                                         {"--env dag-structure --nodes 4 --score bge", 543},
                                         {"--env subsets --items 4 --tree", 65},
                                         {"--env ising --spins 4", 81},
                                         {"--env set-addition --items 6 --max-items 3", 1 + 6 + 15 + 20},
                                         {"--env binary-tree --depth 4", 31}}) {
    const Result r = run("solve " + c.args + " --json --quiet");
    ASSERT_EQ(r.code, 0) << c.args << "\n" << r.err;
    const auto j = json_of(r);
    EXPECT_EQ(j["num_states"], c.states) << c.args;
    EXPECT_LT(j["tv"].get<double>(), 1e-5) << c.args;
    const Result u = run("solve " + c.args + " --correction none --json --quiet");
    ASSERT_EQ(u.code, 0) << u.err;
    if (c.args.find("--tree") != std::string::npos)
      EXPECT_LT(json_of(u)["tv"].get<double>(), 1e-5) << "on a tree the correction is a no-op";
    else if (c.args.find("ising") != std::string::npos || c.args.find("binary-tree") != std::string::npos)
      EXPECT_LT(json_of(u)["tv"].get<double>(), 1e-5) << "every terminating state has as many paths";
    else
      EXPECT_GT(json_of(u)["tv"].get<double>(), 0.05) << c.args << ": uncorrected must be biased";
  }
}

TEST(CliEnvironments, TrainOnSubsetsAndConvertATree) {
  const std::string csv = tmp("subsets.csv"), tree = tmp("tree.txt");
  const Result r = run("train --env subsets --items 5 --algo db --runs 2 --steps 200 --eval-every 100 "
                       "--out " + csv + " --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json_of(r)["env"], "subsets");
  EXPECT_EQ(json_of(r)["num_states"], 32);
  const Result c = run("convert --env bitseq --length 4 --word 2 --tree --out " + tree + " --json --quiet");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(json_of(c)["tree"], true);
  EXPECT_EQ(json_of(c)["num_edges"].get<int>() + 1, json_of(c)["num_states"].get<int>());
}

// The ising environment's log Z against the sum over its 2^n complete states written out here
// (the 2 x 2 torus: each spin's right and down neighbours, which coincide with its left and up),
// and fm trained on it; convert exports it.
TEST(CliEnvironments, IsingSolvesToItsPartitionFunctionAndTrains) {
  const double scale = 0.5 * 0.44;
  double z = 0;
  for (int x = 0; x < 16; ++x) {
    int s[4];
    for (int i = 0; i < 4; ++i) s[i] = ((x >> i) & 1) ? 1 : -1;
    // Bonds of the 2 x 2 torus: 0-1, 2-3 (rows), 0-2, 1-3 (columns), each counted twice in s^T J s.
    z += std::exp(scale * 2 * (s[0] * s[1] + s[2] * s[3] + s[0] * s[2] + s[1] * s[3]));
  }
  const Result r = run("solve --env ising --spins 4 --beta 0.5 --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NEAR(json_of(r)["log_z"].get<double>(), std::log(z), 1e-5);
  const std::string csv = tmp("ising.csv"), file = tmp("ising.txt");
  const Result t = run("train --env ising --spins 4 --algo fm --runs 2 --steps 300 --eval-every 300 "
                       "--out " + csv + " --json --quiet");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(json_of(t)["env"], "ising");
  EXPECT_LT(json_of(t)["final_tv_mean"].get<double>(), 0.05);
  const Result c = run("convert --env ising --spins 3 --coupling ring --out " + file + " --json --quiet");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(json_of(c)["num_states"], 27);
  const Result back = run("solve --dag " + file + " --json --quiet");
  ASSERT_EQ(back.code, 0) << back.err;
  const Result direct = run("solve --env ising --spins 3 --coupling ring --json --quiet");
  EXPECT_NEAR(json_of(back)["log_z"].get<double>(), json_of(direct)["log_z"].get<double>(), 1e-6);
}

TEST(CliEnvironments, ParametersOfAnotherEnvironmentAreRejected) {
  struct Case {
    std::string args, fragment;
  };
  for (const Case& c : std::vector<Case>{
           {"solve --items 4", "--items is a parameter of --env subsets or set-addition, not of --env hypergrid"},
           {"solve --env subsets --ndim 2", "--ndim is a parameter of --env hypergrid"},
           {"solve --env bitseq --length 7 --word 2", "not a multiple of word = 2"},
           {"solve --env dag-structure --nodes 7", "nodes = 7 is out of range [2, 5]"},
           {"solve --env subsets --items 30", "items = 30 is out of range [1, 24]"},
           {"train --env subsets --preset standard --out " + tmp("p.csv"), "--preset standard describes a hypergrid"},
           {"solve --env subsets --items 12 --tree", "more than the limit"},
           {"solve --env ising --spins 6", "ising spins = 6 is not a square L^2"},
           {"solve --env ising --coupling torus", "torus not in {ring,lattice,all}"},
           {"solve --beta 2", "--beta is a parameter of --env bitseq or ising or binary-tree, not of --env hypergrid"},
           {"solve --env subsets --spins 4", "--spins is a parameter of --env ising"},
           {"solve --env subsets --max-items 2", "--max-items is a parameter of --env set-addition"},
           {"solve --env set-addition --items 4 --max-items 5", "max_items = 5 is out of range [1, 4]"},
           {"solve --env binary-tree --depth 0", "depth = 0 is out of range [1, 24]"},
           {"solve --score bge", "--score is a parameter of --env dag-structure"},
           {"solve --env dag-structure --score bde", "bde not in {bic,bge}"}}) {
    const Result r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
  }
}

}  // namespace
