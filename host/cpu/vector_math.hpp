// exp and log in float from arithmetic and bit operations only, so that the CPU sweeps' loops over
// a level's edges vectorise (glibc's expf/logf are calls: one value at a time). Errors against
// double over every 7th float of the ranges (measured; tests/test_vector_math.cpp bounds them):
//   vexp: relative <= 1.0e-7 (under 2 ulp; tested <= 2.5e-7) on [-87.3, 88.7]; 0 below -87.3
//         (exp < 1.2e-38, the smallest normal float: the sweeps add such terms to a sum >= 1),
//         so exp(-inf) = 0; inf above 88.7.
//   vlog: absolute <= 1.2e-7 * max(1, |log x|) (1 ulp; tested <= 1.5e-7) for normal x > 0;
//         log 0 = -inf, log inf = inf.
// And in double, for the metrics' reductions (host/cpu/metrics.cpp), the same constructions with
// longer series; errors against long double over 2e7 random arguments:
//   vexp_d: relative <= 1.9e-16 (tested <= 2.5e-16) on [-708.39, 709.78]; 0 below, inf above;
//   vlog_d: absolute <= 2.0e-16 * max(1, |log x|) (tested <= 3e-16) for normal x > 0;
//           log 0 = -inf, log inf = inf.
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
// GFNRL_LAMBDA_INLINE: the same for a lambda the clones pass to such a helper, written after its
// parameter list.
#if defined(__GNUC__)
#define GFNRL_CPU_INLINE inline __attribute__((always_inline))
#define GFNRL_LAMBDA_INLINE __attribute__((always_inline))
#else
#define GFNRL_CPU_INLINE inline
#define GFNRL_LAMBDA_INLINE
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
  // NaN takes kLow here (no float-to-int conversion of NaN below) and comes back as NaN at the end.
  const float xc = !(x >= kLow) ? kLow : (x > kHigh ? kHigh : x);
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
  return y * (x < kLow ? 0.0f
                       : (x > kHigh ? std::numeric_limits<float>::infinity()
                                    : (x == x ? 1.0f : std::numeric_limits<float>::quiet_NaN())));
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

inline double bits_to_double(int64_t i) {
  double d;
  std::memcpy(&d, &i, sizeof d);
  return d;
}
inline int64_t double_to_bits(double d) {
  int64_t i;
  std::memcpy(&i, &d, sizeof i);
  return i;
}

/// exp(x) = 2^n exp(r) as vexp, in double: ln 2 in two parts (the first with 21 trailing zero
/// bits, so n ln2_hi is exact), exp(r) by its Taylor series to r^13 (truncation < 5e-18).
GFNRL_CPU_INLINE double vexp_d(double x) {
  constexpr double kLow = -708.39, kHigh = 709.78;
  const double xc = !(x >= kLow) ? kLow : (x > kHigh ? kHigh : x);  // NaN: as in vexp
  constexpr double kRound = 6755399441055744.0;  // 1.5 * 2^52
  const double n = (xc * 1.4426950408889634 + kRound) - kRound;
  const double r = (xc - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // 2^n in two factors: n reaches 1024 at the top of the range, past a double's exponent.
  const int64_t ni = static_cast<int64_t>(n), half = ni >> 1;
  const double y =
      p * bits_to_double((half + 1023) << 52) * bits_to_double((ni - half + 1023) << 52);
  return y * (x < kLow ? 0.0
                       : (x > kHigh ? std::numeric_limits<double>::infinity()
                                    : (x == x ? 1.0 : std::numeric_limits<double>::quiet_NaN())));
}

/// log(x) as vlog, in double: log m = 2 atanh(s) by its series to s^23 (truncation < 1e-18).
/// For normal x > 0 (a subnormal x reads as 2^-1023 m).
GFNRL_CPU_INLINE double vlog_d(double x) {
  const int64_t bits = double_to_bits(x);
  int64_t e = ((bits >> 52) & 0x7ff) - 1023;
  double m = bits_to_double((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);  // [1, 2)
  const bool high = m > 1.4142135623730951;
  m *= high ? 0.5 : 1.0;
  e += high ? 1 : 0;
  const double s = (m - 1.0) / (m + 1.0), z = s * s;
  double q = 1.0 / 23;
  q = q * z + 1.0 / 21;
  q = q * z + 1.0 / 19;
  q = q * z + 1.0 / 17;
  q = q * z + 1.0 / 15;
  q = q * z + 1.0 / 13;
  q = q * z + 1.0 / 11;
  q = q * z + 1.0 / 9;
  q = q * z + 1.0 / 7;
  q = q * z + 1.0 / 5;
  q = q * z + 1.0 / 3;
  const double log_m = 2.0 * s + 2.0 * s * (z * q);
  const double ef = static_cast<double>(e);
  const double y = ef * 6.93147180369123816490e-01 + (log_m + ef * 1.90821492927058770002e-10);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  return y + (x == 0.0 ? -kInf : (x == kInf ? kInf : 0.0));
}

}  // namespace gfnrl::detail::cpu
