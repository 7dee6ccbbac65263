// Internal: the implicit hypergrid layout's passes, implemented by host/cpu/implicit_grid.cpp and
// kernels/implicit_grid.cu. Every array is indexed by the base-H code and
// holds g.num_states floats; the per-state math is detail/implicit_grid_math.hpp.
#pragma once
#include "gfnrl/detail/implicit_grid_math.hpp"
#include "gfnrl/implicit_hypergrid.hpp"

namespace gfnrl::detail {

/// The grid's constants for the passes (validate_implicit, then strides, the four log R values,
/// log k); InputError for a correction other than uniform or none.
ImplicitGrid make_implicit_grid(const HypergridConfig& c, ImplicitPolicy policy,
                                Correction correction);

#define GFNRL_IMPLICIT_GRID_OPS                                                                 \
  /* log_r[c] = log R of state c. */                                                            \
  void implicit_log_reward(const ImplicitGrid& g, float* log_r);                                \
  /* Soft values, children first (g.corrected picks the inner reward). */                       \
  void implicit_soft_values(const ImplicitGrid& g, const float* log_r, float* v);               \
  /* Visit log-probabilities of the policy g.uniform_policy picks (v: its soft values), */     \
  /* parents first. */                                                                          \
  void implicit_visits(const ImplicitGrid& g, const float* v, float* log_visit);                \
  /* Sums of implicit_bound_terms over the states (vb: soft values under the uniform P_B); */   \
  /* on the CPU in fixed chunks, the same for any thread count. */                              \
  ImplicitBoundTerms implicit_bounds(const ImplicitGrid& g, const float* v, const float* vb,    \
                                     const float* log_visit, const float* log_r, double log_z); \
  /* out[c] = log_visit[c] + log pi(exit | c) = log P_T; `out` may be `v` (in place). */        \
  void implicit_terminal(const ImplicitGrid& g, const float* v, const float* log_r,             \
                         const float* log_visit, float* out);

namespace cpu {
GFNRL_IMPLICIT_GRID_OPS
}
namespace cuda {
GFNRL_IMPLICIT_GRID_OPS
}
#undef GFNRL_IMPLICIT_GRID_OPS

}  // namespace gfnrl::detail
