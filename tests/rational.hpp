// Exact rationals for the tests, and the hypergrid reward decided with them: an oracle that
// shares no arithmetic with the library's integer comparisons.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <vector>

namespace gfnrl::test {

/// p/q in lowest terms, q > 0. Small enough for grid coordinates (|p|, q < 2^31).
struct Rational {
  int64_t p, q;
  Rational(int64_t num, int64_t den = 1) : p(num), q(den) {
    if (q < 0) p = -p, q = -q;
    const int64_t g = std::gcd(p < 0 ? -p : p, q);
    if (g > 1) p /= g, q /= g;
  }
  friend Rational operator-(Rational a, Rational b) { return {a.p * b.q - b.p * a.q, a.q * b.q}; }
  friend bool operator<(Rational a, Rational b) {
    return static_cast<__int128>(a.p) * b.q < static_cast<__int128>(b.p) * a.q;
  }
  friend bool operator>(Rational a, Rational b) { return b < a; }
  friend bool operator==(Rational a, Rational b) { return a.p == b.p && a.q == b.q; }
};

inline Rational abs(Rational a) { return {a.p < 0 ? -a.p : a.p, a.q}; }

/// |x/(H-1) - 1/2| as a rational.
inline Rational hypergrid_distance(int64_t x, int64_t h) {
  return abs(Rational(x, h - 1) - Rational(1, 2));
}
inline bool in_outer(int64_t x, int64_t h) { return hypergrid_distance(x, h) > Rational(1, 4); }
inline bool in_ring(int64_t x, int64_t h) {
  const Rational a = hypergrid_distance(x, h);
  return a > Rational(3, 10) && a < Rational(2, 5);
}

/// R(x) = R0 + R1 prod[1/4 < |x_d/(H-1) - 1/2|] + R2 prod[3/10 < |x_d/(H-1) - 1/2| < 2/5],
/// the indicators decided in rationals.
inline double hypergrid_reward_exact(const std::vector<int>& x, int h, double r0, double r1,
                                     double r2) {
  bool outer = true, ring = true;
  for (int v : x) {
    outer = outer && in_outer(v, h);
    ring = ring && in_ring(v, h);
  }
  return r0 + (outer ? r1 : 0) + (ring ? r2 : 0);
}

}  // namespace gfnrl::test
