// exp and log in float from arithmetic and bit operations only, so that the CPU sweeps' loops over
// a level's edges vectorise (glibc's expf/logf are calls: one value at a time). Errors against
// double over every 7th float of the ranges (measured; tests/test_vector_math.cpp bounds them):
//   vexp: relative <= 1.0e-7 (under 2 ulp; tested <= 2.5e-7) on [-87.3, 88.7]; 0 below -87.3
//         (exp < 1.2e-38, the smallest normal float: the sweeps add such terms to a sum >= 1),
//         so exp(-inf) = 0; inf above 88.7.
//   vlog: absolute <= 1.2e-7 * max(1, |log x|) (1 ulp; tested <= 1.5e-7) for normal x > 0;
//         log 0 = -inf, log inf = inf.
// Used where a logsumexp adds its terms; the CUDA kernels keep expf/logf (detail/hd.hpp).
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

// The sweeps' block functions are compiled three times, for x86-64-v4 (AVX-512: sixteen floats per
// vector with -mprefer-vector-width=512, see CMakeLists.txt), x86-64-v3 (AVX2 and FMA: eight
// floats, fused multiply-adds in the polynomials) and the baseline (SSE2), and the loader picks
// the one the machine runs (GCC's function multiversioning, a glibc ifunc). Measured on the 2-core
// CI machine, 4-D H=32: v3 against SSE2, soft VI 32-38 -> 20-24 ms, marginals 21-23 -> 16-18 ms.
// v4 and v3 give the same bits (every element's arithmetic is the same, with no float reduction
// across lanes); the baseline differs from them in the last bits (no contracted multiply-adds).
// Never between runs or thread counts on one machine. GFNRL_NO_CPU_CLONES builds the baseline only.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && \
    !defined(GFNRL_NO_CPU_CLONES)
#define GFNRL_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GFNRL_CPU_CLONES
#endif
// For the helpers those clones call: inlined into each, so that they too are compiled for the
// clone's ISA (a call would run the baseline's code). GCC would not inline the larger ones.
#if defined(__GNUC__)
#define GFNRL_CPU_INLINE inline __attribute__((always_inline))
#else
#define GFNRL_CPU_INLINE inline
#endif

namespace gfnrl::detail::cpu {

inline float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
inline int32_t float_to_bits(float f) {
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

/// exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2] (Cody-Waite: ln 2
/// in two parts, the first exact in 16 bits), exp(r) by its Taylor series to r^7 (truncation
/// |r|^8/8! < 2.2e-9).
GFNRL_CPU_INLINE float vexp(float x) {
  constexpr float kLow = -87.33f, kHigh = 88.72f;
  const float xc = x < kLow ? kLow : (x > kHigh ? kHigh : x);
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (xc * 1.44269504088896341f + kRound) - kRound;
  const float r = (xc - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  const float p =
      1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                                                      r * (1.0f / 720 + r * (1.0f / 5040)))))));
  // 2^n in two factors: n reaches 128 near the top of the range, past a float's exponent.
  const int32_t ni = static_cast<int32_t>(n), half = ni >> 1;
  const float y = p * bits_to_float((half + 127) << 23) * bits_to_float((ni - half + 127) << 23);
  // Selects between constants only: a select of a computed value would stay a branch (GCC does
  // not speculate floating-point arithmetic) and the loop would not vectorise.
  return y * (x < kLow ? 0.0f : (x > kHigh ? std::numeric_limits<float>::infinity() : 1.0f));
}

/// log(x) = e ln 2 + log m with x = 2^e m, m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s),
/// s = (m - 1)/(m + 1), |s| <= 0.1716, by its series to s^11 (truncation < 1e-10).
GFNRL_CPU_INLINE float vlog(float x) {
  const int32_t bits = float_to_bits(x);
  int32_t e = ((bits >> 23) & 0xff) - 127;
  float m = bits_to_float((bits & 0x007fffff) | 0x3f800000);  // [1, 2)
  const bool high = m > 1.41421356f;
  m *= high ? 0.5f : 1.0f;
  e += high ? 1 : 0;
  const float s = (m - 1.0f) / (m + 1.0f), z = s * s;
  const float log_m =
      2.0f * s *
      (1.0f + z * (1.0f / 3 + z * (1.0f / 5 + z * (1.0f / 7 + z * (1.0f / 9 + z * (1.0f / 11))))));
  const float ef = static_cast<float>(e);
  const float y = ef * 0.693145751953125f + (log_m + ef * 1.42860682030941723e-6f);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  return y + (x == 0.0f ? -kInf : (x == kInf ? kInf : 0.0f));
}

}  // namespace gfnrl::detail::cpu
