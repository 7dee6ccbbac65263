// Runs the gfnrl CLI as a user would (a shell command), capturing stdout, stderr and the exit code.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Result {
  int code;
  std::string out, err;
};

inline Result run(const std::string& args, const std::string& env = "") {
  // Unique per process and call: CTest runs these tests as parallel processes.
  static int calls = 0;
  const std::string err_file = ::testing::TempDir() + "gfnrl_cli_stderr_" +
                               std::to_string(::getpid()) + "_" + std::to_string(++calls) + ".txt";
  const std::string cmd = env + " " GFNRL_CLI_PATH " " + args + " 2>" + err_file;
  Result r{};
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  std::size_t k;
  while ((k = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), k);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  std::remove(err_file.c_str());
  return r;
}

inline std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "gfnrl_" + std::to_string(::getpid()) + "_" + name;
}

inline std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}

inline bool exists(const std::string& path) { return std::ifstream(path).good(); }

// Every file in the directory of `path` whose name starts with its file name (temporaries too).
inline bool any_file_with_prefix(const std::string& path) {
  const std::string cmd = "ls " + path + "* 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[256];
  const bool found = fgets(buf, sizeof buf, p) != nullptr;
  pclose(p);
  return found;
}

}  // namespace
