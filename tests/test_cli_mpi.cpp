// `gfnrl train`, `study` and `tune` under mpirun: the CSV (and JSON, policy, P_B, snapshots) of 2
// and 3 ranks equal one process's byte for byte but the seconds column, uneven shares included; an
// error found before any work stops every rank with one message and exit 2; a rank that fails or
// is killed later ends the job non-zero with no output and no temporaries. Built only where CMake
// found MPI (CTest label "mpi").
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"

namespace {

// The launcher as a prefix of the command line (run() puts it before the CLI's path). Under
// tools/sanitize, LeakSanitizer would report Open MPI's own allocations at exit (MPI_Init's and
// its unloaded components', no frame of ours): leaks stay checked in the one-process runs of the
// same code, every other ASan check stays on here.
std::string ranks(int n) {
  return "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\" " +
         std::string(GFNRL_MPIEXEC) + " --oversubscribe --allow-run-as-root -np " +
         std::to_string(n);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The CSV without the seconds column (training time differs from run to run).
std::string without_seconds(const std::string& path) {
  const auto rows = read_csv(path);
  std::string out;
  const auto header = rows.empty() ? std::vector<std::string>{} : rows[0];
  std::size_t seconds = header.size();
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == "seconds") seconds = i;
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i)
      if (i != seconds) out += row[i] + ",";
    out += "\n";
  }
  return out;
}

// A JSON summary without what depends on the clock or the file name.
nlohmann::json without_timing(nlohmann::json j) {
  j.erase("out");
  auto strip = [](nlohmann::json& l) {
    for (const char* k : {"train_seconds", "eval_seconds", "steps_per_second"}) l.erase(k);
  };
  if (j.contains("learners"))
    for (auto& l : j["learners"]) strip(l);
  strip(j);
  return j;
}

const char* kGrid = "--ndim 2 --height 8 --backend cpu --quiet";

TEST(MpiTrain, RanksWriteTheOneProcessCsvPolicyAndSnapshots) {
  // 5 runs: 3 + 2 on two ranks, 2 + 2 + 1 on three.
  const std::string args = std::string("train --algo db --pb learned --runs 5 --seed 3 "
                                       "--steps 120 --eval-every 50 --lr 0.05,0.1,0.2,0.05,0.1 "
                                       "--json ") +
                           kGrid;
  std::vector<std::string> csvs, policies, snapshots, pbs;
  std::vector<nlohmann::json> summaries;
  for (int n : {1, 2, 3}) {
    const std::string out = temp_path("train" + std::to_string(n) + ".csv");
    const std::string policy = temp_path("policy" + std::to_string(n) + ".txt");
    const std::string snap = temp_path("snap" + std::to_string(n) + ".csv");
    const std::string pb = temp_path("pb" + std::to_string(n) + ".bin");
    const Result r = run(args + " --out " + out + " --save-policy " + policy +
                             " --snapshot-every 60 --snapshot-out " + snap + " --save-pb " + pb,
                         n == 1 ? "" : ranks(n));
    ASSERT_EQ(r.code, 0) << n << " ranks: " << r.err;
    csvs.push_back(without_seconds(out));
    policies.push_back(slurp(policy));
    snapshots.push_back(slurp(snap));
    pbs.push_back(slurp(pb));
    summaries.push_back(without_timing(nlohmann::json::parse(r.out)));
  }
  ASSERT_EQ(read_csv(temp_path("train1.csv")).size(), 1u + 5 * 4);  // steps 0, 50, 100, 120
  for (int i : {1, 2}) {
    EXPECT_EQ(csvs[i], csvs[0]) << i + 1 << " ranks";
    EXPECT_EQ(policies[i], policies[0]) << i + 1 << " ranks";
    EXPECT_EQ(snapshots[i], snapshots[0]) << i + 1 << " ranks";
    EXPECT_EQ(pbs[i], pbs[0]) << i + 1 << " ranks";
    EXPECT_EQ(summaries[i], summaries[0]) << i + 1 << " ranks";
  }
}

TEST(MpiTrain, MoreRanksThanRunsLeaveSomeIdle) {
  const std::string args = std::string("train --runs 2 --steps 40 --eval-every 20 ") + kGrid;
  const std::string one = temp_path("idle1.csv"), three = temp_path("idle3.csv");
  ASSERT_EQ(run(args + " --out " + one).code, 0);
  const Result r = run(args + " --out " + three, ranks(3));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(without_seconds(three), without_seconds(one));
}

TEST(MpiStudy, RanksWriteTheOneProcessCsvAndSummary) {
  // 3 learners x 3 runs = 9 (job, run) pairs: 5 + 4 on two ranks (db split between them), whole
  // learners on three; --jobs 2 trains a rank's pieces side by side.
  const std::string args = std::string("study --algos tb,db,softdqn --runs 3 --steps 80 "
                                       "--eval-every 40 --jobs 2 --json ") +
                           kGrid;
  std::vector<std::string> csvs;
  std::vector<nlohmann::json> summaries;
  for (int n : {1, 2, 3}) {
    const std::string out = temp_path("study" + std::to_string(n) + ".csv");
    const Result r = run(args + " --out " + out, n == 1 ? "" : ranks(n));
    ASSERT_EQ(r.code, 0) << n << " ranks: " << r.err;
    csvs.push_back(without_seconds(out));
    summaries.push_back(without_timing(nlohmann::json::parse(r.out)));
  }
  EXPECT_EQ(read_csv(temp_path("study1.csv")).size(), 1u + 3 * 3 * 3);
  for (int i : {1, 2}) {
    EXPECT_EQ(csvs[i], csvs[0]) << i + 1 << " ranks";
    EXPECT_EQ(summaries[i], summaries[0]) << i + 1 << " ranks";
  }
}

TEST(MpiTune, RanksWriteTheOneProcessCsvAndBestSettings) {
  // 2 learners x (2 lr x 2 epsilon) settings x 2 seeds = 16 runs (tb's 8 split on 3 ranks); then
  // study --tune on ranks equals it in one process (the tune's JSON reaches every rank).
  const std::string args = std::string("tune --algos tb,db --seeds 2 --lr 0.02,0.1 --steps 60 "
                                       "--eval-every 30 ") +
                           kGrid;
  std::vector<std::string> csvs, bests;
  for (int n : {1, 3}) {
    const std::string out = temp_path("tune" + std::to_string(n) + ".csv");
    const std::string best = temp_path("tune" + std::to_string(n) + ".json");
    const Result r = run(args + " --out " + out + " --best " + best, n == 1 ? "" : ranks(n));
    ASSERT_EQ(r.code, 0) << n << " ranks: " << r.err;
    csvs.push_back(without_seconds(out));
    bests.push_back(without_timing(nlohmann::json::parse(slurp(best))).dump());
  }
  EXPECT_EQ(csvs[1], csvs[0]);
  EXPECT_EQ(bests[1], bests[0]);
  const std::string study = std::string("study --tune --tune-lr 0.02,0.1 --algos tb,db --runs 2 "
                                        "--steps 60 --eval-every 30 ") +
                            kGrid;
  const std::string one = temp_path("st1.csv"), two = temp_path("st2.csv");
  ASSERT_EQ(run(study + " --out " + one).code, 0);
  const Result r = run(study + " --out " + two, ranks(2));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(without_seconds(two), without_seconds(one));
  EXPECT_EQ(without_seconds(temp_path("st2-tune.csv")), without_seconds(temp_path("st1-tune.csv")));
}

TEST(MpiFaults, AnErrorBeforeWorkStopsEveryRankWithOneMessage) {
  // Only rank 0 opens the outputs: the others learn of its error at the checkpoint.
  const Result r = run(std::string("train --runs 4 --steps 10 --out /nonexistent-dir/x.csv ") +
                           kGrid,
                       ranks(3));
  EXPECT_EQ(r.code, 2) << r.err;
  const std::string needle = "'/nonexistent-dir' does not exist";
  const std::size_t first = r.err.find(needle);
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(needle, first + 1), std::string::npos) << "said twice:\n" << r.err;
  // A usage error every rank finds: exit 2 before any work, said once.
  const std::string out = temp_path("usage.csv");
  const Result u = run(std::string("study --steps 10 --eval-every 0 --out ") + out + " " + kGrid,
                       ranks(2));
  EXPECT_EQ(u.code, 2) << u.err;
  EXPECT_NE(u.err.find("--eval-every = 0 must be >= 1"), std::string::npos) << u.err;
  EXPECT_FALSE(any_file_with_prefix(out));
}

// Ranks started with different arguments or different input files would mix results (another
// seed's rows, another DAG's TV) and exit 0: every rank compares its arguments and the bytes of
// its input files with rank 0's before any work; a difference is exit 2 naming the rank, its host
// and the first argument or file that differs, and no output is written.
TEST(MpiFaults, RanksWithOtherArgumentsOrInputFilesAreRefusedBeforeAnyWork) {
  const std::string out = temp_path("mixed.csv");
  const std::string cli = GFNRL_CLI_PATH;
  const std::string train = " train --runs 4 --steps 100000000 --out " + out + " " + kGrid;
  // Open MPI's MPMD form: one command line per rank.
  Result r = run(train + " --seed 0 : -np 1 " + cli + train + " --seed 7", ranks(1) + " timeout 60");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("gfnrl: rank 1 of 2 (host "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'7', on rank 0 argument"), std::string::npos) << r.err;
  r = run(train + " --steps 5 : -np 1 " + cli + train + " --steps 6", ranks(1) + " timeout 60");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_FALSE(any_file_with_prefix(out));
  // The same path, other contents: each rank in its own working directory.
  const std::string a = temp_path("rank_a"), b = temp_path("rank_b");
  ASSERT_EQ(std::system(("mkdir -p " + a + " " + b).c_str()), 0);
  ASSERT_EQ(run("convert --ndim 2 --height 4 --quiet --out " + a + "/d.bin").code, 0);
  ASSERT_EQ(run("convert --ndim 2 --height 5 --quiet --out " + b + "/d.bin").code, 0);
  const std::string dag = " train --dag d.bin --runs 4 --steps 100000000 --backend cpu --quiet --out " + out;
  r = run(dag + " : -np 1 -wdir " + b + " " + cli + dag, ranks(1) + " -wdir " + a + " timeout 60");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("input file 'd.bin' (--dag) has other contents here than on rank 0"),
            std::string::npos) << r.err;
  EXPECT_FALSE(any_file_with_prefix(out));
  // Equal copies are fine.
  ASSERT_EQ(std::system(("cp " + a + "/d.bin " + b + "/d.bin").c_str()), 0);
  const std::string quick = " train --dag d.bin --runs 4 --steps 5 --backend cpu --quiet --out " + out;
  r = run(quick + " : -np 1 -wdir " + b + " " + cli + quick, ranks(1) + " -wdir " + a + " timeout 60");
  EXPECT_EQ(r.code, 0) << r.err;
  std::remove(out.c_str());
}

TEST(MpiFaults, ARankFailingLateEndsEveryRankWithNoOutput) {
  for (const char* cmd : {"train --runs 4", "study --algos tb,db --runs 2"})
    for (const char* rank : {"1", "0"}) {  // another rank, or rank 0 with the CSV's temporary
      const std::string out = temp_path("late.csv");
      const Result r = run(std::string(cmd) + " --steps 400 --eval-every 20 --out " + out + " " +
                               kGrid,
                           ranks(2) + " -x GFNRL_TEST_FAIL_RANK=" + rank);
      EXPECT_NE(r.code, 0) << cmd << ", rank " << rank;
      // The rank and its host named (every error under MPI says where it came from).
      EXPECT_NE(r.err.find("rank " + std::string(rank) + " of 2 (host "), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("): error: GFNRL_TEST_FAIL_RANK"), std::string::npos) << r.err;
      EXPECT_FALSE(any_file_with_prefix(out)) << cmd << ": a CSV or temporary was left";
    }
}

TEST(MpiFaults, AKilledRankEndsTheJobWithNoOutput) {
  // Rank 1 is killed (SIGKILL) half a second into a long run; rank 0 holds the CSV's temporary.
  const std::string script = temp_path("kill_rank1.sh");
  {
    std::ofstream s(script);
    s << "#!/bin/sh\nif [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then \"$@\" & pid=$!; sleep 0.5; "
         "kill -KILL $pid; wait $pid; exit $?; fi\nexec \"$@\"\n";
  }
  ASSERT_EQ(std::system(("chmod +x " + script).c_str()), 0);
  const std::string out = temp_path("killed.csv");
  const Result r = run(std::string("train --runs 4 --steps 10000000 --eval-every 1000 --out ") +
                           out + " " + kGrid,
                       ranks(2) + " " + script);
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_FALSE(any_file_with_prefix(out)) << "a CSV or temporary was left";
}

TEST(MpiRanks, OneProcessCommandsRefuseRanksAndVersionSaysMpi) {
  const Result r = run(std::string("solve ") + kGrid, ranks(2));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("solve runs in one process"), std::string::npos) << r.err;
  const Result v = run("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.out.find("MPI: "), std::string::npos) << v.out;
  EXPECT_EQ(v.out.find("not compiled in"), std::string::npos) << v.out;
}

}  // namespace
