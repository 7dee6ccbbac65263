// build_dag: validate an edge list and lay it out level-sorted with CSR children / CSC parents.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "gfnrl/dag.hpp"
#include "gfnrl/error.hpp"

namespace gfnrl {

namespace {

std::string state_name(int32_t s) { return "state " + std::to_string(s); }

std::string out_of_range(const DagSpec& spec) {
  return "out of range [0, " + std::to_string(spec.num_states) + ")";
}

// Endpoints in range, no self-loops, action ids >= 0, no edge twice.
void check_edges(const DagSpec& spec) {
  auto in_range = [&](int32_t s) { return s >= 0 && s < spec.num_states; };
  // edge_ids is int32: an edge list past 2^31-1 edges is beyond what build_dag builds.
  if (spec.edges.size() > static_cast<std::size_t>(kMaxIndex))
    throw InputError("an edge list of " + std::to_string(spec.edges.size()) +
                     " edges is out of range: build_dag takes at most 2^31-1 edges");
  for (std::size_t i = 0; i < spec.edges.size(); ++i) {
    const auto& e = spec.edges[i];
    const std::string where = "edge " + std::to_string(i) + " (" + std::to_string(e.from) +
                              " -> " + std::to_string(e.to) + ")";
    if (!in_range(e.from) || !in_range(e.to))
      throw InputError(where + ": endpoint " + out_of_range(spec));
    if (e.from == e.to) throw InputError(where + ": self-loop, so the graph has a cycle through " +
                                         state_name(e.from));
    if (e.action < 0)
      throw InputError(where + ": action id " + std::to_string(e.action) + " must be >= 0");
  }
  // Duplicates by sorting (key, index) pairs: O(E log E) with flat memory, unlike a node set.
  std::vector<std::pair<int64_t, std::size_t>> keys(spec.edges.size());
  for (std::size_t i = 0; i < keys.size(); ++i)
    keys[i] = {(int64_t(spec.edges[i].from) << 32) | uint32_t(spec.edges[i].to), i};
  std::sort(keys.begin(), keys.end());
  for (std::size_t k = 1; k < keys.size(); ++k)
    if (keys[k].first == keys[k - 1].first) {
      const auto& e = spec.edges[keys[k].second];
      throw InputError("edge " + std::to_string(keys[k].second) + " (" + std::to_string(e.from) +
                       " -> " + std::to_string(e.to) + "): duplicate edge");
    }
}

// Rewards (or log-rewards) in range, finite, each state's given once, at least one; the
// intermediate log-rewards likewise (finite within float32's range).
void check_rewards(const DagSpec& spec) {
  auto in_range = [&](int32_t s) { return s >= 0 && s < spec.num_states; };
  std::vector<char> rewarded(spec.num_states, 0);
  auto check_reward = [&](int32_t s, double v, bool is_log) {
    const char* what = is_log ? "log-reward" : "reward";
    if (!in_range(s))
      throw InputError(std::string(what) + " for " + state_name(s) + ": state " + out_of_range(spec));
    if (!std::isfinite(v) || (!is_log && v <= 0))
      throw InputError(std::string(what) + " of " + state_name(s) + " is " + std::to_string(v) +
                       (is_log ? ": log-rewards must be finite"
                               : ": rewards must be finite and > 0") +
                       " (a state with zero reward simply does not terminate: give it no reward)");
    if (rewarded[s]) throw InputError("reward of " + state_name(s) + " is given twice");
    rewarded[s] = 1;
  };
  for (const auto& [s, r] : spec.rewards) check_reward(s, r, false);
  for (const auto& [s, r] : spec.log_rewards) check_reward(s, r, true);
  if (spec.rewards.empty() && spec.log_rewards.empty())
    throw InputError("the DAG has no terminating state (no rewards given)");
  std::vector<char> intermediate(spec.num_states, 0);
  for (const auto& [s, v] : spec.intermediate_log_rewards) {
    if (!in_range(s))
      throw InputError("intermediate log-reward for " + state_name(s) + ": state " +
                       out_of_range(spec));
    if (!(std::abs(v) <= 3.4028234663852886e38))  // finite in float32, as log R is stored
      throw InputError("intermediate log-reward of " + state_name(s) + " is " +
                       std::to_string(v) + ": give a finite value within float32's range (or "
                       "none)");
    if (intermediate[s])
      throw InputError("intermediate log-reward of " + state_name(s) + " is given twice");
    intermediate[s] = 1;
  }
}

void check_ids(const DagSpec& spec) {
  if (spec.num_states < 1)
    throw InputError("num_states must be >= 1, got " + std::to_string(spec.num_states));
  if (spec.source < 0 || spec.source >= spec.num_states)
    throw InputError("source " + std::to_string(spec.source) + " is " + out_of_range(spec));
  check_edges(spec);
  check_rewards(spec);
}

// States reachable from the source (iterative DFS over the children lists).
std::vector<char> reachable(const DagSpec& spec, const std::vector<std::vector<int32_t>>& out) {
  std::vector<char> reached(spec.num_states, 0);
  std::vector<int32_t> stack{spec.source};
  reached[spec.source] = 1;
  while (!stack.empty()) {
    const int32_t s = stack.back();
    stack.pop_back();
    for (int32_t c : out[s])
      if (!reached[c]) reached[c] = 1, stack.push_back(c);
  }
  return reached;
}

// A state on a cycle, given Kahn's left-over in-degrees: every state left has a pending parent,
// so walking back along pending parents must revisit one.
int32_t state_on_cycle(const DagSpec& spec, const std::vector<int32_t>& pending) {
  std::vector<std::vector<int32_t>> in(spec.num_states);
  for (const auto& e : spec.edges) in[e.to].push_back(e.from);
  int32_t s = 0;
  while (pending[s] == 0) ++s;
  std::vector<char> on_walk(spec.num_states, 0);
  while (!on_walk[s]) {
    on_walk[s] = 1;
    for (int32_t p : in[s])
      if (pending[p] > 0) {
        s = p;
        break;
      }
  }
  return s;
}

// Kahn's algorithm: level(s) = the longest path from a state without parents; InputError naming
// a state on a cycle if there is one.
std::vector<int32_t> longest_path_levels(const DagSpec& spec,
                                         const std::vector<std::vector<int32_t>>& out) {
  const int32_t n = spec.num_states;
  std::vector<int32_t> level(n, 0), pending(n, 0), order;
  for (const auto& e : spec.edges) ++pending[e.to];
  order.reserve(n);
  for (int32_t s = 0; s < n; ++s)
    if (pending[s] == 0) order.push_back(s);
  for (std::size_t i = 0; i < order.size(); ++i)
    for (int32_t c : out[order[i]]) {
      level[c] = std::max(level[c], level[order[i]] + 1);
      if (--pending[c] == 0) order.push_back(c);
    }
  if (static_cast<int32_t>(order.size()) < n)
    throw InputError("the graph has a cycle through " + state_name(state_on_cycle(spec, pending)));
  return level;
}

// log R per caller id (-inf where a state does not terminate); every leaf must terminate.
std::vector<float> leaf_checked_log_rewards(const DagSpec& spec,
                                            const std::vector<std::vector<int32_t>>& out) {
  std::vector<float> log_r(spec.num_states, -INFINITY);
  for (const auto& [s, r] : spec.rewards) log_r[s] = static_cast<float>(std::log(r));
  for (const auto& [s, r] : spec.log_rewards) log_r[s] = static_cast<float>(r);
  for (int32_t s = 0; s < spec.num_states; ++s)
    if (out[s].empty() && !(log_r[s] > -INFINITY))
      throw InputError(state_name(s) + " has no children and no reward: trajectories would end "
                       "there without terminating");
  return log_r;
}

// CSR children of every state in the new numbering, sorted by new child id; edge_ids maps each
// spec edge to its new edge id. Returns the largest action id.
int32_t fill_children(const DagSpec& spec, const std::vector<int32_t>& rank, DagArrays& a,
                      std::vector<int32_t>* edge_ids) {
  struct Kid {
    int32_t child, action, spec_edge;
    bool operator<(const Kid& o) const { return child < o.child; }
  };
  const int32_t n = spec.num_states;
  std::vector<std::vector<Kid>> kids(n);
  int32_t max_action = -1;
  for (std::size_t i = 0; i < spec.edges.size(); ++i) {
    const auto& e = spec.edges[i];
    kids[rank[e.from]].push_back({rank[e.to], e.action, static_cast<int32_t>(i)});
    max_action = std::max(max_action, e.action);
  }
  if (edge_ids) edge_ids->assign(spec.edges.size(), -1);
  a.child_offsets.assign(n + 1, 0);
  for (int32_t i = 0; i < n; ++i) {
    std::sort(kids[i].begin(), kids[i].end());  // no ties: duplicate edges were rejected
    a.child_offsets[i + 1] = a.child_offsets[i] + static_cast<int32_t>(kids[i].size());
    for (const Kid& k : kids[i]) {
      if (edge_ids) (*edge_ids)[k.spec_edge] = static_cast<int32_t>(a.child_index.size());
      a.child_index.push_back(k.child);
      a.child_action.push_back(k.action);
    }
  }
  return max_action;
}

// CSC parents from the CSR children: walking parents in increasing id gives each child's
// parents sorted.
void fill_parents(int32_t n, DagArrays& a) {
  a.parent_offsets.assign(n + 1, 0);
  for (int32_t c : a.child_index) ++a.parent_offsets[c + 1];
  std::partial_sum(a.parent_offsets.begin(), a.parent_offsets.end(), a.parent_offsets.begin());
  a.parent_index.resize(a.child_index.size());
  a.parent_edge.resize(a.child_index.size());
  std::vector<int64_t> fill(a.parent_offsets.begin(), a.parent_offsets.end() - 1);
  for (int32_t p = 0; p < n; ++p)
    for (int64_t e = a.child_offsets[p]; e < a.child_offsets[p + 1]; ++e) {
      const int64_t j = fill[a.child_index[e]]++;
      a.parent_index[j] = p;
      a.parent_edge[j] = e;
    }
}

}  // namespace

// Checks (ids, cycles, reachability, leaves), then renumbers states by (level, caller id) and
// builds the CSR / CSC arrays.
Dag build_dag(const DagSpec& spec, Backend b, std::vector<int32_t>* edge_ids, Stream stream) {
  const StreamScope scope(stream);
  check_ids(spec);
  const int32_t n = spec.num_states;
  std::vector<std::vector<int32_t>> out(n);
  for (const auto& e : spec.edges) out[e.from].push_back(e.to);
  const std::vector<char> reached = reachable(spec, out);
  const std::vector<int32_t> level = longest_path_levels(spec, out);
  for (int32_t s = 0; s < n; ++s)
    if (!reached[s]) throw InputError(state_name(s) + " is unreachable from the source " +
                                      state_name(spec.source));
  const std::vector<float> log_r = leaf_checked_log_rewards(spec, out);

  // New numbering: by (level, caller id). The source is the only state at level 0.
  std::vector<int32_t> by_level(n);
  std::iota(by_level.begin(), by_level.end(), 0);
  std::stable_sort(by_level.begin(), by_level.end(),
                   [&](int32_t a, int32_t c) { return level[a] < level[c]; });
  std::vector<int32_t> rank(n);
  for (int32_t i = 0; i < n; ++i) rank[by_level[i]] = i;

  DagArrays a;
  const int32_t num_levels = level[by_level.back()] + 1;
  a.level_offsets.assign(num_levels + 1, 0);
  for (int32_t s = 0; s < n; ++s) ++a.level_offsets[level[s] + 1];
  std::partial_sum(a.level_offsets.begin(), a.level_offsets.end(), a.level_offsets.begin());
  a.exit_action = fill_children(spec, rank, a, edge_ids) + 1;
  fill_parents(n, a);
  a.log_reward.resize(n);
  a.label.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    a.log_reward[i] = log_r[by_level[i]];
    a.label[i] = by_level[i];
  }
  if (!spec.intermediate_log_rewards.empty()) {
    a.intermediate_log_reward.assign(n, -INFINITY);
    for (const auto& [s, v] : spec.intermediate_log_rewards)
      a.intermediate_log_reward[rank[s]] = static_cast<float>(v);
  }
  return Dag::from_arrays(a, b);
}

}  // namespace gfnrl
