// Edge ids past 2^31 without 2^31 edges. A DAG with that many edges needs ~100 GB, so these
// tests run every exact-core op on a small DAG whose edge ids and CSC positions are all shifted
// by kShift > 2^32: its offsets hold id + kShift (int64), its CSC edge ids are the wide int64
// kind, and every per-edge array is passed as a pointer whose element kShift + k is the array's
// element k. Each op must then give bit for bit what it gives on the plain DAG; an id truncated to
// int32 anywhere (a loop variable, a parameter, a scan's accumulator) lands ~2^32 elements away
// and crashes or reads garbage.
//
// The shifted pointers point outside their arrays, which C++ leaves undefined; on the flat address
// spaces of every platform this project builds for (x86-64, aarch64, CUDA's unified 64-bit space)
// the element accesses land exactly in the arrays, and this is the only way to exercise the index
// arithmetic of a > 2^31-edge DAG in the memory of a CI machine.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <random>
#include <vector>

#include "gfnrl/detail/hypergrid_math.hpp"
#include "ops/reduction_ops.hpp"
#include "ops/sweep_ops.hpp"
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

constexpr int64_t kShift = (int64_t(3) << 31) + 12345;  // > 2^32, and not a multiple of it

/// p - kShift: the pointer whose element kShift + k is p[k].
template <class T>
T* shifted(T* p) {
  return reinterpret_cast<T*>(reinterpret_cast<std::uintptr_t>(p) -
                              static_cast<std::uintptr_t>(kShift) * sizeof(T));
}

std::vector<int64_t> plus_shift(std::vector<int64_t> v) {
  for (int64_t& x : v) x += kShift;
  return v;
}

/// A view of `dag` with every edge id and CSC position moved up by kShift (the arrays that hold
/// the moved offsets and ids are owned here, on the DAG's backend).
struct WideView {
  Array<int64_t> child_offsets, parent_offsets, parent_edge;
  DagView view;
  explicit WideView(const Dag& dag) {
    const Backend b = dag.backend();
    const DagArrays h = dag.to_host();
    child_offsets = Array<int64_t>::from_host(b, plus_shift(h.child_offsets));
    parent_offsets = Array<int64_t>::from_host(b, plus_shift(h.parent_offsets));
    parent_edge = Array<int64_t>::from_host(b, plus_shift(h.parent_edge));
    view = dag.view();
    view.child_offsets = child_offsets.data();
    view.parent_offsets = parent_offsets.data();
    view.child_index = shifted(view.child_index);
    view.child_action = shifted(view.child_action);
    view.parent_index = shifted(view.parent_index);
    view.parent_edge = EdgeIdsView{nullptr, shifted(parent_edge.data())};
  }
};

template <class T>
void expect_bitwise_equal(const Array<T>& a, const Array<T>& b, const char* what) {
  const std::vector<T> x = a.to_host(), y = b.to_host();
  ASSERT_EQ(x.size(), y.size()) << what;
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(0, std::memcmp(&x[i], &y[i], sizeof(T))) << what << "[" << i << "]: " << x[i]
                                                       << " vs " << y[i];
}

Array<float> random_table(Backend b, std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(-1.0f, 0.7f);
  std::vector<float> v(n);
  for (float& x : v) x = g(rng);
  return Array<float>::from_host(b, v);
}

// The DAGs: random ones (several parents, non-terminating states) and a hypergrid.
std::vector<Dag> wide_test_dags(Backend b) {
  std::vector<Dag> dags;
  for (unsigned seed = 1; seed <= 4; ++seed) dags.push_back(build_dag(random_dag_spec(60, seed), b));
  dags.push_back(make_hypergrid({3, 6, 1e-2, 0.5, 2.0}, b));
  dags.push_back(make_hypergrid({4, 12}, b));  // levels of > 512 states: several blocks, threads
  return dags;
}

// The solver's outputs for one view, with the per-edge pointers moved when `wide`.
struct SoftOut {
  Array<float> value, q, log_pi, exit_q, exit_log_pi;
  SoftOut(const Dag& dag, const DagView& view, bool wide, const Array<float>& correction,
          const Array<float>* base, const Array<float>* base_exit, bool uniform) {
    const Backend b = dag.backend();
    const auto E = static_cast<std::size_t>(dag.num_edges()), N = std::size_t(dag.num_states());
    value = Array<float>(b, N), exit_q = Array<float>(b, N), exit_log_pi = Array<float>(b, N);
    q = Array<float>(b, E), log_pi = Array<float>(b, E);
    auto edge = [&](const float* p) { return wide ? shifted(p) : p; };
    auto edge_out = [&](float* p) { return wide ? shifted(p) : p; };
    const detail::SoftValueArgs args{view,
                                     edge(correction.data()),
                                     uniform,
                                     value.data(),
                                     edge_out(q.data()),
                                     edge_out(log_pi.data()),
                                     exit_q.data(),
                                     exit_log_pi.data(),
                                     base ? edge(base->data()) : nullptr,
                                     base_exit ? base_exit->data() : nullptr};
    detail::SweepGraphPtr graph;
    GFNRL_BACKEND_CALL(b, soft_values, dag, args, SweepOptions{}, graph);
  }
};

void check_soft_values(const Dag& dag) {
  const WideView w(dag);
  const auto E = static_cast<std::size_t>(dag.num_edges());
  const Array<float> corr = random_table(dag.backend(), E, 1);
  const Array<float> base = random_table(dag.backend(), E, 2);
  const Array<float> base_exit = random_table(dag.backend(), dag.num_states(), 3);
  for (int mode = 0; mode < 3; ++mode) {  // mu = 1, uniform, a table
    const Array<float>* bp = mode == 2 ? &base : nullptr;
    const Array<float>* bx = mode == 2 ? &base_exit : nullptr;
    const SoftOut plain(dag, dag.view(), false, corr, bp, bx, mode == 1);
    const SoftOut wide(dag, w.view, true, corr, bp, bx, mode == 1);
    expect_bitwise_equal(plain.value, wide.value, "V");
    expect_bitwise_equal(plain.q, wide.q, "Q");
    expect_bitwise_equal(plain.log_pi, wide.log_pi, "log pi");
    expect_bitwise_equal(plain.exit_log_pi, wide.exit_log_pi, "exit log pi");
  }
}

void check_forward_and_policies(const Dag& dag) {
  const Backend b = dag.backend();
  const WideView w(dag);
  const auto E = static_cast<std::size_t>(dag.num_edges()), N = std::size_t(dag.num_states());
  const Array<float> weight = random_table(b, E, 4), exit_weight = random_table(b, N, 5);
  // Marginals (float) with per-edge weights, and path counts (double) without.
  Array<float> out[2] = {Array<float>(b, N), Array<float>(b, N)};
  Array<float> term[2] = {Array<float>(b, N), Array<float>(b, N)};
  Array<double> log_n[2] = {Array<double>(b, N), Array<double>(b, N)};
  for (int k = 0; k < 2; ++k) {
    const DagView& v = k ? w.view : dag.view();
    const float* wt = k ? shifted(weight.data()) : weight.data();
    const detail::ForwardArgs fa{v, wt, exit_weight.data(), out[k].data(), term[k].data()};
    detail::SweepGraphPtr graph;
    GFNRL_BACKEND_CALL(b, forward_sweep, dag, fa, SweepOptions{}, graph);
    const detail::PathCountArgs pa{v, nullptr, nullptr, log_n[k].data(), nullptr};
    GFNRL_BACKEND_CALL(b, path_counts, dag, pa);
  }
  expect_bitwise_equal(out[0], out[1], "log visit");
  expect_bitwise_equal(term[0], term[1], "log P_T");
  expect_bitwise_equal(log_n[0], log_n[1], "log n");
  // Policies written per edge: uniform P_F, max-entropy P_B, and the P_B sums per child.
  Array<float> pf[2] = {Array<float>(b, E), Array<float>(b, E)};
  Array<float> pf_exit[2] = {Array<float>(b, N), Array<float>(b, N)};
  Array<float> pb[2] = {Array<float>(b, E), Array<float>(b, E)};
  Array<double> sums[2] = {Array<double>(b, N), Array<double>(b, N)};
  for (int k = 0; k < 2; ++k) {
    const DagView& v = k ? w.view : dag.view();
    auto edge = [&](float* p) { return k ? shifted(p) : p; };
    GFNRL_BACKEND_CALL(b, uniform_forward_policy, v, edge(pf[k].data()), pf_exit[k].data());
    GFNRL_BACKEND_CALL(b, backward_policy, v, log_n[0].data(), edge(pb[k].data()));
    GFNRL_BACKEND_CALL(b, backward_sums, v, edge(pb[k].data()), sums[k].data());
  }
  expect_bitwise_equal(pf[0], pf[1], "uniform P_F");
  expect_bitwise_equal(pf_exit[0], pf_exit[1], "uniform P_F exit");
  expect_bitwise_equal(pb[0], pb[1], "max-entropy P_B");
  expect_bitwise_equal(sums[0], sums[1], "P_B sums");
  // The variational bounds' sums over edges.
  const Array<float> pb_prob = random_table(b, E, 6), flow = random_table(b, N, 7);
  detail::BoundSums s[2];
  for (int k = 0; k < 2; ++k) {
    const DagView& v = k ? w.view : dag.view();
    auto edge = [&](const float* p) { return k ? shifted(p) : p; };
    const detail::BoundArgs ba{v,          edge(pf[0].data()),     pf_exit[0].data(),
                               edge(pb[0].data()), out[0].data(), edge(pb_prob.data()),
                               flow.data(), -0.25};
    s[k] = GFNRL_BACKEND_CALL(b, bound_sums, ba);
  }
  EXPECT_EQ(0, std::memcmp(&s[0].elbo, &s[1].elbo, sizeof(double))) << s[0].elbo << " " << s[1].elbo;
  EXPECT_EQ(0, std::memcmp(&s[0].eubo, &s[1].eubo, sizeof(double))) << s[0].eubo << " " << s[1].eubo;
}

// int32 CSC edge ids unless the DAG needs more, or GFNRL_WIDE_EDGE_IDS=1 asks for int64 (the
// whole suite runs once more that way: CTest's gfnrl_tests_wide_edge_ids).
TEST(WideEdgeIds, CscEdgeIdsAreInt32UnlessTheDagNeedsInt64OrTheSwitchAsks) {
  const char* outer = std::getenv("GFNRL_WIDE_EDGE_IDS");
  const std::string saved = outer ? outer : "";
  EXPECT_TRUE(wide_edge_ids(kMaxIndex + 1));
  for (const char* v : {"", "0", "1"}) {
    if (*v)
      ::setenv("GFNRL_WIDE_EDGE_IDS", v, 1);
    else
      ::unsetenv("GFNRL_WIDE_EDGE_IDS");
    const bool wide = std::string(v) == "1";
    EXPECT_EQ(wide_edge_ids(kMaxIndex), wide) << v;
    for (const Dag& dag : {make_hypergrid({3, 6}, Backend::Cpu), build_dag(random_dag_spec(30, 2), Backend::Cpu)}) {
      const DagView view = dag.view();
      EXPECT_EQ(view.parent_edge.narrow == nullptr, wide) << v;
      EXPECT_EQ(view.parent_edge.wide == nullptr, !wide) << v;
      const DagArrays h = dag.to_host();
      for (std::size_t j = 0; j < h.parent_edge.size(); ++j)
        ASSERT_EQ(view.parent_edge[static_cast<int64_t>(j)], h.parent_edge[j]);
      EXPECT_EQ(Dag::from_arrays(h, Backend::Cpu).view().parent_edge.narrow == nullptr, wide);
    }
  }
  ::setenv("GFNRL_WIDE_EDGE_IDS", "yes", 1);
  try {
    wide_edge_ids(10);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("GFNRL_WIDE_EDGE_IDS = 'yes' is out of range: give 0 or 1"),
              std::string::npos) << e.what();
  }
  if (outer)
    ::setenv("GFNRL_WIDE_EDGE_IDS", saved.c_str(), 1);
  else
    ::unsetenv("GFNRL_WIDE_EDGE_IDS");
}

// One test per backend, so that a machine without a GPU says that the CUDA half was skipped.
TEST(WideEdgeIds, SoftValuesPastTwoTo31AreBitIdenticalToTheNarrowDagOnCpu) {
  for (const Dag& dag : wide_test_dags(Backend::Cpu)) check_soft_values(dag);
}

TEST(WideEdgeIds, SoftValuesPastTwoTo31AreBitIdenticalToTheNarrowDagOnCuda) {
  REQUIRE_CUDA_DEVICE();
  for (const Dag& dag : wide_test_dags(Backend::Cuda)) check_soft_values(dag);
}

TEST(WideEdgeIds, SweepsPoliciesAndBoundsPastTwoTo31AreBitIdenticalToTheNarrowDagOnCpu) {
  for (const Dag& dag : wide_test_dags(Backend::Cpu)) check_forward_and_policies(dag);
}

TEST(WideEdgeIds, SweepsPoliciesAndBoundsPastTwoTo31AreBitIdenticalToTheNarrowDagOnCuda) {
  REQUIRE_CUDA_DEVICE();
  for (const Dag& dag : wide_test_dags(Backend::Cuda)) check_forward_and_policies(dag);
}

// The generator's per-state fill with offsets past 2^31 writes the same children and parents,
// and CSC edge ids moved by exactly kShift (computed in int64 from the parent's offset).
TEST(WideEdgeIds, HypergridFillPastTwoTo31WritesTheShiftedIds) {
  const HypergridConfig c{3, 6, 1e-2, 0.5, 2.0};
  const Dag dag = make_hypergrid(c, Backend::Cpu);
  const DagArrays h = dag.to_host();
  const auto E = h.child_index.size();
  std::vector<int64_t> co = plus_shift(h.child_offsets), po = plus_shift(h.parent_offsets);
  std::vector<int32_t> rank(h.label.size()), child(E), action(E), parent(E);
  for (std::size_t i = 0; i < h.label.size(); ++i) rank[h.label[i]] = static_cast<int32_t>(i);
  std::vector<int64_t> edge(E);
  std::vector<float> log_r(h.label.size());
  const DagWriteView out{co.data(),       shifted(child.data()),
                         shifted(action.data()), po.data(),
                         shifted(parent.data()), EdgeIdsWriter{nullptr, shifted(edge.data())},
                         log_r.data(),          nullptr};
  const detail::HypergridFill f{{c.ndim, c.height, c.r0, c.r1, c.r2}, h.label.data(), rank.data(),
                                out};
  for (int32_t i = 0; i < dag.num_states(); ++i) detail::hypergrid_fill_state(i, f);
  EXPECT_EQ(child, h.child_index);
  EXPECT_EQ(action, h.child_action);
  EXPECT_EQ(parent, h.parent_index);
  EXPECT_EQ(edge, plus_shift(h.parent_edge));
  EXPECT_EQ(log_r, h.log_reward);
}

// A Dag that claims 2^31 edges without holding them: its edge arrays are empty slices of that
// length (no memory behind them), so only code that checks the count before touching an edge
// can be run on it.
Dag claims_past_int32_edges() {
  const Dag small = make_hypergrid({2, 3}, Backend::Cpu);
  DagBuffers d;
  const DagArrays h = small.to_host();
  d.child_offsets = Array<int64_t>::from_host(Backend::Cpu, h.child_offsets);
  d.parent_offsets = Array<int64_t>::from_host(Backend::Cpu, h.parent_offsets);
  d.child_index = Array<int32_t>().slice(0, std::size_t(kMaxIndex) + 1);
  d.log_reward = Array<float>::from_host(Backend::Cpu, h.log_reward);
  d.label = Array<int64_t>::from_host(Backend::Cpu, h.label);
  return Dag::from_parts(Backend::Cpu, h.level_offsets, {1, 1, 1, 1, 1}, {1, 1, 1, 1, 1},
                         std::move(d), h.exit_action);
}

TEST(WideEdgeIds, TrainingAndDagFilesRefuseMoreThan2To31EdgesByName) {
  const Dag dag = claims_past_int32_edges();
  ASSERT_EQ(dag.num_edges(), kMaxIndex + 1);
  try {
    Trainer t(dag, nullptr, TrainConfig{});
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("training needs a DAG of at most 2^31-1 edges"),
              std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("this one has 2147483648"), std::string::npos);
  }
  try {
    dag_to_file(dag);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("a DAG file holds at most 2^31-1 edges; this DAG has "
                                         "2147483648"),
              std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gfnrl::test
