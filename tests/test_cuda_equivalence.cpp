// The CUDA backend is equivalent to the CPU reference backend on the same inputs (random DAGs,
// wide DAGs that take the warp-per-state kernels, hypergrids), for every kernel and launch mode.
// Skips with the reason printed when this machine has no CUDA device.
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

template <class T>
void expect_close(const std::vector<T>& cpu, const std::vector<T>& gpu, const char* what) {
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    if (std::isinf(cpu[i])) {
      EXPECT_EQ(cpu[i], gpu[i]) << what << "[" << i << "]";
    } else {
      EXPECT_NEAR(cpu[i], gpu[i], 2e-5 * (1.0 + std::abs(cpu[i]))) << what << "[" << i << "]";
    }
  }
}

void check_equivalent(const Dag& cpu_dag, const SweepOptions& sweep) {
  const Dag gpu_dag = cpu_dag.to(Backend::Cuda);
  const BackwardPolicy pbs[] = {maxent_backward_policy(cpu_dag), uniform_backward_policy(cpu_dag)};
  expect_close(log_path_counts(cpu_dag).to_host(), log_path_counts(gpu_dag).to_host(), "log n");
  for (const BackwardPolicy& pb_cpu : pbs) {
    const BackwardPolicy pb_gpu = pb_cpu.name == "maxent" ? maxent_backward_policy(gpu_dag)
                                                          : uniform_backward_policy(gpu_dag);
    expect_close(pb_cpu.log_prob.to_host(), pb_gpu.log_prob.to_host(), "P_B");
    for (bool use_pb : {true, false}) {
      SoftValueOptions opt;
      opt.sweep = sweep;
      opt.uniform_base_policy = !use_pb;
      const SoftValues a = solve_soft_values(cpu_dag, use_pb ? &pb_cpu : nullptr, opt);
      SoftValueSolver solver(gpu_dag, use_pb ? &pb_gpu : nullptr, opt);
      solver.run();
      solver.run();  // a replay (graph mode) must give the same tables
      const SoftValues& b = solver.result();
      expect_close(a.value.to_host(), b.value.to_host(), "V");
      expect_close(a.q.to_host(), b.q.to_host(), "Q");
      expect_close(a.policy.log_prob.to_host(), b.policy.log_prob.to_host(), "log pi");
      expect_close(a.policy.exit_log_prob.to_host(), b.policy.exit_log_prob.to_host(), "exit");
      const Marginals ma = compute_marginals(cpu_dag, a.policy, sweep);
      const Marginals mb = compute_marginals(gpu_dag, b.policy, sweep);
      expect_close(ma.log_visit.to_host(), mb.log_visit.to_host(), "log visit");
      expect_close(ma.log_terminal.to_host(), mb.log_terminal.to_host(), "log P_T");
      const Metrics x = compare_to_target(cpu_dag, ma), y = compare_to_target(gpu_dag, mb);
      EXPECT_NEAR(x.tv, y.tv, 1e-6);
      EXPECT_NEAR(x.log_z, y.log_z, 1e-9);
      EXPECT_NEAR(x.kl_target_model, y.kl_target_model, 1e-6);
      EXPECT_NEAR(x.kl_model_target, y.kl_model_target, 1e-6);
      EXPECT_NEAR(x.jsd, y.jsd, 1e-6);
      EXPECT_NEAR(x.expected_length, y.expected_length, 1e-4 * x.expected_length);
    }
  }
}

const SweepOptions kModes[] = {
    {LaunchMode::Graph, KernelMode::Auto},
    {LaunchMode::PerLevel, KernelMode::ThreadPerState},
    {LaunchMode::Graph, KernelMode::WarpPerState},
    // Written without a device (not yet run when added): one cooperative launch for the whole
    // sweep, and soft values' block-cooperative edge writes.
    {LaunchMode::Persistent, KernelMode::Auto},
    {LaunchMode::Persistent, KernelMode::WarpPerState},
    {LaunchMode::Graph, KernelMode::CoalescedWrites},
    {LaunchMode::PerLevel, KernelMode::CoalescedWrites},
};

// Runs everywhere: what the build says of itself agrees with the configuration and the device.
TEST(CudaBuild, CompiledAndAvailableAgreeWithTheConfiguration) {
  EXPECT_EQ(cuda_compiled(), GFNRL_WITH_CUDA != 0);
  if (!cuda_compiled()) {
    EXPECT_FALSE(cuda_available());
    EXPECT_NE(cuda_device_description().find("no CUDA backend"), std::string::npos);
    EXPECT_THROW(parse_backend("cuda"), InputError);
    EXPECT_THROW(CudaStream(), InputError);
  }
  EXPECT_EQ(parse_backend("auto"), cuda_available() ? Backend::Cuda : Backend::Cpu);
}

TEST(CudaEquivalence, RandomDagsIsEquivalentToCpu) {
  REQUIRE_CUDA_DEVICE();
  for (unsigned seed = 1; seed <= 6; ++seed)
    for (const SweepOptions& m : kModes)
      check_equivalent(build_dag(random_dag_spec(40, seed, 60), Backend::Cpu), m);
}

TEST(CudaEquivalence, WideDagIsEquivalentToCpu) {
  REQUIRE_CUDA_DEVICE();
  for (const SweepOptions& m : kModes)
    check_equivalent(build_dag(wide_dag_spec(300), Backend::Cpu), m);
}

TEST(CudaEquivalence, HypergridSolveIsEquivalentToCpu) {
  REQUIRE_CUDA_DEVICE();
  for (const SweepOptions& m : kModes) check_equivalent(make_hypergrid({4, 9}, Backend::Cpu), m);
}

TEST(CudaEquivalence, HypergridBuiltOnDeviceEqualsCpuBuild) {
  REQUIRE_CUDA_DEVICE();
  for (auto [d, h] : {std::pair{1, 7}, {2, 33}, {3, 20}, {4, 11}, {6, 5}}) {
    const HypergridConfig c{d, h};
    expect_identical_dags(make_hypergrid(c, Backend::Cpu).to_host(),
                          make_hypergrid(c, Backend::Cuda).to_host());
  }
}

TEST(CudaEquivalence, UserBackwardTableValidatedOnDevice) {
  REQUIRE_CUDA_DEVICE();
  const Dag dag = make_hypergrid({2, 4}, Backend::Cuda);
  auto t = uniform_backward_policy(dag).log_prob.to_host();
  t[0] = std::log(0.25f);
  EXPECT_THROW(backward_policy_from_table(dag, t), InputError);
}

// Every call on a caller's (non-blocking) stream gives what it gives on the library's stream:
// generation, P_B, soft values, marginals, metrics, and a training step sequence.
TEST(CudaEquivalence, CallsOnAUserStreamMatchTheLibraryStream) {
  REQUIRE_CUDA_DEVICE();
  const CudaStream user;
  const Stream s = user.get();
  const Dag a = make_subsets({10, 0.5, 3}, Backend::Cuda);
  const Dag b = make_subsets({10, 0.5, 3}, Backend::Cuda, s);
  EXPECT_EQ(a.to_host().child_index, b.to_host().child_index);
  EXPECT_EQ(a.to_host().log_reward, b.to_host().log_reward);
  const BackwardPolicy pa = maxent_backward_policy(a), pb = maxent_backward_policy(b, s);
  EXPECT_EQ(pa.log_prob.to_host(), pb.log_prob.to_host());
  SoftValueSolver sa(a, &pa), sb(b, &pb);
  sa.run();
  sb.run(s);
  sb.run(s);  // graph replay on the user stream
  EXPECT_EQ(sa.result().value.to_host(), sb.result().value.to_host());
  const Metrics ma = compare_to_target(a, compute_marginals(a, sa.result().policy));
  const Metrics mb = compare_to_target(b, compute_marginals(b, sb.result().policy, {}, s), nullptr, s);
  EXPECT_EQ(ma.tv, mb.tv);
  EXPECT_EQ(log_partition(a), log_partition(b, s));
  TrainConfig c;
  c.algo = Algo::DB;
  c.runs = 2;
  Trainer ta(a, &pa, c), tb(b, &pb, c, s);
  for (int i = 0; i < 50; ++i) ta.step(), tb.step(s);
  EXPECT_NEAR(ta.evaluate()[0].metrics.tv, tb.evaluate(nullptr, s)[0].metrics.tv, 0.02);
}

TEST(CudaEquivalence, CpuTwinRunsWithoutDevice) {
  // The CPU side of the comparison always runs, so this file is never all skips.
  const Dag dag = make_hypergrid({3, 5}, Backend::Cpu);
  const BackwardPolicy pb = uniform_backward_policy(dag);
  SoftValueSolver s(dag, &pb);
  s.run();
  EXPECT_NEAR(s.log_z(), log_partition(dag), 1e-5);
}

}  // namespace
}  // namespace gfnrl::test
