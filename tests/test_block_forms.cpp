// The CPU sweeps take a block of states in one of two forms (host/cpu/slot_logsumexp.hpp): per
// edge, or by slot (every state's k-th edge at once). They do the same arithmetic per state in the
// same order, so soft value iteration and the marginals must give the same floats in either form,
// on every kind of DAG and argument: random DAGs of uneven degrees, hypergrids whose levels span
// several blocks, a binary tree; with and without a correction, with a uniform or a table base
// policy; one thread or two. Each form is forced here in turn (Auto mixes them per block).
#include <gtest/gtest.h>

#include <vector>

#include "cpu/slot_logsumexp.hpp"
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

using detail::cpu::block_form;
using detail::cpu::BlockForm;

/// Runs f with the sweeps' blocks forced to `form`, then restores Auto.
template <class F>
auto in_form(BlockForm form, F&& f) {
  struct Restore {
    ~Restore() { block_form() = BlockForm::Auto; }
  } restore;
  block_form() = form;
  return f();
}

std::vector<Dag> dags_of_every_shape() {
  std::vector<Dag> dags;
  for (unsigned seed = 1; seed <= 4; ++seed) {
    dags.push_back(build_dag(random_dag_spec(40, seed), Backend::Cpu));
    dags.push_back(build_dag(random_dag_spec(1500, seed, 4000), Backend::Cpu));
  }
  dags.push_back(make_hypergrid({4, 12, 1e-3, 0.5, 2.0}, Backend::Cpu));  // levels of ~1,000
  dags.push_back(make_hypergrid({2, 9, 1e-2, 0.5, 2.0}, Backend::Cpu));
  dags.push_back(make_binary_tree({9}, Backend::Cpu));
  return dags;
}

/// Counts the elements where a and b differ (== on floats: -inf equals -inf).
int mismatches(const Array<float>& a, const Array<float>& b) {
  const std::vector<float> x = a.to_host(), y = b.to_host();
  EXPECT_EQ(x.size(), y.size());
  int n = 0;
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) n += !(x[i] == y[i]);
  return n;
}

TEST(BlockForms, SoftValuesAreTheSameInBothForms) {
  int checked = 0;
  for (const Dag& dag : dags_of_every_shape()) {
    const BackwardPolicy pb = random_backward_policy(dag, 7);
    const ForwardPolicy mu = random_policy(dag, 11);
    for (int variant = 0; variant < 4; ++variant) {
      SoftValueOptions o;
      o.uniform_base_policy = variant == 2;
      o.base_policy = variant == 3 ? &mu : nullptr;
      const BackwardPolicy* correction = variant == 0 ? nullptr : &pb;
      for (int threads : {1, 2}) {
        const auto solve = [&] {
          return with_threads(threads, [&] { return solve_soft_values(dag, correction, o); });
        };
        const SoftValues edge = in_form(BlockForm::PerEdge, solve);
        const SoftValues slot = in_form(BlockForm::Slots, solve);
        SCOPED_TRACE("states " + std::to_string(dag.num_states()) + " variant " +
                     std::to_string(variant) + " threads " + std::to_string(threads));
        EXPECT_EQ(mismatches(edge.value, slot.value), 0);
        EXPECT_EQ(mismatches(edge.q, slot.q), 0);
        EXPECT_EQ(mismatches(edge.exit_q, slot.exit_q), 0);
        EXPECT_EQ(mismatches(edge.policy.log_prob, slot.policy.log_prob), 0);
        EXPECT_EQ(mismatches(edge.policy.exit_log_prob, slot.policy.exit_log_prob), 0);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 11 * 4 * 2);
}

TEST(BlockForms, MarginalsAreTheSameInBothForms) {
  for (const Dag& dag : dags_of_every_shape()) {
    const ForwardPolicy pf = random_policy(dag, 3);
    for (int threads : {1, 2}) {
      const auto solve = [&] {
        return with_threads(threads, [&] { return compute_marginals(dag, pf); });
      };
      const Marginals edge = in_form(BlockForm::PerEdge, solve);
      const Marginals slot = in_form(BlockForm::Slots, solve);
      SCOPED_TRACE("states " + std::to_string(dag.num_states()) + " threads " +
                   std::to_string(threads));
      EXPECT_EQ(mismatches(edge.log_visit, slot.log_visit), 0);
      EXPECT_EQ(mismatches(edge.log_terminal, slot.log_terminal), 0);
    }
  }
}

/// The marginals of the soft-optimal policy with the path-count correction are R(x)/Z: in the
/// slot form too, against Z summed in double over the hypergrid's rewards.
TEST(BlockForms, SlotFormSolvesTheHypergridExactly) {
  const Dag dag = make_hypergrid({4, 12, 1e-3, 0.5, 2.0}, Backend::Cpu);
  in_form(BlockForm::Slots, [&] {
    const BackwardPolicy pb = uniform_backward_policy(dag);
    const SoftValues sv = solve_soft_values(dag, &pb);
    const Marginals m = compute_marginals(dag, sv.policy);
    const std::vector<float> lr = dag.to_host().log_reward, lt = m.log_terminal.to_host();
    double z = 0;
    for (float r : lr) z += std::exp(double(r));
    double tv = 0;
    for (std::size_t s = 0; s < lr.size(); ++s)
      tv += std::abs(std::exp(double(lt[s])) - std::exp(double(lr[s])) / z);
    EXPECT_LT(0.5 * tv, 1e-6);
    return 0;
  });
}

}  // namespace
}  // namespace gfnrl::test
