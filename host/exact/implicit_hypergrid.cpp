// The implicit hypergrid layout: the passes of host/cpu/implicit_grid.cpp in order (log R, soft
// values, visits, bounds, log P_T), then compare_to_target's reductions on the arrays.
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>

#include "gfnrl/error.hpp"
#include "gfnrl/implicit_hypergrid.hpp"
#include "gfnrl/memory_budget.hpp"
#include "gfnrl/names.hpp"
#include "exact/metrics_if_finite.hpp"
#include "ops/device_runtime.hpp"
#include "ops/implicit_grid_ops.hpp"
#include "ops/reduction_ops.hpp"

namespace gfnrl {

const std::vector<std::string>& grid_layout_names() {
  static const std::vector<std::string> names{"auto", "csr", "implicit"};
  return names;
}

GridLayout parse_grid_layout(const std::string& name) {
  return static_cast<GridLayout>(detail::parse_name(grid_layout_names(), name, "grid layout"));
}

int64_t implicit_hypergrid_num_states(const HypergridConfig& c) {
  int64_t n = 1;
  for (int32_t d = 0; d < c.ndim; ++d) {
    if (n > kMaxImplicitStates / c.height)
      throw InputError("hypergrid ndim = " + std::to_string(c.ndim) + ", height = " +
                       std::to_string(c.height) +
                       " has more than 2^56 states: the implicit layout indexes at most 2^56");
    n *= c.height;
  }
  return n;
}

void validate_implicit(const HypergridConfig& c) {
  HypergridConfig one = c;  // every parameter check of validate() but the int32 state-id limit
  one.ndim = 1;
  if (c.ndim < 1 || c.ndim > detail::kMaxHypergridDim) one.ndim = c.ndim;
  validate(one);
  implicit_hypergrid_num_states(c);
}

namespace {

/// Cells of one coordinate in the outer region and in the ring.
void region_counts(const HypergridConfig& c, int64_t* outer, int64_t* ring) {
  *outer = *ring = 0;
  for (int32_t x = 0; x < c.height; ++x) {
    bool o, r;
    if (c.regions == HypergridRegions::Float64)
      detail::hypergrid_regions_float64(x, c.height, &o, &r);
    else
      detail::hypergrid_regions_exact(x, c.height, &o, &r);
    *outer += o, *ring += r;
  }
}

// The arrays one solve holds: log R, log visits, the policy's soft values (optimal) and the
// soft values under the uniform P_B that the EUBO needs (the same array when the correction is
// uniform); log P_T overwrites a soft-value array at the end unless `keep`.
int arrays_needed(ImplicitPolicy policy, Correction correction) {
  return policy == ImplicitPolicy::Optimal && correction == Correction::None ? 4 : 3;
}

std::string implicit_description(const HypergridConfig& c, int64_t n) {
  return "implicit hypergrid ndim=" + std::to_string(c.ndim) + " height=" +
         std::to_string(c.height) + " (" + std::to_string(n) + " states)";
}

float first_value(const Array<float>& a) {
  float x = 0;
  detail::copy_bytes(&x, Backend::Cpu, a.data(), a.backend(), sizeof x);
  return x;
}

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Pipeline {
  ImplicitHypergridArrays arrays;
  ImplicitHypergridResult result;
};

// log R, then the soft values: the policy's (optimal) and those under the uniform P_B that the
// bounds need (the same buffer when the correction is uniform).
void solve_values(const detail::ImplicitGrid& g, bool optimal, Backend b, ImplicitHypergridArrays& a,
                  ImplicitHypergridResult& r) {
  const auto alloc = [&] { return Array<float>(b, static_cast<std::size_t>(g.num_states)); };
  a.log_reward = alloc();
  GFNRL_BACKEND_CALL(b, implicit_log_reward, g, a.log_reward.data());
  if (optimal) {
    a.soft_value = alloc();
    GFNRL_BACKEND_CALL(b, implicit_soft_values, g, a.log_reward.data(), a.soft_value.data());
    r.soft_vi_log_z = first_value(a.soft_value);
  }
  if (optimal && g.corrected) {
    a.bound_value = a.soft_value;  // shares the buffer
  } else {
    detail::ImplicitGrid gb = g;
    gb.corrected = true;
    a.bound_value = alloc();
    GFNRL_BACKEND_CALL(b, implicit_soft_values, gb, a.log_reward.data(), a.bound_value.data());
  }
}

// compare_to_target on the arrays (host/exact/metrics.cpp's reductions), the bounds kept.
void compare_on_arrays(Backend b, const ImplicitHypergridArrays& a, ImplicitHypergridResult& r) {
  const auto un = static_cast<std::size_t>(r.num_states);
  Metrics& m = r.metrics;
  const double log_mass = GFNRL_BACKEND_CALL(b, log_sum_exp, a.log_terminal.data(), un);
  if (!std::isfinite(log_mass))
    throw std::runtime_error("implicit hypergrid: the policy's P_T sums to " +
                             std::to_string(std::exp(log_mass)) + " (not finite or 0)");
  const double log_max = GFNRL_BACKEND_CALL(b, max_value, a.log_reward.data(), un);
  const detail::MetricSums s = GFNRL_BACKEND_CALL(b, metric_sums,
      a.log_reward.data(), m.log_z, a.log_terminal.data(), log_mass, a.log_visit.data(), un,
      log_max + std::log1p(-kModeRelativeTolerance));
  const double elbo = m.elbo, eubo = m.eubo;
  m = detail::metrics_from_sums(s, m.log_z, log_mass);
  m.elbo = elbo, m.eubo = eubo;
  if (r.num_states <= kImplicitSpearmanMaxStates) {
    const std::vector<float> lt = a.log_terminal.to_host(), lr = a.log_reward.to_host();
    r.spearman = spearman_correlation(lt, lr, kRankLogTolerancePerLevel * (r.num_levels + 1));
  }
}

Pipeline run(const HypergridConfig& c, ImplicitPolicy policy, Correction correction, bool keep,
             Backend b) {
  detail::ImplicitGrid g = detail::make_implicit_grid(c, policy, correction);
  const int64_t n = g.num_states;
  require_bytes(b,
                estimate_implicit_hypergrid_bytes(c, policy, correction) +
                    (keep ? static_cast<std::size_t>(n) * sizeof(float) * 2 : 0),
                implicit_description(c, n));
  Pipeline p;
  ImplicitHypergridArrays& a = p.arrays;
  ImplicitHypergridResult& r = p.result;
  r.num_states = n;
  r.num_edges = n / c.height * (c.height - 1) * c.ndim;
  r.num_levels = c.ndim * (c.height - 1) + 1;
  r.closed_form_log_z = hypergrid_log_partition(c);
  const bool optimal = policy == ImplicitPolicy::Optimal;

  auto t = Clock::now();
  solve_values(g, optimal, b, a, r);
  r.values_seconds = since(t);

  t = Clock::now();
  const float* v = optimal ? a.soft_value.data() : a.bound_value.data();  // unread when uniform
  a.log_visit = Array<float>(b, static_cast<std::size_t>(n));
  GFNRL_BACKEND_CALL(b, implicit_visits, g, v, a.log_visit.data());
  r.marginals_seconds = since(t);

  t = Clock::now();
  Metrics& m = r.metrics;
  m.log_z = GFNRL_BACKEND_CALL(b, log_sum_exp, a.log_reward.data(), static_cast<std::size_t>(n));
  const detail::ImplicitBoundTerms bounds = GFNRL_BACKEND_CALL(b, implicit_bounds,
      g, v, a.bound_value.data(), a.log_visit.data(), a.log_reward.data(), m.log_z);
  m.elbo = bounds.elbo - m.log_z;
  m.eubo = bounds.eubo - m.log_z;
  // log P_T, over the policy's soft values (no longer needed) unless the caller keeps them.
  a.log_terminal = keep ? Array<float>(b, static_cast<std::size_t>(n))
                        : optimal ? a.soft_value : a.bound_value;
  GFNRL_BACKEND_CALL(b, implicit_terminal, g, v, a.log_reward.data(), a.log_visit.data(),
                     a.log_terminal.data());
  if (!keep) (optimal ? a.soft_value : a.bound_value) = Array<float>();
  if (!keep && optimal && g.corrected) a.bound_value = Array<float>();
  compare_on_arrays(b, a, r);
  r.metrics_seconds = since(t);
  return p;
}

}  // namespace

detail::ImplicitGrid detail::make_implicit_grid(const HypergridConfig& c, ImplicitPolicy policy,
                                                Correction correction) {
  validate_implicit(c);
  if (correction != Correction::Uniform && correction != Correction::None)
    throw InputError("the implicit hypergrid layout takes the correction uniform or none, not " +
                     correction_name(correction) + " (use the CSR layout)");
  if (policy != ImplicitPolicy::Optimal && policy != ImplicitPolicy::Uniform)
    throw InputError("implicit hypergrid policy = " + std::to_string(static_cast<int>(policy)) +
                     " is out of range [0, 1] (0 optimal, 1 uniform)");
  detail::ImplicitGrid g;
  g.ndim = c.ndim;
  g.height = c.height;
  g.num_states = implicit_hypergrid_num_states(c);
  int64_t s = 1;
  for (int32_t d = 0; d < c.ndim; ++d, s *= c.height) g.stride[d] = s;
  // The same expression, and so the same float, as detail::hypergrid_log_reward.
  for (int i = 0; i < 4; ++i) {
    const double r = c.r0 + ((i & 1) ? c.r1 : 0.0) + ((i & 2) ? c.r2 : 0.0);
    g.log_reward[i] = static_cast<float>(detail::log_(r));
  }
  for (int32_t k = 1; k < detail::kMaxHypergridDim + 2; ++k)
    g.log_count[k] = detail::log_(static_cast<float>(k));
  g.reward[0] = c.r0, g.reward[1] = c.r1, g.reward[2] = c.r2;
  g.float64_regions = c.regions == HypergridRegions::Float64;
  g.corrected = correction == Correction::Uniform;
  g.uniform_policy = policy == ImplicitPolicy::Uniform;
  return g;
}

double hypergrid_log_partition(const HypergridConfig& c) {
  validate_implicit(c);
  int64_t outer, ring;
  region_counts(c, &outer, &ring);
  // log(R0 H^D + R1 a^D + R2 b^D) = D log H + log(R0 + R1 (a/H)^D + R2 (b/H)^D): no overflow.
  const double h = c.height;
  const double w = c.r0 + c.r1 * std::pow(outer / h, c.ndim) + c.r2 * std::pow(ring / h, c.ndim);
  return c.ndim * std::log(h) + std::log(w);
}

std::size_t estimate_implicit_hypergrid_bytes(const HypergridConfig& c, ImplicitPolicy policy,
                                              Correction correction) {
  const auto n = static_cast<std::size_t>(implicit_hypergrid_num_states(c));
  std::size_t per_state = sizeof(float) * arrays_needed(policy, correction);
  // spearman_correlation: two host copies, the rank arrays and sort indices (generous).
  if (n <= static_cast<std::size_t>(kImplicitSpearmanMaxStates)) per_state += 40;
  return n * per_state + (std::size_t{1} << 20);
}

void require_implicit_hypergrid_bytes(const HypergridConfig& c, ImplicitPolicy policy,
                                      Correction correction, Backend b) {
  validate_implicit(c);
  require_bytes(b, estimate_implicit_hypergrid_bytes(c, policy, correction),
                implicit_description(c, implicit_hypergrid_num_states(c)));
}

ImplicitHypergridResult solve_hypergrid_implicit(const HypergridConfig& c, ImplicitPolicy policy,
                                                 Correction correction, Backend b) {
  return run(c, policy, correction, false, b).result;
}

ImplicitHypergridArrays implicit_hypergrid_arrays(const HypergridConfig& c, ImplicitPolicy policy,
                                                  Correction correction, Backend b) {
  return run(c, policy, correction, true, b).arrays;
}

}  // namespace gfnrl
