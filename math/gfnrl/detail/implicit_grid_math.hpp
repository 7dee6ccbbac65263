/// @file implicit_grid_math.hpp
/// Per-state arithmetic of the implicit hypergrid layout, shared by the CPU sweeps and (when
/// written) the CUDA kernels: a state is its base-H code c = sum_d x_d H^d, its children are
/// c + H^d (x_d < H-1), its parents c - H^d (x_d > 0), and nothing but one value per state is
/// stored. `Math` supplies exp and log (the CPU's vectorisable vexp/vlog; CUDA's expf/logf).
///
/// With nnz(s) = #{d : x_d > 0} (the in-degree) and k(s) = #{d : x_d < H-1} (the out-degree):
///   soft values  V(s) = log( R(s) + sum_{d: x_d<H-1} exp(c(s+e_d) + V(s+e_d)) ),
///                c(s') = -log nnz(s') with the uniform-P_B correction, 0 without;
///   soft-optimal log pi(s -> s+e_d) = c(s+e_d) + V(s+e_d) - V(s), log pi(exit|s) = log R(s) - V(s);
///   uniform      log pi(a|s) = -log(k(s) + 1) for each of the k(s) moves and the exit;
///   visits       log rho(s') = logsumexp_{d: x'_d>0} ( log rho(s'-e_d) + log pi(s'-e_d -> s') ),
///                rho(s0) = 1; P_T(x) = rho(x) pi(exit|x).
#pragma once
#include <cstdint>

#include "gfnrl/detail/hd.hpp"
#include "gfnrl/detail/hypergrid_math.hpp"

namespace gfnrl::detail {

struct ImplicitGrid {
  int32_t ndim = 0, height = 0;
  int64_t num_states = 0;
  int64_t stride[kMaxHypergridDim] = {};  ///< H^d
  /// log R by region: [outer + 2 ring], each float(log(R0 + R1 outer + R2 ring)) exactly as
  /// hypergrid_log_reward rounds it (ring implies outer, so index 2 is never used).
  float log_reward[4] = {};
  double reward[3] = {};  ///< R0, R1, R2
  float log_count[kMaxHypergridDim + 2] = {};  ///< log k for k = 1..D+1 (index 0 unused)
  bool float64_regions = false;
  bool corrected = true;        ///< the soft values' inner reward: -log nnz(s') (true) or 0
  bool uniform_policy = false;  ///< the evaluated policy: uniform over moves and exit, or soft-optimal
  /// The CPU row kernels' scaled range: a row segment whose terms span more than `scale_range`
  /// nats, or whose scaled visits fall below `tiny_scaled`, is redone state by state with the
  /// functions below (tests force that path with 0 and infinity).
  double scale_range = 600.0, tiny_scaled = 1e-250;
  bool flow_form = true;  ///< the CPU's linear form where corrected (false: logsumexp rows)
};

/// Both region indicators of one coordinate under the grid's rule.
GFNRL_HD inline void implicit_regions(int32_t x, const ImplicitGrid& g, bool* outer, bool* ring) {
  if (g.float64_regions)
    hypergrid_regions_float64(x, g.height, outer, ring);
  else
    hypergrid_regions_exact(x, g.height, outer, ring);
}

/// log R of the state with coordinates x: the same float as hypergrid_log_reward.
GFNRL_HD inline float implicit_log_reward(const int32_t* x, const ImplicitGrid& g) {
  bool outer = true, ring = true;
  for (int d = 0; d < g.ndim; ++d) {
    bool o, r;
    implicit_regions(x[d], g, &o, &r);
    outer = outer && o;
    ring = ring && r;
  }
  return g.log_reward[(outer ? 1 : 0) + (ring ? 2 : 0)];
}

GFNRL_HD inline int32_t implicit_in_degree(const int32_t* x, const ImplicitGrid& g) {
  int32_t n = 0;
  for (int d = 0; d < g.ndim; ++d) n += x[d] > 0;
  return n;
}
GFNRL_HD inline int32_t implicit_out_degree(const int32_t* x, const ImplicitGrid& g) {
  int32_t n = 0;
  for (int d = 0; d < g.ndim; ++d) n += x[d] < g.height - 1;
  return n;
}

/// c(s') for a child s' of in-degree nnz.
GFNRL_HD inline float implicit_correction(int32_t nnz, const ImplicitGrid& g) {
  return g.corrected ? -g.log_count[nnz] : 0.0f;
}

/// V(s) from its children's values, with a two-pass logsumexp (maximum, then the sum), log R(s)
/// always among the terms (R > 0 on a hypergrid, so V is finite).
template <class Math>
GFNRL_HD inline float implicit_soft_value(const float* v, int64_t code, const int32_t* x,
                                          float log_r, const ImplicitGrid& g) {
  const int32_t nnz = implicit_in_degree(x, g);
  float m = log_r;
  for (int d = 0; d < g.ndim; ++d)
    if (x[d] < g.height - 1) {
      const float q = v[code + g.stride[d]] + implicit_correction(nnz + (x[d] == 0), g);
      m = q > m ? q : m;
    }
  float s = Math::exp(log_r - m);
  for (int d = 0; d < g.ndim; ++d)
    if (x[d] < g.height - 1)
      s += Math::exp(v[code + g.stride[d]] + implicit_correction(nnz + (x[d] == 0), g) - m);
  return m + Math::log(s);
}

/// log pi(p -> s) for the parent p = s - e_d of s (x: s's coordinates, x_d > 0). `v` holds the
/// policy's soft values (unused for the uniform policy).
GFNRL_HD inline float implicit_log_move(const float* v, int64_t code, const int32_t* x, int d,
                                        int32_t nnz, int32_t out_degree, const ImplicitGrid& g) {
  if (g.uniform_policy)  // k(p) = k(s) + [x_d = H-1]: p's coordinate d is below H-1
    return -g.log_count[out_degree + (x[d] == g.height - 1) + 1];
  return implicit_correction(nnz, g) + v[code] - v[code - g.stride[d]];
}

/// log pi(exit | s).
GFNRL_HD inline float implicit_log_exit(const float* v, int64_t code, float log_r,
                                        int32_t out_degree, const ImplicitGrid& g) {
  return g.uniform_policy ? -g.log_count[out_degree + 1] : log_r - v[code];
}

/// log pi(s -> s + e_d) (x: s's coordinates, x_d < H-1).
GFNRL_HD inline float implicit_log_child_move(const float* v, int64_t code, const int32_t* x, int d,
                                              int32_t nnz, int32_t out_degree,
                                              const ImplicitGrid& g) {
  if (g.uniform_policy) return -g.log_count[out_degree + 1];
  return implicit_correction(nnz + (x[d] == 0), g) + v[code + g.stride[d]] - v[code];
}

/// One state's terms of the variational bounds (variational_bounds.hpp) with the uniform P_B,
/// before the - log Z that both carry:
///   elbo(s) = rho(s) [ pi_exit (log R - log pi_exit)
///                      + sum_{d: x_d<H-1} pi_d (-log nnz(s+e_d) - log pi_d) ],
///   eubo(s) = R(s)/Z (log R - log pi_exit)
///             + F(s)/Z (1/nnz(s)) sum_{d: x_d>0} (-log nnz(s) - log pi(s-e_d -> s)),
/// where F(s)/Z = exp(Vb(s) - log Z) is the target's flow through s (Vb: soft values under the
/// uniform P_B) and rho(s) pi the policy's flow. In double.
struct ImplicitBoundTerms {
  double elbo = 0, eubo = 0;
};
template <class Math>
GFNRL_HD inline ImplicitBoundTerms implicit_bound_terms(const float* v, const float* vb,
                                                        const float* log_visit, int64_t code,
                                                        const int32_t* x, float log_r,
                                                        double log_z, const ImplicitGrid& g) {
  const int32_t nnz = implicit_in_degree(x, g), k = implicit_out_degree(x, g);
  const double log_exit = implicit_log_exit(v, code, log_r, k, g);
  const double rho = Math::exp_d(double(log_visit[code]));
  double elbo = Math::exp_d(double(log_visit[code]) + log_exit) * (double(log_r) - log_exit);
  for (int d = 0; d < g.ndim; ++d)
    if (x[d] < g.height - 1) {
      const double lp = implicit_log_child_move(v, code, x, d, nnz, k, g);
      elbo += rho * Math::exp_d(lp) * (-double(g.log_count[nnz + (x[d] == 0)]) - lp);
    }
  double eubo = Math::exp_d(double(log_r) - log_z) * (double(log_r) - log_exit);
  if (nnz > 0) {
    double in = 0;
    for (int d = 0; d < g.ndim; ++d)
      if (x[d] > 0) in += -double(g.log_count[nnz]) - implicit_log_move(v, code, x, d, nnz, k, g);
    eubo += Math::exp_d(double(vb[code]) - log_z) / nnz * in;
  }
  return {elbo, eubo};
}

/// log rho(s) from its parents' visit log-probabilities (0 at the source).
template <class Math>
GFNRL_HD inline float implicit_log_visit(const float* v, const float* log_visit, int64_t code,
                                         const int32_t* x, const ImplicitGrid& g) {
  const int32_t nnz = implicit_in_degree(x, g);
  if (nnz == 0) return 0.0f;
  const int32_t k = implicit_out_degree(x, g);
  float m = -INFINITY;
  for (int d = 0; d < g.ndim; ++d)
    if (x[d] > 0) {
      const float q = log_visit[code - g.stride[d]] + implicit_log_move(v, code, x, d, nnz, k, g);
      m = q > m ? q : m;
    }
  if (!(m > -INFINITY)) return m;
  float s = 0;
  for (int d = 0; d < g.ndim; ++d)
    if (x[d] > 0)
      s += Math::exp(log_visit[code - g.stride[d]] + implicit_log_move(v, code, x, d, nnz, k, g) -
                     m);
  return m + Math::log(s);
}

}  // namespace gfnrl::detail
