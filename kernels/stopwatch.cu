// CUDA event pairs for gfnrl::Stopwatch, recorded on the library stream.
#include <cuda_runtime.h>

#include "ops/device_runtime.hpp"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    GFNRL_CUDA_CHECK(cudaEventCreate(&start));
    GFNRL_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~EventPair() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
};
}  // namespace

std::shared_ptr<void> create_event_pair() { return std::make_shared<EventPair>(); }

void record_start(void* events) {
  GFNRL_CUDA_CHECK(cudaEventRecord(static_cast<EventPair*>(events)->start, library_stream()));
}

double elapsed_seconds(void* events) {
  auto* e = static_cast<EventPair*>(events);
  GFNRL_CUDA_CHECK(cudaEventRecord(e->stop, library_stream()));
  GFNRL_CUDA_CHECK(cudaEventSynchronize(e->stop));
  float ms = 0;
  GFNRL_CUDA_CHECK(cudaEventElapsedTime(&ms, e->start, e->stop));
  return ms * 1e-3;
}

}  // namespace gfnrl::detail::cuda
