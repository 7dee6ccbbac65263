/// @file hypergrid_math.hpp
/// Per-state hypergrid arithmetic shared by the CPU generator and the CUDA kernel.
#pragma once
#include <cstdint>

#include "gfnrl/dag_view.hpp"
#include "gfnrl/detail/hd.hpp"

namespace gfnrl::detail {

constexpr int kMaxHypergridDim = 16;

struct HypergridShape {
  int32_t ndim, height;
  double r0, r1, r2;
  bool float64_regions = false;  ///< decide the regions as the float64 reference codes do
};

/// Digits of `code` in base H: code = sum_d x_d H^d.
GFNRL_HD inline void hypergrid_decode(int64_t code, const HypergridShape& g, int32_t* x) {
  for (int d = 0; d < g.ndim; ++d) {
    x[d] = static_cast<int32_t>(code % g.height);
    code /= g.height;
  }
}

/// Region indicators of one coordinate x in {0..H-1}, decided exactly. With M = H-1 and
/// t = |2x - M|, |x/M - 1/2| = t / (2M), so
///   outer: t/(2M) > 1/4          <=>  10t > 5M
///   ring:  3/10 < t/(2M) < 2/5   <=>  6M < 10t < 8M
/// in int64 (10t <= 10 * 2^31: no overflow). Boundary cells (H-1 a multiple of 5, e.g. H = 16,
/// x = 12: |12/15 - 1/2| = 3/10 exactly) are outside the open intervals, as the definition says.
GFNRL_HD inline void hypergrid_regions_exact(int32_t x, int32_t height, bool* outer, bool* ring) {
  const int64_t m = static_cast<int64_t>(height) - 1;
  int64_t t = 2 * static_cast<int64_t>(x) - m;
  t = t < 0 ? -t : t;
  *outer = 10 * t > 5 * m;
  *ring = 10 * t > 6 * m && 10 * t < 8 * m;
}

/// The same decided as |x/(H-1) - 0.5| in IEEE double, as the float64 reference codes do: where
/// the distance is exactly 0.3 or 0.4 in rationals, rounding can put a cell inside the ring
/// (12/15 - 0.5 = 0.30000000000000004). Kept only to reproduce those codes' numbers.
GFNRL_HD inline void hypergrid_regions_float64(int32_t x, int32_t height, bool* outer, bool* ring) {
  double a = static_cast<double>(x) / (height - 1) - 0.5;
  a = a < 0 ? -a : a;
  *outer = a > 0.25;
  *ring = (a > 0.3) && (a < 0.4);
}

/// R(x) = R0 + R1 * prod_d [0.25 < |x_d/(H-1) - 0.5|] + R2 * prod_d [0.3 < |x_d/(H-1) - 0.5| < 0.4]
/// (the field's convention: Bengio et al. 2021, torchgfn, gflownet-rl), the indicators decided
/// exactly unless `g.float64_regions`. Returned as log R in float.
GFNRL_HD inline float hypergrid_log_reward(const int32_t* x, const HypergridShape& g) {
  bool outer = true, ring = true;
  for (int d = 0; d < g.ndim; ++d) {
    bool o, r;
    if (g.float64_regions)
      hypergrid_regions_float64(x[d], g.height, &o, &r);
    else
      hypergrid_regions_exact(x[d], g.height, &o, &r);
    outer = outer && o;
    ring = ring && r;
  }
  double r = g.r0 + (outer ? g.r1 : 0.0) + (ring ? g.r2 : 0.0);
  return static_cast<float>(log_(r));
}

/// Arrays a hypergrid generator fills; `order[i]` is the base-H code of state i (states sorted by
/// level = sum_d x_d, ties by code), `rank[code]` its inverse.
struct HypergridFill {
  HypergridShape g;
  const int64_t* order;
  const int32_t* rank;
  DagWriteView out;  ///< offsets read (already summed), edges and log R written
};

/// Out-degree (actions +1 on coordinate d where x_d < H-1) and in-degree of state with code c.
GFNRL_HD inline void hypergrid_degrees(int64_t code, const HypergridShape& g, int32_t* out,
                                       int32_t* in) {
  int32_t x[kMaxHypergridDim];
  hypergrid_decode(code, g, x);
  int32_t o = 0, i = 0;
  for (int d = 0; d < g.ndim; ++d) {
    o += x[d] < g.height - 1;
    i += x[d] > 0;
  }
  *out = o;
  *in = i;
}

/// Writes state i's children (ascending d), parents (ascending d) and log-reward. The CSR id of
/// the parent edge p -> i along d is child_offsets[p] + #{d' < d : x_d' < H-1}, since p and i share
/// every coordinate but d and p's children are listed by ascending d.
GFNRL_HD inline void hypergrid_fill_state(int32_t i, const HypergridFill& f) {
  const HypergridShape& g = f.g;
  int32_t x[kMaxHypergridDim];
  const int64_t code = f.order[i];
  hypergrid_decode(code, g, x);
  const DagWriteView& o = f.out;
  int64_t c = o.child_offsets[i];
  int64_t p = o.parent_offsets[i];
  int64_t stride = 1;
  int32_t lower_open = 0;  // #{d' < d : x_d' < H-1}
  for (int d = 0; d < g.ndim; ++d) {
    if (x[d] < g.height - 1) {
      o.child_index[c] = f.rank[code + stride];
      o.child_action[c] = d;
      ++c;
    }
    if (x[d] > 0) {
      const int32_t parent = f.rank[code - stride];
      o.parent_index[p] = parent;
      o.parent_edge.set(p, o.child_offsets[parent] + lower_open);
      ++p;
    }
    lower_open += x[d] < g.height - 1;
    stride *= g.height;
  }
  o.log_reward[i] = hypergrid_log_reward(x, g);
}

}  // namespace gfnrl::detail
