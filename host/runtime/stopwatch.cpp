// Stopwatch: CUDA events for the CUDA backend, steady_clock for the CPU.
#include "backend_ops.hpp"
#include "gfnrl/stopwatch.hpp"

namespace gfnrl {

Stopwatch::Stopwatch(Backend b) : backend_(b) {
#if GFNRL_WITH_CUDA
  if (b == Backend::Cuda) events_ = detail::cuda::create_event_pair();
#endif
}

void Stopwatch::start() {
#if GFNRL_WITH_CUDA
  if (backend_ == Backend::Cuda) return detail::cuda::record_start(events_.get());
#endif
  t0_ = std::chrono::steady_clock::now();
}

double Stopwatch::seconds() {
#if GFNRL_WITH_CUDA
  if (backend_ == Backend::Cuda) return detail::cuda::elapsed_seconds(events_.get());
#endif
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

}  // namespace gfnrl
