// The CPU backend's team size: OpenMP's, capped (backend.hpp).
#include <algorithm>
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

int cpu_threads() {
#ifdef _OPENMP
  return std::max(1, std::min(omp_get_max_threads(), cpu_thread_cap()));
#else
  return 1;
#endif
}

}  // namespace gfnrl
