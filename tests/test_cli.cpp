// The gfnrl CLI as a user runs it: --help everywhere, the JSON contract, exit code 2 with a
// one-line message for usage errors, exit code 1 with the estimate when memory does not suffice.
#include <gtest/gtest.h>

#include <cstdlib>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "cli_runner.hpp"
#include "gfnrl/train_options.hpp"
#include "rational.hpp"

namespace {

double hypergrid_log_z(int d, int h, double r0, double r1, double r2) {
  double z = 0;
  int64_t n = 1;
  for (int i = 0; i < d; ++i) n *= h;
  for (int64_t code = 0; code < n; ++code) {
    std::vector<int> x(d);
    int64_t c = code;
    for (int i = 0; i < d; ++i, c /= h) x[i] = static_cast<int>(c % h);
    z += gfnrl::test::hypergrid_reward_exact(x, h, r0, r1, r2);
  }
  return std::log(z);
}

// The learner options come from the library's table: train, study and tune list every flag of
// it, with its range, and a value out of range exits 2 naming the option.
TEST(Cli, TheLearnerCommandsListEveryOptionOfTheTable) {
  for (const char* cmd : {"train --help", "study --help", "tune --help"}) {
    const std::string help = run(cmd).out;
    for (const gfnrl::TrainOption& o : gfnrl::train_options()) {
      if (!o.flag) continue;
      EXPECT_NE(help.find(std::string(o.flag) + " "), std::string::npos) << cmd << ": " << o.flag;
      if (*o.range) EXPECT_NE(help.find(o.range), std::string::npos) << o.range;
    }
  }
  const Result r = run("train --ndim 2 --height 4 --backend cpu --quiet --target-every 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("target_every = 0 is out of range: must be >= 1"), std::string::npos) << r.err;
}

TEST(Cli, HelpOnEverySubcommand) {
  for (const char* args : {"--help", "solve --help", "eval --help", "train --help", "study --help", "convert --help"}) {
    const Result r = run(args);
    EXPECT_EQ(r.code, 0) << args;
    EXPECT_NE(r.out.find("--"), std::string::npos) << args;
  }
  EXPECT_NE(run("solve --help").out.find("--correction"), std::string::npos);
  EXPECT_NE(run("eval --help").out.find("--policy"), std::string::npos);
}

TEST(Cli, SolveJsonContract) {
  const Result r =
      run("solve --env hypergrid --ndim 3 --height 6 --layout csr --backend cpu --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "one line: " << r.out;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"num_states", "num_edges", "log_z", "soft_vi_log_z", "tv", "kl", "jsd",
                        "backend", "seconds"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["num_states"], 216);
  EXPECT_EQ(j["num_edges"], 3 * 36 * 5);
  EXPECT_EQ(j["backend"], "cpu");
  const double want = hypergrid_log_z(3, 6, 1e-3, 0.5, 2.0);
  EXPECT_NEAR(j["log_z"].get<double>(), want, 1e-6);  // from float32 log R
  EXPECT_NEAR(j["soft_vi_log_z"].get<double>(), want, 1e-5);
  EXPECT_LT(j["tv"].get<double>(), 1e-5);
  EXPECT_TRUE(r.err.empty()) << "--quiet prints nothing on stderr: " << r.err;
  EXPECT_EQ(j["edge_ids"], "int32");
  // The int64 layout (DAGs past 2^31-1 edges), asked for: the same answers.
  const Result w =
      run("solve --env hypergrid --ndim 3 --height 6 --layout csr --backend cpu --json --quiet",
          "GFNRL_WIDE_EDGE_IDS=1");
  ASSERT_EQ(w.code, 0) << w.err;
  const auto jw = nlohmann::json::parse(w.out);
  EXPECT_EQ(jw["edge_ids"], "int64");
  for (const char* k : {"log_z", "soft_vi_log_z", "tv", "kl", "jsd", "elbo", "eubo"})
    EXPECT_EQ(jw[k], j[k]) << k;
}

TEST(Cli, HypergridRegionRules) {
  // 2-D H=16, R0 0.1: exact regions give Z = 65.6 (ring {2,13}^2); --regions float64 gives the
  // float64 codes' 75.6 (ring {2,12,13}^2). The JSON names the rule.
  const std::string grid = "solve --env hypergrid --ndim 2 --height 16 --r0 0.1 --backend cpu --json --quiet";
  const Result exact = run(grid);
  ASSERT_EQ(exact.code, 0) << exact.err;
  const auto je = nlohmann::json::parse(exact.out);
  EXPECT_NEAR(je["log_z"].get<double>(), std::log(65.6), 1e-6);
  EXPECT_NEAR(je["log_z"].get<double>(), hypergrid_log_z(2, 16, 0.1, 0.5, 2.0), 1e-6);
  EXPECT_EQ(je["regions"], "exact") << exact.out;
  const Result f64 = run(grid + " --regions float64");
  ASSERT_EQ(f64.code, 0) << f64.err;
  const auto jf = nlohmann::json::parse(f64.out);
  EXPECT_NEAR(jf["log_z"].get<double>(), std::log(75.6), 1e-6);
  EXPECT_EQ(jf["regions"], "float64") << f64.out;
  const Result bad = run(grid + " --regions float32");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("float32"), std::string::npos) << bad.err;
  const Result other_env = run("solve --env subsets --items 4 --regions exact --backend cpu --quiet");
  EXPECT_EQ(other_env.code, 2);
  EXPECT_NE(other_env.err.find("--regions is a parameter of --env hypergrid"), std::string::npos)
      << other_env.err;
}

// Integer options take decimal digits only, in range: CLI11 alone reads "0x10" as 16, "010" as 8
// (octal), " 5" as 5 and saturates 10^23 to 2^63 - 1. Every case exits 2 naming the option, before
// any work (a huge --steps would time out).
TEST(Cli, IntegerOptionsTakeDecimalDigitsOnly) {
  const std::string train = "train --ndim 2 --height 4 --steps 100000000 --backend cpu --quiet --out /dev/null";
  const std::vector<std::string> options = {
      "--runs", "--batch", "--eval-every", "--snapshot-every", "--epsilon-decay-steps",
      "--temperature-decay-steps", "--lr-warmup", "--lr-cosine", "--ndim", "--height", "--seed",
      "--jobs"};
  for (const std::string& opt : options)
    for (const char* bad : {"0x10", "' 5'", "010", "99999999999999999999999", "+5", "5x", "1e3"}) {
      const std::string args = train + " " + opt + " " + bad;
      const Result r = run(args, "timeout 20");
      EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
      EXPECT_NE(r.err.find(opt), std::string::npos) << args << "\n" << r.err;
    }
  for (const std::string& args : {std::string("tune --seeds 0x2 --steps 100000000 --out /dev/null --best /dev/null"),
                                  std::string("solve --ndim 0x2"), std::string("study --runs 0x2 --out /dev/null")}) {
    const Result r = run(args + " --backend cpu --quiet", "timeout 20");
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("is not a whole decimal number"), std::string::npos) << args << "\n" << r.err;
  }
  // A control byte in a value is shown escaped, and a long value cut, in a one-line message.
  const Result r = run(train + " --runs \"$(printf '1\\033[2J')\"");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.err.find('\033'), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\\x1b"), std::string::npos) << r.err;
  const Result long_value = run(train + " --batch " + std::string(5000, '7'));
  EXPECT_EQ(long_value.code, 2);
  EXPECT_LT(long_value.err.size(), 600u) << long_value.err;
  EXPECT_NE(long_value.err.find("(5000 characters)"), std::string::npos) << long_value.err;
}

// OMP_NUM_THREADS=100000 used to crash every subcommand in libgomp (a stack per thread): the
// CPU backend asks for at most 4 x the hardware threads, and says so.
TEST(Cli, AHugeOmpNumThreadsIsCappedNotACrash) {
  const std::string out = temp_path("omp_cap.csv");
  for (const std::string& args :
       {std::string("solve --ndim 4 --height 12 --backend cpu --quiet"),
        "train --ndim 2 --height 8 --steps 20 --runs 4 --backend cpu --quiet --out " + out,
        "study --steps 20 --backend cpu --quiet --out " + out}) {
    const Result r = run(args, "OMP_NUM_THREADS=100000 timeout 60");
    EXPECT_EQ(r.code, 0) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("asks for more threads than the"), std::string::npos) << r.err;
  }
  std::remove(out.c_str());
  EXPECT_EQ(run("solve --ndim 2 --height 4 --backend cpu --quiet", "OMP_NUM_THREADS=1").err, "");
}

// Lists and numbers as written: no empty item anywhere in a comma list, no number the float
// tables cannot hold (1e-300 used to be refused as "= 0"), no learner listed twice, and a file
// the system cannot read (EIO) is an input error naming it.
TEST(Cli, ListsNumbersAndUnreadableFilesAreRefusedByName) {
  const std::string train = "train --ndim 2 --height 4 --steps 100000000 --backend cpu --quiet --out /dev/null";
  const std::string study = "study --ndim 2 --height 4 --steps 100000000 --backend cpu --quiet --out /dev/null";
  struct Case {
    std::string args, fragment;
  };
  const std::vector<Case> cases = {
      {train + " --runs 2 --lr 0.1,0.2,", "--lr '0.1,0.2,': an empty item"},
      {train + " --runs 2 --lr ,0.1,0.2", "an empty item"},
      {train + " --runs 3 --lr 0.1,,0.2", "an empty item"},
      {train + " --lr 1e-300", "'1e-300' is not representable in the tables' float precision"},
      {train + " --lr 1e39", "'1e39' is not representable"},
      {train + " --regression huber:1e-300", "--regression 'huber:1e-300': '1e-300' is not representable"},
      {study + " --algos tb,tb", "--algos 'tb,tb': tb is listed twice"},
      {study + " --algos tb,db/maxent,db/maxent", "db/maxent is listed twice"},
      {study + " --algos tb,", "--algos 'tb,': an empty item"},
      {"tune --lr 0.1, --steps 100000000 --out /dev/null --best /dev/null --backend cpu --quiet",
       "--lr '0.1,': an empty item"},
      {"solve --dag /proc/self/mem --backend cpu --quiet", "/proc/self/mem: cannot be read (Input/output error)"},
      {"eval --ndim 2 --height 4 --backend cpu --quiet --policy /proc/self/mem",
       "/proc/self/mem: cannot be read"},
  };
  for (const Case& c : cases) {
    const Result r = run(c.args, "timeout 20");
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
  }
  // Distinct entries of one learner are fine.
  EXPECT_EQ(run("study --ndim 2 --height 4 --steps 2 --backend cpu --quiet --out /dev/null "
                "--algos db,db/maxent").code, 0);
}

// srun without PMI starts N tasks that each see a world of one: N full copies of the job. That
// is refused, said once (by task 0); sbatch's own variables (SLURM_NTASKS without a step) are a
// one-process run.
TEST(Cli, ALaunchOfSeveralTasksWithoutRanksIsRefused) {
  const std::string train = "train --ndim 2 --height 4 --steps 5 --backend cpu --quiet --out /dev/null";
  Result r = run(train, "SLURM_STEP_NUM_TASKS=4 SLURM_PROCID=0");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("srun started 4 tasks without PMI"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("srun --mpi=pmix"), std::string::npos) << r.err;
  r = run(train, "SLURM_STEP_NUM_TASKS=4 SLURM_PROCID=2");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "") << "said by task 0 only";
  EXPECT_EQ(run(train, "SLURM_NTASKS=4 SLURM_PROCID=0").code, 0) << "an sbatch script's own process";
  EXPECT_EQ(run(train, "SLURM_STEP_NUM_TASKS=1 SLURM_PROCID=0").code, 0) << "srun -n 1";
}

// ulimit -v: the budget check sees RLIMIT_AS and refuses with the estimate and the limit that
// binds, where 8-D H=9 used to pass the check and die of a bare std::bad_alloc.
TEST(Cli, AnAddressSpaceLimitIsPartOfTheMemoryBudget) {
  // The CLI under tools/sanitize (ASAN_OPTIONS set there) reserves terabytes of shadow memory at
  // start: under ulimit -v it cannot start at all.
  if (std::getenv("ASAN_OPTIONS") != nullptr)
    GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: ulimit -v cannot be set";
  const Result r =
      run("solve --ndim 8 --height 9 --layout csr --backend cpu --quiet", "ulimit -v 6000000;");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("out of memory: hypergrid ndim=8 height=9"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bound by RLIMIT_AS (ulimit -v"), std::string::npos) << r.err;
  // The implicit layout holds 8-D H=9 in 2 GB; 8-D H=13 (8.2e8 states) needs 9.8 GB.
  const Result i = run("solve --ndim 8 --height 13 --backend cpu --quiet", "ulimit -v 6000000;");
  EXPECT_EQ(i.code, 1) << i.err;
  EXPECT_NE(i.err.find("out of memory: implicit hypergrid ndim=8 height=13"), std::string::npos)
      << i.err;
  EXPECT_NE(i.err.find("bound by RLIMIT_AS (ulimit -v"), std::string::npos) << i.err;
}

// The environment a running CLI ends up with (after its one re-exec), as "NAME=value" lines for
// GOMP_SPINCOUNT and OMP_WAIT_POLICY.
std::string wait_settings_of_a_running_cli(const std::string& env) {
  const std::string cmd =
      "sh -c '" + env + " " GFNRL_CLI_PATH " train --ndim 2 --height 8 --steps 100000000 "
      "--backend cpu --quiet --out /dev/null & pid=$!; sleep 1; tr \"\\000\" \"\\n\" < "
      "/proc/$pid/environ | grep -E \"^(GOMP_SPINCOUNT|OMP_WAIT_POLICY)=\" | sort; kill $pid'";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out;
}

// libgomp's default waits spin ~300,000 times per barrier: beside another busy program the
// sweeps collapse 7-60x. The CLI runs with GOMP_SPINCOUNT=1000 unless the user chose a wait
// policy, which it keeps exactly; GFNRL_THREADS sets the CPU backend's threads.
TEST(Cli, ShortSpinWaitsByDefaultAndTheUsersThreadSettingsKept) {
  EXPECT_EQ(wait_settings_of_a_running_cli("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT"),
            "GOMP_SPINCOUNT=1000\n");
  EXPECT_EQ(wait_settings_of_a_running_cli("env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active"),
            "OMP_WAIT_POLICY=active\n");
  EXPECT_EQ(wait_settings_of_a_running_cli("env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=5"),
            "GOMP_SPINCOUNT=5\n");
  const std::string solve = "solve --ndim 2 --height 6 --backend cpu --quiet --json";
  const Result one = run(solve, "GFNRL_THREADS=1");
  EXPECT_EQ(one.code, 0) << one.err;
  EXPECT_EQ(one.err, "");
  for (const char* bad : {"abc", "0", "-2", "' 3'", "0x4"}) {
    const Result r = run(solve, std::string("GFNRL_THREADS=") + bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find("GFNRL_THREADS = "), std::string::npos) << r.err;
  }
  const Result many = run(solve, "GFNRL_THREADS=100000");
  EXPECT_EQ(many.code, 0) << many.err;
  EXPECT_NE(many.err.find("GFNRL_THREADS=100000 asks for more threads"), std::string::npos) << many.err;
}

TEST(Cli, HostileInputsExitTwoBeforeAnyWorkAndNeverHang) {
  // Each runs under `timeout 20`: a hang (FIFO, /dev/zero, a clamped step count) shows as 124.
  const std::string fifo = ::testing::TempDir() + "gfnrl_fifo_" + std::to_string(::getpid());
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Outputs go to a temporary path, never /dev/null: a CLI with the rename bug would replace it.
  const std::string grid = " --ndim 2 --height 4 --backend cpu --quiet --out " +
                           ::testing::TempDir() + "gfnrl_hostile_" + std::to_string(::getpid()) + ".csv";
  struct Case {
    std::string args, env, fragment;
  };
  const std::vector<Case> cases = {
      {"eval --ndim 2 --height 4 --backend cpu --policy " + fifo, "", "not a regular file (a FIFO)"},
      {"solve --ndim 2 --height 4 --backend cpu --prior " + fifo, "", "not a regular file (a FIFO)"},
      {"train --algo rtb --prior " + fifo + grid, "", "not a regular file (a FIFO)"},
      {"eval --ndim 2 --height 4 --backend cpu --policy /dev/zero", "", "a character device"},
      {"solve --dag " + fifo, "", "not a regular file (a FIFO)"},
      {"train --steps 9223372036854775808" + grid, "", "'9223372036854775808' is out of range"},
      {"train --steps -5" + grid, "", "'-5' is out of range"},
      {"train --seed -1" + grid, "", "'-1' is out of range: give a whole number in [0, 18446744073709551615]"},
      {"train --seed 18446744073709551616" + grid, "", "is out of range"},
      {"solve --env subsets --items 4 --env-seed -1 --backend cpu", "", "'-1' is out of range"},
      {"train --algo pg --exact-gradient --epsilon 0.1" + grid, "", "epsilon = 0.1 and temperature = 1 would be ignored"},
      {"train --algo tb --exact-gradient --temperature 2" + grid, "", "would be ignored"},
  };
  for (const char* limit : {"-1", "abc", "1e9", "100abc", "''", "99999999999999999999999"})
    for (const std::string& cmd : {std::string("solve --ndim 2 --height 4 --backend cpu"), "train" + grid})
      EXPECT_EQ(run(cmd, std::string("GFNRL_MEMORY_LIMIT=") + limit + " timeout 20").code, 2)
          << limit << ": " << cmd;
  const Result lim = run("solve --ndim 2 --height 4 --backend cpu", "GFNRL_MEMORY_LIMIT=100abc");
  EXPECT_NE(lim.err.find("GFNRL_MEMORY_LIMIT = '100abc' is not a byte count"), std::string::npos) << lim.err;
  for (const Case& c : cases) {
    const Result r = run(c.args, c.env + " timeout 20");
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\nstderr: " << r.err;
  }
  std::remove(fifo.c_str());
  // A DAG file passes the memory budget like a generated environment: exit 1 with the estimate.
  const std::string dag = ::testing::TempDir() + "gfnrl_budget_" + std::to_string(::getpid()) + ".bin";
  ASSERT_EQ(run("convert --ndim 2 --height 4 --quiet --out " + dag).code, 0);
  const Result r = run("solve --dag " + dag + " --backend cpu", "GFNRL_MEMORY_LIMIT=0");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(dag), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("needs an estimated"), std::string::npos) << r.err;
  std::remove(dag.c_str());
}

TEST(Cli, UncorrectedSolveIsBiasedAndEvalUniformWorks) {
  const Result a = run(
      "solve --ndim 2 --height 8 --correction none --r0 0.01 --json --backend cpu --layout csr");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_GT(nlohmann::json::parse(a.out)["tv"].get<double>(), 0.05);
  EXPECT_NE(a.err.find("[gfnrl] building hypergrid"), std::string::npos) << "progress on stderr";
  const Result b = run("eval --policy uniform --ndim 2 --height 8 --json --backend cpu --quiet");
  ASSERT_EQ(b.code, 0) << b.err;
  const auto j = nlohmann::json::parse(b.out);
  EXPECT_GT(j["tv"].get<double>(), 0.05);
  EXPECT_FALSE(j.contains("soft_vi_log_z"));
  EXPECT_NEAR(j["model_mass"].get<double>(), 1.0, 1e-5);
}

void expect_usage_error(const std::string& args, const std::string& fragment) {
  const Result r = run(args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << args << "\nstderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  EXPECT_TRUE(r.out.empty()) << "nothing on stdout: " << r.out;
}

TEST(Cli, UsageErrorsExitTwoWithOneLine) {
  expect_usage_error("", "A subcommand is required");
  expect_usage_error("frobnicate", "unknown subcommand 'frobnicate' (allowed: solve, eval");
  expect_usage_error("solve --ndim 0", "--ndim: Value 0 not in range 1 to 16");
  expect_usage_error("solve --height 1", "1 not in range");
  expect_usage_error("solve --correction bogus", "bogus not in {uniform,maxent,file,none}");
  expect_usage_error("solve --backend tpu", "tpu not in {cpu,cuda,auto}");
  expect_usage_error("solve --env chess", "chess not in {hypergrid,subsets,bitseq,dag-structure,ising,set-addition,binary-tree}");
  expect_usage_error("eval --policy greedy", "greedy is neither uniform, optimal nor a readable file");
  expect_usage_error("solve --r0 0", "r0 = 0.000000 is out of range: must be finite and > 0");
  expect_usage_error("solve --r1 -1", "r1 = -1.000000 is out of range");
  expect_usage_error("solve --ndim 10 --height 10 --layout csr", "more than 2^31-1 states");
  expect_usage_error("solve --no-such-flag", "no-such-flag");
}

TEST(Cli, OutOfMemoryExitsOneWithTheEstimate) {
  const Result r = run("solve --ndim 4 --height 20 --backend cpu --json --quiet",
                       "GFNRL_MEMORY_LIMIT=100000");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("needs an estimated"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("160000 states"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(Cli, CudaBackendRequestWithoutDevice) {
  const Result probe = run("solve --ndim 2 --height 4 --backend cuda --json --quiet");
  if (probe.code == 0) {
    EXPECT_EQ(nlohmann::json::parse(probe.out)["backend"], "cuda");
    std::cout << "[ note ] a CUDA device is present: --backend cuda ran\n";
  } else {
    EXPECT_EQ(probe.code, 2);
    EXPECT_NE(probe.err.find("backend 'cuda': no usable CUDA device"), std::string::npos)
        << probe.err;
  }
}

}  // namespace
