// The implicit hypergrid layout against the CSR path (make_hypergrid, SoftValueSolver,
// compute_marginals, compare_to_target, variational_bounds) state by state and metric by metric,
// and against closed forms written here: log Z = log sum R over the enumerated grid with the
// rational region rule, P_T = R/Z (soft-optimal, uniform correction) and P_T = n(x) R(x) / sum
// (no correction, n the multinomial path count).
#include <cmath>
#include <string>

#include "gfnrl/implicit_hypergrid.hpp"
#include "ops/implicit_grid_ops.hpp"
#include "rational.hpp"
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

struct Case {
  int d, h;
  double r0, r1, r2;
  HypergridRegions regions;
};

std::vector<Case> cases() {
  std::vector<Case> v;
  // D = 1..8, many H (H - 1 a multiple of 5 puts ring boundaries exactly on cells).
  const std::pair<int, int> shapes[] = {{1, 2},  {1, 7},  {1, 40}, {2, 2},  {2, 8},  {2, 16},
                                        {2, 33}, {3, 5},  {3, 11}, {3, 16}, {4, 6},  {4, 8},
                                        {5, 4},  {5, 6},  {6, 3},  {6, 5},  {7, 3},  {8, 2},
                                        {8, 3}};
  for (auto [d, h] : shapes) {
    v.push_back({d, h, 1e-3, 0.5, 2.0, HypergridRegions::Exact});  // standard
    v.push_back({d, h, 1e-4, 1.0, 3.0, HypergridRegions::Exact});  // hard
  }
  // Past 2^14 states the sweeps go parallel, in blocks (host/cpu/implicit_grid.cpp).
  v.push_back({2, 200, 1e-3, 0.5, 2.0, HypergridRegions::Exact});
  v.push_back({3, 32, 1e-4, 1.0, 3.0, HypergridRegions::Exact});
  v.push_back({4, 13, 1e-3, 0.5, 2.0, HypergridRegions::Exact});
  v.push_back({2, 16, 1e-3, 0.5, 2.0, HypergridRegions::Float64});
  v.push_back({3, 11, 1e-4, 1.0, 3.0, HypergridRegions::Float64});
  return v;
}

HypergridConfig config(const Case& k) {
  HypergridConfig c;
  c.ndim = k.d, c.height = k.h, c.r0 = k.r0, c.r1 = k.r1, c.r2 = k.r2, c.regions = k.regions;
  return c;
}

std::string name(const Case& k) {
  return "D=" + std::to_string(k.d) + " H=" + std::to_string(k.h) +
         " R0=" + std::to_string(k.r0) + (k.regions == HypergridRegions::Float64 ? " float64" : "");
}

// |a - b| <= tol (1 + |b|), -inf equal to -inf.
void expect_close(const std::vector<float>& a, const std::vector<float>& b,
                  const std::vector<int64_t>& label, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  int bad = 0;
  for (std::size_t s = 0; s < b.size() && bad < 5; ++s) {
    const double x = a[label[s]], y = b[s];
    if (x == y) continue;
    if (!(std::abs(x - y) <= tol * (1 + std::abs(y)))) {
      ADD_FAILURE() << what << " state " << s << " (code " << label[s] << "): implicit " << x
                    << ", csr " << y;
      ++bad;
    }
  }
}

void expect_metrics_close(const Metrics& a, const Metrics& b, double tol, const std::string& what) {
  EXPECT_NEAR(a.log_z, b.log_z, 1e-12 * (1 + std::abs(b.log_z))) << what;
  EXPECT_NEAR(a.tv, b.tv, tol) << what;
  EXPECT_NEAR(a.kl_target_model, b.kl_target_model, tol) << what;
  EXPECT_NEAR(a.kl_model_target, b.kl_model_target, tol) << what;
  EXPECT_NEAR(a.jsd, b.jsd, tol) << what;
  // The mass is 1 up to each path's rounding: the implicit one no further from 1 than the CSR's
  // (2-D H=200 without the correction: 1 - 6.6e-6 against 1 - 3.9e-5).
  EXPECT_LE(std::abs(a.model_mass - 1), std::abs(b.model_mass - 1) + tol) << what;
  EXPECT_NEAR(a.expected_length, b.expected_length, tol * (1 + b.expected_length)) << what;
  if (std::isnan(b.corr))
    EXPECT_TRUE(std::isnan(a.corr)) << what;
  else
    EXPECT_NEAR(a.corr, b.corr, 1e-4) << what;
  EXPECT_EQ(a.num_modes, b.num_modes) << what;
  EXPECT_NEAR(a.mode_mass, b.mode_mass, tol) << what;
  EXPECT_NEAR(a.mode_mass_target, b.mode_mass_target, 1e-12) << what;
  EXPECT_NEAR(a.elbo, b.elbo, tol * 10) << what;
  EXPECT_NEAR(a.eubo, b.eubo, tol * 10) << what;
}

// V(s) in long double, children first (reverse code order), from the definition.
std::vector<long double> reference_values(const HypergridConfig& c, bool corrected) {
  const int64_t n = implicit_hypergrid_num_states(c);
  std::vector<long double> v(n);
  for (int64_t code = n - 1; code >= 0; --code) {
    std::vector<int> x(c.ndim);
    int64_t r = code, stride = 1;
    for (int d = 0; d < c.ndim; ++d, r /= c.height) x[d] = static_cast<int>(r % c.height);
    int nnz = 0;
    for (int d = 0; d < c.ndim; ++d) nnz += x[d] > 0;
    long double sum = hypergrid_reward_exact(x, c.height, c.r0, c.r1, c.r2);
    for (int d = 0; d < c.ndim; ++d, stride *= c.height) {
      if (x[d] == c.height - 1) continue;
      const int child_nnz = nnz + (x[d] == 0);
      sum += std::exp(v[code + stride]) / (corrected ? child_nnz : 1);
    }
    v[code] = std::log(sum);
  }
  return v;
}

struct CsrRun {
  std::vector<float> value, log_visit, log_terminal;
  Metrics metrics;
  double spearman = 0;
};

CsrRun csr_run(const Dag& dag, ImplicitPolicy policy, Correction correction) {
  CsrRun r;
  const std::optional<BackwardPolicy> pb = make_correction(dag, correction);
  ForwardPolicy pf;
  if (policy == ImplicitPolicy::Optimal) {
    SoftValueSolver solver(dag, pb ? &*pb : nullptr);
    solver.run();
    r.value = solver.result().value.to_host();
    pf = solver.result().policy;
  } else {
    pf = uniform_forward_policy(dag);
  }
  const Marginals m = compute_marginals(dag, pf);
  r.log_visit = m.log_visit.to_host();
  r.log_terminal = m.log_terminal.to_host();
  r.metrics = compare_to_target(dag, m);
  const VariationalBounds v = variational_bounds(dag, pf, m, uniform_backward_policy(dag));
  r.metrics.elbo = v.elbo, r.metrics.eubo = v.eubo;
  r.spearman = spearman_correlation(dag, m);
  return r;
}

TEST(ImplicitHypergrid, EqualsCsrPathStateByStateAndMetricByMetric) {
  for (const Case& k : cases()) {
    const HypergridConfig c = config(k);
    const Dag dag = make_hypergrid(c, Backend::Cpu);
    const std::vector<int64_t> label = dag.label().to_host();
    const std::vector<float> lr = dag.log_reward().to_host();
    for (ImplicitPolicy policy : {ImplicitPolicy::Optimal, ImplicitPolicy::Uniform}) {
      for (Correction corr : {Correction::Uniform, Correction::None}) {
        if (policy == ImplicitPolicy::Uniform && corr == Correction::None) continue;
        const std::string what =
            name(k) + (policy == ImplicitPolicy::Optimal ? " optimal " : " uniform ") +
            correction_name(corr);
        SCOPED_TRACE(what);
        const CsrRun ref = csr_run(dag, policy, corr);
        const ImplicitHypergridArrays a = implicit_hypergrid_arrays(c, policy, corr);
        // log R bit for bit: the same float expression of the same region rule.
        const std::vector<float> ilr = a.log_reward.to_host();
        for (std::size_t s = 0; s < lr.size(); ++s) ASSERT_EQ(ilr[label[s]], lr[s]) << s;
        if (policy == ImplicitPolicy::Optimal)
          // The CSR sweep rounds V in float once per level (metrics.hpp's rank tolerance).
          expect_close(a.soft_value.to_host(), ref.value, label,
                       kRankLogTolerancePerLevel * (dag.num_levels() + 1) / 4, "V");
        expect_close(a.log_visit.to_host(), ref.log_visit, label, 2e-5, "log visit");
        expect_close(a.log_terminal.to_host(), ref.log_terminal, label, 2e-5, "log P_T");
        const ImplicitHypergridResult r = solve_hypergrid_implicit(c, policy, corr);
        expect_metrics_close(r.metrics, ref.metrics, 2e-5, what);
        if (std::isnan(ref.spearman))  // a constant target (H = 2: every cell is outer)
          EXPECT_TRUE(std::isnan(r.spearman));
        else
          EXPECT_NEAR(r.spearman, ref.spearman, 1e-6);
        EXPECT_EQ(r.num_states, dag.num_states());
        EXPECT_EQ(r.num_edges, dag.num_edges());
        EXPECT_EQ(r.num_levels, dag.num_levels());
        if (policy == ImplicitPolicy::Optimal)
          EXPECT_NEAR(r.soft_vi_log_z, ref.value[0], 2e-6 * (1 + std::abs(ref.value[0])));
      }
    }
  }
}

// log Z by enumeration with the rational region rule (rational.hpp), the closed form and the
// sweep's V(s0); P_T = R/Z for the soft-optimal policy with the uniform-P_B correction; without
// the correction P_T(x) = n(x) R(x) / sum_y n(y) R(y), n(x) = (sum x)! / prod x_d!.
TEST(ImplicitHypergrid, MatchesClosedForms) {
  for (const Case& k : cases()) {
    if (k.regions != HypergridRegions::Exact) continue;
    SCOPED_TRACE(name(k));
    const HypergridConfig c = config(k);
    const int64_t n = implicit_hypergrid_num_states(c);
    std::vector<double> log_r(n), log_nr(n);
    for (int64_t code = 0; code < n; ++code) {
      std::vector<int> x(k.d);
      int64_t r = code;
      int sum = 0;
      double log_n = 0;
      for (int d = 0; d < k.d; ++d, r /= k.h) {
        x[d] = static_cast<int>(r % k.h);
        sum += x[d];
        log_n -= std::lgamma(x[d] + 1.0);
      }
      log_n += std::lgamma(sum + 1.0);
      log_r[code] = std::log(hypergrid_reward_exact(x, k.h, k.r0, k.r1, k.r2));
      log_nr[code] = log_n + log_r[code];
    }
    const auto lse = [](const std::vector<double>& v) {
      double m = -INFINITY, s = 0;
      for (double x : v) m = std::max(m, x);
      for (double x : v) s += std::exp(x - m);
      return m + std::log(s);
    };
    const double log_z = lse(log_r), log_zn = lse(log_nr);
    EXPECT_NEAR(hypergrid_log_partition(c), log_z, 1e-12 * (1 + std::abs(log_z)));
    const ImplicitHypergridArrays opt =
        implicit_hypergrid_arrays(c, ImplicitPolicy::Optimal, Correction::Uniform);
    EXPECT_NEAR(opt.soft_value.to_host()[0], log_z, 2e-6 * (1 + std::abs(log_z)));
    const ImplicitHypergridArrays none =
        implicit_hypergrid_arrays(c, ImplicitPolicy::Optimal, Correction::None);
    // Every state's V against long double: within float's rounding of V itself.
    for (bool corrected : {true, false}) {
      const std::vector<long double> ref = reference_values(c, corrected);
      const std::vector<float> v = (corrected ? opt : none).soft_value.to_host();
      int bad = 0;
      for (int64_t s = 0; s < n && bad < 5; ++s)
        // The flow form (corrected) rounds V once; the logsumexp rows (uncorrected) once per
        // level along a row, like the CSR sweeps (metrics.hpp).
        if (!(std::abs(double(v[s] - ref[s])) <=
              (corrected ? 4e-7 : 1e-7 * (c.ndim * (c.height - 1) + 2)) *
                  (1 + std::abs(double(ref[s])))))
          ADD_FAILURE() << "V(" << s << ") " << v[s] << " vs " << double(ref[s])
                        << (corrected ? " corrected" : " uncorrected"), ++bad;
    }
    EXPECT_NEAR(none.soft_value.to_host()[0], log_zn, 2e-6 * (1 + std::abs(log_zn)));
    const std::vector<float> pt = opt.log_terminal.to_host(), ptn = none.log_terminal.to_host();
    double tv = 0, tvn = 0;
    for (int64_t s = 0; s < n; ++s) {
      tv += 0.5 * std::abs(std::exp(double(pt[s])) - std::exp(log_r[s] - log_z));
      tvn += 0.5 * std::abs(std::exp(double(ptn[s])) - std::exp(log_nr[s] - log_zn));
    }
    EXPECT_LT(tv, 1e-5);
    // Without the correction V holds log n(x) (up to 273 on 2-D H=200): float rounds it to
    // 1.6e-5 there, and P_T with it.
    EXPECT_LT(tvn, 2e-7 * (1 + std::abs(log_zn)));
  }
}

// The CPU row kernels against the per-state logsumexp they fall back to (forced on every segment
// by the grid's thresholds), and the flow form against the logsumexp rows: the same values.
TEST(ImplicitHypergrid, RowKernelsEqualTheStateByStatePath) {
  for (auto [d, h] : {std::pair{1, 700}, {2, 40}, {3, 16}, {5, 6}}) {
    HypergridConfig c;
    c.ndim = d, c.height = h;
    const auto n = static_cast<std::size_t>(implicit_hypergrid_num_states(c));
    for (ImplicitPolicy policy : {ImplicitPolicy::Optimal, ImplicitPolicy::Uniform}) {
      for (Correction corr : {Correction::Uniform, Correction::None}) {
        SCOPED_TRACE("D=" + std::to_string(d) + " H=" + std::to_string(h) + " " +
                     correction_name(corr) +
                     (policy == ImplicitPolicy::Optimal ? " optimal" : " uniform"));
        const detail::ImplicitGrid g = detail::make_implicit_grid(c, policy, corr);
        detail::ImplicitGrid slow = g;
        slow.scale_range = 0, slow.tiny_scaled = INFINITY;
        slow.flow_form = false;
        const detail::ImplicitGrid rows = [&] {  // logsumexp rows, no fallback
          detail::ImplicitGrid r = g;
          r.flow_form = false;
          return r;
        }();
        std::vector<float> lr(n), vs(n), rhos(n);
        detail::cpu::implicit_log_reward(g, lr.data());
        detail::cpu::implicit_soft_values(slow, lr.data(), vs.data());
        detail::cpu::implicit_visits(slow, vs.data(), rhos.data());
        const double tol = 1e-7 * (d * (h - 1) + 2);
        for (const detail::ImplicitGrid* fast : {&g, &rows}) {
          std::vector<float> v(n), rho(n);
          detail::cpu::implicit_soft_values(*fast, lr.data(), v.data());
          detail::cpu::implicit_visits(*fast, v.data(), rho.data());
          for (std::size_t s = 0; s < n; ++s) {
            ASSERT_NEAR(v[s], vs[s], tol * (1 + std::abs(vs[s]))) << s;
            ASSERT_NEAR(rho[s], rhos[s], tol * (1 + std::abs(rhos[s]))) << s;
          }
        }
      }
    }
  }
}

// The CUDA kernels against the CPU's, array by array (skips without a device).
TEST(ImplicitHypergrid, CudaIsEquivalentToCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_device_description();
  for (const Case& k : cases()) {
    const HypergridConfig c = config(k);
    for (ImplicitPolicy policy : {ImplicitPolicy::Optimal, ImplicitPolicy::Uniform}) {
      for (Correction corr : {Correction::Uniform, Correction::None}) {
        SCOPED_TRACE(name(k) + " " + correction_name(corr));
        const ImplicitHypergridArrays cpu = implicit_hypergrid_arrays(c, policy, corr);
        const ImplicitHypergridArrays gpu =
            implicit_hypergrid_arrays(c, policy, corr, Backend::Cuda);
        const std::vector<int64_t> id = [&] {
          std::vector<int64_t> v(cpu.log_reward.size());
          for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(i);
          return v;
        }();
        ASSERT_EQ(gpu.log_reward.to_host(), cpu.log_reward.to_host());
        const double tol = 1e-7 * (c.ndim * (c.height - 1) + 2);
        if (policy == ImplicitPolicy::Optimal)
          expect_close(gpu.soft_value.to_host(), cpu.soft_value.to_host(), id, tol, "V");
        expect_close(gpu.log_visit.to_host(), cpu.log_visit.to_host(), id, tol * 4, "visit");
        expect_close(gpu.log_terminal.to_host(), cpu.log_terminal.to_host(), id, tol * 4, "P_T");
        const ImplicitHypergridResult rc = solve_hypergrid_implicit(c, policy, corr);
        const ImplicitHypergridResult rg =
            solve_hypergrid_implicit(c, policy, corr, Backend::Cuda);
        expect_metrics_close(rg.metrics, rc.metrics, 2e-5, name(k));
      }
    }
  }
}

// solve_hypergrid picks the layout: implicit on the CPU for the corrections uniform and none, CSR
// when asked and for maxent (whose soft-optimal policy samples R/Z too: V(s0) is the closed-form
// log Z and the TV 0); the two layouts report the same metrics; Implicit with maxent is refused.
TEST(ImplicitHypergrid, SolveHypergridChoosesTheLayoutAndBothAgree) {
  const HypergridConfig c = config({3, 9, 1e-3, 0.5, 2.0, HypergridRegions::Exact});
  for (ImplicitPolicy policy : {ImplicitPolicy::Optimal, ImplicitPolicy::Uniform}) {
    for (Correction corr : {Correction::Uniform, Correction::None}) {
      const std::string what = std::string(policy == ImplicitPolicy::Optimal ? "optimal " : "uniform ") +
                               correction_name(corr);
      const ImplicitHypergridResult a = solve_hypergrid(c, policy, corr);
      const ImplicitHypergridResult b = solve_hypergrid(c, policy, corr, Backend::Cpu, GridLayout::Csr);
      EXPECT_EQ(a.layout, GridLayout::Implicit) << what;
      EXPECT_EQ(b.layout, GridLayout::Csr) << what;
      expect_metrics_close(a.metrics, b.metrics, 2e-5, what);
      EXPECT_NEAR(a.spearman, b.spearman, 1e-6) << what;
      EXPECT_EQ(a.num_states, b.num_states);
      EXPECT_EQ(a.num_edges, b.num_edges);
      EXPECT_EQ(a.num_levels, b.num_levels);
      EXPECT_EQ(a.closed_form_log_z, b.closed_form_log_z);
      if (policy == ImplicitPolicy::Optimal)
        EXPECT_NEAR(a.soft_vi_log_z, b.soft_vi_log_z, 1e-5 * (1 + std::abs(b.soft_vi_log_z))) << what;
      else
        EXPECT_TRUE(std::isnan(a.soft_vi_log_z) && std::isnan(b.soft_vi_log_z)) << what;
    }
  }
  const ImplicitHypergridResult m = solve_hypergrid(c, ImplicitPolicy::Optimal, Correction::MaxEnt);
  EXPECT_EQ(m.layout, GridLayout::Csr);
  EXPECT_NEAR(m.soft_vi_log_z, hypergrid_log_partition(c), 1e-5);
  EXPECT_LT(m.metrics.tv, 1e-5);
  try {
    solve_hypergrid(c, ImplicitPolicy::Optimal, Correction::MaxEnt, Backend::Cpu, GridLayout::Implicit);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("correction uniform or none, not maxent"), std::string::npos);
  }
}

TEST(ImplicitHypergrid, RefusesWhatItCannotDo) {
  HypergridConfig c;
  c.ndim = 2, c.height = 8;
  const auto message = [&](auto fn) {
    try {
      fn();
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no InputError");
  };
  EXPECT_NE(message([&] { solve_hypergrid_implicit(c, ImplicitPolicy::Optimal, Correction::MaxEnt); })
                .find("correction uniform or none, not maxent"),
            std::string::npos);
  HypergridConfig huge = c;
  huge.ndim = 16, huge.height = 20;  // 6.6e20 states
  EXPECT_NE(message([&] { implicit_hypergrid_num_states(huge); }).find("more than 2^56 states"),
            std::string::npos);
  HypergridConfig bad = c;
  bad.r0 = 0;
  EXPECT_NE(message([&] { validate_implicit(bad); }).find("r0"), std::string::npos);
  // Past 2^31 states is fine for the layout; the memory estimate then decides (14 GB here).
  HypergridConfig big = c;
  big.ndim = 6, big.height = 40;  // 4.1e9 states
  EXPECT_NO_THROW(validate_implicit(big));
  EXPECT_EQ(implicit_hypergrid_num_states(big), 4096000000LL);
  EXPECT_GE(estimate_implicit_hypergrid_bytes(big, ImplicitPolicy::Optimal, Correction::Uniform),
            4096000000ULL * 12);
  EXPECT_EQ(parse_grid_layout("implicit"), GridLayout::Implicit);
  EXPECT_NE(message([] { parse_grid_layout("dense"); }).find("auto, csr, implicit"),
            std::string::npos);
}

}  // namespace
}  // namespace gfnrl::test
