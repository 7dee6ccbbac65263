// Forward propagation on the GPU, first level first; each state gathers from its parents (CSC),
// so no atomics:  out(c) = log sum_{j in Pa(c)} exp(in(parent_j) + w(edge_j)),  out(s0) = 0.
// Also the per-state construction of the uniform forward policy.
#include "ops/sweep_ops.hpp"
#include "launch.cuh"
#include "persistent_sweep.cuh"

namespace gfnrl::detail::cuda {

namespace {
// State c by the 32 lanes of a warp (every lane calls it).
template <class R>
__device__ void forward_warp_state(const ForwardArgsT<R>& a, int32_t c, int lane) {
  LseAcc<R> acc;
  if (c == 0 && lane == 0) acc.add(R(0));
  for (int64_t j = a.dag.parent_offsets[c] + lane; j < a.dag.parent_offsets[c + 1]; j += kWarp)
    acc.add(forward_term(a, j));
  const R lv = warp_merge(acc).value();
  if (lane == 0) forward_write_state(a, c, lv);
}

template <class R>
struct ForwardOp {
  __device__ void state(const ForwardArgsT<R>& a, int32_t c) const { forward_state(a, c); }
  __device__ void warp_state(const ForwardArgsT<R>& a, int32_t c, int lane) const {
    forward_warp_state(a, c, lane);
  }
};

__global__ void uniform_forward_kernel(DagView d, float* log_prob, float* exit_log_prob) {
  const int32_t s = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (s < d.num_states) uniform_forward_state(d, s, log_prob, exit_log_prob);
}
}  // namespace

namespace {
template <class R>
void forward_levels(const Dag& dag, const ForwardArgsT<R>& args, KernelMode kernel,
                    cudaStream_t st) {
  const auto& lv = dag.level_offsets();
  const auto& deg = dag.level_max_in_degree();
  for (int32_t l = 0; l < dag.num_levels(); ++l)
    launch_level(use_warp(kernel, deg[l]), thread_level_kernel<ForwardArgsT<R>, ForwardOp<R>>,
                 warp_level_kernel<ForwardArgsT<R>, ForwardOp<R>>, args, lv[l], lv[l + 1], st);
}
}  // namespace

void forward_sweep(const Dag& dag, const ForwardArgs& args, const SweepOptions& opt,
                   SweepGraphPtr& graph) {
  if (opt.launch == LaunchMode::Persistent) {  // parents first: first level first
    run_persistent(dag, dag.level_max_in_degree(), opt.kernel, graph, args, ForwardOp<float>{},
                   false);
    return;
  }
  run_sweep(opt.launch, graph, [&](cudaStream_t st) { forward_levels(dag, args, opt.kernel, st); });
}

void path_counts(const Dag& dag, const PathCountArgs& args) {
  forward_levels(dag, args, KernelMode::Auto, library_stream());
}

namespace {
struct ActionTableSlot {
  DagView d;
  int64_t width;
  EdgeIdsWriter out;
  __device__ void operator()(int64_t j) const { out.set(j, action_table_slot(d, j, width)); }
};
struct TableColumn {
  const float* table;
  int64_t width, column;
  float* out;
  __device__ void operator()(int64_t s) const { out[s] = table[s * width + column]; }
};
}  // namespace

void action_table_index(const DagView& d, int64_t slots, int64_t width, EdgeIdsWriter out) {
  for_each_index(slots, ActionTableSlot{d, width, out});
}

void table_column(const float* table, int64_t rows, int64_t width, int64_t column, float* out) {
  for_each_index(rows, TableColumn{table, width, column, out});
}

void uniform_forward_policy(const DagView& d, float* log_prob, float* exit_log_prob) {
  uniform_forward_kernel<<<grid_for(d.num_states), kBlock, 0, library_stream()>>>(d, log_prob,
                                                                                 exit_log_prob);
  GFNRL_CUDA_CHECK_LAUNCH();
}

}  // namespace gfnrl::detail::cuda
