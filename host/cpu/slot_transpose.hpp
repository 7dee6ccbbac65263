// A block's terms by slot. The sweeps' blocks hold a term per edge in CSR / CSC order: state i of
// the block owns t[off[i] .. off[i] + deg[i]). The slot form's logsumexps run over slot k of every
// state at once, so they want the terms slot-major:
//   T[k * n + i] = t[off[i] + k] for k < deg[i],  -inf for deg[i] <= k < kmax.
// Gathering t[off[i] + k] in the max pass and again in the exp pass cost three instructions a lane
// (GCC emulates a gather with scalar loads and inserts: on a Zen 5 that is faster than vgatherdps,
// 0.27 against 0.38 ns a lane) and was most of the slot form's time. Transposed once, the passes
// read contiguous floats. With AVX-512 the transposition itself takes no gather: the terms of 16
// consecutive states lie in at most 128 consecutive floats (degrees up to 8), which sit in eight
// registers and are picked by vpermt2ps. Pure data movement: every path gives the same floats.
#pragma once
#include <atomic>
#include <cstdint>

namespace gfnrl::detail::cpu {

/// Floats t must hold past its last term: the AVX-512 path loads whole 16-float vectors.
inline constexpr int32_t kSlotPad = 32;

/// Which transposition runs: Auto (AVX-512 where the CPU has it), or the portable loop forced, for
/// the test that holds the two to each other.
enum class SlotIsa : int { Auto, Portable };
std::atomic<SlotIsa>& slot_isa();

/// Whether slot_transpose takes the AVX-512 path now.
bool slot_transpose_uses_avx512();

/// T[k * n + i] as above, for k < kmax, i < n; off nondecreasing with off[i] + deg[i] <= off[i + 1]
/// (a CSR block's segments), t readable to off[n - 1] + deg[n - 1] + kSlotPad.
void slot_transpose(int32_t n, int32_t kmax, const int32_t* off, const int32_t* deg, const float* t,
                    float* T);

}  // namespace gfnrl::detail::cpu
