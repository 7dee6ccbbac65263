// Output files as a careful user needs them: nothing that is not ours is destroyed (devices,
// symlinks, permissions), no debris after a signal or a failure, and bad output paths exit 2
// before any work.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.hpp"

namespace {

// A fresh directory per test, so "no file left behind" can list it.
class CliOutputs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "gfnrl_outputs_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::system(("rm -rf '" + dir_ + "' && mkdir -p '" + dir_ + "'").c_str());
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string path(const std::string& leaf) const { return dir_ + "/" + leaf; }
  // The directory's entries, sorted, one string.
  std::string listing() const {
    std::string out;
    FILE* p = popen(("ls -A '" + dir_ + "'").c_str(), "r");
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
    return out;
  }
  std::string dir_;
};

const char* kTrain = "train --ndim 2 --height 6 --steps 20 --eval-every 10 --backend cpu --quiet";

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool is_symlink(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

TEST_F(CliOutputs, SymlinkKeepsItsLinkAndItsTargetGetsTheFile) {
  {
    std::ofstream(path("real.csv")) << "old\n";
  }
  ASSERT_EQ(::symlink("real.csv", path("link.csv").c_str()), 0);
  const Result r = run(std::string(kTrain) + " --out " + path("link.csv"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(is_symlink(path("link.csv"))) << "the link was replaced by a file";
  EXPECT_EQ(slurp(path("real.csv")).rfind("algo,run,seed,step", 0), 0u) << slurp(path("real.csv"));
  // A dangling link: the file appears where it points.
  ASSERT_EQ(::symlink("later.csv", path("dangling.csv").c_str()), 0);
  ASSERT_EQ(run(std::string(kTrain) + " --out " + path("dangling.csv")).code, 0);
  EXPECT_TRUE(is_symlink(path("dangling.csv")));
  EXPECT_FALSE(slurp(path("later.csv")).empty());
  // convert --out through a link too.
  ASSERT_EQ(::symlink("grid.txt", path("grid-link.txt").c_str()), 0);
  ASSERT_EQ(run("convert --ndim 2 --height 3 --quiet --out " + path("grid-link.txt")).code, 0);
  EXPECT_TRUE(is_symlink(path("grid-link.txt")));
  EXPECT_EQ(slurp(path("grid.txt")).rfind("gfnrl-dag 1", 0), 0u);
  EXPECT_EQ(listing().find(".gfnrl-tmp-"), std::string::npos) << listing();
}

TEST_F(CliOutputs, SpecialFilesAreWrittenInPlaceNotReplaced) {
  // Links to /dev/null (any user) and, as root, character device nodes of our own (c 1 3, the
  // null device): every output flag writes into them and they stay what they were.
  std::vector<std::string> targets;
  for (const char* suffix : {".txt", ".bin"}) {
    const std::string link = path(std::string("null-link") + suffix);
    ASSERT_EQ(::symlink("/dev/null", link.c_str()), 0);
    targets.push_back(link);
    if (::geteuid() == 0) {
      const std::string dev = path(std::string("null-dev") + suffix);
      ASSERT_EQ(::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
      targets.push_back(dev);
    }
  }
  for (const std::string& t : targets) {
    for (const std::string& args :
         {std::string(kTrain) + " --out " + t,
          std::string(kTrain) + " --out " + path("c.csv") + " --save-policy " + t,
          std::string(kTrain) + " --out " + path("c.csv") + " --save-pb " + t,
          // a device takes any number of writers: two outputs may name it
          std::string(kTrain) + " --out " + t + " --save-policy " + t,
          "convert --ndim 2 --height 3 --quiet --out " + t}) {
      const Result r = run(args);
      EXPECT_EQ(r.code, 0) << args << "\n" << r.err;
    }
    struct stat st {};
    ASSERT_EQ(::stat(t.c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << t << " is no longer a character device";
  }
  for (const char* link : {"null-link.txt", "null-link.bin"}) EXPECT_TRUE(is_symlink(path(link)));
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(listing().find(".gfnrl-tmp-"), std::string::npos) << listing();
}

TEST_F(CliOutputs, ReplacingAFileKeepsItsPermissions) {
  {
    std::ofstream(path("curve.csv")) << "old\n";
  }
  ASSERT_EQ(::chmod(path("curve.csv").c_str(), 0640), 0);
  ASSERT_EQ(run(std::string(kTrain) + " --out " + path("curve.csv")).code, 0);
  struct stat st {};
  ASSERT_EQ(::stat(path("curve.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_NE(slurp(path("curve.csv")), "old\n");
}

TEST_F(CliOutputs, BadOutputPathsExitTwoBeforeAnyWork) {
  struct Case {
    std::string args, fragment;
  };
  // A huge --steps: if any of these started training, the test would time out.
  const std::string train = "train --ndim 2 --height 6 --steps 100000000 --backend cpu --quiet";
  const std::vector<Case> cases = {
      {train + " --out " + dir_, "is a directory"},
      {train + " --out ''", "--out: the output path is empty"},
      {train + " --out " + path("a.csv") + " --save-policy /nonexistent-dir/p.txt",
       "--save-policy '/nonexistent-dir/p.txt': the directory '/nonexistent-dir' does not exist"},
      {train + " --out " + path("a.csv") + " --save-pb " + dir_ + "/no/such/pb.txt",
       "does not exist"},
      {train + " --out " + path("a.csv") + " --save-policy " + path("a.csv"),
       "--save-policy '" + path("a.csv") + "' is the same file as --out"},
      {train + " --out " + path("a.csv") + " --save-policy " + dir_ + "/./a.csv",
       "is the same file as --out"},
      {train + " --out " + path("a.csv") + " --save-policy " + path("p.txt") + " --save-pb " +
           path("p.txt"),
       "--save-pb '" + path("p.txt") + "' is the same file as --save-policy"},
      {"study --steps 100000000 --ndim 2 --height 6 --backend cpu --quiet --out " + dir_,
       "is a directory"},
      {"convert --ndim 2 --height 3 --quiet --out " + dir_ + "/missing/g.txt", "does not exist"},
  };
  for (const Case& c : cases) {
    const Result r = run(c.args, "timeout 20");  // 124 if it started training
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\nstderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
    EXPECT_EQ(listing(), "") << "a command that failed left files: " << c.args;
  }
  // Same file through a symlink.
  ASSERT_EQ(::symlink("a.csv", path("alias.csv").c_str()), 0);
  const Result r =
      run(train + " --out " + path("a.csv") + " --save-policy " + path("alias.csv"), "timeout 20");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("is the same file as --out"), std::string::npos) << r.err;
}

TEST_F(CliOutputs, AFailedCommandLeavesNoOutputFile) {
  // The trainer is refused for memory after the outputs were opened: exit 1, and none of the
  // three outputs (nor a temporary) exists afterwards.
  const Result r = run(std::string(kTrain) + " --out " + path("c.csv") + " --save-policy " +
                           path("p.txt") + " --save-pb " + path("pb.txt"),
                       "GFNRL_MEMORY_LIMIT=20000");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(listing(), "");
}

// True when process `pid` holds an open file under `dir` (its output's temporary, named or not:
// an O_TMPFILE file shows in /proc as "DIR/#INODE (deleted)").
bool holds_file_in(pid_t pid, const std::string& dir) {
  const std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  FILE* p = popen(("ls '" + fds + "' 2>/dev/null").c_str(), "r");
  char name[64];
  bool found = false;
  while (!found && fgets(name, sizeof name, p)) {
    std::string fd(name);
    fd.erase(fd.find_last_not_of('\n') + 1);
    char target[4096];
    const ssize_t n = ::readlink((fds + "/" + fd).c_str(), target, sizeof target - 1);
    found = n > 0 && std::string(target, static_cast<std::size_t>(n)).rfind(dir + "/", 0) == 0;
  }
  pclose(p);
  return found;
}

// Starts the CLI directly (default signal dispositions, no shell, `env` set), waits until it has
// opened its output, sends `sig` mid-run, and returns the wait status.
int interrupt_training(const std::string& dir, const std::string& out, int sig,
                       const char* env = nullptr) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, SIG_DFL);
    if (env != nullptr) ::putenv(const_cast<char*>(env));
    ::execl(GFNRL_CLI_PATH, "gfnrl", "train", "--ndim", "2", "--height", "8", "--steps",
            "100000000", "--eval-every", "5", "--backend", "cpu", "--quiet", "--out", out.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline && !holds_file_in(pid, dir))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a few evaluations in
  ::kill(pid, sig);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

// INT, TERM and HUP remove a named temporary (the fallback where the file system has no
// O_TMPFILE, forced here); KILL cannot be caught, and leaves nothing because the default
// temporary has no name.
TEST_F(CliOutputs, SignalsRemoveTemporariesAndExitWithTheSignal) {
  for (const char* env : {"GFNRL_NAMED_TEMPORARIES=1", "GFNRL_NAMED_TEMPORARIES=0"})
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
      const int status = interrupt_training(dir_, path("curve.csv"), sig, env);
      ASSERT_TRUE(WIFSIGNALED(status)) << "signal " << sig << ": status " << status;
      EXPECT_EQ(WTERMSIG(status), sig);  // a shell reports 128 + sig: 130, 143, 129
      EXPECT_EQ(listing(), "") << "after signal " << sig << " with " << env;
    }
  const int status = interrupt_training(dir_, path("curve.csv"), SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(listing(), "") << "after SIGKILL";
  // Through a shell, as a user sees it: `timeout` sends SIGTERM, the shell reports 124 for it;
  // the command's own status is 143 (128 + 15).
  const std::string cmd = "sh -c '" GFNRL_CLI_PATH
                          " train --ndim 2 --height 8 --steps 100000000 --backend cpu --quiet "
                          "--out " + path("t.csv") + " & pid=$!; sleep 1; kill -TERM $pid; wait $pid; "
                          "echo $?'";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[64] = {};
  ASSERT_NE(fgets(buf, sizeof buf, p), nullptr);
  pclose(p);
  EXPECT_EQ(std::string(buf), "143\n");
  EXPECT_EQ(listing(), "");
}

// One file spelled two ways is one output, whether it exists yet or not: a relative name and a
// path through a subdirectory's "..", a hard link, and study --tune's STEM-tune.csv as a symlink
// to STEM.csv. Refused before any work, and an existing file is left as it was.
TEST_F(CliOutputs, OneFileSpelledTwoWaysIsRefusedBeforeAnyWork) {
  const std::string train = "train --ndim 2 --height 6 --steps 100000000 --backend cpu --quiet";
  ASSERT_EQ(::mkdir(path("sub").c_str(), 0755), 0);
  // Relative spellings, from inside the directory (the CLI runs with dir_ as its cwd).
  const std::string cd = "cd '" + dir_ + "' && ";
  for (const std::string& args :
       {std::string(train + " --out d.csv --save-policy ./sub/../d.csv"),
        train + " --out d.csv --save-policy " + dir_ + "/d.csv",
        std::string("tune --ndim 2 --height 4 --steps 100000000 --backend cpu --quiet --out t.csv --best ./t.csv")}) {
    const Result r = run(args, cd + "timeout 20");
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("is the same file as"), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(listing(), "sub\n") << args;
  }
  // An existing file, and a hard link to it: refused, the file unchanged.
  {
    std::ofstream(path("keep.csv")) << "mine\n";
  }
  ASSERT_EQ(::link(path("keep.csv").c_str(), path("hard.csv").c_str()), 0);
  for (const std::string& args :
       {std::string(train + " --out keep.csv --save-policy hard.csv"),
        std::string("tune --ndim 2 --height 4 --steps 100000000 --backend cpu --quiet --out keep.csv --best ./keep.csv")}) {
    const Result r = run(args, cd + "timeout 20");
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_EQ(slurp(path("keep.csv")), "mine\n") << args;
  }
  // study --tune: its tune CSV is a symlink to the study's CSV.
  ASSERT_EQ(::symlink("S.csv", path("S-tune.csv").c_str()), 0);
  const Result r = run("study --tune --ndim 2 --height 4 --steps 100000000 --backend cpu --quiet "
                       "--out S.csv", cd + "timeout 20");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("the tune's CSV 'S-tune.csv' is the same file as --out"), std::string::npos)
      << r.err;
  EXPECT_FALSE(exists(path("S.csv")));
}

// study --tune writes three files or none: an unwritable --out is refused before the tune, and a
// study whose CSV cannot be written after the tune leaves no tune files either.
TEST_F(CliOutputs, StudyTuneWritesAllThreeFilesOrNone) {
  ASSERT_EQ(::mkdir(path("x.csv").c_str(), 0755), 0);
  const std::string study = "study --tune --ndim 2 --height 4 --runs 1 --tune-lr 0.01 "
                            "--tune-epsilon 0 --backend cpu --quiet --algos tb";
  Result r = run(study + " --steps 100000000 --out " + path("x.csv"), "timeout 20");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("is a directory"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), "x.csv\n");
  // A FIFO whose reader has gone (SIGPIPE ignored, so the write fails with EPIPE): the study's
  // CSV fails at the end, after the tune has finished.
  ASSERT_EQ(::mkfifo(path("f.csv").c_str(), 0644), 0);
  r = run(study + " --steps 50 --out " + path("f.csv") + " & (exec 3<" + path("f.csv") +
              "); wait $!; }", "trap '' PIPE; {");
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("write failed"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), "f.csv\nx.csv\n") << "tune files left by a failed study";
  // And all three when it succeeds.
  r = run(study + " --steps 50 --out " + path("ok.csv"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(listing(), "f.csv\nok-tune.csv\nok-tune.json\nok.csv\nx.csv\n");
}

// A FIFO with a reader gets the whole CSV and the command succeeds (nothing seeks on the pipe).
TEST_F(CliOutputs, AFifoWithAReaderGetsTheWholeFileAndExitZero) {
  ASSERT_EQ(::mkfifo(path("f.csv").c_str(), 0644), 0);
  const Result r = run(std::string(kTrain) + " --out " + path("f.csv") + " & cat " +
                       path("f.csv") + " > " + path("got.csv") + "; wait $!; }", "{");
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(run(std::string(kTrain) + " --out " + path("file.csv")).code, 0);
  const auto got = read_csv(path("got.csv")), want = read_csv(path("file.csv"));
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)  // all but the seconds column
    EXPECT_EQ(std::vector<std::string>(got[i].begin(), got[i].end() - 1),
              std::vector<std::string>(want[i].begin(), want[i].end() - 1)) << "row " << i;
}

// What is printed must arrive: stdout on a full device or closed is a failure (exit 1), and a
// closed stdout is not taken over by an output file.
TEST_F(CliOutputs, AFailedWriteToStdoutIsAFailure) {
  const std::string solve = "solve --ndim 2 --height 4 --backend cpu --quiet --json";
  Result r = run(solve + " > /dev/full");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot write to standard output"), std::string::npos) << r.err;
  r = run(solve + " >&-");
  EXPECT_EQ(r.code, 1) << r.err;
  r = run(std::string(kTrain) + " --json --out " + path("c.csv") + " >&-");
  EXPECT_EQ(r.code, 1) << r.err;
  ASSERT_EQ(run(std::string(kTrain) + " --out " + path("want.csv")).code, 0);
  const auto rows = read_csv(path("c.csv"));
  ASSERT_EQ(rows.size(), read_csv(path("want.csv")).size()) << "the JSON went into the CSV";
  for (const auto& row : rows) EXPECT_NE(row[0].front(), '{') << "the JSON went into the CSV";
}

// Names up to the file system's limit (255 bytes) work: the temporary's name does not grow
// with the output's.
TEST_F(CliOutputs, LongOutputNamesWork) {
  const std::string name = std::string(251, 'a') + ".csv";
  const Result r = run(std::string(kTrain) + " --out " + path(name));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(listing(), name + "\n");
}

// Replacing another user's file keeps its owner and group (as root: chown'd back; others cannot
// replace such a file in a directory of their own without taking it over, so it is overwritten
// in place).
TEST_F(CliOutputs, ReplacingAnotherUsersFileKeepsItsOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a file of another user";
  {
    std::ofstream(path("theirs.csv")) << "old\n";
  }
  ASSERT_EQ(::chown(path("theirs.csv").c_str(), 4242, 4343), 0);
  const Result r = run(std::string(kTrain) + " --out " + path("theirs.csv"));
  ASSERT_EQ(r.code, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(path("theirs.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4242u);
  EXPECT_EQ(st.st_gid, 4343u);
  EXPECT_EQ(slurp(path("theirs.csv")).rfind("algo,", 0), 0u);
}

}  // namespace
