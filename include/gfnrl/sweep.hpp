/// @file sweep.hpp
/// How a level-synchronous sweep is launched on the CUDA backend (ignored on the CPU).
#pragma once
#include <memory>

namespace gfnrl {

enum class LaunchMode {
  Graph,      ///< capture the whole sweep once as a CUDA graph and replay it (default)
  PerLevel,   ///< one kernel launch per level, every time (launch-bound on deep DAGs)
  Persistent  ///< one cooperative launch, a grid-wide barrier between levels (not yet measured
              ///< on a GPU: opt-in until a measured rule chooses it)
};
enum class KernelMode {
  Auto,            ///< warp per state on levels whose maximum degree exceeds 16, else thread
  ThreadPerState,  ///< force one thread per state
  WarpPerState,    ///< force one warp per state
  /// As Auto, but soft values' thread-per-state levels write Q and log pi block-cooperatively
  /// (consecutive threads, consecutive edges: coalesced stores) after each thread has its
  /// state's V (not yet measured on a GPU: opt-in until it is)
  CoalescedWrites
};
struct SweepOptions {
  LaunchMode launch = LaunchMode::Graph;
  KernelMode kernel = KernelMode::Auto;
};

namespace detail {
/// Opaque owner of a captured CUDA graph (defined in kernels/); empty on the CPU backend.
struct SweepGraph;
using SweepGraphPtr = std::shared_ptr<SweepGraph>;
}  // namespace detail

}  // namespace gfnrl
