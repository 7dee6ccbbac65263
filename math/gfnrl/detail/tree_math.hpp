/// @file tree_math.hpp
/// The autoregressive (tree) unrolling of a DAG, one level at a time, shared by the CPU loop and
/// the CUDA kernel. Tree states are numbered level by level; the children of tree state s are
/// created together, in the order of the DAG edges of the state it stands for, so they are
/// contiguous. Every non-source tree state c has exactly one parent, reached by tree edge c - 1.
#pragma once
#include <cstdint>

#include "gfnrl/dag_view.hpp"
#include "gfnrl/detail/hd.hpp"

namespace gfnrl::detail {

struct TreeLevel : DagWriteView {  ///< the tree's arrays; label: the DAG state of a tree state
  DagView base;
  int32_t begin = 0, end = 0;          ///< this level's tree states [begin, end)
  const int32_t* first_child = nullptr; ///< exclusive prefix sum of degrees over the level
};

GFNRL_HD inline int32_t tree_degree(const DagView& base, int64_t label) {
  return static_cast<int32_t>(base.child_offsets[label + 1] - base.child_offsets[label]);
}

/// Tree state begin + i: its edges and children (labels, actions, parent entries), its reward,
/// and its offsets (child c is reached by edge c - 1; parent entry c - 1 belongs to state c).
GFNRL_HD inline void tree_fill_state(int32_t i, const TreeLevel& t) {
  const int32_t s = t.begin + i;
  const int64_t d = t.label[s];
  const int32_t first = t.end + t.first_child[i];
  const int64_t e0 = t.base.child_offsets[d];
  const int32_t deg = tree_degree(t.base, d);
  t.child_offsets[s] = first - 1;
  t.parent_offsets[s] = s == 0 ? 0 : s - 1;
  t.log_reward[s] = t.base.log_reward[d];
  for (int32_t k = 0; k < deg; ++k) {
    const int32_t c = first + k;
    t.label[c] = t.base.child_index[e0 + k];
    t.child_index[c - 1] = c;
    t.child_action[c - 1] = t.base.child_action[e0 + k];
    t.parent_index[c - 1] = s;
    t.parent_edge.set(c - 1, c - 1);
  }
}

}  // namespace gfnrl::detail
