// Rollouts and policy tables of batched training on the GPU: one thread per (run, trajectory)
// samples with Philox (detail/rollout_math.hpp), one thread per (run, state) writes the policy.
#include "ops/training_ops.hpp"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
struct PolicyState {
  DagView d;
  TableLayout L;
  const float* params;
  float scale;
  float *log_prob, *exit_log_prob;
  __device__ void operator()(int32_t r, int32_t s) const {
    policy_state(d, L, params + int64_t(r) * L.stride(), s, scale,
                 log_prob + int64_t(r) * d.num_edges, exit_log_prob + int64_t(r) * d.num_states);
  }
};

struct LogZEstimates {
  DagView d;
  TableLayout L;
  const float* params;
  LogZEstimate mode;
  float tau;
  float* out;
  __device__ void operator()(int64_t r) const {
    out[r] = log_z_estimate(d, L, params + r * L.stride(), mode, tau);
  }
};

// One thread per run: the groups are few (a DAG's modes), and each run's count is sequential.
struct CountReached {
  const uint8_t* reached;
  int32_t num_states;
  const int32_t *states, *group;
  int32_t k;
  int32_t* out;
  __device__ void operator()(int64_t r) const {
    out[r] = reached_groups(reached + r * num_states, states, group, k);
  }
};

struct Rollout {
  RolloutArgs a;
  __device__ void operator()(int32_t r, int32_t m) const { rollout_trajectory(a, r, m); }
};
}  // namespace

void policy_log_probs(const DagView& d, const TableLayout& L, const float* params, int32_t runs,
                      float scale, float* log_prob, float* exit_log_prob) {
  for_each_run_item(runs, d.num_states,
                    PolicyState{d, L, params, scale, log_prob, exit_log_prob});
}

void log_z_estimates(const DagView& d, const TableLayout& L, const float* params, int32_t runs,
                     LogZEstimate mode, float tau, float* out) {
  for_each_index(runs, LogZEstimates{d, L, params, mode, tau, out});
}

void rollout(const RolloutArgs& a) { for_each_run_item(a.runs, a.batch, Rollout{a}); }

void count_reached(const uint8_t* reached, int32_t runs, int32_t num_states, const int32_t* states,
                   const int32_t* group, int32_t k, int32_t* out) {
  for_each_index(runs, CountReached{reached, num_states, states, group, k, out});
}

}  // namespace gfnrl::detail::cuda
