// The library's stream, grid sizing, and level sweeps launched per level or replayed from a
// captured CUDA graph (a 4-D H=32 hypergrid has 125 levels: per-level launches are launch-bound).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>

#include "cuda_check.cuh"
#include "gfnrl/sweep.hpp"

namespace gfnrl::detail {

/// The level table of one DAG on the device, made at a solver's first persistent run and kept
/// with its SweepGraph (the per-level warp choice is fixed by the KernelMode).
struct PersistentLevels {
  std::shared_ptr<void> mem;
  const int32_t* offsets = nullptr;
  const uint8_t* warp = nullptr;
  int32_t num_levels = 0;
  int64_t widest = 0;  // the most threads any level asks for
  unsigned grid = 0;    // blocks of the cooperative launch (persistent_grid)
};

/// Owner of an instantiated graph (the opaque type of sweep.hpp), or of a persistent sweep's
/// level table.
struct SweepGraph {
  cudaGraphExec_t exec = nullptr;
  PersistentLevels levels;
  SweepGraph() = default;
  SweepGraph(const SweepGraph&) = delete;
  SweepGraph& operator=(const SweepGraph&) = delete;
  ~SweepGraph() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

namespace cuda {

/// The stream of the calling thread's StreamScope, else one library stream per process (a
/// blocking stream, capturable unlike stream 0). Every launch, copy and capture goes through it.
cudaStream_t library_stream();

constexpr int kBlock = 256;
constexpr int kWarp = 32;

inline unsigned grid_for(int64_t threads) {
  return static_cast<unsigned>((threads + kBlock - 1) / kBlock);
}

/// Warp per state when asked, or (Auto, CoalescedWrites) when the level's maximum degree
/// exceeds 16.
inline bool use_warp(KernelMode m, int32_t max_degree) {
  return m == KernelMode::WarpPerState ||
         ((m == KernelMode::Auto || m == KernelMode::CoalescedWrites) && max_degree > 16);
}

/// Launches one level [begin, end) with a warp per state or a thread per state; both kernels
/// take (args, begin, end).
template <class Args>
void launch_level(bool warp, void (*thread_kernel)(Args, int32_t, int32_t),
                  void (*warp_kernel)(Args, int32_t, int32_t), const Args& args, int32_t begin,
                  int32_t end, cudaStream_t st) {
  const int64_t n = end - begin;
  if (warp)
    warp_kernel<<<grid_for(n * kWarp), kBlock, 0, st>>>(args, begin, end);
  else
    thread_kernel<<<grid_for(n), kBlock, 0, st>>>(args, begin, end);
  GFNRL_CUDA_CHECK_LAUNCH();
}

/// One level [begin, end) of a sweep whose per-state math is Op's: `Op{}.state(a, s)` with a
/// thread per state, `Op{}.warp_state(a, s, lane)` with a warp per state (the same Op runs the
/// persistent sweep, persistent_sweep.cuh).
template <class Args, class Op>
__global__ void thread_level_kernel(Args a, int32_t begin, int32_t end) {
  const int32_t s = begin + static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (s < end) Op{}.state(a, s);
}
template <class Args, class Op>
__global__ void warp_level_kernel(Args a, int32_t begin, int32_t end) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int32_t s = begin + static_cast<int32_t>(t / kWarp);
  if (s >= end) return;  // uniform across the warp
  Op{}.warp_state(a, s, static_cast<int>(threadIdx.x % kWarp));
}

/// Runs `launch_all(stream)` (which enqueues every level) directly, or captures it once into
/// `graph` and replays it (LaunchMode::Persistent is launched by persistent_sweep.cuh instead).
template <class LaunchAll>
void run_sweep(LaunchMode mode, SweepGraphPtr& graph, LaunchAll&& launch_all) {
  cudaStream_t st = library_stream();
  if (mode == LaunchMode::PerLevel) {
    launch_all(st);
    return;
  }
  if (!graph) {
    cudaGraph_t g = nullptr;
    GFNRL_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    try {
      launch_all(st);
    } catch (...) {
      cudaStreamEndCapture(st, &g);
      if (g) cudaGraphDestroy(g);
      throw;
    }
    GFNRL_CUDA_CHECK(cudaStreamEndCapture(st, &g));
    auto owned = std::make_shared<SweepGraph>();
    const cudaError_t err = cudaGraphInstantiate(&owned->exec, g, 0);
    cudaGraphDestroy(g);
    GFNRL_CUDA_CHECK(err);
    graph = std::move(owned);
  }
  GFNRL_CUDA_CHECK(cudaGraphLaunch(graph->exec, st));
}

/// Element-wise kernels of the training step: f(i) for every i in [0, n), grid-stride.
template <class F>
__global__ void for_each_index_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    f(i);
}

template <class F>
void for_each_index(int64_t n, F f, cudaStream_t st = library_stream()) {
  if (n <= 0) return;
  const unsigned grid = grid_for(n) < 65535u * 8u ? grid_for(n) : 65535u * 8u;
  for_each_index_kernel<<<grid, kBlock, 0, st>>>(n, f);
  GFNRL_CUDA_CHECK_LAUNCH();
}

/// f(r, m) for every run r < runs and item m < n (a trajectory, a replayed sample, a state), one
/// thread each, run-major (k2's per-element functor over a flattened index): the (run, item)
/// decoding written once. The CPU twin: host/cpu/parallel.hpp's for_each_run_item.
template <class F>
struct RunItem {
  int64_t n;
  F f;
  __device__ void operator()(int64_t i) const {
    f(static_cast<int32_t>(i / n), static_cast<int32_t>(i % n));
  }
};

template <class F>
void for_each_run_item(int64_t runs, int64_t n, F f, cudaStream_t st = library_stream()) {
  for_each_index(runs * n, RunItem<F>{n, f}, st);
}

/// Merges a LseAcc across the 32 lanes of a warp (butterfly: every lane ends with the total).
template <class Acc>
__device__ inline Acc warp_merge(Acc a) {
  for (int off = kWarp / 2; off > 0; off /= 2) {
    Acc o;
    o.m = __shfl_xor_sync(0xffffffffu, a.m, off);
    o.s = __shfl_xor_sync(0xffffffffu, a.s, off);
    a = Acc::merge(a, o);
  }
  return a;
}

}  // namespace cuda
}  // namespace gfnrl::detail
