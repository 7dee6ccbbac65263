/// @file philox.hpp
/// Philox4x32-10 (Salmon et al., SC'11), a counter-based RNG: the output is a pure function of a
/// 128-bit counter and a 64-bit key. Rollouts draw with counter (step, trajectory, position,
/// stream) and key = the run's seed, so a seed gives the same trajectories on every backend and
/// for every thread count (nothing is carried from one draw to the next).
#pragma once
#include <cstdint>

#include "gfnrl/detail/hd.hpp"

namespace gfnrl::detail {

struct Philox4 {
  uint32_t v[4];
};

GFNRL_HD inline uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

/// Ten rounds of Philox4x32 (Random123's constants); bit-identical to its reference output.
GFNRL_HD inline Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo32(0xD2511F53u, ctr.v[0], &hi0);
    const uint32_t lo1 = mulhilo32(0xCD9E8D57u, ctr.v[2], &hi1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
  }
  return ctr;
}

/// What a draw is for: separate streams never share a counter.
enum RngStream : uint32_t {
  kStreamRollout = 0,
  kStreamReplay = 1,
  kStreamEnvironment = 2,
  kStreamBackwardRollout = 3
};

/// Four 32-bit draws for (seed, step, a, b, stream).
GFNRL_HD inline Philox4 draw(uint64_t seed, uint64_t step, uint32_t a, uint32_t b, uint32_t stream) {
  const Philox4 ctr{{static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32), a,
                     (b & 0x0FFFFFFFu) | (stream << 28)}};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

/// Uniform float in [0, 1) from the top 24 bits (exactly representable, never 1).
GFNRL_HD inline float uniform01(uint32_t x) { return static_cast<float>(x >> 8) * 0x1.0p-24f; }

/// Uniform integer in [0, n) by multiply-shift (bias below n / 2^32).
GFNRL_HD inline uint32_t uniform_below(uint32_t x, uint32_t n) {
  return static_cast<uint32_t>((static_cast<uint64_t>(x) * n) >> 32);
}

}  // namespace gfnrl::detail
