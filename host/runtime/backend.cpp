// Backend selection and capability queries.
#include <cstdio>
#include <string>

#include "backend_ops.hpp"
#include "gfnrl/backend.hpp"
#include "gfnrl/error.hpp"

namespace gfnrl {

bool cuda_compiled() { return GFNRL_WITH_CUDA != 0; }

bool cuda_available() {
#if GFNRL_WITH_CUDA
  return detail::cuda::device_available();
#else
  return false;
#endif
}

std::string cuda_device_description() {
#if GFNRL_WITH_CUDA
  return detail::cuda::device_description();
#else
  return "this build of libgfnrl_cuda has no CUDA backend (configured without a CUDA compiler)";
#endif
}

Backend parse_backend(const std::string& name) {
  if (name == "cpu") return Backend::Cpu;
  if (name == "auto") return cuda_available() ? Backend::Cuda : Backend::Cpu;
  if (name == "cuda") {
    if (!cuda_available())
      throw InputError("--backend cuda: no usable CUDA device (" + cuda_device_description() +
                       "); use --backend cpu or auto");
    return Backend::Cuda;
  }
  throw InputError("unknown backend '" + name + "' (allowed: cpu, cuda, auto)");
}

const char* backend_name(Backend b) { return b == Backend::Cuda ? "cuda" : "cpu"; }

void synchronize(Backend b) {
#if GFNRL_WITH_CUDA
  if (b == Backend::Cuda) detail::cuda::synchronize();
#else
  (void)b;
#endif
}

StreamScope::StreamScope(Stream stream) {
#if GFNRL_WITH_CUDA
  if (stream.handle) {
    previous_ = detail::cuda::exchange_thread_stream(stream.handle);
    active_ = true;
  }
#else
  (void)stream;
#endif
}

StreamScope::~StreamScope() {
#if GFNRL_WITH_CUDA
  if (active_) detail::cuda::exchange_thread_stream(previous_);
#endif
}

CudaStream::CudaStream() {
#if GFNRL_WITH_CUDA
  handle_ = detail::cuda::create_stream();
#else
  throw InputError("CudaStream: this build of libgfnrl_cuda has no CUDA backend");
#endif
}

namespace detail {
void require_cpu(Backend b) {
  if (b != Backend::Cpu)
    throw InputError("this build of libgfnrl_cuda has no CUDA backend; use the cpu backend");
}
}  // namespace detail

}  // namespace gfnrl
