// Loss gradients of batched training on the GPU: one thread per (run, trajectory) for TB, DB,
// SubTB and TLM, one per (run, replayed transition) for SoftDQN / Munchausen, one per (run, state)
// for the backward log-softmax; gradients scatter-add with atomics into the run's row
// (detail/loss_math.hpp, detail/dqn_math.hpp, detail/backward_math.hpp).
#include "backend_ops.hpp"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
struct TrajectoryLoss {
  LossKind kind;
  TrajectoryLossArgs<float> a;
  __device__ void operator()(int64_t i) const {
    detail::trajectory_loss(kind, a, static_cast<int32_t>(i / a.batch),
                            static_cast<int32_t>(i % a.batch));
  }
};

struct TlmLoss {
  TlmArgs<float> a;
  __device__ void operator()(int64_t i) const {
    tlm_trajectory(a, static_cast<int32_t>(i / a.batch), static_cast<int32_t>(i % a.batch));
  }
};

struct BackwardLogProbs {
  DagView d;
  const float* theta;
  float* log_pb;
  __device__ void operator()(int64_t i) const {
    const int64_t r = i / d.num_states;
    backward_log_probs_state(d, theta + r * d.num_edges, static_cast<int32_t>(i - r * d.num_states),
                             log_pb + r * d.num_edges);
  }
};

struct DqnLoss {
  DqnArgs<float> a;
  __device__ void operator()(int64_t i) const {
    dqn_sample(a, static_cast<int32_t>(i / a.samples), static_cast<int32_t>(i % a.samples));
  }
};
}  // namespace

void trajectory_loss(LossKind kind, const TrajectoryLossArgs<float>& a) {
  for_each_index(int64_t(a.runs) * a.batch, TrajectoryLoss{kind, a});
}

void tlm_loss(const TlmArgs<float>& a) {
  for_each_index(int64_t(a.runs) * a.batch, TlmLoss{a});
}

void backward_log_probs(const DagView& d, const float* theta, int32_t runs, float* log_pb) {
  for_each_index(int64_t(runs) * d.num_states, BackwardLogProbs{d, theta, log_pb});
}

void dqn_loss(const DqnArgs<float>& a) {
  for_each_index(int64_t(a.runs) * a.samples, DqnLoss{a});
}

}  // namespace gfnrl::detail::cuda
