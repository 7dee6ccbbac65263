// `gfnrl train` and `gfnrl study` as a user runs them: the CSV contract, reproducibility, the
// JSON summary, and bad input (exit 2 or 1, one line, no output file left behind).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"

namespace {

const char* kSmall = "--ndim 2 --height 6 --backend cpu --quiet";

TEST(CliTrain, CsvContractAndJsonSummary) {
  const std::string out = temp_path("curve.csv");
  const Result r = run(std::string("train --algo subtb --runs 3 --seed 5 --steps 60 --batch 8 "
                                   "--eval-every 20 --tv-threshold 0.3 --json --out ") +
                       out + " " + kSmall);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = read_csv(out);
  ASSERT_EQ(rows.size(), 1u + 3 * 4);  // header + 3 runs x evaluations at steps 0, 20, 40, 60
  EXPECT_EQ(rows[0], (std::vector<std::string>{"algo", "run", "seed", "step", "trajectories", "tv",
                                               "kl", "jsd", "log_z_error", "elbo", "eubo",
                                               "corr", "spearman", "mode_mass", "modes_found",
                                               "mode_regions_found", "seconds"}));
  std::set<std::string> seeds;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 17u);
    EXPECT_EQ(rows[i][12], "");  // spearman: only with --spearman
    EXPECT_EQ(rows[i][0], "subtb");
    seeds.insert(rows[i][2]);
    EXPECT_EQ(std::stoll(rows[i][4]), 8 * std::stoll(rows[i][3]));
    const double tv = std::stod(rows[i][5]);
    EXPECT_GE(tv, 0.0);
    EXPECT_LE(tv, 1.0);
    EXPECT_LE(std::stod(rows[i][9]), 1e-5);  // ELBO <= 0 <= EUBO, up to float rounding
    EXPECT_GE(std::stod(rows[i][10]), -1e-5);
    EXPECT_LE(std::abs(std::stod(rows[i][11])), 1.0 + 1e-9);  // a correlation
    EXPECT_GT(std::stod(rows[i][13]), 0.0);                   // P_T > 0 on the modes
  }
  EXPECT_EQ(seeds, (std::set<std::string>{"5", "6", "7"}));
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["command"], "train");
  EXPECT_EQ(j["algo"], "subtb");
  EXPECT_EQ(j["runs"], 3);
  EXPECT_EQ(j["trajectories_per_run"], 480);
  EXPECT_EQ(j["final_tv"].size(), 3u);
  EXPECT_NEAR(j["final_tv"][2].get<double>(), std::stod(rows.back()[5]), 1e-8);  // CSV: 9 digits
  // trajectories_to_tv: per run, the first CSV row with TV <= 0.3 (rows are step-major).
  EXPECT_EQ(j["tv_threshold"], 0.3);
  for (int run = 0; run < 3; ++run) {
    nlohmann::json want;  // null: never
    for (std::size_t i = 1; i < rows.size() && want.is_null(); ++i)
      if (std::stoi(rows[i][1]) == run && std::stod(rows[i][5]) <= 0.3)
        want = std::stoll(rows[i][4]);
    EXPECT_EQ(j["trajectories_to_tv"][run], want) << "run " << run;
  }
  // Modes of the 2-D H=6 standard reward: |x/5 - 1/2| > 1/4 on both axes, x in {0, 1, 4, 5} (the
  // band 0.3 < . < 0.4 holds no point: x = 1 sits exactly on 0.3), so 16 states of R0 + R1, 4 per
  // corner region. modes_found never decreases; a region counts once any of its modes is found.
  EXPECT_EQ(j["num_modes"], 16);
  EXPECT_EQ(j["num_mode_regions"], 4);
  std::map<std::string, int> last_found;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const int found = std::stoi(rows[i][14]), regions = std::stoi(rows[i][15]);
    EXPECT_LE(regions, std::min(found, 4));
    EXPECT_GE(regions, (found + 3) / 4);  // at most 4 modes per region
    EXPECT_GE(found, last_found[rows[i][1]]);
    EXPECT_LE(found, 16);
    last_found[rows[i][1]] = found;
  }
  for (int run = 0; run < 3; ++run)
    EXPECT_EQ(j["final_modes_found"][run], last_found[std::to_string(run)]);
  std::remove(out.c_str());
}

// The wall-clock `seconds` column is the only one allowed to differ between two runs.
TEST(CliTrain, SameSeedTwiceGivesIdenticalCsv) {
  for (const char* algo : {"tb", "softdqn"}) {
    std::vector<std::vector<std::vector<std::string>>> csvs;
    for (int k = 0; k < 2; ++k) {
      const std::string out = temp_path(std::string("repeat") + std::to_string(k) + algo + ".csv");
      const Result r = run(std::string("train --algo ") + algo +
                           " --runs 2 --steps 40 --eval-every 10 --learning-starts 4 --out " + out +
                           " " + kSmall);
      ASSERT_EQ(r.code, 0) << r.err;
      auto rows = read_csv(out);
      for (auto& row : rows) row.pop_back();  // seconds
      csvs.push_back(rows);
      std::remove(out.c_str());
    }
    EXPECT_EQ(csvs[0], csvs[1]) << algo;
    EXPECT_GT(csvs[0].size(), 5u);
  }
}

// --spearman fills the column with the rank correlation of each run's P_T: at the end, run 0's
// equals what `eval` reports for the policy train saved (a separate solve of the same policy).
TEST(CliTrain, SpearmanColumnEqualsEvalOfTheSavedPolicy) {
  const std::string out = temp_path("spearman.csv"), policy = temp_path("spearman-policy.txt");
  const Result r = run("train --algo tb --runs 2 --steps 40 --eval-every 20 --spearman --out " +
                       out + " --save-policy " + policy + " --json " + kSmall);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = read_csv(out);
  ASSERT_EQ(rows[0][12], "spearman");
  ASSERT_EQ(rows.size(), 1u + 2 * 3);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const double rho = std::stod(rows[i][12]);
    EXPECT_LE(std::abs(rho), 1.0 + 1e-12) << i;
  }
  const Result e = run("eval --policy " + policy + " --json " + kSmall);
  ASSERT_EQ(e.code, 0) << e.err;
  const double want = nlohmann::json::parse(e.out)["spearman"].get<double>();
  const auto& last0 = rows[rows.size() - 2];  // run 0 at step 40
  ASSERT_EQ(last0[1], "0");
  ASSERT_EQ(last0[3], "40");
  EXPECT_NEAR(std::stod(last0[12]), want, 1e-8);
  EXPECT_NEAR(nlohmann::json::parse(r.out)["final_spearman"][0].get<double>(), want, 1e-12);
  std::remove(out.c_str());
  std::remove(policy.c_str());
}

// --regression reaches the loss: a linex run differs from the squared one from the first update
// on, the JSON names the shape, and huber with a huge k is the squared loss exactly (no residual
// reaches k).
TEST(CliTrain, RegressionShapesTheLossAndIsRecorded) {
  auto tv_column = [](const std::string& args) {
    const std::string out = temp_path("shape.csv");
    const Result r = run("train --algo db --runs 1 --steps 20 --eval-every 10 --json --out " +
                         out + " " + args + " " + kSmall);
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<std::string> tv;
    for (const auto& row : read_csv(out)) tv.push_back(row[5]);
    std::remove(out.c_str());
    return std::make_pair(tv, nlohmann::json::parse(r.out));
  };
  const auto [squared, js] = tv_column("");
  const auto [linex, jl] = tv_column("--regression linex:0.5");
  const auto [huge, jh] = tv_column("--regression huber:1e30");
  EXPECT_EQ(js["regression"], "squared");
  EXPECT_EQ(jl["regression"], "linex");
  EXPECT_EQ(jl["regression_param"], 0.5);
  EXPECT_EQ(squared[1], linex[1]);  // step 0: the same uniform policy
  EXPECT_NE(squared[2], linex[2]);
  EXPECT_EQ(huge, squared);
}

// fldb / flsubtb name db / subtb with --forward-looking: the same curves, bit for bit, in train
// and in study (where the flag would apply to every db and subtb).
TEST(CliTrain, ForwardLookingLearnerNamesEqualTheFlag) {
  const char* grid = "--env subsets --items 4 --backend cpu --quiet --runs 2 --steps 30 --eval-every 10";
  for (const auto& [name, algo] : {std::pair<std::string, std::string>{"fldb", "db"}, {"flsubtb", "subtb"}}) {
    const std::string a = temp_path("named.csv"), b = temp_path("flag.csv");
    ASSERT_EQ(run("train --algo " + name + " " + grid + " --out " + a).code, 0);
    ASSERT_EQ(run("train --algo " + algo + " --forward-looking " + grid + " --out " + b).code, 0);
    const auto named = read_csv(a), flag = read_csv(b);
    ASSERT_EQ(named.size(), flag.size());
    for (std::size_t i = 1; i < named.size(); ++i)  // every column after the name, seconds aside
      for (std::size_t k = 1; k + 1 < named[i].size(); ++k) EXPECT_EQ(named[i][k], flag[i][k]) << name << " row " << i;
    EXPECT_EQ(named[1][0], name);
    std::remove(a.c_str()), std::remove(b.c_str());
  }
  const std::string s = temp_path("study.csv");
  ASSERT_EQ(run(std::string("study --algos db,fldb ") + grid + " --out " + s).code, 0);
  std::map<std::string, std::string> final_tv;
  for (const auto& row : read_csv(s)) final_tv[row[0]] = row[5];
  EXPECT_NE(final_tv.at("db"), final_tv.at("fldb"));
  std::remove(s.c_str());
}

// Forward-looking flows on ising (intermediate log-rewards: the spins set so far) train; on
// bitseq, which defines none, they are refused with exit 2 and one line naming the state, before
// any output is written.
TEST(CliTrain, ForwardLookingFlowsTrainOnIsingAndAreRefusedOnBitseq) {
  const std::string out = temp_path("fl.csv");
  ASSERT_EQ(run("train --algo fldb --env ising --spins 4 --backend cpu --quiet --runs 2 --steps 20 "
                "--out " + out).code, 0);
  std::remove(out.c_str());
  const auto r = run("train --algo fldb --env bitseq --backend cpu --quiet --steps 20 --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("forward-looking flows need log R(s) or an intermediate log-reward -E(s) "
                       "at every state, but state 0 has neither"), std::string::npos) << r.err;
  EXPECT_FALSE(std::ifstream(out).good());
}

// A diverging run (a rate far too large) is found at the evaluation where its tables went
// non-finite: train stops there, keeps the CSV up to and including that evaluation (the diverged
// runs' cells nan), names run, seed and steps, and exits 1; study lets the other learners finish;
// tune scores the diverged settings worst and goes on, and fails only when every setting of a
// learner diverged.
TEST(CliTrain, ADivergedRunStopsTrainingKeepsTheCsvAndExitsOne) {
  const std::string out = temp_path("diverged.csv");
  const std::string grid = " --ndim 2 --height 8 --backend cpu --quiet --batch 4 --runs 2 ";
  Result r = run("train --lr-log-z 1e23 --steps 400 --eval-every 20 --json" + grid + "--out " + out);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("2 runs diverged"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tb run 1 (seed 1): diverged between steps 0 and 20"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Training stopped at that evaluation"), std::string::npos) << r.err;
  const auto rows = read_csv(out);
  ASSERT_EQ(rows.size(), 5u) << "header, step 0 and step 20 of two runs";
  EXPECT_EQ(rows[3][3], "20");
  EXPECT_EQ(rows[3][5], "nan");
  EXPECT_NE(rows[1][5], "nan");
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["diverged_runs"].size(), 2u);
  EXPECT_EQ(j["diverged_runs"][1]["diverged_at"], 20);
  EXPECT_EQ(j["stopped_early"], true);
  // --lr 1e23 goes NaN a few steps in; a last-step divergence is not "stopped".
  r = run("train --lr 1e23 --steps 3 --eval-every 1 --batch 2 --ndim 2 --height 4 --backend cpu "
          "--quiet --out " + out);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("diverged between steps 2 and 3"), std::string::npos) << r.err;
  // study: tb diverges and stops, db (no log Z) trains to the end.
  r = run("study --algos tb,db --lr-log-z 1e23 --steps 100 --eval-every 20" + grid + "--out " + out);
  EXPECT_EQ(r.code, 1) << r.err;
  std::map<std::string, int> last_step;
  for (const auto& row : read_csv(out))
    if (row[0] != "algo") last_step[row[0]] = std::max(last_step[row[0]], std::stoi(row[3]));
  EXPECT_EQ(last_step["tb"], 20);
  EXPECT_EQ(last_step["db"], 100);
  // tune: the diverging setting is scored worst, the other one is the best; exit 0.
  const std::string best = temp_path("diverged.json");
  r = run("tune --algos tb --lr 0.01 --lr-log-z 0.1,1e23 --epsilon 0 --seeds 1 --steps 40 "
          "--eval-every 20 --ndim 2 --height 8 --backend cpu --quiet --out " + out + " --best " + best);
  EXPECT_EQ(r.code, 0) << r.err;
  std::ifstream in(best);
  const nlohmann::json t = nlohmann::json::parse(in);
  EXPECT_DOUBLE_EQ(t["best"]["tb"]["lr_log_z"].get<double>(), 0.1);
  EXPECT_EQ(t["learners"][0]["settings"][1]["diverged_runs"], 1);
  EXPECT_TRUE(t["learners"][0]["settings"][1]["score"].is_null());
  // Every setting diverged: the files are written, and the exit is 1.
  r = run("tune --algos tb --lr 0.01 --lr-log-z 1e23 --epsilon 0 --seeds 1 --steps 40 "
          "--eval-every 20 --ndim 2 --height 8 --backend cpu --quiet --out " + out + " --best " + best);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("every setting of tb diverged"), std::string::npos) << r.err;
  EXPECT_TRUE(exists(best));
  std::remove(out.c_str());
  std::remove(best.c_str());
}

void expect_refused(const std::string& args, int code, const std::string& fragment,
                    const std::string& env = "") {
  const std::string out = temp_path("refused.csv");
  const Result r = run(args + " --out " + out, env);
  EXPECT_EQ(r.code, code) << args << "\n" << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << args << "\nstderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  EXPECT_FALSE(any_file_with_prefix(out)) << "a partial output was left behind: " << args;
}

TEST(CliTrain, BadInputExitsWithOneLineAndNoFile) {
  expect_refused(std::string("train --algo ppo ") + kSmall, 2, "ppo not in {tb,db,subtb");
  expect_refused(std::string("train --runs 0 ") + kSmall, 2, "--runs: Value 0 not in range");
  expect_refused(std::string("train --lr -0.01 ") + kSmall, 2,
                 "lr = -0.01 is out of range: must be finite and > 0");
  expect_refused(std::string("train --lr 0 ") + kSmall, 2, "lr = 0 is out of range");
  expect_refused(std::string("train --runs 3 --lr 0.1,0.2 ") + kSmall, 2, "one per run (3)");
  expect_refused(std::string("train --lr abc ") + kSmall, 2, "'abc' is not a finite number");
  expect_refused(std::string("train --eval-every 0 ") + kSmall, 2, "--eval-every = 0 must be >= 1");
  expect_refused(std::string("train --algo munchausen --alpha 1 ") + kSmall, 2,
                 "munchausen_alpha (--alpha) = 1 is out of range");
  expect_refused(std::string("train --tv-threshold 0 ") + kSmall, 2,
                 "--tv-threshold = 0 must be in (0, 1]");
  expect_refused(std::string("train --algo softdqn --priority rank ") + kSmall, 2,
                 "rank not in {huber-loss,abs-td}");
  expect_refused(std::string("train --preset medium ") + kSmall, 2,
                 "medium not in {standard,hard,policy-gradient,torchgfn}");
  expect_refused(std::string("study --algos tb,ppo ") + kSmall, 2, "unknown algorithm 'ppo'");
  expect_refused(std::string("train --regression cubic ") + kSmall, 2,
                 "--regression 'cubic': unknown shape 'cubic' (allowed: squared, absolute, huber, "
                 "linex, shifted-cosh)");
  expect_refused(std::string("train --regression linex:0 ") + kSmall, 2,
                 "the parameter '0' must be a finite number != 0");
  expect_refused(std::string("train --regression huber:-1 ") + kSmall, 2,
                 "the parameter '-1' must be a finite number > 0");
  // linex with a < 0 (zero-forcing) is accepted, as torchgfn allows.
  EXPECT_EQ(run(std::string("train --regression linex:-0.5 --steps 20 --out /dev/null ") + kSmall).code, 0);
  expect_refused(std::string("train --regression huber:x ") + kSmall, 2, "--regression 'huber:x': 'x' is not a finite number");
  expect_refused(std::string("train --regression absolute:2 ") + kSmall, 2,
                 "absolute takes no parameter");
  expect_refused(std::string("train --algo softdqn --regression linex ") + kSmall, 2,
                 "softdqn has its own loss");
  expect_refused(std::string("train --algo mdb --forward-looking ") + kSmall, 2,
                 "mdb is fl-db with log F~(s) = -log P_F(exit|s)");
  expect_refused(std::string("train --algo fm --pb maxent ") + kSmall, 2,
                 "backward policy maxent: fm has no backward policy");
  expect_refused(std::string("train --algo fm --pb tlm ") + kSmall, 2,
                 "backward mode tlm: fm has no backward policy to train");
  expect_refused(std::string("train --algo fm --prior uniform ") + kSmall, 2,
                 "fm does not take one");
  expect_refused(std::string("train --algo db --subtb-weighting tb ") + kSmall, 2,
                 "--subtb-weighting tb applies to subtb and trust-pcl; db has no sub-trajectories");
  expect_refused(std::string("train --algo subtb --subtb-weighting half ") + kSmall, 2,
                 "half not in {geometric-within,geometric,equal-within,equal,tb,db,modified-db,"
                 "geometric-batch}");
  expect_refused(std::string("train --batch 10000000 --runs 100000 ") + kSmall, 1,
                 "out of memory: training 100000 runs of tb needs");
  expect_refused(std::string("train ") + kSmall, 1, "needs", "GFNRL_MEMORY_LIMIT=20000");
}

TEST(CliTrain, UnwritableOutputExitsTwoBeforeAnyWork) {
  const Result r = run(std::string("train --out /nonexistent-dir/curve.csv ") + kSmall);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--out '/nonexistent-dir/curve.csv': the directory '/nonexistent-dir' does "
                       "not exist"),
            std::string::npos)
      << r.err;
}

TEST(CliTrain, PresetSetsTheSeedsGridAndFlagsOverrideIt) {
  const std::string out = temp_path("preset.csv");
  const Result r = run("train --preset hard --height 5 --steps 0 --json --quiet --backend cpu --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ndim"], 4);
  EXPECT_EQ(j["height"], 5);
  EXPECT_DOUBLE_EQ(j["r0"].get<double>(), 1e-4);
  EXPECT_DOUBLE_EQ(j["r2"].get<double>(), 3.0);
  // Niu et al.'s grid.
  const Result pg = run("train --algo pg --preset policy-gradient --steps 0 --json --quiet --out " + out);
  ASSERT_EQ(pg.code, 0) << pg.err;
  const auto k = nlohmann::json::parse(pg.out);
  EXPECT_EQ(k["ndim"], 2);
  EXPECT_EQ(k["height"], 256);
  EXPECT_DOUBLE_EQ(k["r0"].get<double>(), 1e-2);
  EXPECT_EQ(k["num_states"], 65536);
  std::remove(out.c_str());
}

TEST(CliStudy, EveryLearnerInOneCsv) {
  const std::string out = temp_path("study.csv");
  const Result r = run("study --runs 2 --steps 30 --eval-every 10 --learning-starts 2 --json --out " +
                       out + " " + kSmall);
  ASSERT_EQ(r.code, 0) << r.err;
  std::set<std::string> algos;
  for (const auto& row : read_csv(out)) algos.insert(row[0]);
  EXPECT_EQ(algos, (std::set<std::string>{"algo", "tb", "db", "subtb", "softdqn", "munchausen"}));
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["learners"].size(), 5u);
  std::remove(out.c_str());
}

}  // namespace

namespace {

TEST(CliTrain, BackwardPolicyChoices) {
  const std::string out = temp_path("pb.csv");
  for (const char* pb : {"uniform", "maxent", "none", "learned", "tlm"}) {
    const Result r = run(std::string("train --algo db --pb ") + pb + " --runs 1 --steps 200 " +
                         "--eval-every 100 --lr-backward 0.05 --out " + out + " --json " + kSmall);
    ASSERT_EQ(r.code, 0) << pb << "\n" << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["pb"], pb);
  }
  for (const auto& [args, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"--pb tlm --correction maxent", "excludes"},
           {"--pb sampled", "sampled not in"},
           {"--pb learned --lr-backward 0", "lr_backward = 0 is out of range"},
           {"--pb tlm --tlm-decay 2", "tlm_lr_decay (--tlm-decay) = 2 is out of range"},
           {"--pb coupled", "applies to pg and ac"},
           {"--algo pg --pb guided --exact-gradient", "trains P_B on sampled trajectories"}}) {
    const Result r = run("train " + args + " --steps 10 --out " + temp_path("never.csv") + " " + kSmall);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << args << "\n" << r.err;
  }
  EXPECT_FALSE(exists(temp_path("never.csv")));
  // Niu et al.'s coupled and guided P_B, for pg and ac.
  for (const char* pb : {"coupled", "guided"}) {
    const Result r = run(std::string("train --algo ac --pb ") + pb + " --runs 1 --steps 50 " +
                         "--eval-every 50 --guide-log-reward -5 --out " + out + " --json " + kSmall);
    ASSERT_EQ(r.code, 0) << pb << "\n" << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["pb"], pb);
  }
  // A trained P_B saved with the DAG (--save-pb) is a valid fixed P_B for later runs: the
  // corrected soft-optimal policy on it samples R/Z, and it is not the uniform one it started as.
  const std::string saved = temp_path("trained-pb.txt");
  Result r = run("train --algo ac --pb coupled --runs 1 --steps 300 --eval-every 300 --out " + out +
                 " --save-pb " + saved + " " + kSmall);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("solve --dag " + saved + " --correction file --json --backend cpu --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(nlohmann::json::parse(r.out)["tv"].get<double>(), 1e-5);
  std::ifstream in(saved);
  std::map<int, int> parents;
  std::vector<std::pair<int, double>> pb_of_edge;  // (child, log P_B)
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string kind;
    int from = 0, to = 0, action = 0;
    double lpb = 0;
    if (ls >> kind && kind == "edge" && ls >> from >> to >> action >> lpb) {
      ++parents[to];
      pb_of_edge.push_back({to, lpb});
    }
  }
  ASSERT_FALSE(pb_of_edge.empty());
  double moved = 0;
  for (const auto& [child, lpb] : pb_of_edge)
    moved = std::max(moved, std::abs(lpb + std::log(double(parents[child]))));
  EXPECT_GT(moved, 1e-3) << "the saved P_B is the trained one";
  r = run("train --pb file --dag " + saved + " --runs 1 --steps 20 --eval-every 10 --out " + out +
          " --backend cpu --quiet");
  EXPECT_EQ(r.code, 0) << r.err;
  r = run("train --save-pb " + temp_path("pb.json") + " --steps 10 --out " + temp_path("never3.csv") +
          " " + kSmall);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("name it .txt (text) or .bin"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(temp_path("never3.csv")));
}

}  // namespace

namespace {

TEST(CliStudy, BackwardPresetRunsEveryLearnerWithEveryPb) {
  const std::string out = temp_path("backward.csv");
  const Result r = run("study --preset backward --algos tb,softdqn,pg --runs 1 --steps 100 "
                       "--eval-every 100 --out " + out + " --json " + kSmall);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["preset"], "backward");
  ASSERT_EQ(j["learners"].size(), 14u) << "3 learners x 4 P_B, plus pg's coupled and guided";
  std::set<std::string> labels;
  for (const auto& row : read_csv(out)) labels.insert(row[0]);
  for (const char* pb : {"uniform", "maxent", "learned", "tlm"})
    for (const char* a : {"tb", "softdqn", "pg"})
      EXPECT_TRUE(labels.count(std::string(a) + "/" + pb)) << a << "/" << pb;
  EXPECT_TRUE(labels.count("pg/coupled") && labels.count("pg/guided"));
  EXPECT_FALSE(labels.count("tb/coupled")) << "coupled P_B is for pg and ac only";
  const Result bad = run("train --preset backward --out " + temp_path("b.csv") + " " + kSmall);
  EXPECT_EQ(bad.code, 2) << "backward is a study preset only";
  // learner/P_B entries give one learner its own P_B.
  const std::string mixed = temp_path("mixed.csv");
  const Result m = run("study --algos tb,ac/coupled,tb/tlm --runs 1 --steps 20 --eval-every 10 --out " +
                       mixed + " --json " + kSmall);
  ASSERT_EQ(m.code, 0) << m.err;
  std::set<std::string> got;
  for (const auto& row : read_csv(mixed)) got.insert(row[0]);
  EXPECT_EQ(got, (std::set<std::string>{"algo", "tb", "ac/coupled", "tb/tlm"}));
  for (const auto& [args, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"--algos tb/coupled", "applies to pg and ac"},
           {"--algos tb/sampled", "unknown P_B 'sampled'"},
           {"--algos tb/tlm --preset backward", "--preset backward sets every P_B itself"}}) {
    const Result r = run("study " + args + " --steps 10 --out " + temp_path("never4.csv") + " " + kSmall);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << args << "\n" << r.err;
  }
  EXPECT_FALSE(exists(temp_path("never4.csv")));
}

}  // namespace

namespace {

TEST(CliTrain, KlRegularisedLearnersAndPolicyFiles) {
  const std::string csv = temp_path("kl.csv"), mu = temp_path("mu.txt");
  // A trained run's policy becomes the prior of the next.
  Result r = run("train --algo tb --runs 1 --steps 300 --eval-every 100 --out " + csv +
                 " --save-policy " + mu + " --json " + kSmall);
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(exists(mu));
  // The saved policy, evaluated exactly by `gfnrl eval`, has the run's final TV.
  const double final_tv = nlohmann::json::parse(r.out)["final_tv"][0].get<double>();
  r = run("eval --policy " + mu + " --json " + kSmall);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NEAR(nlohmann::json::parse(r.out)["tv"].get<double>(), final_tv, 1e-6);
  EXPECT_GT(final_tv, 1e-3) << "a partly trained policy, not the optimum";
  r = run("eval --policy " + mu + " --json --ndim 3 --height 6 --backend cpu --quiet");
  EXPECT_EQ(r.code, 2) << "a policy file for another DAG";
  r = run("eval --policy /nonexistent/policy.txt " + std::string(kSmall));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/nonexistent/policy.txt is neither"), std::string::npos) << r.err;
  r = run("solve --prior " + mu + " --correction none --json " + kSmall);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["target"], "mu^T R");
  EXPECT_LT(j["tv"].get<double>(), 1e-5);
  EXPECT_NEAR(j["soft_vi_log_z"].get<double>(), j["log_z"].get<double>(), 1e-4);
  for (const std::string& args : std::vector<std::string>{"--algo rtb", "--algo trust-pcl", "--algo db --prior uniform",
                                 "--algo rtb --prior " + mu}) {
    r = run("train " + args + " --runs 1 --steps 200 --eval-every 100 --out " + csv + " --json " + kSmall);
    ASSERT_EQ(r.code, 0) << args << "\n" << r.err;
    j = nlohmann::json::parse(r.out);
    EXPECT_TRUE(j.contains("prior")) << args;
  }
  EXPECT_EQ(read_csv(csv)[1][0], "rtb");
  for (const auto& [args, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"--algo softdqn --prior uniform", "does not take one"},
           {"--algo rtb --pb tlm", "a base policy replaces the backward policy"},
           {"--algo tb --prior uniform --pb learned", "excludes"},
           {"--algo rtb --prior " + mu + " --ndim 3", "the DAG has"}}) {
    r = run("train " + args + " --steps 10 --out " + temp_path("never2.csv") + " --backend cpu --quiet" +
            (args.find("--ndim") == std::string::npos ? " --ndim 2 --height 6" : " --height 6"));
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << args << "\n" << r.err;
  }
  EXPECT_FALSE(exists(temp_path("never2.csv")));
}

}  // namespace

namespace {

TEST(CliTrain, PolicyGradientAndExactGradient) {
  const std::string csv = temp_path("pg.csv");
  for (const char* args : {"--algo pg", "--algo pg --exact-gradient", "--algo tb --exact-gradient"}) {
    const Result r = run(std::string("train ") + args + " --runs 1 --steps 200 --eval-every 100 --out " +
                         csv + " --json " + kSmall);
    ASSERT_EQ(r.code, 0) << args << "\n" << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["algo"], std::string(args).substr(7, 2));
    const bool exact = std::string(args).find("exact") != std::string::npos;
    EXPECT_EQ(j["trajectories_per_run"], exact ? 0 : 200 * 16) << "the exact gradient samples none";
    for (const auto& row : read_csv(csv))
      if (exact && row[0] != "algo") EXPECT_EQ(row[4], "0") << args;
  }
  const Result bad = run("train --algo db --exact-gradient --steps 10 --out " + temp_path("n.csv") + " " + kSmall);
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("exact expected gradient applies to pg and tb"), std::string::npos) << bad.err;
}

}  // namespace

namespace {

TEST(CliTrain, ActorCritic) {
  const Result r = run("train --algo ac --gae-lambda 0.9 --runs 1 --steps 100 --eval-every 50 --out " +
                       temp_path("ac.csv") + " --json " + kSmall);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["algo"], "ac");
  const Result bad = run("train --algo ac --gae-lambda 2 --steps 10 --out " + temp_path("n2.csv") + " " + kSmall);
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("gae_lambda = 2 is out of range"), std::string::npos) << bad.err;
}

}  // namespace
