// Test helpers: random DAGs, backends to loop over, and brute-force enumeration of every
// trajectory in double precision (the independent oracle the DP results are held against).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "gfnrl/gfnrl.hpp"

namespace gfnrl::test {

/// Skips a CUDA-only test visibly (the reason is printed) when no device is present.
#define REQUIRE_CUDA_DEVICE()                                                                  \
  if (!cuda_available())                                                                       \
  GTEST_SKIP() << "CUDA backend not tested: " << cuda_device_description()

/// Expects f() to throw InputError whose message contains `text`.
template <class F>
void expect_input_error(F f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "expected InputError containing: " << text;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

/// The backends to run a test on: the CPU always, CUDA when a device is present.
inline std::vector<Backend> test_backends() {
  std::vector<Backend> b{Backend::Cpu};
  if (cuda_available()) b.push_back(Backend::Cuda);
  return b;
}

/// A random DAG: a hidden topological order, each non-source state gets 1..3 parents earlier in
/// it, sinks terminate, other states terminate with probability 1/2; caller ids are shuffled so
/// the builder's relabelling is exercised.
inline DagSpec random_dag_spec(int n, unsigned seed, int extra_edges = 8) {
  std::mt19937 rng(seed);
  std::vector<int32_t> id(n);
  std::iota(id.begin(), id.end(), 0);
  std::shuffle(id.begin(), id.end(), rng);  // id[k] = caller id of the k-th state in topo order
  DagSpec spec;
  spec.num_states = n;
  spec.source = id[0];
  std::set<std::pair<int, int>> edges;
  auto add = [&](int a, int b) {
    if (edges.insert({a, b}).second)
      spec.edges.push_back({id[a], id[b], static_cast<int32_t>(rng() % 5)});
  };
  for (int k = 1; k < n; ++k) {
    const int parents = 1 + static_cast<int>(rng() % 3);
    for (int p = 0; p < parents; ++p) add(static_cast<int>(rng() % k), k);
  }
  for (int i = 0; i < extra_edges; ++i) {
    const int a = static_cast<int>(rng() % (n - 1));
    add(a, a + 1 + static_cast<int>(rng() % (n - 1 - a)));
  }
  std::vector<int> outdeg(n, 0);
  for (const auto& [a, b] : edges) ++outdeg[a];
  std::uniform_real_distribution<double> u(0.05, 3.0);
  for (int k = 0; k < n; ++k)
    if (outdeg[k] == 0 || rng() % 2) spec.rewards.push_back({id[k], u(rng)});
  return spec;
}

/// s0 -> w middle states -> a sink: degree w on both sides of the middle (the CUDA sweeps' warp
/// kernels on Auto; every third middle state terminates).
inline DagSpec wide_dag_spec(int w) {
  DagSpec s;
  s.num_states = w + 2;
  for (int i = 1; i <= w; ++i) {
    s.edges.push_back({0, i, i});
    s.edges.push_back({i, w + 1, 0});
    if (i % 3 == 0) s.rewards.push_back({i, 0.1 * i});
  }
  s.rewards.push_back({w + 1, 5.0});
  return s;
}

/// Host arrays of a Dag plus brute-force helpers over all its trajectories.
struct BruteForce {
  DagArrays a;
  explicit BruteForce(const Dag& dag) : a(dag.to_host()) {}
  int n() const { return static_cast<int>(a.log_reward.size()); }
  bool terminates(int s) const { return std::isfinite(a.log_reward[s]); }

  /// Calls f(edges, x) for every complete trajectory s0 -> ... -> x -> exit.
  void for_each_trajectory(const std::function<void(const std::vector<int>&, int)>& f) const {
    std::vector<int> path;
    std::function<void(int)> go = [&](int s) {
      if (terminates(s)) f(path, s);
      for (int e = a.child_offsets[s]; e < a.child_offsets[s + 1]; ++e) {
        path.push_back(e);
        go(a.child_index[e]);
        path.pop_back();
      }
    };
    go(0);
  }
  /// Number of paths from s0 to every state.
  std::vector<double> path_counts() const {
    std::vector<double> cnt(n(), 0.0);
    std::function<void(int)> go = [&](int s) {
      cnt[s] += 1;
      for (int e = a.child_offsets[s]; e < a.child_offsets[s + 1]; ++e) go(a.child_index[e]);
    };
    go(0);
    return cnt;
  }
  /// P_T(x) of a forward policy, summing the probability of every trajectory.
  std::vector<double> terminal(const std::vector<float>& lp, const std::vector<float>& exit_lp) const {
    std::vector<double> pt(n(), 0.0);
    for_each_trajectory([&](const std::vector<int>& path, int x) {
      double l = exit_lp[x];
      for (int e : path) l += lp[e];
      pt[x] += std::exp(l);
    });
    return pt;
  }
  /// log sum over trajectories of exp(sum_t r(e_t) + log R(x)) * prod mu (the soft value of s0).
  double soft_value(const std::vector<float>* pb, bool uniform_mu) const {
    double total = 0;
    for_each_trajectory([&](const std::vector<int>& path, int x) {
      double l = a.log_reward[x];
      int s = 0;
      for (int e : path) {
        if (pb) l += (*pb)[e];
        if (uniform_mu) l -= std::log(double(actions(s)));
        s = a.child_index[e];
      }
      if (uniform_mu) l -= std::log(double(actions(x)));
      total += std::exp(l);
    });
    return std::log(total);
  }
  int actions(int s) const {
    return a.child_offsets[s + 1] - a.child_offsets[s] + (terminates(s) ? 1 : 0);
  }
  double log_z() const {
    double z = 0;
    for (int s = 0; s < n(); ++s)
      if (terminates(s)) z += std::exp(double(a.log_reward[s]));
    return std::log(z);
  }
};

/// Twelve random 11-state DAGs and two tiny hypergrids: small enough to enumerate every trajectory.
inline std::vector<Dag> small_dags(Backend b) {
  std::vector<Dag> dags;
  for (unsigned seed = 1; seed <= 12; ++seed) dags.push_back(build_dag(random_dag_spec(11, seed), b));
  dags.push_back(make_hypergrid({2, 4, 1e-3, 0.5, 2.0}, b));
  dags.push_back(make_hypergrid({3, 3, 1e-2, 0.5, 2.0}, b));
  return dags;
}

// Log-softmax of logits drawn uniformly from [-2, 2].
inline std::vector<float> random_log_softmax(std::size_t k, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  std::vector<double> l(k);
  double z = 0;
  for (double& v : l) z += std::exp(v = u(rng));
  std::vector<float> out(k);
  for (std::size_t i = 0; i < k; ++i) out[i] = static_cast<float>(l[i] - std::log(z));
  return out;
}

/// A random normalised forward policy on a DAG: a softmax over each state's edges and exit.
inline ForwardPolicy random_policy(const Dag& dag, unsigned seed) {
  std::mt19937 rng(seed);
  const DagArrays a = dag.to_host();
  std::vector<float> lp(dag.num_edges()), ex(dag.num_states(), -INFINITY);
  for (int s = 0; s < dag.num_states(); ++s) {
    const int b = a.child_offsets[s], k = a.child_offsets[s + 1] - b;
    const bool term = std::isfinite(a.log_reward[s]);
    const std::vector<float> l = random_log_softmax(k + (term ? 1 : 0), rng);
    std::copy(l.begin(), l.begin() + k, lp.begin() + b);
    if (term) ex[s] = l[k];
  }
  return {Array<float>::from_host(dag.backend(), lp), Array<float>::from_host(dag.backend(), ex)};
}

/// A random backward policy: a softmax over each state's parents.
inline BackwardPolicy random_backward_policy(const Dag& dag, unsigned seed) {
  std::mt19937 rng(seed);
  const DagArrays a = dag.to_host();
  std::vector<float> lp(dag.num_edges());
  for (int c = 0; c < dag.num_states(); ++c) {
    const int b = a.parent_offsets[c], k = a.parent_offsets[c + 1] - b;
    const std::vector<float> l = random_log_softmax(k, rng);
    for (int j = 0; j < k; ++j) lp[a.parent_edge[b + j]] = l[j];
  }
  return {Array<float>::from_host(dag.backend(), lp), "random"};
}

/// Every array of two DAGs is equal (generators on two backends must agree bit for bit).
inline void expect_identical_dags(const DagArrays& a, const DagArrays& b) {
  EXPECT_EQ(a.level_offsets, b.level_offsets);
  EXPECT_EQ(a.label, b.label);
  EXPECT_EQ(a.child_offsets, b.child_offsets);
  EXPECT_EQ(a.child_index, b.child_index);
  EXPECT_EQ(a.child_action, b.child_action);
  EXPECT_EQ(a.parent_offsets, b.parent_offsets);
  EXPECT_EQ(a.parent_index, b.parent_index);
  EXPECT_EQ(a.parent_edge, b.parent_edge);
  EXPECT_EQ(a.log_reward, b.log_reward);
}

/// log P_B(e) = theta[e] - log sum over the parent edges of e's child of exp(theta): a
/// backward policy from free logits, written independently of the library's log-softmax.
inline std::vector<double> parent_log_softmax(const DagArrays& a, const std::vector<double>& theta) {
  std::vector<double> out(theta.size());
  for (std::size_t c = 0; c + 1 < a.parent_offsets.size(); ++c) {
    double z = 0;
    for (int64_t j = a.parent_offsets[c]; j < a.parent_offsets[c + 1]; ++j)
      z += std::exp(theta[a.parent_edge[j]]);
    for (int64_t j = a.parent_offsets[c]; j < a.parent_offsets[c + 1]; ++j)
      out[a.parent_edge[j]] = theta[a.parent_edge[j]] - std::log(z);
  }
  return out;
}

/// Runs f with OpenMP set to `threads` (restored afterwards). Without OpenMP a thread-count test
/// would compare a run with itself and pass vacuously: it fails instead, saying why.
template <class F>
auto with_threads(int threads, F&& f) {
#if defined(_OPENMP)
  const int keep = omp_get_max_threads();
  omp_set_num_threads(threads);
  EXPECT_EQ(omp_get_max_threads(), threads) << "OpenMP did not take the thread count";
  auto result = f();
  omp_set_num_threads(keep);
  return result;
#else
  ADD_FAILURE() << "built without OpenMP: this thread-count test (asking for " << threads
                << ") would compare a single-threaded run with itself (install an OpenMP "
                   "runtime, e.g. g++'s libgomp)";
  return f();
#endif
}

inline double tv_distance(const std::vector<double>& p, const std::vector<double>& q) {
  double t = 0;
  for (std::size_t i = 0; i < p.size(); ++i) t += std::abs(p[i] - q[i]);
  return 0.5 * t;
}

inline std::vector<double> normalised(std::vector<double> w) {
  const double s = std::accumulate(w.begin(), w.end(), 0.0);
  for (double& x : w) x /= s;
  return w;
}

template <class T>
inline std::vector<double> exp_vector(const std::vector<T>& l) {
  std::vector<double> r(l.size());
  for (std::size_t i = 0; i < l.size(); ++i) r[i] = std::exp(double(l[i]));
  return r;
}

}  // namespace gfnrl::test
