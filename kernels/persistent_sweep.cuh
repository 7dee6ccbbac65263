// A level-synchronous sweep in ONE cooperative launch (LaunchMode::Persistent): every block stays
// resident, strides the states of a level (a warp per state on levels whose maximum degree calls
// for it, else a thread), and waits at a grid-wide barrier before the next level. Deep, narrow
// DAGs (4-D H=32: 125 levels of ~8,000 states) spend ~4-5 us per level in launch gaps even when
// replayed from a graph; a barrier costs ~1-2 us on an H100 (predicted 4x32 0.48 -> ~0.25 ms,
// docs/PERF_NOTES.md). Written without a device and not yet run on one, so never chosen by
// default: LaunchMode::Graph stays the default until a measured rule picks between them.
#pragma once
#include <cooperative_groups.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gfnrl/dag.hpp"
#include "launch.cuh"
#include "ops/device_runtime.hpp"

namespace gfnrl::detail::cuda {

/// Runs Op's per-state functions over every level: `op.state(a, s)` with a thread per state, or
/// `op.warp_state(a, s, lane)` with a warp per state where warp[l] is set. Levels in order, or
/// last first (`last_first`: soft values read their children's).
template <class Args, class Op>
__global__ void persistent_levels_kernel(Args a, Op op, const int32_t* offsets, const uint8_t* warp,
                                         int32_t num_levels, bool last_first) {
  cooperative_groups::grid_group grid = cooperative_groups::this_grid();
  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t threads = int64_t(gridDim.x) * blockDim.x;
  const int lane = threadIdx.x % kWarp;
  for (int32_t k = 0; k < num_levels; ++k) {
    const int32_t l = last_first ? num_levels - 1 - k : k;
    const int64_t begin = offsets[l], width = offsets[l + 1] - begin;
    if (warp[l]) {  // blockDim is a multiple of 32: a warp's lanes share w, and stay converged
      for (int64_t w = tid / kWarp; w < width; w += threads / kWarp)
        op.warp_state(a, static_cast<int32_t>(begin + w), lane);
    } else {
      for (int64_t i = tid; i < width; i += threads) op.state(a, static_cast<int32_t>(begin + i));
    }
    grid.sync();
  }
}

/// The device copy of the DAG's level offsets and of the per-level warp choice.
inline PersistentLevels persistent_levels(const Dag& dag, const std::vector<int32_t>& max_degree,
                                          KernelMode mode) {
  const std::vector<int32_t>& lv = dag.level_offsets();
  PersistentLevels p;
  p.num_levels = dag.num_levels();
  const std::size_t off_bytes = lv.size() * sizeof(int32_t);
  p.mem = allocate(off_bytes + std::size_t(p.num_levels));
  std::vector<uint8_t> warp(p.num_levels);
  for (int32_t l = 0; l < p.num_levels; ++l) {
    warp[l] = use_warp(mode, max_degree[l]) ? 1 : 0;
    const int64_t threads = int64_t(lv[l + 1] - lv[l]) * (warp[l] ? kWarp : 1);
    if (threads > p.widest) p.widest = threads;
  }
  auto* base = static_cast<unsigned char*>(p.mem.get());
  copy(base, true, lv.data(), false, off_bytes);
  copy(base + off_bytes, true, warp.data(), false, warp.size());
  p.offsets = reinterpret_cast<const int32_t*>(base);
  p.warp = base + off_bytes;
  return p;
}

/// As many blocks as can be resident at once, and no more than the widest level uses; asked of
/// the device once per solver (the queries cost microseconds, the sweep itself a few hundred).
/// Throws where the device cannot launch cooperatively.
template <class Args, class Op>
unsigned persistent_grid(int64_t widest) {
  int device = 0, sms = 0, cooperative = 0, per_sm = 0;
  GFNRL_CUDA_CHECK(cudaGetDevice(&device));
  GFNRL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  GFNRL_CUDA_CHECK(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device));
  if (!cooperative)
    throw CudaError("the persistent sweep (LaunchMode::Persistent) needs cooperative launch, "
                    "which " + device_description() + " does not support; use Graph or PerLevel");
  GFNRL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &per_sm, persistent_levels_kernel<Args, Op>, kBlock, 0));
  const int64_t resident = int64_t(per_sm) * sms;
  if (resident < 1)
    throw CudaError("the persistent sweep's kernel cannot keep one block of " +
                    std::to_string(kBlock) + " threads resident on " + device_description());
  const int64_t wanted = (widest + kBlock - 1) / kBlock;
  return static_cast<unsigned>(wanted < resident ? (wanted > 0 ? wanted : 1) : resident);
}

/// One cooperative launch of the whole sweep on `p.grid` blocks.
template <class Args, class Op>
void launch_persistent(const Args& args, const Op& op, const PersistentLevels& p, bool last_first,
                       cudaStream_t st) {
  Args a = args;
  Op o = op;
  const int32_t* offsets = p.offsets;
  const uint8_t* warp = p.warp;
  int32_t levels = p.num_levels;
  bool order = last_first;
  void* params[] = {&a, &o, &offsets, &warp, &levels, &order};
  GFNRL_CUDA_CHECK(cudaLaunchCooperativeKernel(
      reinterpret_cast<void*>(persistent_levels_kernel<Args, Op>), dim3(p.grid), dim3(kBlock),
      params, 0, st));
}

/// A solver's persistent sweep: the level table is made at its first run and kept in `graph`.
template <class Args, class Op>
void run_persistent(const Dag& dag, const std::vector<int32_t>& max_degree, KernelMode mode,
                    SweepGraphPtr& graph, const Args& args, const Op& op, bool last_first) {
  if (!graph) graph = std::make_shared<SweepGraph>();
  if (!graph->levels.mem) {
    graph->levels = persistent_levels(dag, max_degree, mode);
    graph->levels.grid = persistent_grid<Args, Op>(graph->levels.widest);
  }
  launch_persistent(args, op, graph->levels, last_first, library_stream());
}

}  // namespace gfnrl::detail::cuda
