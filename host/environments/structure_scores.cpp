// The decomposable structure scores of dag-structure: BIC (least squares per node and parent
// set) and BGe (Geiger & Heckerman 2002 with Kuipers, Moffa & Heckerman 2014's correction).
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "environments/environment_parts.hpp"
#include "gfnrl/detail/philox.hpp"
#include "gfnrl/environments.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"
#include "gfnrl/names.hpp"
#include "ops/builder_ops.hpp"

namespace gfnrl {

using namespace detail::env;

namespace {

// Solves A x = b (m x m, row-major) by Gaussian elimination with partial pivoting.
std::vector<double> solve_linear(std::vector<double> a, std::vector<double> b, int m) {
  for (int c = 0; c < m; ++c) {
    int piv = c;
    for (int r = c + 1; r < m; ++r)
      if (std::abs(a[r * m + c]) > std::abs(a[piv * m + c])) piv = r;
    for (int k = 0; k < m; ++k) std::swap(a[c * m + k], a[piv * m + k]);
    std::swap(b[c], b[piv]);
    for (int r = c + 1; r < m; ++r) {
      const double f = a[r * m + c] / a[c * m + c];
      for (int k = c; k < m; ++k) a[r * m + k] -= f * a[c * m + k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(m);
  for (int r = m - 1; r >= 0; --r) {
    double s = b[r];
    for (int k = r + 1; k < m; ++k) s -= a[r * m + k] * x[k];
    x[r] = s / a[r * m + r];
  }
  return x;
}

}  // namespace

namespace {
// BIC(j, pa) - BIC(j, {}) for every node and parent set.
std::vector<float> bic_local_scores(const StructureData& s) {
  const int d = s.nodes, n = s.samples;
  std::vector<double> x = s.x;
  for (int j = 0; j < d; ++j) {  // centre every column
    double mean = 0;
    for (int r = 0; r < n; ++r) mean += x[std::size_t(r) * d + j];
    mean /= n;
    for (int r = 0; r < n; ++r) x[std::size_t(r) * d + j] -= mean;
  }
  auto col = [&](int r, int j) { return x[std::size_t(r) * d + j]; };
  std::vector<float> local(std::size_t(d) << d, 0.0f);
  for (int j = 0; j < d; ++j) {
    double yy = 0;
    for (int r = 0; r < n; ++r) yy += col(r, j) * col(r, j);
    const double base = -0.5 * n * std::log(yy / n);
    for (uint32_t mask = 0; mask < (1u << d); ++mask) {
      if ((mask >> j) & 1) continue;  // never a parent of itself
      std::vector<int> pa;
      for (int i = 0; i < d; ++i)
        if ((mask >> i) & 1) pa.push_back(i);
      const int m = static_cast<int>(pa.size());
      double rss = yy;
      if (m > 0) {
        std::vector<double> xtx(m * m, 0.0), xty(m, 0.0);
        for (int r = 0; r < n; ++r)
          for (int a = 0; a < m; ++a) {
            xty[a] += col(r, pa[a]) * col(r, j);
            for (int b2 = 0; b2 < m; ++b2) xtx[a * m + b2] += col(r, pa[a]) * col(r, pa[b2]);
          }
        const std::vector<double> beta = solve_linear(xtx, xty, m);
        for (int a = 0; a < m; ++a) rss -= beta[a] * xty[a];
        rss = std::max(rss, yy * 1e-12);  // an exact fit would give log 0
      }
      const double bic = -0.5 * n * std::log(rss / n) - 0.5 * m * std::log(double(n));
      local[(std::size_t(j) << d) | mask] = static_cast<float>(bic - base);
    }
  }
  return local;
}
}  // namespace

const std::vector<std::string>& structure_score_names() {
  static const std::vector<std::string> names{"bic", "bge"};
  return names;
}
StructureScore parse_structure_score(const std::string& name) {
  return static_cast<StructureScore>(detail::parse_name(structure_score_names(), name, "structure score"));
}
std::string structure_score_name(StructureScore s) {
  return structure_score_names().at(static_cast<std::size_t>(s));
}

namespace {
// log det of the symmetric positive definite m x m matrix a (row-major), by Cholesky.
double log_det_spd(std::vector<double> a, int m) {
  double log_det = 0;
  for (int c = 0; c < m; ++c) {
    double diag = a[c * m + c];
    for (int k = 0; k < c; ++k) diag -= a[c * m + k] * a[c * m + k];
    if (!(diag > 0)) throw std::runtime_error("BGe: the scatter matrix is not positive definite");
    const double l = std::sqrt(diag);
    a[c * m + c] = l;
    log_det += 2 * std::log(l);
    for (int r = c + 1; r < m; ++r) {
      double v = a[r * m + c];
      for (int k = 0; k < c; ++k) v -= a[r * m + k] * a[c * m + k];
      a[r * m + c] = v / l;
    }
  }
  return log_det;
}

// R[vars, vars] of the BGe posterior scatter matrix (full d x d).
double log_det_block(const std::vector<double>& r, int d, const std::vector<int>& vars) {
  const int m = static_cast<int>(vars.size());
  if (m == 0) return 0.0;
  std::vector<double> a(std::size_t(m) * m);
  for (int p = 0; p < m; ++p)
    for (int q = 0; q < m; ++q) a[p * m + q] = r[vars[p] * d + vars[q]];
  return log_det_spd(a, m);
}

constexpr double kBgeAlphaMu = 1.0;

// R = t I + centred scatter + N alpha_mu / (N + alpha_mu) mean mean^T (prior mean 0).
std::vector<double> bge_scatter(const std::vector<double>& x, int n, int d, double t) {
  std::vector<double> mean(d, 0.0), r(std::size_t(d) * d, 0.0);
  for (int k = 0; k < n; ++k)
    for (int j = 0; j < d; ++j) mean[j] += x[std::size_t(k) * d + j] / n;
  for (int k = 0; k < n; ++k)
    for (int a = 0; a < d; ++a)
      for (int b = 0; b < d; ++b)
        r[a * d + b] += (x[std::size_t(k) * d + a] - mean[a]) * (x[std::size_t(k) * d + b] - mean[b]);
  for (int a = 0; a < d; ++a)
    for (int b = 0; b < d; ++b)
      r[a * d + b] += (a == b ? t : 0.0) + n * kBgeAlphaMu / (n + kBgeAlphaMu) * mean[a] * mean[b];
  return r;
}
}  // namespace

namespace {
double bge_t(int32_t nodes) {
  const double alpha_w = nodes + 2.0;
  return kBgeAlphaMu * (alpha_w - nodes - 1) / (kBgeAlphaMu + 1);
}

// The BGe local score from the scatter matrix r (bge_scatter).
double bge_from_scatter(const std::vector<double>& r, int32_t samples, int32_t nodes, int32_t j,
                        uint32_t mask) {
  const double n = samples, d = nodes, alpha_w = d + 2, am = kBgeAlphaMu, t = bge_t(nodes);
  std::vector<int> pa;
  for (int i = 0; i < nodes; ++i)
    if ((mask >> i) & 1) pa.push_back(i);
  const double p = static_cast<double>(pa.size()), a = n + alpha_w - d;
  std::vector<int> family{j};
  family.insert(family.end(), pa.begin(), pa.end());
  return 0.5 * (std::log(am) - std::log(n + am)) + std::lgamma(0.5 * (a + p + 1)) -
         std::lgamma(0.5 * (alpha_w - d + p + 1)) - 0.5 * n * std::log(M_PI) +
         0.5 * (alpha_w - d + 2 * p + 1) * std::log(t) + 0.5 * (a + p) * log_det_block(r, nodes, pa) -
         0.5 * (a + p + 1) * log_det_block(r, nodes, family);
}
}  // namespace

double bge_local_score(const std::vector<double>& x, int32_t samples, int32_t nodes, int32_t j,
                       uint32_t mask) {
  return bge_from_scatter(bge_scatter(x, samples, nodes, bge_t(nodes)), samples, nodes, j, mask);
}

std::vector<float> dag_structure_local_scores(const DagStructureConfig& c) {
  const StructureData s = dag_structure_data(c);
  if (c.score == StructureScore::Bic) return bic_local_scores(s);
  const int d = s.nodes;
  const std::vector<double> r = bge_scatter(s.x, s.samples, d, bge_t(d));
  std::vector<float> local(std::size_t(d) << d, 0.0f);
  for (int j = 0; j < d; ++j) {
    const double empty = bge_from_scatter(r, s.samples, d, j, 0);
    for (uint32_t mask = 0; mask < (1u << d); ++mask)
      if (!((mask >> j) & 1))
        local[(std::size_t(j) << d) | mask] =
            static_cast<float>(bge_from_scatter(r, s.samples, d, j, mask) - empty);
  }
  return local;
}

}  // namespace gfnrl
