// The sweeps' slot form transposes a block's terms to slot-major order
// (host/cpu/slot_transpose.hpp): T[k n + i] = t[off[i] + k] for k < deg[i], -inf up to kmax.
// Both paths, AVX-512 permutes and the portable masked-index loop, are held to that definition,
// written here as a plain nested loop, bit for bit (-0 and -inf among the terms), on blocks of
// every length against the 16-lane groups and every span the permutes take (one to four vector
// pairs) or hand back (wider groups); neither may write past its n x kmax floats.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cpu/slot_transpose.hpp"

namespace gfnrl::test {
namespace {

using detail::cpu::kSlotPad;
using detail::cpu::slot_isa;
using detail::cpu::slot_transpose;
using detail::cpu::SlotIsa;

struct Block {
  int32_t n = 0, kmax = 0;
  std::vector<int32_t> off, deg;
  std::vector<float> t;
};

/// n states of degrees 0..max_deg (a few at max_deg), contiguous or with gaps between segments.
Block random_block(int32_t n, int32_t max_deg, bool gaps, std::mt19937& rng) {
  Block b;
  b.n = n;
  std::uniform_int_distribution<int32_t> d(0, max_deg), gap(0, 3);
  int32_t e = 0;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t k = i % 7 == 3 ? max_deg : d(rng);
    b.off.push_back(e), b.deg.push_back(k);
    e += k + (gaps ? gap(rng) : 0);
    b.kmax = std::max(b.kmax, k);
  }
  std::uniform_real_distribution<float> u(-50.0f, 5.0f);
  b.t.resize(e + kSlotPad);
  for (std::size_t j = 0; j < b.t.size(); ++j) {
    b.t[j] = u(rng);
    if (j % 11 == 5) b.t[j] = -std::numeric_limits<float>::infinity();
    if (j % 13 == 7) b.t[j] = -0.0f;
  }
  return b;
}

/// The definition, one element at a time.
std::vector<float> by_definition(const Block& b) {
  std::vector<float> T(std::size_t(b.kmax) * b.n);
  for (int32_t k = 0; k < b.kmax; ++k)
    for (int32_t i = 0; i < b.n; ++i)
      T[std::size_t(k) * b.n + i] =
          k < b.deg[i] ? b.t[b.off[i] + k] : -std::numeric_limits<float>::infinity();
  return T;
}

/// slot_transpose's output under `isa`, with a guard of 64 floats after it that must stay
/// untouched.
std::vector<float> transposed(const Block& b, SlotIsa isa, bool* guard_intact) {
  const std::size_t size = std::size_t(b.kmax) * b.n;
  std::vector<float> T(size + 64, 12345.0f);
  slot_isa() = isa;
  slot_transpose(b.n, b.kmax, b.off.data(), b.deg.data(), b.t.data(), T.data());
  slot_isa() = SlotIsa::Auto;
  *guard_intact = true;
  for (std::size_t j = size; j < T.size(); ++j) *guard_intact &= T[j] == 12345.0f;
  T.resize(size);
  return T;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  // memcmp's pointers must not be null, even for no bytes (an empty vector's data() may be).
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST(SlotTranspose, EveryPathIsTheDefinition) {
  std::mt19937 rng(2026);
  int blocks = 0;
  for (int32_t n : {1, 5, 15, 16, 17, 33, 100, 512})
    for (int32_t max_deg : {0, 1, 2, 4, 6, 8, 9, 12, 40})
      for (bool gaps : {false, true}) {
        const Block b = random_block(n, max_deg, gaps, rng);
        const std::vector<float> want = by_definition(b);
        for (SlotIsa isa : {SlotIsa::Auto, SlotIsa::Portable}) {
          bool guard = false;
          EXPECT_TRUE(same_bits(transposed(b, isa, &guard), want))
              << "n " << n << " max degree " << max_deg << (gaps ? " with gaps" : "")
              << (isa == SlotIsa::Portable ? " portable" : " auto");
          EXPECT_TRUE(guard) << "wrote past n x kmax: n " << n << " max degree " << max_deg;
        }
        ++blocks;
      }
  EXPECT_EQ(blocks, 144);
}

TEST(SlotTranspose, Avx512PathRunsWhereTheCpuHasIt) {
  if (!detail::cpu::slot_transpose_uses_avx512())
    GTEST_SKIP() << "no AVX-512 on this CPU: only the portable transposition ran above";
  slot_isa() = SlotIsa::Portable;
  EXPECT_FALSE(detail::cpu::slot_transpose_uses_avx512());
  slot_isa() = SlotIsa::Auto;
}

}  // namespace
}  // namespace gfnrl::test
