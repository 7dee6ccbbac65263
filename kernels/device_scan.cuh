// CSR/CSC offsets from per-state degrees on the device (CUB scan), shared by the generators.
#pragma once
#include <cub/device/device_scan.cuh>

#include "cuda_check.cuh"
#include "gfnrl/array.hpp"

namespace gfnrl::detail::cuda {

/// offsets[0] = 0, offsets[1..n] = inclusive prefix sum of deg; synchronises the stream.
inline void offsets_from_degrees(const int32_t* deg, int32_t* offsets, int32_t n, cudaStream_t st) {
  GFNRL_CUDA_CHECK(cudaMemsetAsync(offsets, 0, sizeof(int32_t), st));
  std::size_t temp_bytes = 0;
  GFNRL_CUDA_CHECK(cub::DeviceScan::InclusiveSum(nullptr, temp_bytes, deg, offsets + 1, n, st));
  Array<unsigned char> temp(Backend::Cuda, temp_bytes);
  GFNRL_CUDA_CHECK(cub::DeviceScan::InclusiveSum(temp.data(), temp_bytes, deg, offsets + 1, n, st));
  GFNRL_CUDA_CHECK(cudaStreamSynchronize(st));  // before `temp` is freed
}

}  // namespace gfnrl::detail::cuda
