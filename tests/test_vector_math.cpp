// The CPU sweeps' vectorisable exp and log (host/cpu/vector_math.hpp) against double exp and log
// over every float of their ranges (2^23-ish values per binade, strided to keep it quick), and
// their special values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cpu/vector_math.hpp"

namespace gfnrl::detail::cpu {
namespace {

// Every float from lo up to hi, taking every `stride`-th bit pattern.
template <class F>
void for_floats(float lo, float hi, int32_t stride, F f) {
  for (float x = lo; x <= hi;) {
    f(x);
    const int32_t b = float_to_bits(x);
    if (b >= 0) {
      if (b > std::numeric_limits<int32_t>::max() - stride) return;
      x = bits_to_float(b + stride);
    } else {  // negative: the magnitude shrinks toward 0
      const int32_t mag = b & 0x7fffffff;
      x = mag > stride ? bits_to_float(int32_t(0x80000000u | uint32_t(mag - stride))) : 0.0f;
    }
  }
}

TEST(VectorMath, ExpIsWithinTwoPointFiveEMinus7RelativeOfDouble) {
  double worst = 0;
  float at = 0;
  auto check = [&](float x) {
    const double want = std::exp(double(x));
    const double err = std::abs(double(vexp(x)) - want) / want;
    if (err > worst) worst = err, at = x;
  };
  for_floats(-87.3f, -1e-30f, 97, check);
  for_floats(0.0f, 88.7f, 97, check);
  EXPECT_LE(worst, 2.5e-7) << "at x = " << at;
  EXPECT_EQ(vexp(0.0f), 1.0f);
  EXPECT_EQ(vexp(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(vexp(-100.0f), 0.0f);
  EXPECT_EQ(vexp(100.0f), std::numeric_limits<float>::infinity());
}

TEST(VectorMath, LogIsWithinOnePointFiveEMinus7OfDoubleScaledByItsSize) {
  double worst = 0;
  float at = 0;
  for_floats(std::numeric_limits<float>::min(), std::numeric_limits<float>::max(), 101,
             [&](float x) {
               const double want = std::log(double(x));
               const double err = std::abs(double(vlog(x)) - want) / std::max(1.0, std::abs(want));
               if (err > worst) worst = err, at = x;
             });
  EXPECT_LE(worst, 1.5e-7) << "at x = " << at;
  EXPECT_EQ(vlog(1.0f), 0.0f);
  EXPECT_EQ(vlog(0.0f), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(vlog(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
  // Small integers (action counts) and sums near 1 (a logsumexp's): the cases the sweeps meet.
  for (int n = 1; n <= 4096; ++n)
    EXPECT_NEAR(vlog(float(n)), std::log(double(n)), 1.5e-7 * std::max(1.0, std::log(double(n))))
        << n;
}

}  // namespace
}  // namespace gfnrl::detail::cpu
