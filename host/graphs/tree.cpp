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
  const double limit = static_cast<double>(std::min<int64_t>(max_states, kMaxIndex - 1));
  if (!(total <= limit))
    throw InputError("the tree version of this DAG has " + std::to_string(total) +
                     " states (one per path from the source), more than the limit " +
                     std::to_string(static_cast<int64_t>(limit)) + ": use a smaller environment");
  const auto n = static_cast<int32_t>(std::llround(total));
  // Per tree state: the DAG's per-state and per-edge arrays (a tree has n - 1 edges), plus the
  // generator's two scan buffers.
  require_bytes(b, estimate_dag_bytes(n, n) + static_cast<std::size_t>(n) * 8,
                "tree version (" + std::to_string(n) + " states)");
  DagBuffers a = DagBuffers::allocate(b, n, n - 1);  // a tree has n - 1 edges
  const int64_t source = 0;  // the tree's source stands for the DAG's source
  detail::copy_bytes(a.label.data(), b, &source, Backend::Cpu, sizeof source);
  detail::TreeLevel t{};
  static_cast<DagWriteView&>(t) = a.write_view();
  t.base = base.view();
  std::vector<int32_t> levels = GFNRL_BACKEND_CALL(b, build_tree, t, n);
  return Dag::from_parts(b, std::move(levels), std::move(a), base.exit_action());
}

}  // namespace gfnrl
