// Device memory (RAII through shared_ptr deleters), copies, the library stream, device queries.
// Host code reaches these only through host/ops/device_runtime.hpp.
#include <cuda_runtime.h>

#include <string>

#include "ops/device_runtime.hpp"
#include "gfnrl/error.hpp"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
struct StreamOwner {
  cudaStream_t s = nullptr;
  StreamOwner() { GFNRL_CUDA_CHECK(cudaStreamCreate(&s)); }
  ~StreamOwner() {
    if (s) cudaStreamDestroy(s);
  }
};
}  // namespace

// A StreamScope's stream for this thread, else the library's own.
thread_local cudaStream_t thread_stream = nullptr;

cudaStream_t library_stream() {
  if (thread_stream) return thread_stream;
  static StreamOwner owner;
  return owner.s;
}

void* exchange_thread_stream(void* stream) {
  void* previous = thread_stream;
  thread_stream = static_cast<cudaStream_t>(stream);
  return previous;
}

std::shared_ptr<void> create_stream() {
  cudaStream_t s = nullptr;
  GFNRL_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return std::shared_ptr<void>(s, [](void* q) { cudaStreamDestroy(static_cast<cudaStream_t>(q)); });
}

std::shared_ptr<void> allocate(std::size_t bytes) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free allocation error
    throw AllocationError("cudaMalloc of " + format_bytes(bytes) + " failed: " +
                              cudaGetErrorString(err),
                          bytes, free_bytes());
  }
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

void copy(void* dst, bool dst_device, const void* src, bool src_device, std::size_t bytes) {
  const cudaMemcpyKind kind = dst_device ? (src_device ? cudaMemcpyDeviceToDevice
                                                       : cudaMemcpyHostToDevice)
                                         : cudaMemcpyDeviceToHost;
  // Ordered after the library stream's work, and synchronous for the host.
  GFNRL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, library_stream()));
  GFNRL_CUDA_CHECK(cudaStreamSynchronize(library_stream()));
}

void synchronize() { GFNRL_CUDA_CHECK(cudaStreamSynchronize(library_stream())); }

bool device_available() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return n > 0;
}

std::string device_description() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no CUDA device: ") + cudaGetErrorString(err);
  }
  if (n == 0) return "no CUDA device";
  int dev = 0;
  cudaDeviceProp p{};
  GFNRL_CUDA_CHECK(cudaGetDevice(&dev));
  GFNRL_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.multiProcessorCount) + " SMs, " + format_bytes(p.totalGlobalMem) + ")";
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

void set_device(int ordinal) { GFNRL_CUDA_CHECK(cudaSetDevice(ordinal)); }

std::size_t free_bytes() {
  std::size_t free = 0, total = 0;
  GFNRL_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return free;
}

}  // namespace gfnrl::detail::cuda
