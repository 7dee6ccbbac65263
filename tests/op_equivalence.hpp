// The harness of the op-by-op equivalence tests (ginkgo's `...IsEquivalentToRef`): every training
// op runs once on the CPU reference backend with one thread and once on the backend under test,
// from identical inputs, and their outputs are compared, not their outcomes.
//
// The backend under test is the test's parameter:
//   - Cuda: skipped visibly without a device. Outputs agree within kAtomicTol (below) where float
//     atomics reorder sums, and exactly where nothing is summed (trajectories, replay slots);
//   - Cpu with three threads and every op split however small (the CPU twin): the CPU ops' claim
//     of the same bits for every thread count, checked bit for bit, through the same harness, so
//     a GPU session spends its minutes on the kernels and not on the harness.
//
// Sampling ops compare draws exactly. A draw whose uniform lies within kBoundaryTol of a CDF
// boundary (float rounding of the probabilities, which differ in their last bits between CUDA's
// expf and glibc's) may pick a neighbouring action: such a difference is accepted when the
// boundary is that close, counted and printed; any other difference fails.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/parallel.hpp"
#include "ops/training_ops.hpp"
#include "test_support.hpp"

namespace gfnrl {
/// gtest's name of a parameter in failure messages.
inline void PrintTo(Backend b, std::ostream* os) { *os << backend_name(b); }
}  // namespace gfnrl

namespace gfnrl::test {

/// |cpu - dev| <= kAtomicTol * (1 + max |cpu| over the row). Gradients are sums of at most
/// batch x max_len (~60) per-transition terms, each ~ the row's largest entry; reordering a float
/// sum of K terms moves it by <= (K - 1) 2^-24 sum |t| ~ 60 x 6e-8 x (a few x max) ~ 1e-5, and
/// CUDA's expf/logf differ from glibc's by <= 2 ulp (1.2e-7 relative).
constexpr double kAtomicTol = 2e-5;
/// How close to a CDF boundary (in probability) a draw may be to explain a different pick.
constexpr double kBoundaryTol = 1e-5;

/// One input or output array, on the CPU (ref) and on the backend under test (dev), filled from
/// the same host values.
template <class T>
struct Twin {
  Array<T> ref, dev;
};

/// A DAG on both sides.
struct DagTwin {
  std::string name;
  Dag ref, dev;
};

/// Which side a call builds its arguments for: `s(twin)` is that side's pointer.
struct Side {
  Backend backend;
  bool ref;
  template <class T>
  T* operator()(Twin<T>& t) const {
    return ref ? t.ref.data() : t.dev.data();
  }
  const Dag& dag(const DagTwin& d) const { return ref ? d.ref : d.dev; }
  DagView view(const DagTwin& d) const { return dag(d).view(); }
};

/// Uniform floats in [lo, hi).
inline std::vector<float> uniform_floats(std::size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

/// Per-run replay buffers on both sides (3 runs; capacity 23 unless given; 9 samples per run).
struct Replay {
  int32_t runs = 3, capacity = 23, samples = 9;
  Twin<int32_t> slot_state, slot_action, sample_slot, sample_state, sample_action;
  Twin<float> priority, max_priority;
  Twin<double> cumsum;
  Twin<int64_t> inserted;
  bool prioritized = false;

  detail::ReplayArgs args(const Side& s) {
    detail::ReplayArgs b{};
    b.runs = runs;
    b.capacity = capacity;
    b.slot_state = s(slot_state);
    b.slot_action = s(slot_action);
    b.priority = prioritized ? s(priority) : nullptr;
    b.cumsum = s(cumsum);
    b.inserted = s(inserted);
    b.max_priority = s(max_priority);
    return b;  // no kept block sums: the CPU sums every block at each sample
  }
};

/// Every output is held to the reference bit for bit on the CPU twin, within kAtomicTol per row on
/// CUDA; ints always exactly.
class OpEquivalence : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::Cuda) REQUIRE_CUDA_DEVICE();
  }
  Backend dev() const { return GetParam(); }
  bool bitwise() const { return dev() == Backend::Cpu; }

  template <class T>
  Twin<T> twin(const std::vector<T>& host) const {
    return {Array<T>::from_host(Backend::Cpu, host), Array<T>::from_host(dev(), host)};
  }
  template <class T>
  Twin<T> filled(std::size_t n, T value) const {
    return twin(std::vector<T>(n, value));
  }
  DagTwin dag_twin(const std::string& name, const Dag& cpu) const {
    return {name, cpu, cpu.to(dev())};
  }

  /// Random slot contents and priorities, `inserted` transitions per run so far (against a
  /// capacity of 23: 5 is part-filled, 23 full, 40 or 100 wrapped).
  Replay replay(bool prioritized, const std::vector<int64_t>& inserted,
                int32_t capacity = 23) const {
    Replay r;
    r.prioritized = prioritized;
    r.capacity = capacity;
    const std::size_t slots = std::size_t(r.runs) * r.capacity, k = std::size_t(r.runs) * r.samples;
    std::mt19937 rng(9);
    std::vector<int32_t> st(slots), ac(slots);
    for (std::size_t i = 0; i < slots; ++i) {
      st[i] = static_cast<int32_t>(rng() % 1000);
      ac[i] = static_cast<int32_t>(rng() % 1000);
    }
    r.slot_state = twin(st);
    r.slot_action = twin(ac);
    r.sample_slot = filled<int32_t>(k, -1);
    r.sample_state = filled<int32_t>(k, -1);
    r.sample_action = filled<int32_t>(k, -1);
    r.priority = twin(uniform_floats(slots, 0.01f, 2.0f, 10));
    r.max_priority = twin<float>({1.0f, 2.5f, 0.7f});
    r.cumsum = filled<double>(slots, 0.0);
    r.inserted = twin(inserted);
    return r;
  }

  /// f(side) for the reference (one CPU thread), then for the backend under test (the CPU twin:
  /// three threads, every op split however small).
  template <class F>
  void both(F&& f) const {
    with_threads(1, [&] { return f(Side{Backend::Cpu, true}), 0; });
    if (dev() == Backend::Cpu) {
      struct ForceParallel {
        ForceParallel() { detail::cpu::force_parallel() = true; }
        ~ForceParallel() { detail::cpu::force_parallel() = false; }
      } split;
      with_threads(3, [&] { return f(Side{Backend::Cpu, false}), 0; });
    } else {
      f(Side{dev(), false});
    }
  }

  template <class T>
  void expect_same(const Twin<T>& t, const std::string& what) const {
    EXPECT_EQ(t.ref.to_host(), t.dev.to_host()) << what;
  }

  /// Bit for bit on the CPU twin; on CUDA within kAtomicTol x (1 + the row's largest |value|),
  /// rows of `row` entries (0: the whole array is one row). Infinities must agree; a NaN in the
  /// reference fails. Returns whether everything agreed.
  bool expect_close(const Twin<float>& t, const std::string& what, std::size_t row = 0,
                    double tol = kAtomicTol) const {
    const std::vector<float> a = t.ref.to_host(), b = t.dev.to_host();
    if (a.size() != b.size()) {
      ADD_FAILURE() << what << ": " << a.size() << " vs " << b.size() << " entries";
      return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i)  // NaN == NaN would compare nothing
      if (std::isnan(a[i])) {
        ADD_FAILURE() << what << "[" << i << "]: the reference itself is NaN";
        return false;
      }
    if (row == 0) row = a.size() ? a.size() : 1;
    int failures = 0;
    for (std::size_t begin = 0; begin < a.size(); begin += row) {
      const std::size_t end = std::min(a.size(), begin + row);
      double scale = 0;
      for (std::size_t i = begin; i < end; ++i)
        if (std::isfinite(a[i])) scale = std::max(scale, double(std::abs(a[i])));
      for (std::size_t i = begin; i < end && failures < 10; ++i) {
        const bool same_bits = std::memcmp(&a[i], &b[i], sizeof(float)) == 0;
        const bool ok = bitwise()              ? same_bits
                        : !std::isfinite(a[i]) ? a[i] == b[i]
                                               : std::abs(double(a[i]) - b[i]) <= tol * (1 + scale);
        if (!ok) {
          ++failures;
          ADD_FAILURE() << what << "[" << i << "]: cpu " << a[i] << ", " << backend_name(dev())
                        << " " << b[i] << (bitwise() ? " (bits differ)" : "") << ", row scale "
                        << scale;
        }
      }
    }
    return failures == 0;
  }
};

/// The backends a test is run against: the CPU twin everywhere, CUDA in CUDA builds.
inline std::vector<Backend> equivalence_backends() {
  std::vector<Backend> b{Backend::Cpu};
  if (cuda_compiled()) b.push_back(Backend::Cuda);
  return b;
}

inline std::string backend_param_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::Cuda ? "Cuda" : "CpuThreads";
}

/// Three DAGs: a random one (states that never terminate, several parents), a hypergrid (every
/// state terminates: energy rewards, modified DB, forward-looking flows) and a wide one (degree
/// 40 on both sides of its middle states).
inline std::vector<Dag> equivalence_dags() {
  return {build_dag(random_dag_spec(40, 5, 20), Backend::Cpu),
          make_hypergrid({2, 6, 1e-3, 0.5, 2.0}, Backend::Cpu),
          build_dag(wide_dag_spec(40), Backend::Cpu)};
}
inline const char* const kDagNames[] = {"random DAG", "2-D H=6 hypergrid", "wide DAG"};

/// True when every state of the DAG terminates (energy differences are defined).
inline bool all_terminate(const Dag& d) {
  for (float r : d.log_reward().to_host())
    if (!std::isfinite(r)) return false;
  return true;
}


/// The smallest distance of the uniform `u` to any cumulative sum of the probabilities `p` (in the
/// sampler's order, in double): how close a draw came to picking a neighbouring action.
inline double boundary_distance(double u, const std::vector<double>& p) {
  double c = 0, d = std::abs(u);
  for (double x : p) {
    c += x;
    d = std::min(d, std::abs(u - c));
  }
  return d;
}

/// The first position of a trajectory (positions [base, base + len)) where the two sides' states
/// or actions (edges) differ; len when none does.
inline int32_t first_difference(const std::vector<int32_t>& sa, const std::vector<int32_t>& sb,
                                const std::vector<int32_t>& aa, const std::vector<int32_t>& ab,
                                std::size_t base, int32_t len) {
  int32_t t = 0;
  while (t < len && sa[base + t] == sb[base + t] && aa[base + t] == ab[base + t]) ++t;
  return t;
}

/// A batch of trajectories sampled on the CPU (with exploration), the input every loss test
/// gives both sides.
struct Batch {
  int32_t runs = 3, batch = 6, max_len = 0;
  std::vector<int32_t> states, actions, lengths;
  detail::TrajectoryBatch view(const Side& s, Twin<int32_t>& st, Twin<int32_t>& ac,
                               Twin<int32_t>& len) const {
    return {batch, max_len, s(st), s(ac), s(len)};
  }
  /// The same batch as a rollout's output (what the replay inserts read).
  detail::RolloutArgs rollout(const Side& s, Twin<int32_t>& st, Twin<int32_t>& ac,
                              Twin<int32_t>& len) const {
    detail::RolloutArgs t{};
    t.runs = runs;
    t.batch = batch;
    t.max_len = max_len;
    t.states = s(st);
    t.actions = s(ac);
    t.lengths = s(len);
    return t;
  }
};

inline Batch sample_batch(const Dag& cpu, const detail::TableLayout& L,
                          const std::vector<float>& params, int32_t runs, int32_t batch,
                          uint64_t seed) {
  Batch b;
  b.runs = runs;
  b.batch = batch;
  b.max_len = cpu.num_levels();
  const std::size_t traj = std::size_t(runs) * batch;
  b.states.assign(traj * b.max_len, -1);
  b.actions.assign(traj * b.max_len, -1);
  b.lengths.assign(traj, 0);
  const std::vector<float> one(runs, 1.0f), eps(runs, 0.25f);
  detail::RolloutArgs a{};
  a.dag = cpu.view();
  a.layout = L;
  a.params = params.data();
  a.runs = runs;
  a.batch = batch;
  a.max_len = b.max_len;
  a.tau = 1.0f;
  a.temperature_start = a.temperature_end = one.data();
  a.epsilon_start = a.epsilon_end = eps.data();
  a.seed = seed;
  a.states = b.states.data();
  a.actions = b.actions.data();
  a.lengths = b.lengths.data();
  detail::cpu::rollout(a);
  return b;
}

}  // namespace gfnrl::test
