// Loss gradients of batched training on the GPU: one thread per (run, trajectory) for TB, DB,
// SubTB, TLM, policy gradients and the coupled backward rollouts and loss; one per (run,
// replayed transition) for SoftDQN / Munchausen; one per (run, state) for the backward
// log-softmax and the exact gradient. Gradients scatter-add with atomics into the run's row
// (detail/loss_math.hpp, dqn_math.hpp, backward_math.hpp, pg_math.hpp,
// coupled_backward_math.hpp).
#include "ops/training_ops.hpp"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
struct TrajectoryLoss {
  LossKind kind;
  TrajectoryLossArgs<float> a;
  __device__ void operator()(int32_t r, int32_t m) const { detail::trajectory_loss(kind, a, r, m); }
};

// ZVar's three passes: a thread per trajectory (residuals, then the scatter), per run between.
struct ZVarTrajectory {
  TrajectoryLossArgs<float> a;
  bool scatter;  // pass 3, else pass 1
  __device__ void operator()(int32_t r, int32_t m) const {
    if (scatter)
      zvar_scatter(a, r, m);
    else
      zvar_residual(a, r, m);
  }
};
struct ZVarBatch {
  TrajectoryLossArgs<float> a;
  __device__ void operator()(int64_t r) const { zvar_batch(a, static_cast<int32_t>(r)); }
};

struct TlmLoss {
  TlmArgs<float> a;
  __device__ void operator()(int32_t r, int32_t m) const { tlm_trajectory(a, r, m); }
};

struct BackwardLogProbs {
  DagView d;
  const float* theta;
  float* log_pb;
  __device__ void operator()(int32_t r, int32_t s) const {
    backward_log_probs_state(d, theta + int64_t(r) * d.num_edges, s,
                             log_pb + int64_t(r) * d.num_edges);
  }
};

// A thread per trajectory position: the log-softmax of the state there (every state on the
// batch's trajectories; one seen twice is computed twice, to the same values).
struct BackwardLogProbsVisited {
  DagView d;
  const float* theta;
  TrajectoryBatch t;
  float* log_pb;
  __device__ void operator()(int64_t i) const {
    const int64_t traj = i / t.max_len;
    if (i - traj * t.max_len >= t.lengths[traj]) return;
    const int64_t r = traj / t.batch;
    backward_log_probs_state(d, theta + r * d.num_edges, t.states[i], log_pb + r * d.num_edges);
  }
};

struct PgCost {
  PgArgs<float> a;
  __device__ void operator()(int32_t r, int32_t m) const { pg_trajectory_cost(a, r, m); }
};

struct PgLoss {
  PgArgs<float> a;
  __device__ void operator()(int32_t r, int32_t m) const { pg_trajectory(a, r, m); }
};

// One level of the exact value sweep: (run, state of the level) per index.
struct PgValueLevel {
  PgArgs<float> a;
  int32_t begin;
  __device__ void operator()(int32_t r, int32_t k) const { pg_value_state(a, r, begin + k); }
};

// One level of the forward prefix sweep (exact TB with a learned P_B).
struct PgPrefixLevel {
  PgArgs<float> a;
  int32_t begin;
  __device__ void operator()(int32_t r, int32_t k) const { pg_prefix_state(a, r, begin + k); }
};

struct PgExactGrad {
  PgArgs<float> a;
  __device__ void operator()(int32_t r, int32_t s) const { pg_exact_grad_state(a, r, s); }
};

struct BackwardRollout {
  BackwardRolloutArgs a;
  __device__ void operator()(int32_t r, int32_t m) const { backward_rollout_trajectory(a, r, m); }
};

struct CoupledCost {
  CoupledArgs<float> a;
  __device__ void operator()(int32_t r, int32_t m) const { coupled_trajectory_cost(a, r, m); }
};

struct CoupledLoss {
  CoupledArgs<float> a;
  __device__ void operator()(int32_t r, int32_t m) const { coupled_trajectory(a, r, m); }
};

struct DqnLoss {
  DqnArgs<float> a;
  __device__ void operator()(int32_t r, int32_t m) const { dqn_sample(a, r, m); }
};
}  // namespace

void trajectory_loss(LossKind kind, const TrajectoryLossArgs<float>& a) {
  if (kind == LossKind::ZVar) {  // the run's mean needs every residual first
    for_each_run_item(a.runs, a.batch, ZVarTrajectory{a, false});
    for_each_index(a.runs, ZVarBatch{a});
    for_each_run_item(a.runs, a.batch, ZVarTrajectory{a, true});
    return;
  }
  for_each_run_item(a.runs, a.batch, TrajectoryLoss{kind, a});
}

void tlm_loss(const TlmArgs<float>& a) {
  for_each_run_item(a.runs, a.batch, TlmLoss{a});
}

// O(runs x batch x max_len) instead of O(runs x E) per step: on 4-D H=20 a run's 16
// trajectories visit ~1,200 positions of its 1.6e5 states.
void backward_log_probs_visited(const DagView& d, const float* theta, int32_t runs,
                                const TrajectoryBatch& batch, float* log_pb) {
  for_each_index(int64_t(runs) * batch.batch * batch.max_len,
                 BackwardLogProbsVisited{d, theta, batch, log_pb});
}

void backward_log_probs(const DagView& d, const float* theta, int32_t runs, float* log_pb) {
  for_each_run_item(runs, d.num_states, BackwardLogProbs{d, theta, log_pb});
}

void pg_loss(const PgArgs<float>& a) {
  for_each_run_item(a.runs, a.batch, PgCost{a});  // every baseline needs every cost
  for_each_run_item(a.runs, a.batch, PgLoss{a});
}

void pg_exact(const Dag& dag, const PgArgs<float>& a) {
  const auto& lv = dag.level_offsets();
  if (a.prefix)
    for (int32_t l = 0; l < dag.num_levels(); ++l) {
      const int32_t width = lv[l + 1] - lv[l];
      for_each_run_item(a.runs, width, PgPrefixLevel{a, lv[l]});
    }
  for (int32_t l = dag.num_levels() - 1; l >= 0; --l) {
    const int32_t width = lv[l + 1] - lv[l];
    for_each_run_item(a.runs, width, PgValueLevel{a, lv[l]});
  }
  for_each_run_item(a.runs, a.dag.num_states, PgExactGrad{a});
}

void backward_rollout(const BackwardRolloutArgs& a) {
  for_each_run_item(a.runs, a.batch, BackwardRollout{a});
}

void coupled_loss(const CoupledArgs<float>& a) {
  for_each_run_item(a.runs, a.batch, CoupledCost{a});  // every centring needs every sum
  for_each_run_item(a.runs, a.batch, CoupledLoss{a});
}

void dqn_loss(const DqnArgs<float>& a) {
  for_each_run_item(a.runs, a.samples, DqnLoss{a});
}

}  // namespace gfnrl::detail::cuda
