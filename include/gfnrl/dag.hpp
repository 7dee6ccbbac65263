/// @file dag.hpp
/// An explicitly enumerated DAG of states, level-sorted, with children in CSR and parents in CSC.
///
/// Layout (state ids and action ids int32; edge ids and CSR/CSC offsets int64, since a DAG that
/// fits one GPU can have more than 2^31 edges: 6-D H=27 on an H200, 2.24e9):
///  - states are numbered so that each topological level is a contiguous range
///    [level_offsets[l], level_offsets[l+1]); level 0 is the source s0 = state 0 alone; every
///    edge goes from a lower level to a higher one (level = longest path from s0);
///  - children (CSR): the out-edges of s are edge ids child_offsets[s] .. child_offsets[s+1]-1,
///    edge e goes to child_index[e] with action child_action[e]; per-edge tables (Q, forward
///    log-probabilities, backward log-probabilities) are indexed by this edge id;
///  - parents (CSC, the transpose): position j in parent_offsets[c] .. parent_offsets[c+1]-1 names
///    the parent parent_index[j] and the CSR id parent_edge[j] of that edge (stored as int32 when
///    the DAG has at most 2^31-1 edges, which halves the bytes a forward sweep reads for them);
///  - exit edges are implicit: state s terminates iff log_reward[s] is finite (> -inf); the exit
///    action id is exit_action().
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gfnrl/array.hpp"
#include "gfnrl/backend.hpp"
#include "gfnrl/dag_view.hpp"

namespace gfnrl {

/// Whether a DAG of `num_edges` edges stores its CSC edge ids as int64: past kMaxIndex edges, or
/// always when the environment variable GFNRL_WIDE_EDGE_IDS is 1 (for tests of the wide layout
/// on small DAGs, and to measure its cost); any value other than 0 or 1 is an InputError.
bool wide_edge_ids(int64_t num_edges);

/// The host-side description of a Dag, as built by a generator (trusted: not validated). Edge ids
/// are int64 here whatever the DAG's size; a Dag stores them as int32 where they fit.
struct DagArrays {
  std::vector<int32_t> level_offsets;
  std::vector<int64_t> child_offsets;
  std::vector<int32_t> child_index, child_action;
  std::vector<int64_t> parent_offsets;
  std::vector<int32_t> parent_index;
  std::vector<int64_t> parent_edge;
  std::vector<float> log_reward;
  std::vector<int64_t> label;  ///< caller's id (or the environment's code) of each state
  int32_t exit_action = 0;
  /// Empty, or [N]: an intermediate log-reward -E(s) per state (-inf where none), the energy
  /// forward-looking flows (Pan et al., ICML 2023) read where log R(s) is -inf.
  std::vector<float> intermediate_log_reward;
};

/// A DAG's per-state and per-edge arrays on one backend: what the generators fill (hypergrid,
/// enumerated environments, trees) and what a Dag owns.
struct DagBuffers {
  Array<int64_t> child_offsets;                ///< CSR children [N+1]
  Array<int32_t> child_index, child_action;    ///< [E], [E]
  Array<int64_t> parent_offsets;               ///< CSC parents [N+1]
  Array<int32_t> parent_index;                 ///< [E]
  Array<int32_t> parent_edge;                  ///< [E] unless wide_edge_ids(E), else empty
  Array<int64_t> parent_edge_wide;             ///< [E] when wide_edge_ids(E), else empty
  Array<float> log_reward;                     ///< [N]
  Array<int64_t> label;  ///< [N]: the caller's id (or the environment's code) of each state
  /// Uninitialised arrays for n states and e edges on b.
  static DagBuffers allocate(Backend b, int64_t n, int64_t e);
  /// The per-edge arrays and log R, for a generator that learns the edge count e from the
  /// offsets it has already filled (n states).
  void allocate_edges(Backend b, int64_t n, int64_t e);
  DagWriteView write_view();
};

class Dag {
 public:
  Dag() = default;
  /// Uploads trusted arrays (already level-sorted and consistent) to backend b.
  static Dag from_arrays(const DagArrays& a, Backend b);
  /// Internal: assembles a Dag from arrays already on backend b (used by device generators).
  static Dag from_parts(Backend b, std::vector<int32_t> level_offsets,
                        std::vector<int32_t> level_max_out, std::vector<int32_t> level_max_in,
                        DagBuffers arrays, int32_t exit_action);
  /// As above, with each level's maximum out- and in-degree computed from the offsets (copied
  /// to the host).
  static Dag from_parts(Backend b, std::vector<int32_t> level_offsets, DagBuffers arrays,
                        int32_t exit_action);

  Backend backend() const { return backend_; }
  int32_t num_states() const { return num_states_; }
  int64_t num_edges() const { return num_edges_; }
  int32_t num_levels() const { return static_cast<int32_t>(level_offsets_.size()) - 1; }
  int32_t exit_action() const { return exit_action_; }
  /// Host copies of the level structure (needed to launch level-synchronous sweeps).
  const std::vector<int32_t>& level_offsets() const { return level_offsets_; }
  const std::vector<int32_t>& level_max_out_degree() const { return level_max_out_; }
  const std::vector<int32_t>& level_max_in_degree() const { return level_max_in_; }

  DagView view() const;
  const Array<float>& log_reward() const { return a_.log_reward; }
  const Array<int64_t>& label() const { return a_.label; }
  /// Empty, or [N]: each state's intermediate log-reward -E(s) (-inf where none is given), on
  /// the Dag's backend. Forward-looking flows read log R(s) where s terminates and this
  /// elsewhere (flow_potential in gfnrl/train.hpp).
  const Array<float>& intermediate_log_reward() const { return intermediate_; }
  /// Sets them ([N], in the Dag's state order; finite or -inf). InputError naming the first
  /// bad value or a wrong size.
  void set_intermediate_log_reward(const std::vector<float>& v);
  /// Deep copy to another backend.
  Dag to(Backend b) const;
  /// Host copy of every array (for tests, I/O and brute-force checks).
  DagArrays to_host() const;

 private:
  Backend backend_ = Backend::Cpu;
  int32_t num_states_ = 0, exit_action_ = 0;
  int64_t num_edges_ = 0;
  std::vector<int32_t> level_offsets_, level_max_out_, level_max_in_;
  DagBuffers a_;
  Array<float> intermediate_;
};

/// A DAG given as an edge list, with the caller's own state ids 0..num_states-1.
struct DagSpec {
  struct Edge {
    int32_t from, to, action;
  };
  int32_t num_states = 0;
  int32_t source = 0;
  std::vector<Edge> edges;
  /// (state, R(x)) for each terminating state; R must be finite and > 0.
  std::vector<std::pair<int32_t, double>> rewards;
  /// (state, log R(x)) for terminating states given by log-reward (finite); a state may appear
  /// in `rewards` or `log_rewards`, not both. Use this form when R underflows a double.
  std::vector<std::pair<int32_t, double>> log_rewards;
  /// (state, -E(s)): optional intermediate log-rewards (finite), for forward-looking flows at
  /// states that do not terminate; at most one per state.
  std::vector<std::pair<int32_t, double>> intermediate_log_rewards;
};

/// Validates a DagSpec and builds the level-sorted Dag on backend b. Throws InputError naming the
/// offending state or value for: out-of-range ids, self-loops and cycles (a state on the cycle),
/// duplicate edges, negative action ids, states unreachable from the source, non-finite or
/// non-positive rewards, no terminating state, and dead ends (no children and no reward).
/// label[s] of the result is the caller's id of state s. When edge_ids is given it receives, for
/// each spec edge i, its CSR edge id in the result (to carry per-edge tables such as P_B across).
Dag build_dag(const DagSpec& spec, Backend b, std::vector<int32_t>* edge_ids = nullptr,
              Stream stream = {});

}  // namespace gfnrl
