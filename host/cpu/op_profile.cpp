// The CPU ops' profile totals (cpu/parallel.hpp): off unless a benchmark switches them on; and
// the tests' switch that sends every op parallel.
#include "cpu/parallel.hpp"

namespace gfnrl::detail::cpu {

std::array<OpTotals, int(CpuOp::Count)>& op_totals() {
  static std::array<OpTotals, int(CpuOp::Count)> totals;
  return totals;
}

std::atomic<bool>& op_profiling() {
  static std::atomic<bool> on{false};
  return on;
}

std::atomic<bool>& force_parallel() {
  static std::atomic<bool> on{false};
  return on;
}

}  // namespace gfnrl::detail::cpu
