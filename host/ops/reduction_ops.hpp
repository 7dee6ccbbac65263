// Internal: reductions in double (host/cpu/metrics.cpp, kernels/metrics.cu).
#pragma once
#include <cstddef>

#include "gfnrl/detail/state_math.hpp"
#include "ops/device_runtime.hpp"

namespace gfnrl::detail {

#define GFNRL_REDUCTION_OPS                                                                     \
  /* log sum exp(x) in double. */                                                               \
  double log_sum_exp(const float* x, std::size_t n);                                            \
  /* max of x (-inf for n = 0). */                                                              \
  float max_value(const float* x, std::size_t n);                                               \
  /* Sum over states of metric_terms(log_target[s] - log_z, log_terminal[s] - log_mass,      */ \
  /* log_visit[s], log_target[s] >= log_mode_threshold). */                                     \
  MetricSums metric_sums(const float* log_target, double log_z, const float* log_terminal,      \
                         double log_mass, const float* log_visit, std::size_t n,                 \
                         double log_mode_threshold);                                            \
  /* Sum over states of bound_terms(a, s). */                                                   \
  BoundSums bound_sums(const BoundArgs& a);

namespace cpu {
GFNRL_REDUCTION_OPS
/// p[i] = exp(x[i]) in double (vexp_d), over the threads: host data only (probabilities()).
void exp_to_double(const float* x, std::size_t n, double* p);
/// p[i] = exp(x[order[i]]) in double for i < n, 0 where order[i] < 0 or >= size (x's length):
/// exp_to_double read in a caller's order (probabilities() with an order). False when some
/// order[i] >= size.
bool exp_to_double_in_order(const float* x, int64_t size, const int64_t* order, std::size_t n,
                            double* p);
/// sums[s] = exp(x[s]) + sum of exp(e[k]) over s's edges k (child offsets `off`), host data:
/// the row sums of a forward policy table (first_unnormalised_state).
void row_sums(const int64_t* off, int32_t n, const float* e, const float* x, double* sums);
/// Whether x[begin, end) holds a NaN or +inf (first_nan_or_inf's chunk test).
bool any_nan_or_inf(const float* x, std::size_t begin, std::size_t end);
}
namespace cuda {
GFNRL_REDUCTION_OPS
}
#undef GFNRL_REDUCTION_OPS

}  // namespace gfnrl::detail
