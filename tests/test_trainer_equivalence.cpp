// Whole training steps on both backends (issue 12, part 1): 50 Trainer::step()s of every learner
// and P_B mode on a 2-D H=6 hypergrid, the sampled batches and the tables compared after every
// step and the exact evaluation at the end. The CPU twin (three threads, every op split) must give
// the reference's batches and bits at every step. On CUDA the tables must stay within kStepTol of
// the CPU's while both sample the same batches: float atomics reorder each step's sums
// (kAtomicTol per op) and CUDA's expf is not glibc's, and the differences compound without
// growing past it. Once the tables differ in their last bits, a draw on a CDF boundary may take
// another action (RolloutIsEquivalentToCpu holds the op to that); from then on the runs see
// different batches, so the comparison of that learner stops there, said on stdout. It fails if
// that happens within the first kStrictSteps steps, where the tables are a few ulps apart.
#include "op_equivalence.hpp"

namespace gfnrl::test {
namespace {

/// Per step, relative to 1 + the largest |entry| of the run's row.
constexpr double kStepTol = 1e-4;
constexpr int kSteps = 50;
constexpr int kStrictSteps = 5;

/// Whether two batches hold the same trajectories (positions past a length are not compared).
bool same_batch(const SampledBatch& a, const SampledBatch& b) {
  if (a.lengths != b.lengths) return false;
  for (std::size_t k = 0; k < a.lengths.size(); ++k)
    for (int32_t t = 0; t < a.lengths[k]; ++t) {
      const std::size_t i = k * a.max_len + t;
      if (a.states[i] != b.states[i] || a.actions[i] != b.actions[i]) return false;
    }
  return true;
}

struct Learner {
  std::string name;
  TrainConfig c;
  bool fixed_pb = true;  // the uniform correction (a trained P_B takes none)
};

std::vector<Learner> learners(const Dag& cpu) {
  std::vector<Learner> out;
  auto add = [&](const std::string& name, Algo a, auto&& edit) {
    Learner l{name, recommended_config(a)};
    l.c.runs = 3;
    l.c.batch = 6;
    l.c.seed = 7;
    l.c.replay_capacity = 300;
    l.c.replay_batch = 16;
    l.c.learning_starts = 5;
    l.c.epsilon = {0.0f, 0.1f, 0.3f};
    l.c.epsilon_end = {0.0f, 0.05f, 0.3f};
    l.c.epsilon_decay_steps = 40;
    l.c.temperature = {1.0f, 1.0f, 1.5f};
    l.c.temperature_end = l.c.temperature;
    edit(l);
    out.push_back(std::move(l));
  };
  auto none = [](Learner&) {};
  for (Algo a : {Algo::TB, Algo::DB, Algo::SubTB, Algo::ModifiedDB, Algo::ZVar, Algo::FM,
                 Algo::PolicyGradient, Algo::ActorCritic})
    add(algo_name(a), a, none);
  add("softdqn", Algo::SoftDQN, none);
  add("softdqn energy", Algo::SoftDQN, [](Learner& l) { l.c.energy_reward = true; });
  add("munchausen uniform replay", Algo::Munchausen, [](Learner& l) { l.c.prioritized = false; });
  add("munchausen", Algo::Munchausen, none);
  const ForwardPolicy mu = random_policy(cpu, 70);
  for (Algo a : {Algo::TB, Algo::SubTB})  // rtb, trust-pcl
    add(a == Algo::TB ? "rtb" : "trust-pcl", a, [&](Learner& l) {
      l.c.prior = mu;
      l.fixed_pb = false;
    });
  for (auto [a, m] : {std::pair{Algo::TB, BackwardMode::Learned}, {Algo::TB, BackwardMode::Tlm},
                      {Algo::PolicyGradient, BackwardMode::Learned},
                      {Algo::PolicyGradient, BackwardMode::Coupled},
                      {Algo::ActorCritic, BackwardMode::Guided}})
    add(algo_name(a) + " " + backward_mode_name(m), a, [&, m = m](Learner& l) {
      l.c.backward = m;
      l.fixed_pb = false;
    });
  for (Algo a : {Algo::TB, Algo::PolicyGradient})
    add(algo_name(a) + " exact gradient", a, [](Learner& l) {
      l.c.exact_gradient = true;  // on-policy: no exploration
      l.c.epsilon = l.c.epsilon_end = {0.0f};
      l.c.epsilon_decay_steps = 0;
      l.c.temperature = l.c.temperature_end = {1.0f};
    });
  return out;
}

class TrainerEquivalence : public OpEquivalence {};

TEST_P(TrainerEquivalence, TrainerStepsAreEquivalentToCpu) {
  const Dag cpu = make_hypergrid({2, 6, 1e-3, 0.5, 2.0}, Backend::Cpu);
  const Dag dev_dag = cpu.to(dev());
  const int64_t stride = cpu.num_edges() + 2 * int64_t(cpu.num_states()) + 1;
  for (const Learner& l : learners(cpu)) {
    SCOPED_TRACE(l.name);
    TrainConfig dc = l.c;  // the base policy lives on the trainer's backend
    if (dc.prior) dc.prior = ForwardPolicy{dc.prior->log_prob.to(dev()), dc.prior->exit_log_prob.to(dev())};
    const BackwardPolicy pb_ref = uniform_backward_policy(cpu), pb_dev = uniform_backward_policy(dev_dag);
    Trainer ref(cpu, l.fixed_pb ? &pb_ref : nullptr, l.c);
    Trainer dut(dev_dag, l.fixed_pb ? &pb_dev : nullptr, dc);
    bool same_batches = true;
    for (int step = 1; step <= kSteps; ++step) {
      Twin<float> tables;
      both([&](const Side& s) {
        Trainer& t = s.ref ? ref : dut;
        t.step();
        (s.ref ? tables.ref : tables.dev) = Array<float>::from_host(Backend::Cpu, t.parameters());
      });
      if (!same_batch(ref.last_batch(), dut.last_batch())) {
        same_batches = false;
        EXPECT_FALSE(bitwise() || step <= kStrictSteps)
            << "step " << step << ": the backends sampled different trajectories";
        std::printf("[ trainer ] %s: batches differ from step %d on %s (a draw on a CDF "
                    "boundary); compared until then\n", l.name.c_str(), step, backend_name(dev()));
        break;
      }
      if (!expect_close(tables, "step " + std::to_string(step) + " tables", stride, kStepTol))
        break;  // later steps only repeat the first divergence
    }
    if (!same_batches) continue;  // the runs now train on different data
    const std::vector<RunEvaluation> a = with_threads(1, [&] { return ref.evaluate(); });
    const std::vector<RunEvaluation> b = dut.evaluate();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t r = 0; r < a.size(); ++r) {
      const double tol = bitwise() ? 0.0 : 1e-4;
      EXPECT_NEAR(a[r].metrics.tv, b[r].metrics.tv, tol) << "run " << r;
      EXPECT_NEAR(a[r].log_z_estimate, b[r].log_z_estimate, tol * (1 + std::abs(a[r].log_z_estimate)))
          << "run " << r;
    }
    if (!l.fixed_pb && l.c.backward != BackwardMode::Fixed) {
      Twin<float> pb;
      pb.ref = ref.backward_policy(1).log_prob.to(Backend::Cpu);
      pb.dev = dut.backward_policy(1).log_prob.to(Backend::Cpu);
      expect_close(pb, "trained P_B of run 1", 0, kStepTol);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, TrainerEquivalence, ::testing::ValuesIn(equivalence_backends()),
                         backend_param_name);

}  // namespace
}  // namespace gfnrl::test
