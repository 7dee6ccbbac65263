/// @file hypergrid_math.hpp
/// Per-state hypergrid arithmetic shared by the CPU generator and the CUDA kernel.
#pragma once
#include <cstdint>

#include "gfnrl/detail/hd.hpp"

namespace gfnrl::detail {

constexpr int kMaxHypergridDim = 16;

struct HypergridShape {
  int32_t ndim, height;
  double r0, r1, r2;
};

/// Digits of `code` in base H: code = sum_d x_d H^d.
GFNRL_HD inline void hypergrid_decode(int64_t code, const HypergridShape& g, int32_t* x) {
  for (int d = 0; d < g.ndim; ++d) {
    x[d] = static_cast<int32_t>(code % g.height);
    code /= g.height;
  }
}

/// R(x) = R0 + R1 * prod_d [0.25 < |x_d/(H-1) - 0.5|] + R2 * prod_d [0.3 < |x_d/(H-1) - 0.5| < 0.4]
/// (the field's convention: Bengio et al. 2021, torchgfn, gflownet-rl). Returned as log R in float.
GFNRL_HD inline float hypergrid_log_reward(const int32_t* x, const HypergridShape& g) {
  bool outer = true, ring = true;
  for (int d = 0; d < g.ndim; ++d) {
    double a = static_cast<double>(x[d]) / (g.height - 1) - 0.5;
    a = a < 0 ? -a : a;
    outer = outer && (a > 0.25);
    ring = ring && (a > 0.3) && (a < 0.4);
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
  const int32_t* child_offsets;
  const int32_t* parent_offsets;
  int32_t* child_index;
  int32_t* child_action;
  int32_t* parent_index;
  int32_t* parent_edge;
  float* log_reward;
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
  int32_t c = f.child_offsets[i];
  int32_t p = f.parent_offsets[i];
  int64_t stride = 1;
  int32_t lower_open = 0;  // #{d' < d : x_d' < H-1}
  for (int d = 0; d < g.ndim; ++d) {
    if (x[d] < g.height - 1) {
      f.child_index[c] = f.rank[code + stride];
      f.child_action[c] = d;
      ++c;
    }
    if (x[d] > 0) {
      const int32_t parent = f.rank[code - stride];
      f.parent_index[p] = parent;
      f.parent_edge[p] = f.child_offsets[parent] + lower_open;
      ++p;
    }
    lower_open += x[d] < g.height - 1;
    stride *= g.height;
  }
  f.log_reward[i] = hypergrid_log_reward(x, g);
}

}  // namespace gfnrl::detail
