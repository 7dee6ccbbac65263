// The CPU backend's team size (OpenMP's, GFNRL_THREADS, capped) and the short-spin default for
// programs that can still choose it (backend.hpp).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "gfnrl/backend.hpp"

namespace gfnrl {

int cpu_thread_cap() {
  static const int cap = 4 * std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return cap;
}

int gfnrl_threads_setting() {
  static const int threads = [] {
    const char* v = std::getenv("GFNRL_THREADS");
    if (v == nullptr || *v == '\0' || std::strlen(v) > 9 ||
        std::strspn(v, "0123456789") != std::strlen(v) || v[0] == '0')
      return 0;  // unset or not a count: OpenMP's (the CLI refuses such a value by name)
    return std::atoi(v);
  }();
  return threads;
}

namespace {
thread_local int t_share = 0;  // set_thread_share's, for this thread
}  // namespace

int set_thread_share(int threads) {
  const int previous = t_share;
  t_share = std::max(0, threads);
  return previous;
}

int cpu_threads() {
#ifdef _OPENMP
  const int mine = gfnrl_threads_setting();
  int asked = mine > 0 ? mine : omp_get_max_threads();
  if (t_share > 0) asked = std::min(asked, t_share);
  return std::max(1, std::min(asked, cpu_thread_cap()));
#else
  return 1;
#endif
}

// libgomp reads its wait policy once, when it is loaded: the only way to choose it for this
// program is to run the program again with the variable set (once: then it is set).
void prefer_short_spin_waits(char** argv) {
  for (const char* chosen : {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"})
    if (std::getenv(chosen) != nullptr) return;  // the user's choice, kept exactly
  if (::setenv("GOMP_SPINCOUNT", kShortSpinCount, 1) != 0) return;
  if (argv == nullptr || ::access("/proc/self/exe", X_OK) != 0) return;
  ::execv("/proc/self/exe", argv);
  // exec failed: go on with libgomp's default waits (GOMP_SPINCOUNT stays set for children).
}

}  // namespace gfnrl
