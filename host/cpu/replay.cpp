// CPU twin of kernels/replay.cu: the DQN learners' per-run ring buffers (insert, sample, priority
// update), in parallel over runs, each run sequential, so results do not depend on the threads.
#include <algorithm>
#include <cmath>

#include "ops/training_ops.hpp"
#include "parallel.hpp"

namespace gfnrl::detail::cpu {

void replay_insert(const ReplayArgs& b, const RolloutArgs& t) {
  const OpScope op(CpuOp::ReplayInsert, int64_t(b.runs) * t.batch * t.max_len);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(b.runs))
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

namespace {
// Proportional sampling from block sums. A full prefix sum moves 12 bytes per slot and step (read
// the priority, write its sum): with SoftDQN's 100,000 slots and 4 runs, 4.8 MB a step and 3/4 of
// a CPU step. Instead c[j] = the priorities of blocks 0..j summed (kBlock slots each), then per
// sample a binary search over the blocks and a running sum inside one: 4 bytes per slot and step
// plus one block per sample. The slot is the first k whose prefix exceeds x = u * total, as the
// CUDA twin's full scan gives, up to rounding (the sums are taken in another order).
constexpr int32_t kBlock = 64;

void block_sums(const float* p, int32_t n, double* c) {
  double acc = 0;
  for (int32_t j = 0; int64_t(j) * kBlock < n; ++j) {
    const int32_t begin = j * kBlock, end = std::min(n, begin + kBlock);
    double s[8] = {};  // eight independent chains of adds: one would wait 4 cycles per slot
    int32_t k = begin;
    for (; k + 8 <= end; k += 8)
      for (int32_t l = 0; l < 8; ++l) s[l] += p[k + l];
    for (; k < end; ++k) s[0] += p[k];
    c[j] = acc += ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
}

int32_t sample_slot(const float* p, int32_t n, const double* c, double u) {
  const int32_t blocks = (n + kBlock - 1) / kBlock;
  const double x = u * c[blocks - 1];
  int32_t lo = 0, hi = blocks - 1;  // the first block whose prefix exceeds x
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (c[mid] > x) hi = mid; else lo = mid + 1;
  }
  double prefix = lo > 0 ? c[lo - 1] : 0.0;
  const int32_t begin = lo * kBlock, end = std::min(n, begin + kBlock);
  int32_t last = begin;  // if rounding leaves x past the block's own running sum: its last slot
  for (int32_t k = begin; k < end; ++k)
    if (p[k] > 0) {
      last = k;
      if ((prefix += p[k]) > x) return k;
    }
  return last;
}
}  // namespace

void replay_sample(const ReplayArgs& b, uint64_t seed, uint64_t step, int32_t samples,
                   int32_t* slot, int32_t* state, int32_t* action) {
  const int64_t scan = b.priority ? b.capacity / 4 : 0;  // block sums: a light pass
  const OpScope op(CpuOp::ReplaySample, int64_t(b.runs) * (scan + samples));
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(b.runs))
  for (int32_t r = 0; r < b.runs; ++r) {
    if (!b.priority) {
      for (int32_t i = 0; i < samples; ++i)
        replay_sample_one(b, seed, step, samples, r, i, slot, state, action);
      continue;
    }
    const int64_t row = int64_t(r) * b.capacity;
    const int32_t n = replay_size(b, r);
    block_sums(b.priority + row, n, b.cumsum + row);
    int32_t* k = slot + int64_t(r) * samples;
    for (int32_t i = 0; i < samples; ++i)
      k[i] = sample_slot(b.priority + row, n, b.cumsum + row,
                         replay_fraction(replay_draw(seed, step, r, i)));
    // The gathers apart from the searches: independent misses overlap.
    for (int32_t i = 0; i < samples; ++i)
      replay_write_sample(b, samples, r, i, k[i], slot, state, action);
  }
}

void replay_update_priorities(const ReplayArgs& b, int32_t samples, const int32_t* slot,
                              const float* abs_td, float exponent, bool huber) {
  const OpScope op(CpuOp::ReplayPriorities, int64_t(b.runs) * samples);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(b.runs))
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
  const OpScope op(CpuOp::DqnLoss, int64_t(b.runs) * t.batch * t.max_len);  // a TD error each
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(b.runs))
  for (int32_t r = 0; r < b.runs; ++r)
    detail::replay_prioritize_new(b, a, t.lengths, t.batch, r, exponent);
}

}  // namespace gfnrl::detail::cpu
