// Other programs running beside a benchmark, as users run us: `self` is N more copies of the
// same bench command, looping its sweeps (a user's second study); `omp` is N processes that each
// keep an OpenMP team of every hardware thread computing (a stand-in for torch's intra-op thread
// pool in a training loop). The copies are this executable run again with --as-load; they start
// before the timed part and are stopped (SIGTERM) when the BackgroundLoad goes.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace gfnrl::bench {

class BackgroundLoad {
 public:
  /// Starts `copies` processes of `kind` ("self" or "omp") from this executable with `args`
  /// (the bench's own arguments for "self"), then waits `warmup` for them to get going.
  BackgroundLoad(const std::string& kind, int copies, const std::vector<std::string>& args,
                 std::chrono::milliseconds warmup = std::chrono::milliseconds(1500)) {
    for (int i = 0; i < copies; ++i) {
      std::vector<std::string> argv{"/proc/self/exe", "--as-load", kind};
      if (kind == "self") argv.insert(argv.end(), args.begin(), args.end());
      const pid_t pid = ::fork();
      if (pid == 0) {
        std::vector<char*> raw;
        for (std::string& a : argv) raw.push_back(a.data());
        raw.push_back(nullptr);
        ::execv("/proc/self/exe", raw.data());
        ::_exit(127);
      }
      if (pid > 0) pids_.push_back(pid);
    }
    if (!pids_.empty()) std::this_thread::sleep_for(warmup);
  }
  ~BackgroundLoad() {
    for (pid_t p : pids_) ::kill(p, SIGTERM);
    for (pid_t p : pids_) ::waitpid(p, nullptr, 0);
  }
  BackgroundLoad(const BackgroundLoad&) = delete;
  BackgroundLoad& operator=(const BackgroundLoad&) = delete;

 private:
  std::vector<pid_t> pids_;
};

/// The `omp` load's body: every hardware thread computing in one OpenMP team, until killed.
[[noreturn]] inline void busy_openmp_team() {
  volatile double sink = 0;
  for (;;) {
#pragma omp parallel
    {
      double x = 1.0;
      for (int i = 0; i < 2000000; ++i) x = std::sqrt(x + 1.0);
#pragma omp atomic
      sink += x;
    }
  }
}

}  // namespace gfnrl::bench
