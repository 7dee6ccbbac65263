// Replay buffers of the DQN learners on the GPU (detail/replay_math.hpp): a block per run appends
// its trajectories and advances the head; a block per run scans its priorities (CUB BlockScan in
// double, tile by tile) for proportional sampling; a thread per replayed sample draws and updates.
#include <cub/block/block_scan.cuh>

#include "ops/training_ops.hpp"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
__global__ void replay_insert_kernel(ReplayArgs b, RolloutArgs t) {
  const int32_t r = blockIdx.x;
  // batch is small (16..256): serial sums per thread are cheaper than a scan.
  int64_t total = 0;
  for (int32_t k = 0; k < t.batch; ++k) total += t.lengths[int64_t(r) * t.batch + k];
  for (int32_t m = threadIdx.x; m < t.batch; m += blockDim.x) {
    int64_t offset = 0;
    for (int32_t k = 0; k < m; ++k) offset += t.lengths[int64_t(r) * t.batch + k];
    replay_insert_trajectory(b, t.states, t.actions, t.lengths, t.batch, t.max_len, r, m, offset,
                             total);
  }
  __syncthreads();  // every thread has read b.inserted[r] before it moves
  if (threadIdx.x == 0) b.inserted[r] += total;
}

/// Carries the running total of earlier tiles into the next tile's scan.
struct TilePrefix {
  double total = 0;
  __device__ double operator()(double tile_sum) {
    const double old = total;
    total += tile_sum;
    return old;
  }
};

__global__ void priority_scan_kernel(ReplayArgs b) {
  using Scan = cub::BlockScan<double, kBlock>;
  __shared__ typename Scan::TempStorage tmp;
  const int32_t r = blockIdx.x;
  const int32_t n = replay_size(b, r);
  const int64_t row = int64_t(r) * b.capacity;
  TilePrefix prefix;
  for (int32_t tile = 0; tile < n; tile += kBlock) {
    const int32_t k = tile + threadIdx.x;
    double x = k < n ? static_cast<double>(b.priority[row + k]) : 0.0;
    Scan(tmp).InclusiveSum(x, x, prefix);
    if (k < n) b.cumsum[row + k] = x;
    __syncthreads();  // tmp is reused by the next tile
  }
}

struct SampleOne {
  ReplayArgs b;
  uint64_t seed, step;
  int32_t samples;
  int32_t *slot, *state, *action;
  __device__ void operator()(int32_t r, int32_t m) const {
    replay_sample_one(b, seed, step, samples, r, m, slot, state, action);
  }
};

struct UpdatePriority {
  ReplayArgs b;
  int32_t samples;
  const int32_t* slot;
  const float* abs_td;
  float exponent;
  int loss;  // kPriority*
  __device__ void operator()(int64_t k) const {
    const int64_t r = k / samples;
    const float p = replay_priority(abs_td[k], exponent, loss);
    b.priority[r * b.capacity + slot[k]] = p;
    // Positive floats order like their bit patterns as signed ints.
    atomicMax(reinterpret_cast<int*>(b.max_priority + r), __float_as_int(p));
  }
};
struct PrioritizeNew {
  ReplayArgs b;
  DqnArgs<float> a;
  const int32_t* lengths;
  int32_t batch;
  float exponent;
  // One thread per run: its new transitions in order, so max_priority needs no atomics.
  __device__ void operator()(int64_t r) const {
    detail::replay_prioritize_new(b, a, lengths, batch, static_cast<int32_t>(r), exponent);
  }
};
}  // namespace

void replay_insert(const ReplayArgs& b, const RolloutArgs& t) {
  replay_insert_kernel<<<b.runs, 128, 0, library_stream()>>>(b, t);
  GFNRL_CUDA_CHECK_LAUNCH();
}

void replay_sample(const ReplayArgs& b, uint64_t seed, uint64_t step, int32_t samples,
                   int32_t* slot, int32_t* state, int32_t* action) {
  if (b.priority) {
    priority_scan_kernel<<<b.runs, kBlock, 0, library_stream()>>>(b);
    GFNRL_CUDA_CHECK_LAUNCH();
  }
  for_each_run_item(b.runs, samples, SampleOne{b, seed, step, samples, slot, state, action});
}

void replay_update_priorities(const ReplayArgs& b, int32_t samples, const int32_t* slot,
                              const float* abs_td, float exponent, int loss) {
  for_each_index(int64_t(b.runs) * samples,
                 UpdatePriority{b, samples, slot, abs_td, exponent, loss});
}

void replay_prioritize_new(const ReplayArgs& b, const RolloutArgs& t, const DqnArgs<float>& a,
                           float exponent) {
  for_each_index(b.runs, PrioritizeNew{b, a, t.lengths, t.batch, exponent});
}

}  // namespace gfnrl::detail::cuda
