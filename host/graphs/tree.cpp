// The autoregressive (tree) unrolling of a DAG: sized from the exact path counts (one tree state
// per path), checked against the memory budget, then built level by level on the DAG's backend
// by the shared tree_fill_state (detail/tree_math.hpp).
#include <cmath>
#include <string>

#include "ops/builder_ops.hpp"
#include "gfnrl/environments.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/marginals.hpp"
#include "gfnrl/memory_budget.hpp"

namespace gfnrl {

Dag make_tree(const Dag& base, int64_t max_states, Stream stream) {
  const StreamScope scope(stream);
  const Backend b = base.backend();
  const std::vector<double> log_n = log_path_counts(base).to_host();
  double total = 0;
  for (double l : log_n) total += std::exp(l);
  const double limit = static_cast<double>(std::min<int64_t>(max_states, (int64_t(1) << 31) - 2));
  if (!(total <= limit))
    throw InputError("the tree version of this DAG has " + std::to_string(total) +
                     " states (one per path from the source), more than the limit " +
                     std::to_string(static_cast<int64_t>(limit)) + ": use a smaller environment");
  const auto n = static_cast<int32_t>(std::llround(total));
  // Per tree state: the DAG's per-state and per-edge arrays (a tree has n - 1 edges), plus the
  // generator's two scan buffers.
  require_bytes(b, static_cast<std::size_t>(n) * (64 + 44 + 8) + (std::size_t(1) << 20),
                "tree version (" + std::to_string(n) + " states)");
  Array<int64_t> labels(b, n);
  const int64_t source = 0;  // the tree's source stands for the DAG's source
  detail::copy_bytes(labels.data(), b, &source, Backend::Cpu, sizeof source);
  Array<int32_t> child_offsets(b, n + 1), child_index(b, n - 1), child_action(b, n - 1);
  Array<int32_t> parent_offsets(b, n + 1), parent_index(b, n - 1), parent_edge(b, n - 1);
  Array<float> log_reward(b, n);
  detail::TreeLevel t;
  t.base = base.view();
  t.label = labels.data();
  t.child_offsets = child_offsets.data();
  t.child_index = child_index.data();
  t.child_action = child_action.data();
  t.parent_offsets = parent_offsets.data();
  t.parent_index = parent_index.data();
  t.parent_edge = parent_edge.data();
  t.log_reward = log_reward.data();
  std::vector<int32_t> levels = GFNRL_BACKEND_CALL(b, build_tree, t, n);
  return Dag::from_parts(b, std::move(levels), std::move(child_offsets), std::move(child_index),
                         std::move(child_action), std::move(parent_offsets),
                         std::move(parent_index), std::move(parent_edge), std::move(log_reward),
                         std::move(labels), base.exit_action());
}

}  // namespace gfnrl
