// Loss gradients of batched training on the GPU: one thread per (run, trajectory) for TB, DB and
// SubTB, one per (run, replayed transition) for SoftDQN / Munchausen; gradients scatter-add with
// atomics into the run's row (detail/loss_math.hpp, detail/dqn_math.hpp).
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

void dqn_loss(const DqnArgs<float>& a) {
  for_each_index(int64_t(a.runs) * a.samples, DqnLoss{a});
}

}  // namespace gfnrl::detail::cuda
