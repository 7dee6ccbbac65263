// Dag: construction from trusted arrays, views, copies between backends.
#include <algorithm>

#include "gfnrl/dag.hpp"
#include "gfnrl/error.hpp"

namespace gfnrl {

namespace {
// Maximum out-/in-degree per level, from host offsets.
std::vector<int32_t> level_max_degree(const std::vector<int32_t>& levels,
                                      const std::vector<int32_t>& offsets) {
  std::vector<int32_t> m(levels.size() - 1, 0);
  for (std::size_t l = 0; l + 1 < levels.size(); ++l)
    for (int32_t s = levels[l]; s < levels[l + 1]; ++s)
      m[l] = std::max(m[l], offsets[s + 1] - offsets[s]);
  return m;
}
}  // namespace

Dag Dag::from_arrays(const DagArrays& a, Backend b) {
  return from_parts(b, a.level_offsets, level_max_degree(a.level_offsets, a.child_offsets),
                    level_max_degree(a.level_offsets, a.parent_offsets),
                    Array<int32_t>::from_host(b, a.child_offsets),
                    Array<int32_t>::from_host(b, a.child_index),
                    Array<int32_t>::from_host(b, a.child_action),
                    Array<int32_t>::from_host(b, a.parent_offsets),
                    Array<int32_t>::from_host(b, a.parent_index),
                    Array<int32_t>::from_host(b, a.parent_edge),
                    Array<float>::from_host(b, a.log_reward), Array<int64_t>::from_host(b, a.label),
                    a.exit_action);
}

Dag Dag::from_parts(Backend b, std::vector<int32_t> level_offsets, Array<int32_t> child_offsets,
                    Array<int32_t> child_index, Array<int32_t> child_action,
                    Array<int32_t> parent_offsets, Array<int32_t> parent_index,
                    Array<int32_t> parent_edge, Array<float> log_reward, Array<int64_t> label,
                    int32_t exit_action) {
  std::vector<int32_t> max_out = level_max_degree(level_offsets, child_offsets.to_host());
  std::vector<int32_t> max_in = level_max_degree(level_offsets, parent_offsets.to_host());
  return from_parts(b, std::move(level_offsets), std::move(max_out), std::move(max_in),
                    std::move(child_offsets), std::move(child_index), std::move(child_action),
                    std::move(parent_offsets), std::move(parent_index), std::move(parent_edge),
                    std::move(log_reward), std::move(label), exit_action);
}

Dag Dag::from_parts(Backend b, std::vector<int32_t> level_offsets,
                    std::vector<int32_t> level_max_out, std::vector<int32_t> level_max_in,
                    Array<int32_t> child_offsets, Array<int32_t> child_index,
                    Array<int32_t> child_action, Array<int32_t> parent_offsets,
                    Array<int32_t> parent_index, Array<int32_t> parent_edge,
                    Array<float> log_reward, Array<int64_t> label, int32_t exit_action) {
  Dag d;
  d.backend_ = b;
  d.num_states_ = static_cast<int32_t>(log_reward.size());
  d.num_edges_ = static_cast<int32_t>(child_index.size());
  d.exit_action_ = exit_action;
  d.level_offsets_ = std::move(level_offsets);
  d.level_max_out_ = std::move(level_max_out);
  d.level_max_in_ = std::move(level_max_in);
  d.child_offsets_ = std::move(child_offsets);
  d.child_index_ = std::move(child_index);
  d.child_action_ = std::move(child_action);
  d.parent_offsets_ = std::move(parent_offsets);
  d.parent_index_ = std::move(parent_index);
  d.parent_edge_ = std::move(parent_edge);
  d.log_reward_ = std::move(log_reward);
  d.label_ = std::move(label);
  return d;
}

DagView Dag::view() const {
  DagView v;
  v.num_states = num_states_;
  v.num_edges = num_edges_;
  v.child_offsets = child_offsets_.data();
  v.child_index = child_index_.data();
  v.child_action = child_action_.data();
  v.parent_offsets = parent_offsets_.data();
  v.parent_index = parent_index_.data();
  v.parent_edge = parent_edge_.data();
  v.log_reward = log_reward_.data();
  return v;
}

Dag Dag::to(Backend b) const {
  return from_parts(b, level_offsets_, level_max_out_, level_max_in_, child_offsets_.to(b),
                    child_index_.to(b), child_action_.to(b), parent_offsets_.to(b),
                    parent_index_.to(b), parent_edge_.to(b), log_reward_.to(b), label_.to(b),
                    exit_action_);
}

DagArrays Dag::to_host() const {
  DagArrays a;
  a.level_offsets = level_offsets_;
  a.child_offsets = child_offsets_.to_host();
  a.child_index = child_index_.to_host();
  a.child_action = child_action_.to_host();
  a.parent_offsets = parent_offsets_.to_host();
  a.parent_index = parent_index_.to_host();
  a.parent_edge = parent_edge_.to_host();
  a.log_reward = log_reward_.to_host();
  a.label = label_.to_host();
  a.exit_action = exit_action_;
  return a;
}

}  // namespace gfnrl
