// gfnrl-bench-exact's second table: the implicit hypergrid layout (no stored edges), per grid
// the soft-value sweep and the marginal sweep (median of --repeats, arrays allocated once, up
// to kSweepTimingStates states), one whole solve_hypergrid_implicit (log R, both sweeps, bounds,
// metrics) with its TV, its log Z error against the closed form, and the peak RSS so far. The
// sweeps stream no edges: their limits are the work per state. The bench times the soft-optimal
// policy of the uniform-P_B correction, whose sweeps take the flow form (host/cpu/
// implicit_grid.cpp: multiply-adds along each row, one log per state at the end), so each row
// prints ns per state, and the logs per second against a measured vector-exp roofline (vexp
// over an L1-resident array on every thread, vector_roofline()); the logsumexp rows of the other
// requests do N + E exps and N logs per soft-value sweep.
#pragma once
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cpu/vector_math.hpp"
#include "gfnrl/gfnrl.hpp"
#include "ops/implicit_grid_ops.hpp"

namespace gfnrl::bench {

GFNRL_CPU_CLONES
inline void vexp_pass(float* x, int n) {
#pragma omp simd
  for (int i = 0; i < n; ++i) x[i] = detail::cpu::vexp(x[i]) - 1.5f;  // stays in [-1.5, 1)
}

/// vexp results per second over every thread, each on its own 4096 floats (L1): the CPU's
/// vector-exp limit, the bound for a sweep whose work is exp and log.
inline double vector_roofline() {
  constexpr int kN = 4096, kPasses = 4000;
  const int threads = cpu_threads();
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> x(kN, -0.5f);
    for (int p = 0; p < kPasses; ++p) vexp_pass(x.data(), kN);
    if (x[0] > 1e30f) std::puts("");  // keeps the loop
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return double(kN) * kPasses * threads / s;
}

inline double peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) * 1024.0;
}

inline double median_of(int repeats, const std::function<void()>& f) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

constexpr int64_t kSweepTimingStates = int64_t{1} << 27;

/// The median seconds of the implicit soft-value and visit sweeps alone, `repeats` times each.
inline void sweep_medians(const HypergridConfig& c, int64_t n, const std::string& grid,
                          int repeats, double& v_s, double& m_s) {
  const detail::ImplicitGrid g =
      detail::make_implicit_grid(c, ImplicitPolicy::Optimal, Correction::Uniform);
  require_bytes(Backend::Cpu, static_cast<std::size_t>(n) * 12, "implicit sweeps " + grid);
  Array<float> lr(Backend::Cpu, n), v(Backend::Cpu, n), visit(Backend::Cpu, n);
  detail::cpu::implicit_log_reward(g, lr.data());
  v_s = median_of(repeats, [&] { detail::cpu::implicit_soft_values(g, lr.data(), v.data()); });
  m_s = median_of(repeats, [&] { detail::cpu::implicit_visits(g, v.data(), visit.data()); });
}

/// One row: returns false (after printing why) when the grid cannot be solved here.
inline bool implicit_row(int d, int h, int repeats, bool json, double roofline) {
  HypergridConfig c;
  c.ndim = d, c.height = h;
  const int64_t n = implicit_hypergrid_num_states(c);
  const double e = double(n) / h * (h - 1) * d;
  const std::string grid = std::to_string(d) + "x" + std::to_string(h);
  double v_s = NAN, m_s = NAN;
  if (n <= kSweepTimingStates) sweep_medians(c, n, grid, repeats, v_s, m_s);
  ImplicitHypergridResult r;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    r = solve_hypergrid_implicit(c, ImplicitPolicy::Optimal, Correction::Uniform);
  } catch (const AllocationError& err) {
    std::cerr << "[bench] skip implicit " << grid << ": " << err.what() << "\n";
    return false;
  }
  const double solve_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (std::isnan(v_s)) v_s = r.values_seconds, m_s = r.marginals_seconds;
  const double v_ops = double(n), m_ops = double(n);  // the flow form's one log per state
  const double v_rate = v_ops / v_s, m_rate = m_ops / m_s;
  const double log_z_error = std::abs(r.soft_vi_log_z - r.closed_form_log_z);
  const double rss = peak_rss_bytes();
  if (json) {
    nlohmann::json j{{"layout", "implicit"},
                     {"grid", grid},
                     {"ndim", d},
                     {"height", h},
                     {"backend", "cpu"},
                     {"states", n},
                     {"edges", e},
                     {"soft_values_s", v_s},
                     {"marginals_s", m_s},
                     {"soft_values_ns_per_state", v_s * 1e9 / n},
                     {"marginals_ns_per_state", m_s * 1e9 / n},
                     {"soft_values_logs_per_s", v_rate},
                     {"marginals_logs_per_s", m_rate},
                     {"vexp_roofline_per_s", roofline},
                     {"solve_s", solve_s},
                     {"tv", r.metrics.tv},
                     {"log_z_error_closed_form", log_z_error},
                     {"peak_rss_bytes", rss},
                     {"repeats", n <= kSweepTimingStates ? repeats : 1},
                     {"threads", cpu_threads()}};
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("%-7s %12lld %9.3f %9.3f %7.2f %7.2f %6.1f%% %6.1f%% %9.2f %9.2e %9.2e %8.2f\n",
                grid.c_str(), (long long)n, v_s * 1e3, m_s * 1e3, v_s * 1e9 / n, m_s * 1e9 / n,
                100 * v_rate / roofline, 100 * m_rate / roofline, solve_s,
                r.metrics.tv, log_z_error, rss * 1e-9);
    std::fflush(stdout);
  }
  return true;
}

inline void implicit_header(double roofline) {
  std::fprintf(stderr, "[bench] implicit layout; vexp roofline %.2f G/s on %d threads\n",
               roofline * 1e-9, cpu_threads());
  std::printf("%-7s %12s %9s %9s %7s %7s %7s %7s %9s %9s %9s %8s\n", "grid", "states", "V ms",
              "marg ms", "V ns/s", "m ns/s", "V %rf", "m %rf", "solve s", "tv", "logZ err",
              "RSS GB");
}

}  // namespace gfnrl::bench
