// CPU twin of kernels/optimizer.cu: Adam / lazy Adam / SGD per entry or over a step's touched
// entries, Polyak, fill.
#include "ops/training_ops.hpp"
#include "parallel.hpp"

namespace gfnrl::detail::cpu {

void optimizer_step(const OptimizerArgs& a) {
  const int64_t n = a.stride * a.runs;
#pragma omp parallel for schedule(static) if (parallel(n))
  for (int64_t i = 0; i < n; ++i) optimizer_entry(a, i);
}

// One thread per run (rows of different runs are disjoint; within a run the list may repeat an
// entry, which only the first visit moves).
void optimizer_step_touched(const OptimizerArgs& a, const TouchedEntries& t) {
  const int64_t work = t.batch.states ? int64_t(a.runs) * t.batch.batch * t.batch.max_len * 8
                                      : int64_t(a.runs) * t.samples;
#pragma omp parallel for schedule(static) if (parallel(work, a.runs))
  for (int32_t r = 0; r < a.runs; ++r) optimizer_touched_run(a, t, r);
}

void polyak(float* target, const float* source, std::size_t n, float rate) {
#pragma omp parallel for schedule(static) if (parallel(static_cast<int64_t>(n)))
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) polyak_entry(target, source, rate, i);
}

void fill(float* x, std::size_t n, float value) {
#pragma omp parallel for schedule(static) if (parallel(static_cast<int64_t>(n)))
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) x[i] = value;
}

}  // namespace gfnrl::detail::cpu
