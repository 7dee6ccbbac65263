// CSR/CSC offsets from per-state degrees on the device (CUB scan), shared by the generators.
#pragma once
#include <cub/device/device_scan.cuh>
#include <thrust/iterator/transform_iterator.h>

#include "cuda_check.cuh"
#include "gfnrl/array.hpp"

namespace gfnrl::detail::cuda {

struct WidenDegree {
  __host__ __device__ int64_t operator()(int32_t d) const { return d; }
};

/// offsets[0] = 0, offsets[1..n] = inclusive prefix sum of deg; synchronises the stream. The
/// degrees are read as int64 so that CUB accumulates in int64 (its accumulator is the input's
/// type): the sum passes 2^31 on grids with more edges than that.
inline void offsets_from_degrees(const int32_t* deg, int64_t* offsets, int32_t n, cudaStream_t st) {
  GFNRL_CUDA_CHECK(cudaMemsetAsync(offsets, 0, sizeof(int64_t), st));
  const auto wide = thrust::make_transform_iterator(deg, WidenDegree{});
  std::size_t temp_bytes = 0;
  GFNRL_CUDA_CHECK(cub::DeviceScan::InclusiveSum(nullptr, temp_bytes, wide, offsets + 1, n, st));
  Array<unsigned char> temp(Backend::Cuda, temp_bytes);
  GFNRL_CUDA_CHECK(cub::DeviceScan::InclusiveSum(temp.data(), temp_bytes, wide, offsets + 1, n, st));
  GFNRL_CUDA_CHECK(cudaStreamSynchronize(st));  // before `temp` is freed
}

}  // namespace gfnrl::detail::cuda
