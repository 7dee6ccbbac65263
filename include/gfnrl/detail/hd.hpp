/// @file hd.hpp
/// Log-semiring arithmetic shared by the CPU backend and the CUDA kernels (__host__ __device__),
/// so that CPU tests exercise the arithmetic the kernels run.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__CUDACC__)
#define GFNRL_HD __host__ __device__
#else
#define GFNRL_HD
#endif

namespace gfnrl::detail {

GFNRL_HD inline float neg_inf() { return -std::numeric_limits<float>::infinity(); }

// Precision-matched exp/log: expf/logf for float, exp/log for double, on host and device.
GFNRL_HD inline float exp_(float x) { return expf(x); }
GFNRL_HD inline double exp_(double x) { return ::exp(x); }
GFNRL_HD inline float log_(float x) { return logf(x); }
GFNRL_HD inline double log_(double x) { return ::log(x); }
GFNRL_HD inline float pow_(float x, float y) { return powf(x, y); }

/// Streaming logsumexp: keeps (max, sum of exp(x - max)). add(-inf) is a no-op, so an empty or
/// all -inf accumulator gives -inf, never NaN.
template <class R>
struct LseAcc {
  R m = -std::numeric_limits<R>::infinity();
  R s = 0;
  GFNRL_HD void add(R x) {
    if (!(x > -std::numeric_limits<R>::infinity())) return;
    if (x <= m) {
      s += exp_(x - m);
    } else {
      s = s * exp_(m - x) + R(1);
      m = x;
    }
  }
  /// Combines two partial accumulators (associative: usable in tree and warp reductions).
  GFNRL_HD static LseAcc merge(LseAcc a, LseAcc b) {
    if (!(a.m > -std::numeric_limits<R>::infinity())) return b;
    if (!(b.m > -std::numeric_limits<R>::infinity())) return a;
    LseAcc r;
    if (a.m >= b.m) {
      r.m = a.m;
      r.s = a.s + b.s * exp_(b.m - a.m);
    } else {
      r.m = b.m;
      r.s = b.s + a.s * exp_(a.m - b.m);
    }
    return r;
  }
  GFNRL_HD R value() const {
    return m > -std::numeric_limits<R>::infinity() ? m + log_(s) : m;
  }
};

/// log pi = q - v, defined as -inf when the state's value is -inf (it can reach no reward).
GFNRL_HD inline float log_ratio(float q, float v) {
  return v > neg_inf() ? q - v : neg_inf();
}

}  // namespace gfnrl::detail
