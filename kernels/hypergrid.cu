// Hypergrid generated on the GPU: level of every base-H code, a stable radix sort of codes by
// level (CUB), the inverse permutation, degree prefix sums (CUB) and the shared per-state fill.
#include <cub/device/device_radix_sort.cuh>

#include "ops/builder_ops.hpp"
#include "gfnrl/array.hpp"
#include "device_scan.cuh"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
__global__ void level_kernel(HypergridShape g, int32_t n, int32_t* level, int64_t* code) {
  const int32_t i = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  int32_t x[kMaxHypergridDim];
  hypergrid_decode(i, g, x);
  int32_t sum = 0;
  for (int d = 0; d < g.ndim; ++d) sum += x[d];
  level[i] = sum;
  code[i] = i;
}

__global__ void rank_degree_kernel(HypergridShape g, int32_t n, const int64_t* order,
                                   int32_t* rank, int32_t* out_deg, int32_t* in_deg) {
  const int32_t i = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  rank[order[i]] = i;
  hypergrid_degrees(order[i], g, &out_deg[i], &in_deg[i]);
}

__global__ void fill_kernel(HypergridFill f, int32_t n) {
  const int32_t i = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) hypergrid_fill_state(i, f);
}

int bits_for(int32_t v) {
  int b = 1;
  while ((int64_t(1) << b) <= v) ++b;
  return b;
}

}  // namespace

void build_hypergrid(const HypergridShape& g, int64_t num_states, HypergridBuffers& out) {
  const int32_t n = static_cast<int32_t>(num_states);
  cudaStream_t st = library_stream();
  Array<int32_t> level(Backend::Cuda, n), level_sorted(Backend::Cuda, n);
  Array<int64_t> codes(Backend::Cuda, n);
  level_kernel<<<grid_for(n), kBlock, 0, st>>>(g, n, level.data(), codes.data());
  GFNRL_CUDA_CHECK_LAUNCH();
  {
    // LSD radix sort is stable: ties keep increasing code order, as the CPU counting sort does.
    const int end_bit = bits_for(g.ndim * (g.height - 1));
    std::size_t temp_bytes = 0;
    GFNRL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
        nullptr, temp_bytes, level.data(), level_sorted.data(), codes.data(), out.label.data(), n,
        0, end_bit, st));
    Array<unsigned char> temp(Backend::Cuda, temp_bytes);
    GFNRL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data(), temp_bytes, level.data(),
                                                     level_sorted.data(), codes.data(),
                                                     out.label.data(), n, 0, end_bit, st));
    GFNRL_CUDA_CHECK(cudaStreamSynchronize(st));
  }
  Array<int32_t> rank(Backend::Cuda, n);
  // Reuse the level buffers as degree buffers.
  rank_degree_kernel<<<grid_for(n), kBlock, 0, st>>>(g, n, out.label.data(), rank.data(),
                                                     level.data(), level_sorted.data());
  GFNRL_CUDA_CHECK_LAUNCH();
  offsets_from_degrees(level.data(), out.child_offsets.data(), n, st);
  offsets_from_degrees(level_sorted.data(), out.parent_offsets.data(), n, st);
  const HypergridFill f{g, out.label.data(), rank.data(), out.write_view()};
  fill_kernel<<<grid_for(n), kBlock, 0, st>>>(f, n);
  GFNRL_CUDA_CHECK_LAUNCH();
  GFNRL_CUDA_CHECK(cudaStreamSynchronize(st));  // before `rank` is freed
}

}  // namespace gfnrl::detail::cuda
