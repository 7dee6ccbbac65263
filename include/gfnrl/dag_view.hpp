/// @file dag_view.hpp
/// Raw pointers into a Dag's arrays (DagView, DagWriteView) and its id limits: what kernels, the
/// CPU backend's per-state functions and the private per-element math read, without the Dag class
/// (gfnrl/dag.hpp holds the layout's description).
#pragma once
#include <cstdint>

#include "gfnrl/detail/hd.hpp"

namespace gfnrl {

/// The most states or action ids a DAG may have (int32 ids), and the most edges whose ids are
/// stored as int32.
constexpr int64_t kMaxIndex = 2147483647;
/// The most edges a DAG may have: edge ids are int64, and 2^40 edges are far beyond any memory.
constexpr int64_t kMaxEdges = int64_t(1) << 40;

/// CSR edge ids stored per CSC position, int32 (`narrow`) when every id fits, int64 (`wide`)
/// otherwise; exactly one of the two is set. Read as an array of int64 ids: the branch is the same
/// for every element (uniform across a warp, predicted on the CPU).
struct EdgeIdsView {
  const int32_t* narrow = nullptr;
  const int64_t* wide = nullptr;
  GFNRL_HD int64_t operator[](int64_t j) const { return narrow ? narrow[j] : wide[j]; }
};
struct EdgeIdsWriter {
  int32_t* narrow = nullptr;
  int64_t* wide = nullptr;
  GFNRL_HD void set(int64_t j, int64_t e) const {
    if (narrow)
      narrow[j] = static_cast<int32_t>(e);
    else
      wide[j] = e;
  }
};

/// Raw pointers into a Dag's arrays, in the Dag's backend memory: what kernels and the CPU
/// backend's per-state functions read.
struct DagView {
  int32_t num_states = 0;
  int64_t num_edges = 0;
  const int64_t* child_offsets = nullptr;
  const int32_t* child_index = nullptr;
  const int32_t* child_action = nullptr;
  const int64_t* parent_offsets = nullptr;
  const int32_t* parent_index = nullptr;
  EdgeIdsView parent_edge;
  const float* log_reward = nullptr;
};

/// Writable pointers into a DagBuffers, for the generators' per-element code.
struct DagWriteView {
  int64_t* child_offsets;
  int32_t* child_index;
  int32_t* child_action;
  int64_t* parent_offsets;
  int32_t* parent_index;
  EdgeIdsWriter parent_edge;
  float* log_reward;
  int64_t* label;
};

}  // namespace gfnrl
