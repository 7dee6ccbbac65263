// Internal: the level-synchronous sweeps of the exact core, implemented by host/cpu/ and kernels/
// under the same stems (soft_values, forward_sweep, backward_policy).
#pragma once
#include "gfnrl/dag.hpp"
#include "gfnrl/detail/state_math.hpp"
#include "gfnrl/sweep.hpp"
#include "ops/device_runtime.hpp"

namespace gfnrl::detail {

#define GFNRL_SWEEP_OPS                                                                         \
  /* Backward sweep of soft value iteration, last level first. */                               \
  void soft_values(const Dag& dag, const SoftValueArgs& args, const SweepOptions& opt,          \
                   SweepGraphPtr& graph);                                                       \
  /* Forward sweep (marginals or path counts), first level first. */                            \
  void forward_sweep(const Dag& dag, const ForwardArgs& args, const SweepOptions& opt,          \
                     SweepGraphPtr& graph);                                                     \
  /* The same sweep in double with zero weights: log path counts. */                            \
  void path_counts(const Dag& dag, const PathCountArgs& args);                                  \
  void uniform_forward_policy(const DagView& d, float* log_prob, float* exit_log_prob);         \
  void backward_policy(const DagView& d, const double* log_n, float* log_prob);                 \
  /* Sum over children c of exp(log_prob of the parent edges), per child: for validation. */    \
  void backward_sums(const DagView& d, const float* log_prob, double* sums);                   \
  /* out[j] = action_table_slot(d, j, width) for the parent slots j < slots. */                 \
  void action_table_index(const DagView& d, int64_t slots, int64_t width, EdgeIdsWriter out);   \
  /* out[s] = table[s * width + column] for s < rows. */                                        \
  void table_column(const float* table, int64_t rows, int64_t width, int64_t column, float* out);

namespace cpu {
GFNRL_SWEEP_OPS
}
namespace cuda {
GFNRL_SWEEP_OPS
}
#undef GFNRL_SWEEP_OPS

}  // namespace gfnrl::detail
