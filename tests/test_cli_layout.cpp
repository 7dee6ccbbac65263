// gfnrl solve / eval --layout: the implicit hypergrid layout against the CSR one through the CLI,
// the choice `auto` makes, the refusals, and grids past 2^31 states.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace gfnrl::test {
namespace {

nlohmann::json solve_json(const std::string& args, const std::string& env = "") {
  const Result r = run(args + " --backend cpu --json --quiet", env);
  EXPECT_EQ(r.code, 0) << args << "\n" << r.err;
  return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

TEST(CliLayout, ImplicitEqualsCsrForSolveAndEval) {
  for (const std::string cmd :
       {"solve --ndim 3 --height 9", "solve --ndim 2 --height 16 --correction none",
        "eval --ndim 4 --height 5 --policy uniform", "eval --ndim 2 --height 11 --policy optimal",
        "solve --ndim 2 --height 16 --regions float64 --r0 0.1"}) {
    SCOPED_TRACE(cmd);
    const auto a = solve_json(cmd);  // auto: implicit
    const auto c = solve_json(cmd + " --layout csr");
    ASSERT_FALSE(a.empty() || c.empty());
    EXPECT_EQ(a["layout"], "implicit");
    EXPECT_EQ(c["layout"], "csr");
    EXPECT_EQ(a["edge_ids"], "none");
    for (const char* k : {"num_states", "num_edges", "num_levels", "num_modes", "policy",
                          "ndim", "height", "regions", "r0"})
      EXPECT_EQ(a[k], c[k]) << k;
    for (const char* k : {"log_z", "tv", "kl", "kl_reverse", "jsd", "model_mass",
                          "expected_length", "corr", "mode_mass", "mode_mass_target", "elbo",
                          "eubo", "spearman"})
      EXPECT_NEAR(a[k].get<double>(), c[k].get<double>(), 5e-5 * (1 + std::abs(c[k].get<double>())))
          << k;
    EXPECT_NEAR(a["closed_form_log_z"].get<double>(), c["log_z"].get<double>(), 1e-6);
  }
}

TEST(CliLayout, AutoFallsBackToCsrAndImplicitRefusesWhatItCannotDo) {
  // auto keeps the CSR path for what the implicit layout does not do.
  EXPECT_EQ(solve_json("solve --ndim 2 --height 5 --correction maxent")["layout"], "csr");
  EXPECT_EQ(solve_json("solve --ndim 2 --height 5 --base-uniform")["layout"], "csr");
  EXPECT_FALSE(solve_json("solve --ndim 2 --height 5 --tree").contains("layout"));
  const std::string out = temp_path("layout_pt.csv");
  EXPECT_EQ(solve_json("solve --ndim 2 --height 5 --out-pt " + out)["layout"], "csr");
  // --layout implicit says why not, exit 2, before any work.
  for (const auto& [args, why] : std::vector<std::pair<std::string, std::string>>{
           {"--correction maxent", "takes --correction uniform or none, not maxent"},
           {"--tree", "not its --tree"},
           {"--base-uniform", "no base policy"},
           {"--out-pt " + temp_path("no.csv"), "no --out-pt"},
           {"--env subsets --items 3", "generated hypergrids only"}}) {
    const std::string ndim = args.find("subsets") == std::string::npos ? " --ndim 2 --height 5" : "";
    const Result r = run("solve --layout implicit --backend cpu --quiet" + ndim + " " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--layout csr"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(exists(temp_path("no.csv")));
  const Result bad = run("solve --layout dense --ndim 2 --height 5 --backend cpu --quiet");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("dense"), std::string::npos) << bad.err;
}

// 8-D H=16 has 4.3e9 states: past int32 ids, so the CSR layout refuses it (exit 2); the implicit
// one accepts the size and then refuses on memory, naming its estimate (exit 1), before
// allocating (a 1 GB limit). Both at once.
TEST(CliLayout, GridsPastTwoToTheThirtyOne) {
  const Result csr = run("solve --ndim 8 --height 16 --layout csr --backend cpu --quiet");
  EXPECT_EQ(csr.code, 2) << csr.err;
  EXPECT_NE(csr.err.find("2^31-1"), std::string::npos) << csr.err;
  const Result imp =
      run("solve --ndim 8 --height 16 --backend cpu --quiet", "GFNRL_MEMORY_LIMIT=1000000000 timeout 20");
  EXPECT_EQ(imp.code, 1) << imp.err;
  EXPECT_NE(imp.err.find("implicit hypergrid ndim=8 height=16 (4294967296 states) needs an "
                         "estimated"),
            std::string::npos)
      << imp.err;
}

// Every pass is the same arithmetic for any thread count: identical JSON but for the times.
TEST(CliLayout, SameResultsForAnyThreadCount) {
  auto one = solve_json("solve --ndim 4 --height 14", "GFNRL_THREADS=1");
  auto two = solve_json("solve --ndim 4 --height 14", "GFNRL_THREADS=2");
  for (auto* j : {&one, &two}) {
    j->erase("seconds");
    j->erase("build_seconds");
    j->erase("phase_seconds");
  }
  EXPECT_EQ(one.dump(), two.dump());
}

}  // namespace
}  // namespace gfnrl::test
