// Forward policy tables: the shape check every consumer runs, and the uniform policy.
#include "gfnrl/forward_policy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ops/reduction_ops.hpp"
#include "ops/sweep_ops.hpp"
#include "gfnrl/backend.hpp"
#include "gfnrl/error.hpp"

namespace gfnrl {

void check_policy_shape(const Dag& dag, const ForwardPolicy& policy, const std::string& what) {
  const Backend b = dag.backend();
  if (policy.log_prob.size() != static_cast<std::size_t>(dag.num_edges()) ||
      policy.exit_log_prob.size() != static_cast<std::size_t>(dag.num_states()) ||
      policy.log_prob.backend() != b || policy.exit_log_prob.backend() != b)
    throw InputError(what + " does not belong to this DAG: it has " +
                     std::to_string(policy.log_prob.size()) + " edge and " +
                     std::to_string(policy.exit_log_prob.size()) + " exit entries, the DAG " +
                     std::to_string(dag.num_edges()) + " edges and " +
                     std::to_string(dag.num_states()) + " states (same backend required)");
}

int32_t first_unnormalised_state(const Dag& dag, const float* edge_log_prob,
                                 const float* exit_log_prob, double tolerance, double* sum) {
  const int32_t n = dag.num_states();
  std::vector<int64_t> copied;
  const int64_t* off = dag.view().child_offsets;
  if (dag.backend() != Backend::Cpu) {
    copied.resize(std::size_t(n) + 1);
    detail::copy_bytes(copied.data(), Backend::Cpu, off, dag.backend(),
                       copied.size() * sizeof(int64_t));
    off = copied.data();
  }
  std::vector<double> sums(n);
  detail::cpu::row_sums(off, n, edge_log_prob, exit_log_prob, sums.data());
  for (int32_t s = 0; s < n; ++s)
    if (!(std::abs(sums[s] - 1.0) <= tolerance)) {
      if (sum) *sum = sums[s];
      return s;
    }
  return n;
}

void check_action_table_width(const Dag& dag, std::size_t width, std::size_t exit_column) {
  if (exit_column >= width)
    throw InputError("action table: exit_column = " + std::to_string(exit_column) +
                     " is not below the table's width " + std::to_string(width));
  const int64_t e = dag.num_edges();
  std::vector<int32_t> copied;  // a CUDA DAG's actions, on the host
  const int32_t* act = dag.view().child_action;
  if (dag.backend() != Backend::Cpu) {
    copied.resize(std::size_t(e));
    detail::copy_bytes(copied.data(), Backend::Cpu, act, dag.backend(), copied.size() * sizeof(int32_t));
    act = copied.data();
  }
  const int32_t top = e ? *std::max_element(act, act + e) : 0;
  if (std::size_t(top) >= width)
    throw InputError("action table: the DAG has action id " + std::to_string(top) +
                     " but the table is " + std::to_string(width) + " wide");
}

int64_t gather_action_table(const Dag& dag, const float* log_probs, std::size_t width,
                            std::size_t exit_column, float* edge_log_prob, float* exit_log_prob) {
  check_action_table_width(dag, width, exit_column);
  const int64_t n = dag.num_states();
  std::vector<int64_t> off_copy;
  std::vector<int32_t> act_copy;
  const int64_t* off = dag.view().child_offsets;
  const int32_t* act = dag.view().child_action;
  if (dag.backend() != Backend::Cpu) {
    const DagArrays h = dag.to_host();
    off_copy = h.child_offsets, act_copy = h.child_action;
    off = off_copy.data(), act = act_copy.data();
  }
  const int64_t e = off[n];
  // One pass by state; the check rides along (NaN and +inf both fail v < inf), so a bad entry
  // costs nothing extra to find: each thread keeps its smallest flat index.
  constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  int64_t first = kNone;
#pragma omp parallel for schedule(static) reduction(min : first) if (e > (1 << 15)) \
    num_threads(::gfnrl::cpu_threads())
  for (int64_t s = 0; s < n; ++s) {
    const float* row = log_probs + std::size_t(s) * width;
    const float x = row[exit_column];
    exit_log_prob[s] = x;
    bool bad = !(x < INFINITY);
    for (int64_t k = off[s]; k < off[s + 1]; ++k) {
      const float v = row[act[k]];
      edge_log_prob[k] = v;
      bad |= !(v < INFINITY);
    }
    if (bad) {  // rare: find the entry (exit first, then the edges, as read)
      int64_t at = s * int64_t(width) + int64_t(exit_column);
      if (x < INFINITY)
        for (int64_t k = off[s]; k < off[s + 1]; ++k)
          if (!(row[act[k]] < INFINITY)) {
            at = s * int64_t(width) + act[k];
            break;
          }
      first = std::min(first, at);
    }
  }
  return first == kNone ? -1 : first;
}

ForwardPolicy uniform_forward_policy(const Dag& dag, Stream stream) {
  const StreamScope scope(stream);
  ForwardPolicy p{Array<float>(dag.backend(), dag.num_edges()),
                  Array<float>(dag.backend(), dag.num_states())};
  GFNRL_BACKEND_CALL(dag.backend(), uniform_forward_policy, dag.view(), p.log_prob.data(),
                     p.exit_log_prob.data());
  return p;
}

}  // namespace gfnrl
