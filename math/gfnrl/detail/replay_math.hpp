/// @file replay_math.hpp
/// Per-run ring buffers of transitions (s, a) for the DQN learners, shared by both backends.
/// Sampling is uniform over the filled slots, or proportional to a stored priority p_i (stored
/// already raised to the priority exponent): slot = the first i whose prefix sum of the run's
/// priorities (in double) exceeds u * their total.
#pragma once
#include <cstdint>

#include "gfnrl/detail/philox.hpp"

namespace gfnrl::detail {

struct ReplayArgs {
  int32_t runs, capacity;
  int32_t* slot_state;   ///< [runs x capacity]
  int32_t* slot_action;  ///< [runs x capacity]
  float* priority;       ///< [runs x capacity], or nullptr for uniform replay
  double* cumsum;  ///< [runs x capacity] scratch for prioritized sampling: prefix sums (CUDA)
                   ///< or block sums (CPU)
  int64_t* inserted;     ///< [runs]: transitions ever inserted (the ring's write head)
  float* max_priority;   ///< [runs]: priority given to new transitions
  /// CPU, optional (null: every block summed at each sample): each run's block sums kept from
  /// one sample to the next, [runs x ceil(capacity / 64)], and `inserted` when they were taken
  /// ([runs], < 0: never). Valid while priorities change between samples only at the slots
  /// inserted since and at the slots the previous sample returned (replay_update_priorities on
  /// them), as in the Trainer.
  double* block_sum = nullptr;
  int64_t* summed_at = nullptr;
};

/// Added to the priority's base before the exponent, so no transition's priority reaches 0:
/// 1e-3 on |d|, 1e-6 on huber(d) (a Huber loss is ~d^2, so 1e-6 is the same |d| = 1e-3 scale;
/// with it the weight of |d| = 0.01 against |d| = 1 is 0.0101, the reference code's 0.0100).
constexpr float kPriorityFloor = 1e-3f;
constexpr float kHuberPriorityFloor = 1e-6f;

/// What a priority is made of (replay_priority's `loss`): |d| (Schaul et al.'s proportional
/// rule), or the TD loss in use, as the SoftDQN reference keys its buffer: Huber's or the squared
/// error's. 0 and 1 are the false and true of the earlier `bool huber`.
constexpr int kPriorityAbsTd = 0, kPriorityHuber = 1, kPrioritySquared = 2;

/// A replayed transition's priority from its |TD error| d: (loss(d) + 1e-6)^exponent with the TD
/// loss, huber(d) = d^2/2 below 1 and d - 1/2 above or d^2 (torch's HuberLoss(delta=1) and
/// MSELoss, the SoftDQN reference rule); or (d + 1e-3)^exponent for kPriorityAbsTd.
GFNRL_HD inline float replay_priority(float d, float exponent, int loss) {
  if (loss == kPriorityAbsTd) return pow_(d + kPriorityFloor, exponent);
  const float l = loss == kPrioritySquared ? d * d : (d < 1.0f ? 0.5f * d * d : d - 0.5f);
  return pow_(l + kHuberPriorityFloor, exponent);
}

GFNRL_HD inline int32_t replay_size(const ReplayArgs& b, int32_t r) {
  return b.inserted[r] < b.capacity ? static_cast<int32_t>(b.inserted[r]) : b.capacity;
}

/// Copies trajectory m of run r (its transitions start at `offset` past the run's head; the run
/// inserts `total` in this call). A transition that a later one of the same call overwrites
/// (offset + t < total - capacity: the batch holds more than the ring) is skipped, so no slot is
/// written twice (the CUDA insert writes trajectories in parallel) and the ring holds what
/// inserting them one by one leaves: the last `capacity` transitions.
GFNRL_HD inline void replay_insert_trajectory(const ReplayArgs& b, const int32_t* states,
                                              const int32_t* actions, const int32_t* lengths,
                                              int32_t batch, int32_t max_len, int32_t r,
                                              int32_t m, int64_t offset, int64_t total) {
  const int64_t traj = int64_t(r) * batch + m;
  const int64_t row = int64_t(r) * b.capacity;
  for (int32_t t = 0; t < lengths[traj]; ++t) {
    if (offset + t < total - b.capacity) continue;
    const int64_t slot = row + (b.inserted[r] + offset + t) % b.capacity;
    b.slot_state[slot] = states[traj * max_len + t];
    b.slot_action[slot] = actions[traj * max_len + t];
    if (b.priority) b.priority[slot] = b.max_priority[r];
  }
}

/// The random numbers of replayed sample i of run r.
GFNRL_HD inline Philox4 replay_draw(uint64_t seed, uint64_t step, int32_t r, int32_t i) {
  return draw(seed + uint64_t(r), step, static_cast<uint32_t>(i), 0u, kStreamReplay);
}

/// A uniform fraction in [0, 1) with 64 bits of the draw (the point of proportional sampling).
GFNRL_HD inline double replay_fraction(const Philox4& u) {
  return (static_cast<double>(u.v[0]) + static_cast<double>(u.v[1]) * 0x1.0p-32) * 0x1.0p-32;
}

/// Writes replayed sample i of run r: slot k with its state and action.
GFNRL_HD inline void replay_write_sample(const ReplayArgs& b, int32_t samples, int32_t r,
                                         int32_t i, int32_t k, int32_t* out_slot,
                                         int32_t* out_state, int32_t* out_action) {
  const int64_t slot = int64_t(r) * b.capacity + k;
  const int64_t o = int64_t(r) * samples + i;
  out_slot[o] = k;
  out_state[o] = b.slot_state[slot];
  out_action[o] = b.slot_action[slot];
}

/// Replayed sample i of run r from the full prefix sums of the run's priorities in cumsum (the
/// CUDA path; the CPU keeps block sums instead, host/cpu/replay.cpp): writes its slot, state and
/// action.
GFNRL_HD inline void replay_sample_one(const ReplayArgs& b, uint64_t seed, uint64_t step,
                                       int32_t samples, int32_t r, int32_t i, int32_t* out_slot,
                                       int32_t* out_state, int32_t* out_action) {
  const int32_t n = replay_size(b, r);
  const Philox4 u = replay_draw(seed, step, r, i);
  int32_t k;
  if (!b.priority) {
    k = static_cast<int32_t>(uniform_below(u.v[0], static_cast<uint32_t>(n)));
  } else {
    const double* c = b.cumsum + int64_t(r) * b.capacity;
    const double x = replay_fraction(u) * c[n - 1];
    int32_t lo = 0, hi = n - 1;  // first k with c[k] > x
    while (lo < hi) {
      const int32_t mid = lo + (hi - lo) / 2;
      if (c[mid] > x) hi = mid; else lo = mid + 1;
    }
    k = lo;
  }
  replay_write_sample(b, samples, r, i, k, out_slot, out_state, out_action);
}

}  // namespace gfnrl::detail
