// Internal: the device runtime the dispatchers and backends share (device memory, copies, the
// library's stream, events), and GFNRL_BACKEND_CALL, which picks detail::cpu::fn or
// detail::cuda::fn by backend. No math headers and no CUDA types: the ground floor of host/.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "gfnrl/backend.hpp"
#include "gfnrl/config.hpp"

namespace gfnrl::detail {

/// Throws when a CPU-only build is asked for Backend::Cuda.
void require_cpu(Backend b);

namespace cuda {
// Device memory and the library's stream (kernels/device_memory.cu).
std::shared_ptr<void> allocate(std::size_t bytes);
/// Sets this thread's stream for library work (null: the library's own); returns the previous.
void* exchange_thread_stream(void* stream);
/// A new non-blocking stream, destroyed with the last owner.
std::shared_ptr<void> create_stream();
void copy(void* dst, bool dst_device, const void* src, bool src_device, std::size_t bytes);
void synchronize();
bool device_available();
std::string device_description();
int device_count();
void set_device(int ordinal);
std::size_t free_bytes();
// Event timing on the library stream (kernels/stopwatch.cu).
std::shared_ptr<void> create_event_pair();
void record_start(void* events);
double elapsed_seconds(void* events);
}  // namespace cuda

// Calls detail::cpu::fn or detail::cuda::fn by backend; CPU-only builds refuse Backend::Cuda.
// The per-topic op headers (sweep_ops, reduction_ops, builder_ops, training_ops) declare each op
// once, with identical signatures in both namespaces.
#if GFNRL_WITH_CUDA
#define GFNRL_BACKEND_CALL(b, fn, ...)                                                        \
  ((b) == ::gfnrl::Backend::Cuda ? ::gfnrl::detail::cuda::fn(__VA_ARGS__)                      \
                                 : ::gfnrl::detail::cpu::fn(__VA_ARGS__))
#else
#define GFNRL_BACKEND_CALL(b, fn, ...) \
  (::gfnrl::detail::require_cpu(b), ::gfnrl::detail::cpu::fn(__VA_ARGS__))
#endif

}  // namespace gfnrl::detail
