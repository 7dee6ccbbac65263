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
  EXPECT_EQ(listing().find(".tmp-"), std::string::npos) << listing();
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
  EXPECT_EQ(listing().find(".tmp-"), std::string::npos) << listing();
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

// Starts the CLI directly (default signal dispositions, no shell), waits until its temporary
// output exists, sends `sig`, and returns the wait status.
int interrupt_training(const std::string& out, int sig) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, SIG_DFL);
    ::execl(GFNRL_CLI_PATH, "gfnrl", "train", "--ndim", "2", "--height", "8", "--steps",
            "100000000", "--eval-every", "5", "--backend", "cpu", "--quiet", "--out", out.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::string tmp = out + ".tmp-" + std::to_string(pid);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // Wait for the temporary and a few evaluation rows, so the signal lands mid-run.
  while (std::chrono::steady_clock::now() < deadline) {
    struct stat st {};
    if (::stat(tmp.c_str(), &st) == 0 && st.st_size > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::kill(pid, sig);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST_F(CliOutputs, SignalsRemoveTemporariesAndExitWithTheSignal) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    const int status = interrupt_training(path("curve.csv"), sig);
    ASSERT_TRUE(WIFSIGNALED(status)) << "signal " << sig << ": status " << status;
    EXPECT_EQ(WTERMSIG(status), sig);  // a shell reports 128 + sig: 130, 143, 129
    EXPECT_EQ(listing(), "") << "after signal " << sig;
  }
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

}  // namespace
