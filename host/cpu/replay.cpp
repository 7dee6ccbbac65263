// CPU twin of kernels/replay.cu: the DQN learners' per-run ring buffers (insert, sample, priority
// update), in parallel over runs, each run sequential, so results do not depend on the threads.
#include <algorithm>
#include <cmath>

#include "ops/training_ops.hpp"
#include "parallel.hpp"

namespace gfnrl::detail::cpu {

void replay_insert(const ReplayArgs& b, const RolloutArgs& t) {
#pragma omp parallel for schedule(dynamic, 1) if (parallel(int64_t(b.runs) * t.batch * t.max_len, b.runs))
  for (int32_t r = 0; r < b.runs; ++r) {
    int64_t offset = 0;
    for (int32_t m = 0; m < t.batch; ++m) {
      replay_insert_trajectory(b, t.states, t.actions, t.lengths, t.batch, t.max_len, r, m,
                               offset);
      offset += t.lengths[int64_t(r) * t.batch + m];
    }
    b.inserted[r] += offset;
  }
}

void replay_sample(const ReplayArgs& b, uint64_t seed, uint64_t step, int32_t samples,
                   int32_t* slot, int32_t* state, int32_t* action) {
  const int64_t scan = b.priority ? b.capacity : 0;
#pragma omp parallel for schedule(dynamic, 1) if (parallel(int64_t(b.runs) * (scan + samples), b.runs))
  for (int32_t r = 0; r < b.runs; ++r) {
    if (b.priority) {
      const int64_t row = int64_t(r) * b.capacity;
      double acc = 0;
      for (int32_t k = 0; k < replay_size(b, r); ++k) b.cumsum[row + k] = acc += b.priority[row + k];
    }
    for (int32_t i = 0; i < samples; ++i)
      replay_sample_one(b, seed, step, samples, r, i, slot, state, action);
  }
}

void replay_update_priorities(const ReplayArgs& b, int32_t samples, const int32_t* slot,
                              const float* abs_td, float exponent, bool huber) {
#pragma omp parallel for schedule(dynamic, 1) if (parallel(int64_t(b.runs) * samples * 8, b.runs))
  for (int32_t r = 0; r < b.runs; ++r)
    for (int32_t i = 0; i < samples; ++i) {
      const int64_t k = int64_t(r) * samples + i;
      const float p = replay_priority(abs_td[k], exponent, huber);
      b.priority[int64_t(r) * b.capacity + slot[k]] = p;
      b.max_priority[r] = std::max(b.max_priority[r], p);
    }
}

void replay_prioritize_new(const ReplayArgs& b, const RolloutArgs& t, const DqnArgs<float>& a,
                           float exponent) {
#pragma omp parallel for schedule(dynamic, 1) if (parallel(int64_t(b.runs) * t.batch * t.max_len, b.runs))
  for (int32_t r = 0; r < b.runs; ++r)
    detail::replay_prioritize_new(b, a, t.lengths, t.batch, r, exponent);
}

}  // namespace gfnrl::detail::cpu
