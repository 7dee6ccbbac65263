#include "cpu/slot_transpose.hpp"

#include <algorithm>
#include <limits>

#include "cpu/vector_math.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GFNRL_SLOT_AVX512 1
#include <immintrin.h>
#endif

namespace gfnrl::detail::cpu {

std::atomic<SlotIsa>& slot_isa() {
  static std::atomic<SlotIsa> isa{SlotIsa::Auto};
  return isa;
}

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Lanes [i0, i1) of T, one slot at a time: a masked index (a lane past its degree reads its
// state's first term and discards it), so the loop vectorises with no branch.
GFNRL_CPU_CLONES
void transpose_portable(int32_t n, int32_t i0, int32_t i1, int32_t kmax,
                        const int32_t* __restrict off, const int32_t* __restrict deg,
                        const float* __restrict t, float* __restrict T) {
  for (int32_t k = 0; k < kmax; ++k) {
    float* __restrict row = T + int64_t(k) * n;
#pragma omp simd
    for (int32_t i = i0; i < i1; ++i) {
      const bool real = k < deg[i];
      const float v = t[off[i] + (real ? k : 0)];
      row[i] = real ? v : kNegInf;
    }
  }
}

#ifdef GFNRL_SLOT_AVX512
// 16 states whose terms lie in t[base, base + 32 P): 2P vectors, slot k of lane i at index
// off[i] - base + k, picked from vector pair p = index / 32 by vpermt2ps (its low 5 bits).
template <int P>
__attribute__((target("avx512f"))) void transpose_group(int32_t n, int32_t i0, __mmask16 live,
                                                        int32_t kmax, __m512i rel, __m512i deg,
                                                        const float* t, float* T) {
  __m512 w[2 * P];
  for (int p = 0; p < 2 * P; ++p) w[p] = _mm512_loadu_ps(t + 16 * p);
  const __m512 neg_inf = _mm512_set1_ps(kNegInf);
  for (int32_t k = 0; k < kmax; ++k) {
    const __m512i idx = _mm512_add_epi32(rel, _mm512_set1_epi32(k));
    __m512 v = _mm512_permutex2var_ps(w[0], idx, w[1]);
    for (int p = 1; p < P; ++p) {
      const __mmask16 in = _mm512_cmpge_epi32_mask(idx, _mm512_set1_epi32(32 * p));
      v = _mm512_mask_mov_ps(v, in, _mm512_permutex2var_ps(w[2 * p], idx, w[2 * p + 1]));
    }
    const __mmask16 real = _mm512_cmplt_epi32_mask(_mm512_set1_epi32(k), deg);
    _mm512_mask_storeu_ps(T + int64_t(k) * n + i0, live, _mm512_mask_mov_ps(neg_inf, real, v));
  }
}

__attribute__((target("avx512f"))) void transpose_avx512(int32_t n, int32_t kmax,
                                                         const int32_t* off, const int32_t* deg,
                                                         const float* t, float* T) {
  for (int32_t i0 = 0; i0 < n; i0 += 16) {
    const int32_t lanes = std::min(16, n - i0);
    const auto live = static_cast<__mmask16>(lanes == 16 ? 0xffff : (1u << lanes) - 1);
    const int32_t base = off[i0], last = i0 + lanes - 1;
    const int32_t span = off[last] + deg[last] - base;
    const __m512i rel =
        _mm512_sub_epi32(_mm512_maskz_loadu_epi32(live, off + i0), _mm512_set1_epi32(base));
    const __m512i dg = _mm512_maskz_loadu_epi32(live, deg + i0);  // 0 past n: no real slot
    const float* tb = t + base;
    if (span <= 32) {
      transpose_group<1>(n, i0, live, kmax, rel, dg, tb, T);
    } else if (span <= 64) {
      transpose_group<2>(n, i0, live, kmax, rel, dg, tb, T);
    } else if (span <= 96) {
      transpose_group<3>(n, i0, live, kmax, rel, dg, tb, T);
    } else if (span <= 128) {
      transpose_group<4>(n, i0, live, kmax, rel, dg, tb, T);
    } else {
      transpose_portable(n, i0, i0 + lanes, kmax, off, deg, t, T);
    }
  }
}

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}
#endif
}  // namespace

bool slot_transpose_uses_avx512() {
#ifdef GFNRL_SLOT_AVX512
  return cpu_has_avx512() && slot_isa().load(std::memory_order_relaxed) == SlotIsa::Auto;
#else
  return false;
#endif
}

void slot_transpose(int32_t n, int32_t kmax, const int32_t* off, const int32_t* deg, const float* t,
                    float* T) {
  if (kmax == 0) return;  // a block of leaves: no slot
#ifdef GFNRL_SLOT_AVX512
  if (slot_transpose_uses_avx512()) return transpose_avx512(n, kmax, off, deg, t, T);
#endif
  transpose_portable(n, 0, n, kmax, off, deg, t, T);
}

}  // namespace gfnrl::detail::cpu
