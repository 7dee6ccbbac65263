// Internal: the ops of batched training, implemented by host/cpu/ and kernels/ under the same
// stems (train_rollout, train_losses, replay, optimizer). Per-trajectory and per-entry math lives
// in the detail/ headers included here.
#pragma once
#include <cstddef>
#include <cstdint>

#include "gfnrl/dag.hpp"
#include "gfnrl/detail/coupled_backward_math.hpp"
#include "gfnrl/detail/dqn_math.hpp"
#include "gfnrl/detail/loss_math.hpp"
#include "gfnrl/detail/optimizer_math.hpp"
#include "gfnrl/detail/pg_math.hpp"
#include "gfnrl/detail/replay_math.hpp"
#include "gfnrl/detail/rollout_math.hpp"
#include "gfnrl/detail/touched_entries.hpp"
#include "ops/device_runtime.hpp"

namespace gfnrl::detail {

#define GFNRL_TRAINING_OPS                                                                      \
  /* Every run's policy softmax(scale * row): [runs x E] edges, [runs x N] exits. */            \
  void policy_log_probs(const DagView& d, const TableLayout& L, const float* params,           \
                        int32_t runs, float scale, float* log_prob, float* exit_log_prob);     \
  /* out[r] = every run's log Z estimate (LogZEstimate, table_layout.hpp). */                  \
  void log_z_estimates(const DagView& d, const TableLayout& L, const float* params,            \
                       int32_t runs, LogZEstimate mode, float tau, float* out);                \
  void rollout(const RolloutArgs& a);                                                           \
  /* out[r] = reached_groups(run r's reached row, states, group, k) (rollout_math.hpp). */      \
  void count_reached(const uint8_t* reached, int32_t runs, int32_t num_states,                  \
                     const int32_t* states, const int32_t* group, int32_t k, int32_t* out);     \
  void trajectory_loss(LossKind kind, const TrajectoryLossArgs<float>& a);                      \
  void dqn_loss(const DqnArgs<float>& a);                                                       \
  /* Appends every trajectory of `t` to its run's ring buffer and advances the heads. */        \
  void replay_insert(const ReplayArgs& b, const RolloutArgs& t);                                \
  void replay_sample(const ReplayArgs& b, uint64_t seed, uint64_t step, int32_t samples,        \
                     int32_t* slot, int32_t* state, int32_t* action);                           \
  /* priority[slot] = replay_priority(|td|, exponent, loss: kPriority*); raises max_priority. */\
  void replay_update_priorities(const ReplayArgs& b, int32_t samples, const int32_t* slot,      \
                                const float* abs_td, float exponent, int loss);                 \
  /* The reference rule: the batch `t` just inserted gets its own TD error's priorities. */    \
  void replay_prioritize_new(const ReplayArgs& b, const RolloutArgs& t,                        \
                             const DqnArgs<float>& a, float exponent);                          \
  void optimizer_step(const OptimizerArgs& a);                                                  \
  /* Lazy Adam / SGD over the entries the step's loss touched (equal to optimizer_step). */  \
  void optimizer_step_touched(const OptimizerArgs& a, const TouchedEntries& t);                 \
  /* log P_B = log-softmax of every run's backward logits over each state's parents. */         \
  void backward_log_probs(const DagView& d, const float* theta, int32_t runs, float* log_pb);  \
  /* The same at the parent edges of the batch's states only (the rest of log_pb is stale).  */ \
  void backward_log_probs_visited(const DagView& d, const float* theta, int32_t runs,          \
                                  const TrajectoryBatch& batch, float* log_pb);                \
  void tlm_loss(const TlmArgs<float>& a);                                                       \
  /* REINFORCE on the sampled trajectories; the exact gradient by a backward value sweep. */    \
  void pg_loss(const PgArgs<float>& a);                                                         \
  void pg_exact(const Dag& dag, const PgArgs<float>& a);                                        \
  /* Coupled P_B (Niu et al.): backward rollouts from the batch's terminal states, then the   */ \
  /* backward policy gradient and critic gradient on them. */                                   \
  void backward_rollout(const BackwardRolloutArgs& a);                                          \
  void coupled_loss(const CoupledArgs<float>& a);                                               \
  void polyak(float* target, const float* source, std::size_t n, float rate);                   \
  void fill(float* x, std::size_t n, float value);

namespace cpu {
GFNRL_TRAINING_OPS
}
namespace cuda {
GFNRL_TRAINING_OPS
}
#undef GFNRL_TRAINING_OPS

}  // namespace gfnrl::detail
