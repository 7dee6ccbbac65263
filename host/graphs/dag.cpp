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

DagBuffers DagBuffers::allocate(Backend b, int64_t n, int64_t e) {
  DagBuffers d;
  d.child_offsets = Array<int32_t>(b, static_cast<std::size_t>(n) + 1);
  d.parent_offsets = Array<int32_t>(b, static_cast<std::size_t>(n) + 1);
  d.label = Array<int64_t>(b, static_cast<std::size_t>(n));
  d.allocate_edges(b, n, e);
  return d;
}

void DagBuffers::allocate_edges(Backend b, int64_t n, int64_t e) {
  const auto E = static_cast<std::size_t>(e);
  child_index = Array<int32_t>(b, E);
  child_action = Array<int32_t>(b, E);
  parent_index = Array<int32_t>(b, E);
  parent_edge = Array<int32_t>(b, E);
  log_reward = Array<float>(b, static_cast<std::size_t>(n));
}

Dag Dag::from_arrays(const DagArrays& a, Backend b) {
  DagBuffers d{Array<int32_t>::from_host(b, a.child_offsets),
               Array<int32_t>::from_host(b, a.child_index),
               Array<int32_t>::from_host(b, a.child_action),
               Array<int32_t>::from_host(b, a.parent_offsets),
               Array<int32_t>::from_host(b, a.parent_index),
               Array<int32_t>::from_host(b, a.parent_edge),
               Array<float>::from_host(b, a.log_reward),
               Array<int64_t>::from_host(b, a.label)};
  return from_parts(b, a.level_offsets, level_max_degree(a.level_offsets, a.child_offsets),
                    level_max_degree(a.level_offsets, a.parent_offsets), std::move(d),
                    a.exit_action);
}

Dag Dag::from_parts(Backend b, std::vector<int32_t> level_offsets, DagBuffers arrays,
                    int32_t exit_action) {
  std::vector<int32_t> max_out = level_max_degree(level_offsets, arrays.child_offsets.to_host());
  std::vector<int32_t> max_in = level_max_degree(level_offsets, arrays.parent_offsets.to_host());
  return from_parts(b, std::move(level_offsets), std::move(max_out), std::move(max_in),
                    std::move(arrays), exit_action);
}

Dag Dag::from_parts(Backend b, std::vector<int32_t> level_offsets,
                    std::vector<int32_t> level_max_out, std::vector<int32_t> level_max_in,
                    DagBuffers arrays, int32_t exit_action) {
  Dag d;
  d.backend_ = b;
  d.num_states_ = static_cast<int32_t>(arrays.log_reward.size());
  d.num_edges_ = static_cast<int32_t>(arrays.child_index.size());
  d.exit_action_ = exit_action;
  d.level_offsets_ = std::move(level_offsets);
  d.level_max_out_ = std::move(level_max_out);
  d.level_max_in_ = std::move(level_max_in);
  d.a_ = std::move(arrays);
  return d;
}

DagWriteView DagBuffers::write_view() {
  return {child_offsets.data(),  child_index.data(),  child_action.data(), parent_offsets.data(),
          parent_index.data(),   parent_edge.data(),  log_reward.data(),   label.data()};
}

DagView Dag::view() const {
  const DagBuffers& a = a_;
  return {num_states_,          num_edges_,          a.child_offsets.data(), a.child_index.data(),
          a.child_action.data(), a.parent_offsets.data(), a.parent_index.data(),
          a.parent_edge.data(),  a.log_reward.data()};
}

Dag Dag::to(Backend b) const {
  DagBuffers d{a_.child_offsets.to(b),  a_.child_index.to(b),  a_.child_action.to(b),
               a_.parent_offsets.to(b), a_.parent_index.to(b), a_.parent_edge.to(b),
               a_.log_reward.to(b),     a_.label.to(b)};
  return from_parts(b, level_offsets_, level_max_out_, level_max_in_, std::move(d), exit_action_);
}

DagArrays Dag::to_host() const {
  const DagBuffers& a = a_;
  return {level_offsets_,           a.child_offsets.to_host(),  a.child_index.to_host(),
          a.child_action.to_host(), a.parent_offsets.to_host(), a.parent_index.to_host(),
          a.parent_edge.to_host(),  a.log_reward.to_host(),     a.label.to_host(),
          exit_action_};
}

}  // namespace gfnrl
