// Dense optimizer, target-table and fill updates over every entry of every run (one thread per
// entry; detail/optimizer_math.hpp).
#include "ops/training_ops.hpp"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
struct OptimizerEntry {
  OptimizerArgs a;
  __device__ void operator()(int64_t i) const { optimizer_entry(a, i); }
};
struct PolyakEntry {
  float* target;
  const float* source;
  float rate;
  __device__ void operator()(int64_t i) const { polyak_entry(target, source, rate, i); }
};
struct FillEntry {
  float* x;
  float value;
  __device__ void operator()(int64_t i) const { x[i] = value; }
};
}  // namespace

void optimizer_step(const OptimizerArgs& a) {
  for_each_index(a.stride * a.runs, OptimizerEntry{a});
}

// The device scans every entry: at HBM bandwidth the scan is cheap next to the step, and
// walking the touched list in parallel would need the repeated entries removed first.
void optimizer_step_touched(const OptimizerArgs& a, const TouchedEntries&) { optimizer_step(a); }

void polyak(float* target, const float* source, std::size_t n, float rate) {
  for_each_index(static_cast<int64_t>(n), PolyakEntry{target, source, rate});
}

void fill(float* x, std::size_t n, float value) {
  for_each_index(static_cast<int64_t>(n), FillEntry{x, value});
}

}  // namespace gfnrl::detail::cuda
