// KL-regularised RL with a base policy mu (seed 004): soft value iteration with any mu table
// samples proportionally to mu^T(x) R(x) (brute force over every trajectory); Relative TB,
// relative DB and Trust-PCL learn that target; policy files round-trip and refuse bad input.
#include <filesystem>
#include <fstream>

#include "test_support.hpp"

namespace gfnrl::test {
namespace {

TEST(KlRegularised, SoftVIWithABasePolicyTableSamplesMuTTimesR) {
  for (Backend b : test_backends())
    for (unsigned seed = 1; seed <= 6; ++seed) {
      const Dag dag = build_dag(random_dag_spec(11, seed), b);
      const ForwardPolicy mu = random_policy(dag, seed + 50);
      SoftValueOptions o;
      o.base_policy = &mu;
      SoftValueSolver solver(dag, nullptr, o);
      solver.run();
      // Brute force: mu^T(x) R(x) summed over every trajectory of mu.
      const BruteForce bf(dag);
      const std::vector<double> mut = bf.terminal(mu.log_prob.to_host(), mu.exit_log_prob.to_host());
      std::vector<double> w(bf.n(), 0.0);
      for (int s = 0; s < bf.n(); ++s)
        if (bf.terminates(s)) w[s] = mut[s] * std::exp(double(bf.a.log_reward[s]));
      const double z = std::accumulate(w.begin(), w.end(), 0.0);
      EXPECT_NEAR(solver.log_z(), std::log(z), 1e-4) << "seed " << seed;
      const std::vector<double> pt = bf.terminal(solver.result().policy.log_prob.to_host(),
                                                 solver.result().policy.exit_log_prob.to_host());
      EXPECT_LT(tv_distance(pt, normalised(w)), 1e-5) << "seed " << seed;
      // The library's own target and metrics agree.
      double log_z = 0;
      const Array<float> target = base_policy_target(dag, mu, &log_z);
      EXPECT_NEAR(log_z, std::log(z), 1e-5);
      EXPECT_LT(compare_to_target(dag, compute_marginals(dag, solver.result().policy), &target).tv,
                1e-5);
    }
}

TEST(KlRegularised, UniformTableEqualsTheUniformBaseOption) {
  const Dag dag = make_hypergrid({2, 7}, Backend::Cpu);
  const ForwardPolicy mu = uniform_forward_policy(dag);
  SoftValueOptions table, flag;
  table.base_policy = &mu;
  flag.uniform_base_policy = true;
  const SoftValues a = solve_soft_values(dag, nullptr, table), b = solve_soft_values(dag, nullptr, flag);
  const std::vector<float> va = a.value.to_host(), vb = b.value.to_host();
  for (std::size_t i = 0; i < va.size(); ++i) EXPECT_NEAR(va[i], vb[i], 1e-5);
}

TEST(KlRegularised, RelativeLearnersReachTheMuTRTarget) {
  // Budget: 3000 steps of 16 trajectories on the 2-D H=8 grid, prior uniform.
  const Dag dag = make_hypergrid({2, 8}, Backend::Cpu);
  struct Case {
    Algo algo;
    float lr;
  };
  for (const Case c : {Case{Algo::TB, 3e-2f}, Case{Algo::DB, 1e-1f}, Case{Algo::SubTB, 3e-2f}}) {
    TrainConfig cfg;
    cfg.algo = c.algo;
    cfg.runs = 2;
    cfg.seed = 11;
    cfg.lr = {c.lr};
    cfg.prior = uniform_forward_policy(dag);
    Trainer t(dag, nullptr, cfg);
    double log_z = 0;
    base_policy_target(dag, *cfg.prior, &log_z);
    EXPECT_NEAR(t.target_log_z(), log_z, 1e-9);
    EXPECT_GT(std::abs(log_z - log_partition(dag)), 0.5) << "the targets must differ";
    for (int i = 0; i < 3000; ++i) t.step();
    for (const RunEvaluation& e : t.evaluate()) {
      EXPECT_LT(e.metrics.tv, 0.05) << algo_name(c.algo);
      if (c.algo != Algo::DB) EXPECT_LT(std::abs(e.log_z_estimate - log_z), 0.1) << algo_name(c.algo);
    }
    // ... and not R/Z.
    EXPECT_GT(t.evaluate(&dag.log_reward())[0].metrics.tv, 0.1) << algo_name(c.algo);
  }
}

TEST(KlRegularised, BadCombinationsAreRejected) {
  const Dag dag = make_hypergrid({2, 5}, Backend::Cpu);
  TrainConfig c;
  c.prior = uniform_forward_policy(dag);
  const BackwardPolicy pb = uniform_backward_policy(dag);
  EXPECT_THROW(Trainer(dag, &pb, c), InputError) << "mu replaces P_B";
  c.backward = BackwardMode::Tlm;
  EXPECT_THROW(Trainer(dag, nullptr, c), InputError);
  c.backward = BackwardMode::Fixed;
  c.algo = Algo::SoftDQN;
  EXPECT_THROW(c.validate(), InputError);
  c.algo = Algo::TB;
  c.prior = uniform_forward_policy(make_hypergrid({2, 6}, Backend::Cpu));
  EXPECT_THROW(Trainer(dag, nullptr, c), InputError) << "a prior of another DAG";
}

std::string temp_file(const std::string& leaf) {
  return (std::filesystem::temp_directory_path() /
          ("gfnrl-policy-" + std::to_string(::getpid()) + "-" + leaf))
      .string();
}

TEST(PolicyFile, RoundTripAndErrors) {
  const Dag dag = build_dag(random_dag_spec(12, 4), Backend::Cpu);
  const ForwardPolicy p = random_policy(dag, 9);
  const std::string path = temp_file("p.txt");
  write_policy_file(path, dag, p);
  const ForwardPolicy q = read_policy_file(path, dag);
  EXPECT_EQ(p.log_prob.to_host(), q.log_prob.to_host());
  EXPECT_EQ(p.exit_log_prob.to_host(), q.exit_log_prob.to_host());
  auto expect_error = [&](const std::string& body, const Dag& d, const std::string& fragment) {
    const std::string bad = temp_file("bad.txt");
    std::ofstream(bad) << body;
    try {
      read_policy_file(bad, d);
      ADD_FAILURE() << "expected an InputError mentioning " << fragment;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  std::ifstream in(path);
  const std::string good((std::istreambuf_iterator<char>(in)), {});
  expect_error(good, make_hypergrid({2, 3}, Backend::Cpu), "the DAG has");  // wrong size
  expect_error("gfnrl-policy 2\n", dag, ":1: expected the header");
  expect_error(good.substr(0, good.size() / 2), dag, "unexpected end of file");
  std::string edited = good;
  edited.replace(edited.find("\nedges ") + 1, 5, "edgez");
  expect_error(edited, dag, "expected 'edges COUNT'");
  // Normalisation: shift one value.
  const std::size_t at = good.find('\n', good.find("\nedges ") + 1) + 1;
  expect_error(good.substr(0, at) + "-0.0001\n" + good.substr(good.find('\n', at) + 1), dag,
               "sum to");
  expect_error(good.substr(0, at) + "0.5\n" + good.substr(good.find('\n', at) + 1), dag,
               "must be in [-inf, 0]");
  // The header and counts exactly: no other version spelled with a 1 in it, nothing after a
  // count, decimal counts only, and nothing after the exits block.
  const std::size_t body = good.find('\n') + 1;
  for (const char* head : {"gfnrl-policy 10\n", "gfnrl-policy 1xyz\n", "gfnrl-policy 1 2\n"})
    expect_error(head + good.substr(body), dag, ":1: expected the header 'gfnrl-policy 1'");
  const std::size_t count_at = good.find("\nedges ") + 1, count_end = good.find('\n', count_at);
  const std::string count = good.substr(count_at + 6, count_end - count_at - 6);
  for (const std::string& line : {"edges " + count + " junk", "edges 0x" + count, "edges +" + count})
    expect_error(good.substr(0, count_at) + line + good.substr(count_end), dag,
                 "expected 'edges COUNT' (COUNT in decimal digits");
  expect_error(good + "-0.5\n", dag, "after the exits block");
  {
    std::ofstream(temp_file("tail.txt")) << good << "\n# a comment\n   \n";  // blank and comments: fine
  }
  EXPECT_EQ(read_policy_file(temp_file("tail.txt"), dag).log_prob.to_host(), p.log_prob.to_host());
  std::remove(temp_file("tail.txt").c_str());
  std::remove(path.c_str());
  std::remove(temp_file("bad.txt").c_str());
}

}  // namespace
}  // namespace gfnrl::test
