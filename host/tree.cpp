// The autoregressive (tree) unrolling of a DAG: level by level, every tree state at level l
// spawns one tree state per out-edge of the DAG state it stands for. Each tree state has exactly
// one parent, so tree states are numbered level by level and children stay contiguous.
#include <cmath>
#include <string>

#include "gfnrl/environments.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/marginals.hpp"
#include "gfnrl/memory_budget.hpp"

namespace gfnrl {

Dag make_tree(const Dag& base, int64_t max_states, Stream stream) {
  const StreamScope scope(stream);
  // Count first (exactly, in double): sum over DAG states of their path counts.
  const std::vector<double> log_n = log_path_counts(base).to_host();
  double total = 0;
  for (double l : log_n) total += std::exp(l);
  const double limit = static_cast<double>(std::min<int64_t>(max_states, (int64_t(1) << 31) - 2));
  if (!(total <= limit))
    throw InputError("the tree version of this DAG has " + std::to_string(total) +
                     " states (one per path from the source), more than the limit " +
                     std::to_string(static_cast<int64_t>(limit)) + ": use a smaller environment");
  const auto n = static_cast<int64_t>(std::llround(total));
  require_bytes(base.backend(), static_cast<std::size_t>(n) * 108 + (std::size_t(1) << 20),
                "tree version (" + std::to_string(n) + " states)");

  const DagArrays g = base.to_host();
  DagArrays t;
  t.exit_action = g.exit_action;
  t.label.reserve(n);
  t.log_reward.reserve(n);
  t.child_offsets.reserve(n + 1);
  t.label.push_back(0);  // the source stands for DAG state 0
  t.level_offsets = {0, 1};
  t.child_offsets.push_back(0);
  std::vector<int32_t> parent_of{-1};
  while (t.level_offsets.back() > t.level_offsets[t.level_offsets.size() - 2]) {
    const int32_t begin = t.level_offsets[t.level_offsets.size() - 2];
    const int32_t end = t.level_offsets.back();
    for (int32_t s = begin; s < end; ++s) {
      const auto d = static_cast<int32_t>(t.label[s]);
      for (int32_t e = g.child_offsets[d]; e < g.child_offsets[d + 1]; ++e) {
        t.child_index.push_back(static_cast<int32_t>(t.label.size()));
        t.child_action.push_back(g.child_action[e]);
        t.label.push_back(g.child_index[e]);
        parent_of.push_back(s);
      }
      t.child_offsets.push_back(static_cast<int32_t>(t.child_index.size()));
    }
    t.level_offsets.push_back(static_cast<int32_t>(t.label.size()));
  }
  t.level_offsets.pop_back();  // the last level added nothing
  const auto states = static_cast<int32_t>(t.label.size());
  t.log_reward.resize(states);
  t.parent_offsets.assign(states + 1, 0);
  t.parent_index.assign(states > 0 ? states - 1 : 0, 0);
  t.parent_edge.assign(t.parent_index.size(), 0);
  for (int32_t s = 0; s < states; ++s) {
    t.log_reward[s] = g.log_reward[t.label[s]];
    t.parent_offsets[s + 1] = t.parent_offsets[s] + (s > 0 ? 1 : 0);
    if (s > 0) {
      // Tree state s was appended as edge s - 1 (edges and non-source states are created together).
      t.parent_index[s - 1] = parent_of[s];
      t.parent_edge[s - 1] = s - 1;
    }
  }
  return Dag::from_arrays(t, base.backend());
}

}  // namespace gfnrl
