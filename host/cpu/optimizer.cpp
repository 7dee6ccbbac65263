// CPU twin of kernels/optimizer.cu: Adam / lazy Adam / SGD per entry or over a step's touched
// entries, Polyak, fill.
#include "ops/training_ops.hpp"
#include "parallel.hpp"

namespace gfnrl::detail::cpu {

void optimizer_step(const OptimizerArgs& a) {
  const int64_t n = a.stride * a.runs;
  const OpScope op(CpuOp::Optimizer, n);
#pragma omp parallel for schedule(static) if (op.parallel()) num_threads(::gfnrl::cpu_threads())
  for (int64_t i = 0; i < n; ++i) optimizer_entry(a, i);
}

// One thread per run (rows of different runs are disjoint; within a run the list may repeat an
// entry, which only the first visit moves).
void optimizer_step_touched(const OptimizerArgs& a, const TouchedEntries& t) {
  const OpScope op(CpuOp::OptimizerTouched,
                   t.batch.states ? int64_t(a.runs) * t.batch.batch * t.batch.max_len
                                  : int64_t(a.runs) * t.samples);
#pragma omp parallel for schedule(static) if (op.parallel(a.runs)) num_threads(::gfnrl::cpu_threads())
  for (int32_t r = 0; r < a.runs; ++r) optimizer_touched_run(a, t, r);
}

void polyak(float* target, const float* source, std::size_t n, float rate) {
  const OpScope op(CpuOp::Fill, static_cast<int64_t>(n) * 3);  // two reads and a write
#pragma omp parallel for schedule(static) if (op.parallel()) num_threads(::gfnrl::cpu_threads())
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) polyak_entry(target, source, rate, i);
}

void fill(float* x, std::size_t n, float value) {
  const OpScope op(CpuOp::Fill, static_cast<int64_t>(n));
#pragma omp parallel for schedule(static) if (op.parallel()) num_threads(::gfnrl::cpu_threads())
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) x[i] = value;
}

}  // namespace gfnrl::detail::cpu
