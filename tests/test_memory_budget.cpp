// The host memory budget: the cgroup limits (v1 and v2, the process's group and its ancestors)
// read from a made-up cgroup tree, RLIMIT_AS in a child process, and the share among processes.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"
#include "runtime/host_memory.hpp"

namespace gfnrl::test {
namespace {

namespace fs = std::filesystem;

class CgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            ("gfnrl-cgroup-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void put(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text << "\n";
  }
  std::string root() const { return root_.string(); }
  fs::path root_;
};

TEST_F(CgroupTree, V2TheTightestOfTheGroupAndItsAncestorsLessUsage) {
  put("cgroup.controllers", "memory");
  put("job/memory.max", "1000000");  // Slurm's --mem on the job
  put("job/memory.current", "300000");
  put("job/step/memory.max", "max");  // no limit of its own
  put("job/step/memory.current", "250000");
  const auto l = detail::cgroup_memory_limit("0::/job/step\n", root());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->bytes, 700000u);
  EXPECT_NE(l->source.find("job/memory.max"), std::string::npos) << l->source;
  put("job/step/memory.max", "500000");  // now the step's own is tighter: 500000 - 250000
  EXPECT_EQ(detail::cgroup_memory_limit("0::/job/step\n", root())->bytes, 250000u);
  put("job/step/memory.current", "900000");  // over its limit: nothing left, not a wrap-around
  EXPECT_EQ(detail::cgroup_memory_limit("0::/job/step\n", root())->bytes, 0u);
}

TEST_F(CgroupTree, V1MemoryHierarchyAndItsNoLimitValue) {
  put("memory/memory.limit_in_bytes", "9223372036854771712");  // v1's "no limit"
  put("memory/ctr/memory.limit_in_bytes", "9223372036854771712");
  EXPECT_FALSE(detail::cgroup_memory_limit("4:memory:/ctr\n3:cpu:/\n0::/\n", root()));
  put("memory/ctr/memory.limit_in_bytes", "6442450944");  // a container of 6 GiB
  put("memory/ctr/memory.usage_in_bytes", "1073741824");
  const auto l = detail::cgroup_memory_limit("4:cpuacct,memory:/ctr\n", root());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->bytes, 5368709120u);
  // Another controller's line, a malformed line and no memory line: no limit.
  EXPECT_FALSE(detail::cgroup_memory_limit("4:cpu:/ctr\ngarbage\n", root()));
}

TEST_F(CgroupTree, HybridMountsV2UnderUnified) {
  put("unified/g/memory.max", "4096");
  put("unified/g/memory.current", "96");
  put("memory/memory.limit_in_bytes", "9223372036854771712");
  EXPECT_EQ(detail::cgroup_memory_limit("0::/g\n4:memory:/\n", root())->bytes, 4000u);
}

// ulimit -v: a child process with a 3 GiB address-space limit sees at most that, less what it
// has mapped (the parent is left as it was).
TEST(MemoryBudget, AddressSpaceLimitBoundsTheHostBudget) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: RLIMIT_AS cannot be set";
#endif
  const pid_t pid = ::fork();
  if (pid == 0) {
    struct rlimit rl {};
    rl.rlim_cur = rl.rlim_max = std::size_t(3) << 30;
    if (::setrlimit(RLIMIT_AS, &rl) != 0) ::_exit(3);
    const auto l = detail::address_space_limit();
    const std::size_t avail = available_bytes(Backend::Cpu);
    ::_exit(l && l->bytes < (std::size_t(3) << 30) && l->bytes > (std::size_t(1) << 30) &&
                    avail <= l->bytes
                ? 0
                : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(detail::address_space_limit()) << "this process has no limit";
}

TEST(MemoryBudget, ProcessesSharingTheHostEachGetTheirShare) {
  const std::size_t whole = available_bytes(Backend::Cpu);
  set_host_memory_share(4);
  const std::size_t quarter = available_bytes(Backend::Cpu);
  set_host_memory_share(1);
  // MemAvailable moves between the reads; a quarter is far below three eighths either way.
  EXPECT_LT(quarter, whole / 8 * 3);
  EXPECT_GT(quarter, whole / 8);
  EXPECT_THROW(set_host_memory_share(0), InputError);
}

}  // namespace
}  // namespace gfnrl::test
