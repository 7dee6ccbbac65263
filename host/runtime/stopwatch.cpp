// Stopwatch: CUDA events for the CUDA backend, steady_clock for the CPU.
#include "ops/device_runtime.hpp"
#include "gfnrl/stopwatch.hpp"

namespace gfnrl {

Stopwatch::Stopwatch(Backend b) : backend_(b) {
  if (b == Backend::Cuda) events_ = detail::cuda::create_event_pair();
}

void Stopwatch::start() {
  if (backend_ == Backend::Cuda) return detail::cuda::record_start(events_.get());
  t0_ = std::chrono::steady_clock::now();
}

double Stopwatch::seconds() {
  if (backend_ == Backend::Cuda) return detail::cuda::elapsed_seconds(events_.get());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

}  // namespace gfnrl
