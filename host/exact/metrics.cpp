// Exact metrics of a terminating distribution against a target, reduced in double.
#include <cmath>

#include <algorithm>
#include "ops/reduction_ops.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/metrics.hpp"
#include "exact/metrics_if_finite.hpp"

namespace gfnrl {

double log_partition(const Dag& dag, Stream stream) {
  const StreamScope scope(stream);
  return GFNRL_BACKEND_CALL(dag.backend(), log_sum_exp, dag.log_reward().data(),
                            static_cast<std::size_t>(dag.num_states()));
}

void probabilities(const Array<float>& log_p, double* p) {
  if (log_p.backend() == Backend::Cpu)
    return detail::cpu::exp_to_double(log_p.data(), log_p.size(), p);
  const std::vector<float> host = log_p.to_host();
  detail::cpu::exp_to_double(host.data(), host.size(), p);
}

void probabilities(const Array<float>& log_p, const int64_t* order, std::size_t n, double* p) {
  const auto size = static_cast<int64_t>(log_p.size());
  // The gather checks the order as it reads it (an entry past the end reads nothing), and the
  // entry is named after the pass: a separate check cost as much as the gather.
  bool in_range;
  if (log_p.backend() == Backend::Cpu) {
    in_range = detail::cpu::exp_to_double_in_order(log_p.data(), size, order, n, p);
  } else {
    const std::vector<float> host = log_p.to_host();
    in_range = detail::cpu::exp_to_double_in_order(host.data(), size, order, n, p);
  }
  if (in_range) return;
  std::size_t bad = 0;
  while (order[bad] < size) ++bad;
  throw InputError("order[" + std::to_string(bad) + "] = " + std::to_string(order[bad]) +
                   " is not below the number of values, " + std::to_string(size));
}

std::size_t first_nan_or_inf(const float* v, std::size_t n) {
  // Which chunks fail, over the threads; then the first failing element, in order.
  constexpr std::size_t kChunk = 1 << 16;
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::size_t first = chunks;
#pragma omp parallel for reduction(min : first) if (chunks > 1) num_threads(::gfnrl::cpu_threads())
  for (std::size_t c = 0; c < chunks; ++c)
    if (detail::cpu::any_nan_or_inf(v, c * kChunk, std::min(n, (c + 1) * kChunk)))
      first = std::min(first, c);
  if (first == chunks) return n;
  std::size_t i = first * kChunk;
  while (v[i] < INFINITY) ++i;
  return i;
}

namespace {
const Array<float>& checked_target(const Dag& dag, const Marginals& m,
                                   const Array<float>* log_target) {
  const Array<float>& target = log_target ? *log_target : dag.log_reward();
  const auto n = static_cast<std::size_t>(dag.num_states());
  if (target.size() != n || target.backend() != dag.backend() || m.log_terminal.size() != n ||
      m.log_visit.size() != n)
    throw InputError("compare_to_target: arrays must hold one entry per state (" +
                     std::to_string(n) + ") on the DAG's backend");
  return target;
}
}  // namespace

Metrics compare_to_target(const Dag& dag, const Marginals& m, const Array<float>* log_target,
                          Stream stream) {
  const StreamScope scope(stream);
  const Array<float>& target = checked_target(dag, m, log_target);
  const double log_z = GFNRL_BACKEND_CALL(dag.backend(), log_sum_exp, target.data(),
                                          static_cast<std::size_t>(dag.num_states()));
  return compare_to_target(dag, m, log_target, log_z, stream);
}

Metrics compare_to_target(const Dag& dag, const Marginals& m, const Array<float>* log_target,
                          double target_log_z, Stream stream) {
  const std::optional<Metrics> r = detail::metrics_if_finite(dag, m, log_target, target_log_z, stream);
  if (!r)
    throw InputError("compare_to_target: the policy never terminates or is not finite (sum of "
                     "P_T is 0 or NaN)");
  return *r;
}

std::optional<Metrics> detail::metrics_if_finite(const Dag& dag, const Marginals& m,
                                                 const Array<float>* log_target,
                                                 double target_log_z, Stream stream) {
  const StreamScope scope(stream);
  const Array<float>& target = checked_target(dag, m, log_target);
  const auto n = static_cast<std::size_t>(dag.num_states());
  Metrics r;
  r.log_z = target_log_z;
  // Distances use P_T / sum P_T: float rounding leaves the mass at 1 +- 1e-7, which would
  // otherwise make a KL print as a small negative number. A real leak shows in model_mass.
  const double log_mass =
      GFNRL_BACKEND_CALL(dag.backend(), log_sum_exp, m.log_terminal.data(), n);
  if (!std::isfinite(log_mass)) return std::nullopt;
  // Modes: log w(x) >= log max w + log(1 - tolerance), decided in double.
  const double log_max = GFNRL_BACKEND_CALL(dag.backend(), max_value, target.data(), n);
  const double mode_threshold = log_max + std::log1p(-kModeRelativeTolerance);
  const detail::MetricSums s =
      GFNRL_BACKEND_CALL(dag.backend(), metric_sums, target.data(), r.log_z,
                         m.log_terminal.data(), log_mass, m.log_visit.data(), n, mode_threshold);
  return metrics_from_sums(s, r.log_z, log_mass);
}

Metrics detail::metrics_from_sums(const MetricSums& s, double target_log_z, double log_mass) {
  Metrics r;
  r.log_z = target_log_z;
  r.tv = s.tv;
  r.kl_target_model = s.kl_pq;
  r.kl_model_target = s.kl_qp;
  r.jsd = s.jsd;
  r.model_mass = std::exp(log_mass);
  r.expected_length = s.visits;
  r.corr = s.log_qp.correlation();
  r.num_modes = s.modes;
  r.mode_mass = s.mode_q;
  r.mode_mass_target = s.mode_p;
  return r;
}

RewardModes reward_modes(const Dag& dag, const HypergridConfig* grid) {
  const std::vector<float> lr = dag.log_reward().to_host();
  float top = -INFINITY;
  for (float v : lr) top = std::max(top, v);
  const double threshold = double(top) + std::log1p(-kModeRelativeTolerance);
  const std::vector<int64_t> labels = grid ? dag.label().to_host() : std::vector<int64_t>{};
  std::vector<std::pair<int32_t, int32_t>> modes;  // (region, state)
  for (int32_t s = 0; s < dag.num_states(); ++s) {
    if (!(double(lr[s]) >= threshold)) continue;
    int32_t region = 0;
    if (grid) {
      const std::vector<int32_t> x = hypergrid_coordinates(*grid, labels[s]);
      for (std::size_t d = 0; d < x.size(); ++d)
        if (2 * x[d] > grid->height - 1) region |= 1 << d;
    }
    modes.push_back({region, s});
  }
  std::sort(modes.begin(), modes.end());
  RewardModes g;
  for (const auto& [region, s] : modes) {
    g.states.push_back(s);
    if (!grid) continue;
    if (g.region.empty() || g.region.back() != region) ++g.num_regions;
    g.region.push_back(region);
  }
  return g;
}

Array<float> base_policy_target(const Dag& dag, const ForwardPolicy& mu, double* log_z) {
  std::vector<float> w = terminating_distribution(dag, mu).to_host();
  const std::vector<float> lr = dag.log_reward().to_host();
  double peak = -INFINITY;
  for (std::size_t x = 0; x < w.size(); ++x) peak = std::max(peak, double(w[x] += lr[x]));
  if (!(peak > -INFINITY))
    throw InputError("the base policy reaches no terminating state: its target is empty");
  double z = 0;
  for (float v : w) z += v > -INFINITY ? std::exp(double(v) - peak) : 0.0;
  if (log_z) *log_z = peak + std::log(z);
  return Array<float>::from_host(dag.backend(), w);
}

}  // namespace gfnrl
