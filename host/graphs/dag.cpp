// Dag: construction from trusted arrays, views, copies between backends.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "gfnrl/dag.hpp"
#include "gfnrl/error.hpp"

namespace gfnrl {

namespace {
// Maximum out-/in-degree per level, from host offsets.
// (A state's degree is below 2^31: its children are distinct states.)
std::vector<int32_t> level_max_degree(const std::vector<int32_t>& levels,
                                      const std::vector<int64_t>& offsets) {
  std::vector<int32_t> m(levels.size() - 1, 0);
  for (std::size_t l = 0; l + 1 < levels.size(); ++l)
    for (int32_t s = levels[l]; s < levels[l + 1]; ++s)
      m[l] = std::max(m[l], static_cast<int32_t>(offsets[s + 1] - offsets[s]));
  return m;
}

// The CSC edge ids as a Dag stores them: int32 when every id fits.
void upload_parent_edges(Backend b, const std::vector<int64_t>& ids, DagBuffers& d) {
  if (!wide_edge_ids(static_cast<int64_t>(ids.size())))
    d.parent_edge = Array<int32_t>::from_host(b, std::vector<int32_t>(ids.begin(), ids.end()));
  else
    d.parent_edge_wide = Array<int64_t>::from_host(b, ids);
}
}  // namespace

bool wide_edge_ids(int64_t num_edges) {
  if (num_edges > kMaxIndex) return true;
  const char* force = std::getenv("GFNRL_WIDE_EDGE_IDS");
  if (!force) return false;
  const std::string v = force;
  if (v != "0" && v != "1")
    throw InputError("GFNRL_WIDE_EDGE_IDS = '" + v.substr(0, 40) +
                     "' is out of range: give 0 or 1 (1: int64 CSC edge ids whatever the size)");
  return v == "1";
}

DagBuffers DagBuffers::allocate(Backend b, int64_t n, int64_t e) {
  DagBuffers d;
  d.child_offsets = Array<int64_t>(b, static_cast<std::size_t>(n) + 1);
  d.parent_offsets = Array<int64_t>(b, static_cast<std::size_t>(n) + 1);
  d.label = Array<int64_t>(b, static_cast<std::size_t>(n));
  d.allocate_edges(b, n, e);
  return d;
}

void DagBuffers::allocate_edges(Backend b, int64_t n, int64_t e) {
  const auto E = static_cast<std::size_t>(e);
  child_index = Array<int32_t>(b, E);
  child_action = Array<int32_t>(b, E);
  parent_index = Array<int32_t>(b, E);
  if (!wide_edge_ids(e))
    parent_edge = Array<int32_t>(b, E);
  else
    parent_edge_wide = Array<int64_t>(b, E);
  log_reward = Array<float>(b, static_cast<std::size_t>(n));
}

Dag Dag::from_arrays(const DagArrays& a, Backend b) {
  DagBuffers d;
  d.child_offsets = Array<int64_t>::from_host(b, a.child_offsets);
  d.child_index = Array<int32_t>::from_host(b, a.child_index);
  d.child_action = Array<int32_t>::from_host(b, a.child_action);
  d.parent_offsets = Array<int64_t>::from_host(b, a.parent_offsets);
  d.parent_index = Array<int32_t>::from_host(b, a.parent_index);
  upload_parent_edges(b, a.parent_edge, d);
  d.log_reward = Array<float>::from_host(b, a.log_reward);
  d.label = Array<int64_t>::from_host(b, a.label);
  Dag dag = from_parts(b, a.level_offsets, level_max_degree(a.level_offsets, a.child_offsets),
                       level_max_degree(a.level_offsets, a.parent_offsets), std::move(d),
                       a.exit_action);
  if (!a.intermediate_log_reward.empty()) dag.set_intermediate_log_reward(a.intermediate_log_reward);
  return dag;
}

void Dag::set_intermediate_log_reward(const std::vector<float>& v) {
  if (v.size() != static_cast<std::size_t>(num_states_))
    throw InputError("intermediate log-rewards: " + std::to_string(v.size()) +
                     " values for a DAG of " + std::to_string(num_states_) + " states");
  for (std::size_t s = 0; s < v.size(); ++s)
    if (!(std::isfinite(v[s]) || v[s] == -INFINITY))
      throw InputError("intermediate log-reward of state " + std::to_string(s) + " is " +
                       std::to_string(v[s]) + ": give a finite value, or -inf for none");
  intermediate_ = Array<float>::from_host(backend_, v);
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
  d.num_edges_ = static_cast<int64_t>(arrays.child_index.size());
  d.exit_action_ = exit_action;
  d.level_offsets_ = std::move(level_offsets);
  d.level_max_out_ = std::move(level_max_out);
  d.level_max_in_ = std::move(level_max_in);
  d.a_ = std::move(arrays);
  return d;
}

DagWriteView DagBuffers::write_view() {
  return {child_offsets.data(),
          child_index.data(),
          child_action.data(),
          parent_offsets.data(),
          parent_index.data(),
          {parent_edge.empty() ? nullptr : parent_edge.data(),
           parent_edge_wide.empty() ? nullptr : parent_edge_wide.data()},
          log_reward.data(),
          label.data()};
}

DagView Dag::view() const {
  const DagBuffers& a = a_;
  return {num_states_,
          num_edges_,
          a.child_offsets.data(),
          a.child_index.data(),
          a.child_action.data(),
          a.parent_offsets.data(),
          a.parent_index.data(),
          {a.parent_edge.empty() ? nullptr : a.parent_edge.data(),
           a.parent_edge_wide.empty() ? nullptr : a.parent_edge_wide.data()},
          a.log_reward.data()};
}

Dag Dag::to(Backend b) const {
  DagBuffers d;
  d.child_offsets = a_.child_offsets.to(b);
  d.child_index = a_.child_index.to(b);
  d.child_action = a_.child_action.to(b);
  d.parent_offsets = a_.parent_offsets.to(b);
  d.parent_index = a_.parent_index.to(b);
  d.parent_edge = a_.parent_edge.to(b);
  d.parent_edge_wide = a_.parent_edge_wide.to(b);
  d.log_reward = a_.log_reward.to(b);
  d.label = a_.label.to(b);
  Dag out = from_parts(b, level_offsets_, level_max_out_, level_max_in_, std::move(d), exit_action_);
  out.intermediate_ = intermediate_.to(b);
  return out;
}

DagArrays Dag::to_host() const {
  const DagBuffers& a = a_;
  DagArrays h;
  h.level_offsets = level_offsets_;
  h.child_offsets = a.child_offsets.to_host();
  h.child_index = a.child_index.to_host();
  h.child_action = a.child_action.to_host();
  h.parent_offsets = a.parent_offsets.to_host();
  h.parent_index = a.parent_index.to_host();
  if (a.parent_edge_wide.empty()) {
    const std::vector<int32_t> narrow = a.parent_edge.to_host();
    h.parent_edge.assign(narrow.begin(), narrow.end());
  } else {
    h.parent_edge = a.parent_edge_wide.to_host();
  }
  h.log_reward = a.log_reward.to_host();
  h.label = a.label.to_host();
  h.exit_action = exit_action_;
  h.intermediate_log_reward = intermediate_.to_host();
  return h;
}

}  // namespace gfnrl
