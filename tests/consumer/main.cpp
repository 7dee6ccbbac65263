// Links gfnrl::gfnrl from an install tree and checks V(s0) = log Z on a small hypergrid.
#include <cmath>
#include <cstdio>
#include <gfnrl/gfnrl.hpp>

int main() {
  using namespace gfnrl;
  const Dag dag = make_hypergrid({2, 8}, Backend::Cpu);
  const BackwardPolicy pb = uniform_backward_policy(dag);
  SoftValueSolver solver(dag, &pb);
  solver.run();
  const double err = std::abs(solver.log_z() - log_partition(dag));
  std::printf("consumer: V(s0) - log Z = %.3g\n", err);
  return err < 1e-5 ? 0 : 1;
}
