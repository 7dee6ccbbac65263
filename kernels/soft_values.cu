// Soft value iteration on the GPU: one launch per level, last level first (children are at
// higher levels, so a level only reads values already final). Per state s:
//   Q(s,e) = r(e) + V(child(e)),  V(s) = log sum_a mu(a|s) exp Q(s,a),
//   log pi(a|s) = log mu(a|s) + Q(s,a) - V(s)
// Thread per state on low-degree levels (the shared soft_value_state); warp per state on
// high-degree levels (lanes stride the children, LseAcc merged across the warp). Opt-in, not yet
// measured: block-cooperative edge writes (KernelMode::CoalescedWrites) and one cooperative
// launch for every level (LaunchMode::Persistent, persistent_sweep.cuh).
#include "ops/sweep_ops.hpp"
#include "launch.cuh"
#include "persistent_sweep.cuh"

namespace gfnrl::detail::cuda {

namespace {
// V(s) with the same additions in the same order as soft_value_state (the exit, then the
// children in CSR order), so the same bits.
__device__ float soft_state_value(const SoftValueArgs& a, int32_t s, float lmu) {
  LseAcc<float> acc;
  acc.add(a.dag.log_reward[s] + log_base_exit(a, s, lmu));
  for (int64_t e = a.dag.child_offsets[s]; e < a.dag.child_offsets[s + 1]; ++e)
    acc.add(soft_edge_q(a, e) + log_base_edge(a, e, lmu));
  return acc.value();
}

// KernelMode::CoalescedWrites: a thread per state computes V, then the block writes Q and log pi
// of its 256 states' edges, which are contiguous in CSR order, edge e by thread e mod 256 (the
// thread kernel's stores stride by each state's degree across a warp). An edge's state is the
// last of the block's states whose first edge is <= e (states without children share their
// offset with the next one).
__global__ void soft_values_block_writes(SoftValueArgs a, int32_t begin, int32_t end) {
  __shared__ float value[kBlock], lmu[kBlock];
  __shared__ int64_t first_edge[kBlock + 1];
  const int32_t first = begin + static_cast<int32_t>(blockIdx.x) * kBlock;
  const int32_t count = end - first < kBlock ? end - first : kBlock;
  const int t = threadIdx.x;
  if (t < count) {
    const int32_t s = first + t;
    lmu[t] = log_base(a, s);
    value[t] = soft_state_value(a, s, lmu[t]);
    soft_write_state(a, s, value[t], lmu[t]);
    first_edge[t] = a.dag.child_offsets[s];
  }
  if (t == 0) first_edge[count] = a.dag.child_offsets[first + count];
  __syncthreads();
  for (int64_t e = first_edge[0] + t; e < first_edge[count]; e += kBlock) {
    int lo = 0, hi = count - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (first_edge[mid] <= e) lo = mid; else hi = mid - 1;
    }
    soft_write_edge(a, e, value[lo], lmu[lo]);
  }
}

// State s by the 32 lanes of a warp (every lane calls it).
__device__ void soft_value_warp_state(const SoftValueArgs& a, int32_t s, int lane) {
  const int64_t b = a.dag.child_offsets[s], e_end = a.dag.child_offsets[s + 1];
  const float lmu = log_base(a, s);
  LseAcc<float> acc;
  if (lane == 0) acc.add(a.dag.log_reward[s] + log_base_exit(a, s, lmu));
  for (int64_t e = b + lane; e < e_end; e += kWarp)
    acc.add(soft_edge_q(a, e) + log_base_edge(a, e, lmu));
  const float v = warp_merge(acc).value();
  if (lane == 0) soft_write_state(a, s, v, lmu);
  for (int64_t e = b + lane; e < e_end; e += kWarp) soft_write_edge(a, e, v, lmu);
}

struct SoftValueOp {
  __device__ void state(const SoftValueArgs& a, int32_t s) const { soft_value_state(a, s); }
  __device__ void warp_state(const SoftValueArgs& a, int32_t s, int lane) const {
    soft_value_warp_state(a, s, lane);
  }
};
}  // namespace

void soft_values(const Dag& dag, const SoftValueArgs& args, const SweepOptions& opt,
                 SweepGraphPtr& graph) {
  const auto& lv = dag.level_offsets();
  const auto& deg = dag.level_max_out_degree();
  if (opt.launch == LaunchMode::Persistent) {  // children first: last level first
    run_persistent(dag, deg, opt.kernel, graph, args, SoftValueOp{}, true);
    return;
  }
  auto* thread_kernel = opt.kernel == KernelMode::CoalescedWrites
                            ? soft_values_block_writes
                            : thread_level_kernel<SoftValueArgs, SoftValueOp>;
  run_sweep(opt.launch, graph, [&](cudaStream_t st) {
    for (int32_t l = dag.num_levels() - 1; l >= 0; --l)
      launch_level(use_warp(opt.kernel, deg[l]), thread_kernel,
                   warp_level_kernel<SoftValueArgs, SoftValueOp>, args, lv[l], lv[l + 1], st);
  });
}

}  // namespace gfnrl::detail::cuda
