// Every test program works in a temporary directory of its own, removed when its tests end,
// passed or failed: TEST_TMPDIR and TMPDIR point there, so ::testing::TempDir(),
// std::filesystem::temp_directory_path() and the CLI the tests start all write inside it. (The
// suite used to leave ~90 files and directories in /tmp per run.) Created in SetUp, not at
// static initialisation: ctest's test discovery runs each program with --gtest_list_tests,
// which sets up no environment.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace {

class TempDirEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && base[0] != '\0' ? base : "/tmp") +
                          "/gfnrl-tests-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) return;  // tests then use the default directory
    dir_ = buf.data();
    ::setenv("TEST_TMPDIR", (dir_ + "/").c_str(), 1);
    ::setenv("TMPDIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

 private:
  std::string dir_;
};

// gtest owns the environment it is given.
const bool kRegistered =
    ::testing::AddGlobalTestEnvironment(std::make_unique<TempDirEnvironment>().release()) != nullptr;

}  // namespace
