// When a CPU training loop goes parallel. Below kMinParallelWork elementary operations a loop runs
// on one thread: on small grids a step is a few microseconds of work, and OpenMP barriers (worse
// when processes share cores, as parallel ctest does) would cost more than the loop.
#pragma once
#include <cstdint>

namespace gfnrl::detail::cpu {

constexpr int64_t kMinParallelWork = 1 << 14;
inline bool parallel(int64_t work, int64_t units = 2) {
  return units > 1 && work >= kMinParallelWork;
}

}  // namespace gfnrl::detail::cpu
