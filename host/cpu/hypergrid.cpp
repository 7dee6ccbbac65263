// CPU hypergrid generator: counting sort of base-H codes by level, CSR/CSC offsets by prefix
// sums, then every state's edges filled in parallel by the shared hypergrid_fill_state.
#include <vector>

#include "ops/builder_ops.hpp"

namespace gfnrl::detail::cpu {

void build_hypergrid(const HypergridShape& g, int64_t num_states, HypergridBuffers& out) {
  const int32_t n = static_cast<int32_t>(num_states);
  const int32_t max_level = g.ndim * (g.height - 1);
  // Level of every code, by an odometer over the digits (no divisions).
  std::vector<int32_t> level(n);
  {
    std::vector<int32_t> x(g.ndim, 0);
    int32_t sum = 0;
    for (int32_t code = 0; code < n; ++code) {
      level[code] = sum;
      for (int d = 0; d < g.ndim; ++d) {
        if (++x[d] < g.height) {
          ++sum;
          break;
        }
        sum -= g.height - 1;
        x[d] = 0;
      }
    }
  }
  // Stable counting sort: order = codes sorted by (level, code).
  std::vector<int64_t> start(max_level + 2, 0);
  for (int32_t code = 0; code < n; ++code) ++start[level[code] + 1];
  for (int32_t l = 0; l <= max_level; ++l) start[l + 1] += start[l];
  int64_t* order = out.label.data();
  for (int32_t code = 0; code < n; ++code) order[start[level[code]]++] = code;
  std::vector<int32_t> rank(n);
#pragma omp parallel for schedule(static) num_threads(::gfnrl::cpu_threads())
  for (int32_t i = 0; i < n; ++i) rank[order[i]] = i;
  // Degrees -> offsets.
  int64_t* co = out.child_offsets.data();
  int64_t* po = out.parent_offsets.data();
#pragma omp parallel for schedule(static) num_threads(::gfnrl::cpu_threads())
  for (int32_t i = 0; i < n; ++i) {
    int32_t o, in;
    hypergrid_degrees(order[i], g, &o, &in);
    co[i + 1] = o, po[i + 1] = in;
  }
  co[0] = po[0] = 0;
  for (int32_t i = 0; i < n; ++i) {
    co[i + 1] += co[i];
    po[i + 1] += po[i];
  }
  const HypergridFill f{g, order, rank.data(), out.write_view()};
#pragma omp parallel for schedule(static) num_threads(::gfnrl::cpu_threads())
  for (int32_t i = 0; i < n; ++i) hypergrid_fill_state(i, f);
}

}  // namespace gfnrl::detail::cpu
