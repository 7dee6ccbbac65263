// Backend selection and capability queries.
#include <cstdio>
#include <string>

#include "ops/device_runtime.hpp"
#include "gfnrl/backend.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/names.hpp"

namespace gfnrl {

bool cuda_compiled() { return GFNRL_WITH_CUDA != 0; }

bool cuda_available() { return detail::cuda::device_available(); }

std::string cuda_device_description() { return detail::cuda::device_description(); }

int cuda_device_count() { return detail::cuda::device_count(); }

void use_cuda_device(int ordinal) {
  const int n = cuda_device_count();
  if (ordinal < 0 || ordinal >= n)
    throw InputError("CUDA device " + std::to_string(ordinal) + ": this process sees " +
                     std::to_string(n) + " device(s), ordinals [0, " + std::to_string(n) + ")");
  detail::cuda::set_device(ordinal);
}

const std::vector<std::string>& backend_names() {
  static const std::vector<std::string> names{"cpu", "cuda", "auto"};
  return names;
}

Backend parse_backend(const std::string& name) {
  if (name == "cpu") return Backend::Cpu;
  if (name == "auto") return cuda_available() ? Backend::Cuda : Backend::Cpu;
  if (name == "cuda") {
    if (!cuda_available())
      // Worded for every front end (the CLI's --backend, Python's backend=, the C ABI).
      throw InputError("backend 'cuda': no usable CUDA device (" + cuda_device_description() +
                       "); use backend 'cpu' or 'auto'");
    return Backend::Cuda;
  }
  throw InputError("unknown backend '" + name + "' (allowed: " + join_names(backend_names()) + ")");
}

const char* backend_name(Backend b) { return b == Backend::Cuda ? "cuda" : "cpu"; }

void synchronize(Backend b) {
  if (b == Backend::Cuda) detail::cuda::synchronize();
}

StreamScope::StreamScope(Stream stream) {
  if (stream.handle) {
    previous_ = detail::cuda::exchange_thread_stream(stream.handle);
    active_ = true;
  }
}

StreamScope::~StreamScope() {
  if (active_) detail::cuda::exchange_thread_stream(previous_);
}

CudaStream::CudaStream() { handle_ = detail::cuda::create_stream(); }

namespace detail {
void require_cpu(Backend b) {
  if (b != Backend::Cpu)
    throw InputError("this build of libgfnrl_cuda has no CUDA backend; use the cpu backend");
}
}  // namespace detail

}  // namespace gfnrl
