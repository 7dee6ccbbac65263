// Backward policies on the GPU, one thread per child state (its parent edges are contiguous in
// CSC): P_B(p|c) = 1/#Pa(c) or n(p)/n(c); and per-child sums of P_B for validating user tables.
#include "ops/sweep_ops.hpp"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
__global__ void backward_kernel(DagView d, const double* log_n, float* log_prob) {
  const int32_t c = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (c < d.num_states) backward_state(d, c, log_n, log_prob);
}

__global__ void backward_sums_kernel(DagView d, const float* log_prob, double* sums) {
  const int32_t c = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= d.num_states) return;
  double s = 0;
  for (int64_t j = d.parent_offsets[c]; j < d.parent_offsets[c + 1]; ++j)
    s += exp(static_cast<double>(log_prob[d.parent_edge[j]]));
  sums[c] = s;
}
}  // namespace

void backward_policy(const DagView& d, const double* log_n, float* log_prob) {
  backward_kernel<<<grid_for(d.num_states), kBlock, 0, library_stream()>>>(d, log_n, log_prob);
  GFNRL_CUDA_CHECK_LAUNCH();
}

void backward_sums(const DagView& d, const float* log_prob, double* sums) {
  backward_sums_kernel<<<grid_for(d.num_states), kBlock, 0, library_stream()>>>(d, log_prob,
                                                                               sums);
  GFNRL_CUDA_CHECK_LAUNCH();
}

}  // namespace gfnrl::detail::cuda
