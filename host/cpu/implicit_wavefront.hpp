// Internal to host/cpu/implicit_grid.cpp: the order and parallel work of the implicit hypergrid
// passes. Reverse code order is topological (every child has a larger code). The grid is cut
// into blocks (along x_1..x_{D-1}, rows along x_0 kept whole from D = 3 on); a block's children
// lie in itself or in blocks one step further along one coordinate, so the blocks of one block
// level (sum of block coordinates) are independent: the threads share a level, with a barrier
// between levels (a blocked wavefront). Inside a block, rows (x_1..x_{D-1} fixed) in topological
// order.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/vector_math.hpp"
#include "gfnrl/backend.hpp"
#include "ops/implicit_grid_ops.hpp"

namespace gfnrl::detail::cpu {

namespace {

struct BlockPlan {
  int32_t side = 1, per_dim = 1;
  bool whole_rows = false;  // x_0 not cut: each block holds whole rows
  std::vector<int64_t> blocks;       // block codes (base per_dim), sorted by block level
  std::vector<int64_t> level_start;  // blocks of level l: [level_start[l], level_start[l+1])
};

// About 32 blocks per thread in all, so that a wavefront's middle levels hold several blocks per
// thread; one block (a serial sweep) for small grids and one thread, where a barrier costs more
// than it shares. Rows along x_0 stay whole from D = 3 on (the row kernels' vectors); a 2-D grid
// has too few rows for that, so x_0 is cut too.
BlockPlan plan_blocks(const ImplicitGrid& g, int threads) {
  BlockPlan p;
  const int32_t d = g.ndim, h = g.height;
  const int32_t cut = d >= 3 ? d - 1 : d;  // dimensions cut into blocks
  if (threads > 1 && g.num_states >= (int64_t{1} << 14) && d > 1) {
    const double want = std::ceil(std::pow(32.0 * threads, 1.0 / cut));
    p.per_dim = static_cast<int32_t>(std::clamp(want, 1.0, double(h)));
  }
  p.side = (h + p.per_dim - 1) / p.per_dim;
  p.per_dim = (h + p.side - 1) / p.side;
  p.whole_rows = cut < d;
  int64_t count = 1;
  for (int32_t k = 0; k < cut; ++k) count *= p.per_dim;
  const int32_t levels = cut * (p.per_dim - 1) + 1;
  std::vector<int32_t> level(count);
  p.level_start.assign(levels + 1, 0);
  for (int64_t b = 0; b < count; ++b) {
    int64_t r = b;
    int32_t l = 0;
    for (int32_t k = 0; k < cut; ++k, r /= p.per_dim) l += static_cast<int32_t>(r % p.per_dim);
    level[b] = l;
    ++p.level_start[l + 1];
  }
  for (int32_t l = 0; l < levels; ++l) p.level_start[l + 1] += p.level_start[l];
  p.blocks.resize(count);
  std::vector<int64_t> next(p.level_start.begin(), p.level_start.end() - 1);
  for (int64_t b = 0; b < count; ++b) p.blocks[next[level[b]]++] = b;
  return p;
}

struct Box {
  int32_t lo[kMaxHypergridDim], hi[kMaxHypergridDim];  // inclusive
};

/// row_fn(base, x) for the rows of `box` (x_1..x_{D-1} fixed, x_0 from box.lo[0] to
/// box.hi[0]; base = the code at x_0 = 0, x[0] unused), in topological order: children first
/// (descending codes) when `reverse`, parents first otherwise.
template <class Fn>
GFNRL_CPU_INLINE void for_each_row_in_box(const ImplicitGrid& g, const Box& box, bool reverse,
                                          Fn&& fn) {
  const int32_t d = g.ndim;
  int32_t x[kMaxHypergridDim] = {};
  for (int32_t k = 1; k < d; ++k) x[k] = reverse ? box.hi[k] : box.lo[k];
  for (;;) {
    int64_t base = 0;
    for (int32_t k = 1; k < d; ++k) base += x[k] * g.stride[k];
    fn(base, x);
    int32_t k = 1;
    for (; k < d; ++k) {
      if (reverse ? x[k] > box.lo[k] : x[k] < box.hi[k]) {
        x[k] += reverse ? -1 : 1;
        break;
      }
      x[k] = reverse ? box.hi[k] : box.lo[k];
    }
    if (k >= d) return;
  }
}

/// block_fn(box) for every block, block levels in topological order, the blocks of one level
/// shared by the threads.
template <class BlockFn>
void wavefront(const ImplicitGrid& g, bool reverse, BlockFn block_fn) {
  const int threads = ::gfnrl::cpu_threads();
  const BlockPlan p = plan_blocks(g, threads);
  const int32_t levels = static_cast<int32_t>(p.level_start.size()) - 1;
#pragma omp parallel num_threads(threads) if (p.blocks.size() > 1)
  for (int32_t i = 0; i < levels; ++i) {
    const int32_t l = reverse ? levels - 1 - i : i;
#pragma omp for schedule(dynamic, 1)
    for (int64_t j = p.level_start[l]; j < p.level_start[l + 1]; ++j) {
      Box box;
      int64_t r = p.blocks[j];
      for (int32_t k = 0; k < g.ndim; ++k) {
        if (k == 0 && p.whole_rows) {
          box.lo[0] = 0, box.hi[0] = g.height - 1;
          continue;
        }
        box.lo[k] = static_cast<int32_t>(r % p.per_dim) * p.side;
        box.hi[k] = std::min(g.height, box.lo[k] + p.side) - 1;
        r /= p.per_dim;
      }
      block_fn(box);
    }
  }
}

}  // namespace

}  // namespace gfnrl::detail::cpu
