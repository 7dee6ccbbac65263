// CPU twin of kernels/optimizer.cu: Adam / lazy Adam / SGD per entry, Polyak, fill.
#include "ops/training_ops.hpp"
#include "parallel.hpp"

namespace gfnrl::detail::cpu {

void optimizer_step(const OptimizerArgs& a) {
  const int64_t n = a.stride * a.runs;
#pragma omp parallel for schedule(static) if (parallel(n))
  for (int64_t i = 0; i < n; ++i) optimizer_entry(a, i);
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
