// CPU twin of kernels/backward_policy.cu: the max-entropy P_B n(s)/n(s') and the sums that
// validate a user P_B, one state per iteration.
#include "ops/sweep_ops.hpp"

namespace gfnrl::detail::cpu {

void backward_policy(const DagView& d, const double* log_n, float* log_prob) {
#pragma omp parallel for schedule(static) if (d.num_states > 4096) num_threads(::gfnrl::cpu_threads())
  for (int32_t c = 0; c < d.num_states; ++c) backward_state(d, c, log_n, log_prob);
}

void backward_sums(const DagView& d, const float* log_prob, double* sums) {
#pragma omp parallel for schedule(static) if (d.num_states > 4096) num_threads(::gfnrl::cpu_threads())
  for (int32_t c = 0; c < d.num_states; ++c) {
    double s = 0;
    for (int64_t j = d.parent_offsets[c]; j < d.parent_offsets[c + 1]; ++j)
      s += exp_(static_cast<double>(log_prob[d.parent_edge[j]]));
    sums[c] = s;
  }
}

}  // namespace gfnrl::detail::cpu
