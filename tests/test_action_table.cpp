// Policies given as per-state action tables (a policy network's output, [num_states x width]):
// gather_action_table against a plain loop over the DAG's host arrays, and
// ActionTableMarginalSolver, which reads the table in place through a per-slot index, bit for bit
// against MarginalSolver on the gathered tables and against brute-force enumeration.
#include <cstring>
#include <limits>
#include <string>

#include "test_support.hpp"

namespace gfnrl::test {
namespace {

// A random table of entries in [-3, 0].
std::vector<float> random_table(std::size_t rows, std::size_t width, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-3.0f, 0.0f);
  std::vector<float> t(rows * width);
  for (float& v : t) v = u(rng);
  return t;
}

std::vector<Dag> action_dags(Backend b) {
  std::vector<Dag> dags = small_dags(b);
  dags.push_back(build_dag(random_dag_spec(300, 7, 200), b));
  dags.push_back(make_hypergrid({3, 7}, b));
  return dags;
}

// Width: every action id and the exit column fit, plus one column nobody reads.
std::size_t width_of(const DagArrays& h) {
  int32_t top = h.exit_action;
  for (int32_t a : h.child_action) top = std::max(top, a);
  return std::size_t(top) + 3;
}

TEST(ActionTable, GatherReadsEachEdgesActionColumnAndTheExitColumn) {
  for (Backend b : test_backends()) {
    unsigned seed = 1;
    for (const Dag& dag : action_dags(b)) {
      const DagArrays h = dag.to_host();
      const std::size_t w = width_of(h), exit_col = w - 2, n = h.log_reward.size();
      const std::vector<float> t = random_table(n, w, ++seed);
      std::vector<float> e(h.child_index.size(), NAN), x(n, NAN);
      EXPECT_EQ(gather_action_table(dag, t.data(), w, exit_col, e.data(), x.data()), -1);
      for (std::size_t s = 0; s < n; ++s) {
        ASSERT_EQ(x[s], t[s * w + exit_col]) << "state " << s;
        for (int64_t k = h.child_offsets[s]; k < h.child_offsets[s + 1]; ++k)
          ASSERT_EQ(e[k], t[s * w + h.child_action[k]]) << "edge " << k;
      }
    }
  }
}

TEST(ActionTable, GatherNamesTheFirstNanOrInfItReadsAndIgnoresUnreadColumns) {
  const Dag dag = build_dag(random_dag_spec(300, 7, 200), Backend::Cpu);
  const DagArrays h = dag.to_host();
  const std::size_t w = width_of(h), n = h.log_reward.size();
  std::vector<float> e(h.child_index.size()), x(n);
  std::vector<float> t = random_table(n, w, 3);
  t[5 * w + (w - 1)] = NAN;  // the spare column: never read
  EXPECT_EQ(gather_action_table(dag, t.data(), w, w - 2, e.data(), x.data()), -1);
  const int64_t s = 40, k = h.child_offsets[s];
  ASSERT_LT(k, h.child_offsets[s + 1]);
  t[s * w + h.child_action[k]] = INFINITY;
  t[200 * w + (w - 2)] = NAN;  // a later state's exit
  EXPECT_EQ(gather_action_table(dag, t.data(), w, w - 2, e.data(), x.data()),
            int64_t(s * w + h.child_action[k]));
  t[s * w + h.child_action[k]] = -INFINITY;  // -inf is a valid log-probability
  EXPECT_EQ(gather_action_table(dag, t.data(), w, w - 2, e.data(), x.data()), int64_t(200 * w + w - 2));
}

TEST(ActionTable, RefusesATableTooNarrowForTheActionsOrTheExit) {
  const Dag dag = make_hypergrid({3, 4}, Backend::Cpu);  // actions 0..2, exit 3
  std::vector<float> t(std::size_t(dag.num_states()) * 4), e(dag.num_edges()), x(dag.num_states());
  expect_input_error([&] { gather_action_table(dag, t.data(), 2, 1, e.data(), x.data()); },
                     "the DAG has action id 2 but the table is 2 wide");
  expect_input_error([&] { gather_action_table(dag, t.data(), 4, 4, e.data(), x.data()); },
                     "exit_column = 4 is not below the table's width 4");
  expect_input_error([&] { ActionTableMarginalSolver(dag, 2, 1); },
                     "the DAG has action id 2 but the table is 2 wide");
  expect_input_error([&] { ActionTableMarginalSolver(dag, 4, 7); },
                     "exit_column = 7 is not below the table's width 4");
}

// The in-place read gives the gathered tables' marginals bit for bit (same sweep, same terms),
// and each of two tables run in turn its own (a new pointer re-records a CUDA graph).
TEST(ActionTable, MarginalsReadInPlaceEqualMarginalsOfTheGatheredTables) {
  for (Backend b : test_backends()) {
    unsigned seed = 50;
    for (const Dag& dag : action_dags(b)) {
      const DagArrays h = dag.to_host();
      const std::size_t w = width_of(h), exit_col = w - 2, n = h.log_reward.size();
      ActionTableMarginalSolver solver(dag, w, exit_col);
      for (int round = 0; round < 2; ++round) {
        std::vector<float> t = random_table(n, w, ++seed);
        for (std::size_t s = 0; s < n; ++s)  // the exit masked where the state does not terminate
          if (!(h.log_reward[s] > -INFINITY)) t[s * w + exit_col] = -INFINITY;
        std::vector<float> e(h.child_index.size()), x(n);
        gather_action_table(dag, t.data(), w, exit_col, e.data(), x.data());
        const ForwardPolicy pf{Array<float>::from_host(b, e), Array<float>::from_host(b, x)};
        const Marginals want = compute_marginals(dag, pf);
        const Array<float> table = Array<float>::from_host(b, t);
        solver.run(table.data());
        const auto got_v = solver.result().log_visit.to_host(), want_v = want.log_visit.to_host();
        const auto got_t = solver.result().log_terminal.to_host();
        const auto want_t = want.log_terminal.to_host();
        ASSERT_EQ(0, std::memcmp(got_v.data(), want_v.data(), n * sizeof(float)));
        ASSERT_EQ(0, std::memcmp(got_t.data(), want_t.data(), n * sizeof(float)));
        EXPECT_EQ(solver.exit_log_prob().to_host(), x);
        // And against enumeration of every trajectory (the small DAGs).
        if (n > 12) continue;
        const BruteForce bf(dag);
        const auto brute = bf.terminal(e, x);
        for (std::size_t s = 0; s < n; ++s)
          EXPECT_NEAR(std::exp(double(got_t[s])), brute[s], 2e-6 * std::max(1.0, brute[s]));
      }
    }
  }
}

// The CUDA twin (index kernel, exit column, the sweep through the index; a captured graph re-made
// for a new table) against the CPU's, within float rounding of the sweeps' different orders.
TEST(ActionTable, CudaSolverIsEquivalentToCpu) {
  REQUIRE_CUDA_DEVICE();
  const Dag cpu = build_dag(random_dag_spec(300, 7, 200), Backend::Cpu);
  const Dag gpu = build_dag(random_dag_spec(300, 7, 200), Backend::Cuda);
  const DagArrays h = cpu.to_host();
  const std::size_t w = width_of(h), n = h.log_reward.size();
  ActionTableMarginalSolver on_cpu(cpu, w, w - 2), on_gpu(gpu, w, w - 2);
  for (unsigned seed : {1u, 2u}) {
    const std::vector<float> t = random_table(n, w, seed);
    const Array<float> dt = Array<float>::from_host(Backend::Cuda, t);
    on_cpu.run(t.data());
    on_gpu.run(dt.data());
    const auto a = on_cpu.result().log_terminal.to_host(), b = on_gpu.result().log_terminal.to_host();
    for (std::size_t s = 0; s < n; ++s) EXPECT_NEAR(a[s], b[s], 1e-5f * std::max(1.0f, std::abs(a[s])));
  }
}

}  // namespace
}  // namespace gfnrl::test
