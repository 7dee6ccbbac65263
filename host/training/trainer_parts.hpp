// Internal: the parts a Trainer is made of. Each part owns the buffers of one feature, sizes
// itself (bytes(), summed by Trainer::estimate_bytes before anything is allocated) and
// allocates itself; the Trainer composes the parts' views into each op's arguments.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "gfnrl/array.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/detail/dqn_math.hpp"
#include "gfnrl/detail/loss_math.hpp"
#include "gfnrl/detail/rollout_math.hpp"
#include "gfnrl/detail/train_views.hpp"
#include "gfnrl/marginals.hpp"
#include "gfnrl/train.hpp"
#include "gfnrl/variational_bounds.hpp"
#include "ops/training_ops.hpp"

namespace gfnrl::training {

/// The trajectory loss a balance learner computes (tb, db, subtb, mdb, zvar, fm; their relative
/// and forward-looking forms are these with a base policy or flags). InputError for the others.
detail::LossKind balance_loss_kind(Algo a);

/// An optimizer step's hyper-parameters at update t (Adam's bias corrections 1 - beta^t); the
/// caller names the buffers.
detail::OptimizerArgs optimizer_args(const TrainConfig& c, int64_t t, bool adam, float lr_scale);

/// The array's data, or nullptr for an array a feature left unallocated (the ops' "absent").
template <class T>
T* or_null(Array<T>& a) {
  return a.empty() ? nullptr : a.data();
}
template <class T>
const T* or_null(const Array<T>& a) {
  return a.empty() ? nullptr : a.data();
}

/// An array of `n` zeros on `b`.
Array<float> zeros(Backend b, std::size_t n);

/// Every run's table row with its gradient and optimizer moments, the per-run learning rates
/// and the loss; the DQN learners' target table.
/// A per-run option (one value, or one per run) as one value per run.
inline std::vector<float> per_run(const std::vector<float>& v, int32_t runs) {
  return v.size() == 1 ? std::vector<float>(runs, v[0]) : v;
}

struct ForwardTables {
  static std::size_t bytes(const Dag& dag, const TrainConfig& c);
  ForwardTables(const Dag& dag, const TrainConfig& c);
  detail::TableView<float> view(const Dag& dag, int32_t runs);
  /// The optimizer step of every run's row (consumes and re-zeroes the gradient); lazy Adam and
  /// SGD visit only `touched` when it is given.
  void update(Backend b, const TrainConfig& c, const detail::TouchedEntries* touched = nullptr);

  /// With a lazy target, the DQN learners' target rows read for every transition of the batch
  /// `t` (the next state's; s's own too with own_row, Munchausen) brought up to date; then the
  /// same for the replayed samples of `a`.
  void catch_up_target(const detail::RolloutArgs& t, bool own_row);
  void catch_up_target(const detail::DqnArgs<float>& a);

  detail::TableLayout layout;
  std::size_t entries = 0;  // runs x stride
  Array<float> params, grad, m, v, target, loss, lr, lr_log_z;
  int64_t updates = 0;
  bool loss_valid = false;
  /// SoftDQN / Munchausen on the CPU with lazy Adam or SGD (a step changes only the entries it
  /// touched): the target is averaged entry by entry when it is read or its source entry is about
  /// to change (detail::polyak_catch_up), not in a pass over every entry per update. The same
  /// floats, in O(entries read or touched) per step.
  bool lazy_target = false;
  float target_rate = 0;
  int64_t polyak_updates = 0;          // Polyak updates so far
  std::vector<int64_t> target_synced;  // per entry: the updates it holds

 private:
  void catch_up_entry(int64_t i);
  void catch_up_target(const DagView& d, int32_t r, int32_t s, int64_t act, bool own_row);
};

/// The batch of forward trajectories of every run, and what the losses keep per trajectory.
struct Trajectories {
  static std::size_t bytes(const Dag& dag, const TrainConfig& c);
  Trajectories(const Dag& dag, const TrainConfig& c);
  detail::TrajectoryBatch view() const;
  /// Arguments that sample this batch from `params` at training step `step`.
  detail::RolloutArgs rollout(const Dag& dag, const TrainConfig& c, const detail::TableLayout& L,
                              const float* params, int64_t step);

  int32_t batch = 0;    // trajectories per run
  int32_t max_len = 0;  // (levels - 1) edges plus the exit
  Array<int32_t> states, actions, lengths;
  Array<float> scratch;    // SubTB
  Array<float> cost;       // pg / ac: each trajectory's total cost [runs x batch]
  Array<float> advantage;  // ac: [runs x batch x max_len]
  Array<float> epsilon_start, epsilon_end;  // [runs]: each run's exploration schedule
  Array<float> temperature_start, temperature_end;  // [runs]
  Array<uint8_t> reached;  // [runs x states]: 1 where a sampled trajectory of the run exited
};

/// Per-run ring buffers of transitions for the DQN learners (detail/replay_math.hpp).
struct ReplayBuffer {
  static std::size_t bytes(const TrainConfig& c);
  ReplayBuffer(Backend b, const TrainConfig& c);
  detail::ReplayArgs args();
  /// Draws c.replay_batch transitions per run into sample_state / sample_action.
  void sample(Backend b, const TrainConfig& c, int64_t step);
  /// New priorities from the sampled transitions' |TD errors| (prioritized replay only).
  void update_priorities(Backend b, const TrainConfig& c);

  Array<int32_t> slot_state, slot_action, sample_slot, sample_state, sample_action;
  Array<float> priority, max_priority, abs_td;
  Array<double> cumsum, block_sum;     // block_sum: the CPU's kept block sums (64 slots each)
  Array<int64_t> inserted, summed_at;
};

/// Coupled / guided P_B: the backward critic V_B [runs x N] with its gradient and Adam moments,
/// and the backward trajectories [runs x batch (x max_len)].
struct BackwardCritic {
  static std::size_t bytes(const Dag& dag, const TrainConfig& c);
  BackwardCritic(const Dag& dag, const TrainConfig& c);

  Array<float> value, value_grad, value_m, value_v, adv_sum;
  Array<int32_t> states, edges, lengths;
  float guide_log_reward = 0;
};

/// A trained P_B (learned, TLM, coupled, guided): every run's backward logits with their Adam
/// state, the TLM target copy, and the log P_B rows the forward losses read.
struct LearnedBackward {
  static std::size_t bytes(const Dag& dag, const TrainConfig& c);
  LearnedBackward(const Dag& dag, const TrainConfig& c);
  /// What the forward loss reads: log P_B of the online logits; with TLM, after TLM's own step
  /// on `batch`, of its Polyak-averaged target. Learned P_B also receives the loss's gradient.
  detail::BackwardView<float> before_forward_loss(const Dag& dag, const TrainConfig& c,
                                                  const detail::TableLayout& L,
                                                  const detail::TrajectoryBatch& batch);
  /// An Adam step on every run's logits, and on the critic's values at the same rate; with
  /// `visited` (lazy Adam, visits_only), on the parent edges of its states only.
  void optimize(const Dag& dag, const TrainConfig& c, float lr_scale,
                const detail::TrajectoryBatch* visited = nullptr);
  /// True when a step needs log P_B and the logits' update only at the parent edges of the
  /// batch's states: a learned P_B (not TLM's Polyak target, not the coupled modes' backward
  /// rollouts), lazy Adam without optimizer_scan, and a trajectory loss (no replay of older
  /// states, no exact gradient over every state). The results are bit-identical to the dense
  /// passes (Optimizer.TouchedEntriesAreBitIdenticalToTheScan).
  static bool visits_only(const TrainConfig& c);
  /// Niu et al.'s coupled step, after the forward update: backward trajectories from the batch's
  /// terminal states with the current P_B, then a policy-gradient step of P_B toward the guide
  /// read from the updated forward tables.
  void coupled_step(const Dag& dag, const TrainConfig& c, const ForwardTables& tables,
                    const Trajectories& batch, int64_t step);
  /// Run r's current P_B (a fresh copy).
  Array<float> policy(const Dag& dag, int32_t run) const;

  Array<float> theta, grad, m, v, target, log_pb, loss, lr;
  int64_t updates = 0;
  std::unique_ptr<BackwardCritic> critic;  // coupled / guided only
};

/// The exact expected gradient's sweeps (pg, tb): V(s), and TB's second moment V2 and (learned
/// P_B) the expected cost before s, each [runs x N].
struct ExactGradient {
  static std::size_t bytes(const Dag& dag, const TrainConfig& c);
  ExactGradient(const Dag& dag, const TrainConfig& c);
  Array<float> value, value2, prefix;
};

/// Every run's policy tables, log Z estimates and exact marginals, and the target they are
/// compared with (host/training/evaluation.cpp).
struct Evaluation {
  static std::size_t bytes(const Dag& dag, const TrainConfig& c);
  Evaluation(const Dag& dag, const TrainConfig& c);
  /// Every run's policy softmax(row / tau) into log_prob / exit_log_prob.
  void refresh_policies(const Dag& dag, const TrainConfig& c, const ForwardTables& tables);
  /// p(s) and P_T of every run's current policy tables into log_visit / log_terminal.
  void solve_marginals(const Dag& dag, int32_t runs);
  std::vector<RunEvaluation> evaluate(const Dag& dag, const TrainConfig& c,
                                      const ForwardTables& tables,
                                      const Array<float>* log_target_weight);
  ForwardPolicy policy(const Dag& dag, int32_t run) const;
  /// Every run's exact ELBO / EUBO into out[r].metrics, each with its own P_B (`pb(r)`); one
  /// solver for a fixed P_B (made at the first call), one per run and call for learned ones.
  void bound(const Dag& dag, const TrainConfig& c, bool fixed_pb,
             const std::function<BackwardPolicy(int32_t)>& pb, std::vector<RunEvaluation>& out);

  Array<float> log_prob, exit_log_prob, log_z;
  Array<float> log_visit, log_terminal;  // [runs x N]: every run's solver writes its slice
  // One marginal solver per run over its slice (created once: on CUDA each captures its sweep
  // as a graph and replays it).
  std::vector<std::unique_ptr<MarginalSolver>> solvers;
  // The target: log R + log mu^T with a base policy (else R itself), and its log normaliser.
  Array<float> target_weight;
  double target_log_z = 0;
  // Forward-looking flows: log R~(s0), added to the table's log F~(s0) for the log Z estimate
  // (set by the Trainer, which computes flow_potential once).
  float source_potential = 0;
  std::unique_ptr<VariationalBoundSolver> fixed_bounds;
};

}  // namespace gfnrl::training
