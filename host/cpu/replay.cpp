// CPU twin of kernels/replay.cu: the DQN learners' per-run ring buffers (insert, sample, priority
// update), in parallel over runs, each run sequential, so results do not depend on the threads.
#include <algorithm>
#include <cmath>

#include "ops/training_ops.hpp"
#include "parallel.hpp"

namespace gfnrl::detail::cpu {

void replay_insert(const ReplayArgs& b, const RolloutArgs& t) {
  const OpScope op(CpuOp::ReplayInsert, int64_t(b.runs) * t.batch * t.max_len);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(b.runs)) num_threads(::gfnrl::cpu_threads())
  for (int32_t r = 0; r < b.runs; ++r) {
    int64_t total = 0;
    for (int32_t m = 0; m < t.batch; ++m) total += t.lengths[int64_t(r) * t.batch + m];
    int64_t offset = 0;
    for (int32_t m = 0; m < t.batch; ++m) {
      replay_insert_trajectory(b, t.states, t.actions, t.lengths, t.batch, t.max_len, r, m,
                               offset, total);
      offset += t.lengths[int64_t(r) * t.batch + m];
    }
    b.inserted[r] += total;
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

// Slots [begin, end) summed in eight independent chains of adds (one would wait 4 cycles per
// slot), always in this order, so a block's sum is the same whenever it is taken.
double block_total(const float* p, int32_t begin, int32_t end) {
  double s[8] = {};
  int32_t k = begin;
  for (; k + 8 <= end; k += 8)
    for (int32_t l = 0; l < 8; ++l) s[l] += p[k + l];
  for (; k < end; ++k) s[0] += p[k];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

void block_sums(const float* p, int32_t n, double* c) {
  double acc = 0;
  for (int32_t j = 0; int64_t(j) * kBlock < n; ++j)
    c[j] = acc += block_total(p, j * kBlock, std::min(n, (j + 1) * kBlock));
}

// block_sums from the sums kept since the last sample: only the blocks whose priorities can have
// changed are summed again (marked NaN first) — those the insertions since `summed_at` wrote
// and those of the previous sample's slots (`last`, whose priorities were updated) — then the
// prefix over the blocks. Equal to block_sums bit for bit: the same block totals, added in the
// same order. Per step: the touched blocks and one pass over ceil(n / 64) sums, not n slots.
void block_sums_kept(const ReplayArgs& b, int32_t r, int32_t n, const int32_t* last,
                     int32_t samples, double* c) {
  const int64_t row = int64_t(r) * b.capacity;
  const float* p = b.priority + row;
  const int32_t blocks = (n + kBlock - 1) / kBlock;
  double* kept = b.block_sum + int64_t(r) * ((b.capacity + kBlock - 1) / kBlock);
  const int64_t fresh = b.inserted[r] - b.summed_at[r];
  if (b.summed_at[r] < 0 || fresh >= b.capacity) {
    for (int32_t j = 0; j < blocks; ++j) kept[j] = NAN;
  } else {
    for (int64_t i = b.summed_at[r]; i < b.inserted[r]; ++i) kept[(i % b.capacity) / kBlock] = NAN;
    for (int32_t i = 0; i < samples; ++i) kept[last[i] / kBlock] = NAN;
  }
  double acc = 0;
  for (int32_t j = 0; j < blocks; ++j) {
    if (std::isnan(kept[j])) kept[j] = block_total(p, j * kBlock, std::min(n, (j + 1) * kBlock));
    c[j] = acc += kept[j];
  }
  b.summed_at[r] = b.inserted[r];
}

// The slot of the draw with point x in block `lo`: the first whose running sum (from the
// blocks before) exceeds x; the block's last non-empty slot if rounding leaves x past it.
int32_t slot_in_block(const float* p, int32_t n, const double* c, int32_t lo, double x) {
  double prefix = lo > 0 ? c[lo - 1] : 0.0;
  const int32_t begin = lo * kBlock, end = std::min(n, begin + kBlock);
  int32_t last = begin;
  for (int32_t k = begin; k < end; ++k)
    if (p[k] > 0) {
      last = k;
      if ((prefix += p[k]) > x) return k;
    }
  return last;
}

// Run r's draws 0..count at this step into slots: for each, with u its replay_fraction, the
// first block whose prefix exceeds x = u * total (the last when none does), then the slot in it. The binary searches of kLanes draws advance in
// lockstep on selects, not jumps: kLanes independent chains of loads overlap, where one search
// alone waits on each load and a branch would mispredict half the time.
constexpr int32_t kLanes = 8;

void sample_slots(const float* p, int32_t n, const double* c, uint64_t seed, uint64_t step,
                  int32_t r, int32_t count, int32_t* out) {
  const int32_t blocks = (n + kBlock - 1) / kBlock;
  const double total = c[blocks - 1];
  for (int32_t i0 = 0; i0 < count; i0 += kLanes) {
    const int32_t lanes = std::min(kLanes, count - i0);
    double x[kLanes] = {};
    int32_t lo[kLanes] = {};  // the answer lies in [lo, lo + m)
    for (int32_t l = 0; l < lanes; ++l)
      x[l] = replay_fraction(replay_draw(seed, step, r, i0 + l)) * total;
    for (int32_t m = blocks; m > 1;) {
      const int32_t half = m / 2;
      for (int32_t l = 0; l < kLanes; ++l)
        lo[l] = c[lo[l] + half - 1] > x[l] ? lo[l] : lo[l] + half;
      m -= half;
    }
    for (int32_t l = 0; l < lanes; ++l) out[i0 + l] = slot_in_block(p, n, c, lo[l], x[l]);
  }
}
}  // namespace

void replay_sample(const ReplayArgs& b, uint64_t seed, uint64_t step, int32_t samples,
                   int32_t* slot, int32_t* state, int32_t* action) {
  // Block sums: a light pass over the slots, or over the kept sums' touched blocks.
  const int64_t scan = !b.priority    ? 0
                       : b.block_sum ? b.capacity / kBlock + samples * 4
                                     : b.capacity / 4;
  const OpScope op(CpuOp::ReplaySample, int64_t(b.runs) * (scan + samples));
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(b.runs)) num_threads(::gfnrl::cpu_threads())
  for (int32_t r = 0; r < b.runs; ++r) {
    if (!b.priority) {
      for (int32_t i = 0; i < samples; ++i)
        replay_sample_one(b, seed, step, samples, r, i, slot, state, action);
      continue;
    }
    const int64_t row = int64_t(r) * b.capacity;
    const int32_t n = replay_size(b, r);
    int32_t* k = slot + int64_t(r) * samples;  // the previous sample's slots, until overwritten
    if (b.block_sum)
      block_sums_kept(b, r, n, k, samples, b.cumsum + row);
    else
      block_sums(b.priority + row, n, b.cumsum + row);
    sample_slots(b.priority + row, n, b.cumsum + row, seed, step, r, samples, k);
    // The gathers apart from the searches: independent misses overlap.
    for (int32_t i = 0; i < samples; ++i)
      replay_write_sample(b, samples, r, i, k[i], slot, state, action);
  }
}

void replay_update_priorities(const ReplayArgs& b, int32_t samples, const int32_t* slot,
                              const float* abs_td, float exponent, int loss) {
  const OpScope op(CpuOp::ReplayPriorities, int64_t(b.runs) * samples);
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(b.runs)) num_threads(::gfnrl::cpu_threads())
  for (int32_t r = 0; r < b.runs; ++r)
    for (int32_t i = 0; i < samples; ++i) {
      const int64_t k = int64_t(r) * samples + i;
      const float p = replay_priority(abs_td[k], exponent, loss);
      b.priority[int64_t(r) * b.capacity + slot[k]] = p;
      b.max_priority[r] = std::max(b.max_priority[r], p);
    }
}

void replay_prioritize_new(const ReplayArgs& b, const RolloutArgs& t, const DqnArgs<float>& a,
                           float exponent) {
  const OpScope op(CpuOp::DqnLoss, int64_t(b.runs) * t.batch * t.max_len);  // a TD error each
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(b.runs)) num_threads(::gfnrl::cpu_threads())
  for (int32_t r = 0; r < b.runs; ++r)
    detail::replay_prioritize_new(b, a, t.lengths, t.batch, r, exponent);
}

}  // namespace gfnrl::detail::cpu
