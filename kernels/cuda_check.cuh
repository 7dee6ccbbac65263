// Every CUDA runtime call and every launch is checked: failures throw gfnrl::CudaError with the
// file, line, the failing expression and CUDA's error string.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "gfnrl/error.hpp"

namespace gfnrl::detail::cuda {
[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* expr, const char* file,
                                          int line) {
  throw CudaError(std::string(file) + ":" + std::to_string(line) + ": " + expr + " failed: " +
                  cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}
}  // namespace gfnrl::detail::cuda

#define GFNRL_CUDA_CHECK(expr)                                                      \
  do {                                                                              \
    const cudaError_t gfnrl_err_ = (expr);                                          \
    if (gfnrl_err_ != cudaSuccess)                                                  \
      ::gfnrl::detail::cuda::throw_cuda_error(gfnrl_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a <<<>>> launch: reports launch-configuration errors (execution errors surface at the
// next synchronising call, which is checked too).
#define GFNRL_CUDA_CHECK_LAUNCH() GFNRL_CUDA_CHECK(cudaGetLastError())
