// The CPU sweeps' vectorisable exp and log (host/cpu/vector_math.hpp) against double exp and log
// over every float of their ranges (2^23-ish values per binade, strided to keep it quick), and
// their special values. Then the CPU policy softmax, which is built on them, against a log-softmax
// in double.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "cpu/vector_math.hpp"
#include "ops/training_ops.hpp"
#include "test_support.hpp"

namespace gfnrl::detail::cpu {
namespace {

// Every float from lo up to hi, taking every `stride`-th bit pattern.
template <class F>
void for_floats(float lo, float hi, int32_t stride, F f) {
  for (float x = lo; x <= hi;) {
    f(x);
    const int32_t b = float_to_bits(x);
    if (b >= 0) {
      if (b > std::numeric_limits<int32_t>::max() - stride) return;
      x = bits_to_float(b + stride);
    } else {  // negative: the magnitude shrinks toward 0
      const int32_t mag = b & 0x7fffffff;
      x = mag > stride ? bits_to_float(int32_t(0x80000000u | uint32_t(mag - stride))) : 0.0f;
    }
  }
}

TEST(VectorMath, ExpIsWithinTwoPointFiveEMinus7RelativeOfDouble) {
  double worst = 0;
  float at = 0;
  auto check = [&](float x) {
    const double want = std::exp(double(x));
    const double err = std::abs(double(vexp(x)) - want) / want;
    if (err > worst) worst = err, at = x;
  };
  for_floats(-87.3f, -1e-30f, 97, check);
  for_floats(0.0f, 88.7f, 97, check);
  EXPECT_LE(worst, 2.5e-7) << "at x = " << at;
  EXPECT_EQ(vexp(0.0f), 1.0f);
  EXPECT_EQ(vexp(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(vexp(-100.0f), 0.0f);
  EXPECT_EQ(vexp(100.0f), std::numeric_limits<float>::infinity());
}

// A NaN argument (a diverged table) gives NaN, without converting NaN to an integer on the way
// (undefined behaviour, reported by UBSan as a negative left shift before the clamp took NaN in).
TEST(VectorMath, ExpOfNanIsNanAndDefined) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(vexp(nan)));
  EXPECT_TRUE(std::isnan(vexp(-nan)));
  EXPECT_TRUE(std::isnan(vexp_d(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_EQ(vexp_d(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_EQ(vexp_d(std::numeric_limits<double>::infinity()), std::numeric_limits<double>::infinity());
  EXPECT_EQ(vexp(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
}

TEST(VectorMath, LogIsWithinOnePointFiveEMinus7OfDoubleScaledByItsSize) {
  double worst = 0;
  float at = 0;
  for_floats(std::numeric_limits<float>::min(), std::numeric_limits<float>::max(), 101,
             [&](float x) {
               const double want = std::log(double(x));
               const double err = std::abs(double(vlog(x)) - want) / std::max(1.0, std::abs(want));
               if (err > worst) worst = err, at = x;
             });
  EXPECT_LE(worst, 1.5e-7) << "at x = " << at;
  EXPECT_EQ(vlog(1.0f), 0.0f);
  EXPECT_EQ(vlog(0.0f), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(vlog(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
  // Small integers (action counts) and sums near 1 (a logsumexp's): the cases the sweeps meet.
  for (int n = 1; n <= 4096; ++n)
    EXPECT_NEAR(vlog(float(n)), std::log(double(n)), 1.5e-7 * std::max(1.0, std::log(double(n))))
        << n;
}

// The double versions (the metrics' reductions) against long double, over 2e6 random arguments
// each: exp uniform over its range, log over x = e^u for u uniform (every binade of normal
// doubles) and near 1 (the sums the metrics take logs of).
TEST(VectorMath, DoubleExpIsWithinTwoPointFiveEMinus16RelativeOfLongDouble) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-708.3, 709.7);
  long double worst = 0;
  double at = 0;
  for (int k = 0; k < 2000000; ++k) {
    const double x = u(rng);
    const long double want = std::exp(static_cast<long double>(x));
    const long double err = std::fabs(vexp_d(x) - want) / want;
    if (err > worst) worst = err, at = x;
  }
  EXPECT_LE(double(worst), 2.5e-16) << "at x = " << at;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(vexp_d(0.0), 1.0);
  EXPECT_EQ(vexp_d(-kInf), 0.0);
  EXPECT_EQ(vexp_d(-800.0), 0.0);
  EXPECT_EQ(vexp_d(800.0), kInf);
}

TEST(VectorMath, DoubleLogIsWithinThreeEMinus16OfLongDoubleScaledByItsSize) {
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> u(-708.0, 709.0), near_one(-0.5, 0.5);
  long double worst = 0;
  double at = 0;
  auto check = [&](double x) {
    const long double want = std::log(static_cast<long double>(x));
    const long double err = std::fabs(vlog_d(x) - want) / std::max(1.0L, std::fabs(want));
    if (err > worst) worst = err, at = x;
  };
  for (int k = 0; k < 2000000; ++k) check(std::exp(u(rng)));
  for (int k = 0; k < 1000000; ++k) check(1.0 + near_one(rng));
  EXPECT_LE(double(worst), 3e-16) << "at x = " << at;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(vlog_d(1.0), 0.0);
  EXPECT_EQ(vlog_d(0.0), -kInf);
  EXPECT_EQ(vlog_d(kInf), kInf);
  const double tiny = std::numeric_limits<double>::min();
  EXPECT_NEAR(vlog_d(tiny), std::log(tiny), 1e-12);
}

// DAGs for the softmax tests: random DAGs (states that do not terminate, a source without
// parents) and a grid whose levels are wider than a 512-state block.
std::vector<Dag> softmax_dags() {
  std::vector<Dag> dags = test::small_dags(Backend::Cpu);
  dags.push_back(make_hypergrid({3, 12}, Backend::Cpu));
  return dags;
}

// The worst error, scaled by 1 + |want|, of the vectorised form and of libm's per-state form
// (detail/, the CUDA kernels'): float rounding of a value minus a log-normaliser of up to ~20
// here, so the two are of one order (measured 5.4e-7 and 5.3e-7 for the policy softmax).
struct WorstErrors {
  double vectorised = 0, libm = 0;
  void add(double got, double got_libm, double want) {
    vectorised = std::max(vectorised, std::abs(got - want) / (1 + std::abs(want)));
    libm = std::max(libm, std::abs(got_libm - want) / (1 + std::abs(want)));
  }
  void check() const {
    EXPECT_LE(vectorised, 8e-7);
    EXPECT_LE(vectorised, 2 * libm);
    testing::Test::RecordProperty("worst", testing::PrintToString(vectorised));
    testing::Test::RecordProperty("worst_libm", testing::PrintToString(libm));
  }
};

// log sum over state s's edges (and exit, if it terminates) of exp(scale * row), in double.
double double_lse(const DagArrays& h, const TableLayout& L, const float* row, int32_t s,
                  float scale, bool term) {
  double m = -INFINITY, z = 0;
  for (int64_t e = h.child_offsets[s]; e < h.child_offsets[s + 1]; ++e)
    m = std::max(m, double(scale) * row[e]);
  if (term) m = std::max(m, double(scale) * row[L.exit_entry(s)]);
  for (int64_t e = h.child_offsets[s]; e < h.child_offsets[s + 1]; ++e)
    z += std::exp(double(scale) * row[e] - m);
  if (term) z += std::exp(double(scale) * row[L.exit_entry(s)] - m);
  return m + std::log(z);
}

// policy_log_probs (vectorised blocks of 512 states) against log-softmax(scale * row) over each
// state's edges and exit written out in double: random tables on random DAGs (states that do not
// terminate), grids with levels wider than a block, three runs, two temperatures.
TEST(VectorMath, PolicySoftmaxEqualsADoubleLogSoftmax) {
  std::mt19937 rng(12);
  std::normal_distribution<float> g(0.0f, 3.0f);
  WorstErrors worst;
  for (const Dag& dag : softmax_dags()) {
    const DagArrays h = dag.to_host();
    TableLayout L;
    L.num_states = dag.num_states();
    L.num_edges = dag.num_edges();
    const int32_t runs = 3;
    std::vector<float> params(std::size_t(runs) * L.stride());
    for (float& v : params) v = g(rng);
    for (float scale : {1.0f, 0.5f}) {
      std::vector<float> lp(std::size_t(runs) * L.num_edges), ex(std::size_t(runs) * L.num_states);
      policy_log_probs(dag.view(), L, params.data(), runs, scale, lp.data(), ex.data());
      // The per-state form with libm's expf/logf (detail/table_layout.hpp, the CUDA kernels'),
      // held to the same reference for comparison.
      std::vector<float> lp1(lp.size()), ex1(ex.size());
      for (int32_t r = 0; r < runs; ++r)
        for (int32_t s = 0; s < L.num_states; ++s)
          policy_state(dag.view(), L, params.data() + std::size_t(r) * L.stride(), s, scale,
                       lp1.data() + std::size_t(r) * L.num_edges,
                       ex1.data() + std::size_t(r) * L.num_states);
      for (int32_t r = 0; r < runs; ++r)
        for (int32_t s = 0; s < L.num_states; ++s) {
          const float* row = params.data() + std::size_t(r) * L.stride();
          const bool term = std::isfinite(h.log_reward[s]);
          const double lse = double_lse(h, L, row, s, scale, term);
          for (int64_t e = h.child_offsets[s]; e < h.child_offsets[s + 1]; ++e) {
            const double want = double(scale) * row[e] - lse;
            const std::size_t k = std::size_t(r) * L.num_edges + e;
            worst.add(lp[k], lp1[k], want);
          }
          const float got = ex[std::size_t(r) * L.num_states + s];
          if (!term) {
            ASSERT_EQ(got, -INFINITY) << "state " << s << " does not terminate";
            continue;
          }
          const double want = double(scale) * row[L.exit_entry(s)] - lse;
          worst.add(got, ex1[std::size_t(r) * L.num_states + s], want);
        }
    }
  }
  worst.check();
}

// backward_log_probs (vectorised blocks of children) against log-softmax(theta) over each state's
// parent edges in double, and beside libm's per-state form: random logits, random DAGs and a grid
// with levels wider than a block (the source, without parents, in the first block), two runs.
TEST(VectorMath, BackwardLogProbsEqualADoubleLogSoftmaxOverParents) {
  std::mt19937 rng(13);
  std::normal_distribution<float> g(0.0f, 3.0f);
  WorstErrors worst;
  for (const Dag& dag : softmax_dags()) {
    const DagArrays h = dag.to_host();
    const int32_t runs = 2;
    const int64_t E = dag.num_edges();
    std::vector<float> theta(std::size_t(runs) * E), lp(theta.size(), NAN), lp1(theta.size());
    for (float& v : theta) v = g(rng);
    backward_log_probs(dag.view(), theta.data(), runs, lp.data());
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t c = 0; c < dag.num_states(); ++c)
        backward_log_probs_state(dag.view(), theta.data() + std::size_t(r) * E, c,
                                 lp1.data() + std::size_t(r) * E);
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t c = 0; c < dag.num_states(); ++c) {
        const float* t = theta.data() + std::size_t(r) * E;
        double m = -INFINITY, z = 0;
        for (int64_t j = h.parent_offsets[c]; j < h.parent_offsets[c + 1]; ++j)
          m = std::max(m, double(t[h.parent_edge[j]]));
        for (int64_t j = h.parent_offsets[c]; j < h.parent_offsets[c + 1]; ++j)
          z += std::exp(double(t[h.parent_edge[j]]) - m);
        for (int64_t j = h.parent_offsets[c]; j < h.parent_offsets[c + 1]; ++j) {
          const std::size_t k = std::size_t(r) * E + h.parent_edge[j];
          const double want = double(t[h.parent_edge[j]]) - m - std::log(z);
          ASSERT_TRUE(std::isfinite(lp[k])) << "edge " << h.parent_edge[j] << " not written";
          worst.add(lp[k], lp1[k], want);
        }
      }
  }
  worst.check();
}

}  // namespace
}  // namespace gfnrl::detail::cpu
