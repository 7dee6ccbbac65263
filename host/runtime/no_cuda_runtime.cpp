// The device runtime of a build without CUDA (compiled only then): no device, and every request
// for one refused with the same message, so backend.cpp, array.cpp, stopwatch.cpp and
// memory_budget.cpp call detail::cuda:: unconditionally instead of carrying #if blocks.
#include "gfnrl/error.hpp"
#include "ops/device_runtime.hpp"

namespace gfnrl::detail::cuda {

namespace {
[[noreturn]] void refuse() { require_cpu(Backend::Cuda); throw InputError("no CUDA backend"); }
}  // namespace

std::shared_ptr<void> allocate(std::size_t) { refuse(); }
void* exchange_thread_stream(void*) { return nullptr; }  // streams are a no-op on the CPU
std::shared_ptr<void> create_stream() {
  throw InputError("CudaStream: this build of libgfnrl_cuda has no CUDA backend");
}
void copy(void*, bool, const void*, bool, std::size_t) { refuse(); }
void synchronize() {}
bool device_available() { return false; }
std::string device_description() {
  return "this build of libgfnrl_cuda has no CUDA backend (configured without a CUDA compiler)";
}
std::size_t free_bytes() { return 0; }
int device_count() { return 0; }
void set_device(int) { refuse(); }
std::shared_ptr<void> create_event_pair() { refuse(); }
void record_start(void*) { refuse(); }
double elapsed_seconds(void*) { refuse(); }

}  // namespace gfnrl::detail::cuda
