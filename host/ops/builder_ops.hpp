// Internal: the generators that build DAGs on a backend (host/cpu/ and kernels/ hypergrid,
// enumerated, tree).
#pragma once
#include <cstdint>
#include <vector>

#include "gfnrl/array.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/detail/enumerated_env.hpp"
#include "gfnrl/detail/hypergrid_math.hpp"
#include "gfnrl/detail/tree_math.hpp"
#include "ops/device_runtime.hpp"

namespace gfnrl::detail {

/// A hypergrid being generated: every array pre-sized from the closed forms; label[i] is the
/// base-H code of state i.
using HypergridBuffers = DagBuffers;

/// An enumerated environment, allocated by the generator once the state count is known;
/// label[i] is the code of state i.
struct EnumeratedBuffers {
  std::vector<int32_t> level_offsets;  // host copy
  DagBuffers arrays;
};

#define GFNRL_BUILDER_OPS                                                                       \
  /* Fills a hypergrid's arrays on the backend. */                                              \
  void build_hypergrid(const HypergridShape& g, int64_t num_states, HypergridBuffers& out);    \
  /* Enumerates the valid codes of `e`, sorts them by (level, code), fills every array. */      \
  void build_enumerated(const EnumeratedEnv& e, int32_t max_level, EnumeratedBuffers& out);   \
  /* Unrolls `t.base` level by level into the (pre-sized) tree arrays of `t`, label[0] = 0    */ \
  /* already set; returns the tree's level offsets. */                                          \
  std::vector<int32_t> build_tree(TreeLevel t, int32_t num_states);

namespace cpu {
GFNRL_BUILDER_OPS
}
namespace cuda {
GFNRL_BUILDER_OPS
}
#undef GFNRL_BUILDER_OPS

}  // namespace gfnrl::detail
