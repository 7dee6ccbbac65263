// CPU generator of enumerated environments: the level of every code in parallel, a stable
// counting sort of the valid codes by level, a dense rank table, degrees -> offsets, then every
// state filled in parallel by the shared enumerated_fill_state.
#include <vector>

#include "ops/builder_ops.hpp"

namespace gfnrl::detail::cpu {

void build_enumerated(const EnumeratedEnv& e, int32_t max_level, EnumeratedBuffers& out) {
  const int64_t codes = e.num_codes;
  std::vector<int32_t> level(codes);  // -1: not a state
#pragma omp parallel for schedule(dynamic, 4096) num_threads(::gfnrl::cpu_threads())
  for (int64_t c = 0; c < codes; ++c) level[c] = env_valid(e, c) ? env_level(e, c) : -1;
  std::vector<int32_t> offsets(max_level + 2, 0);
  for (int64_t c = 0; c < codes; ++c)
    if (level[c] >= 0) ++offsets[level[c] + 1];
  for (int32_t l = 0; l <= max_level; ++l) offsets[l + 1] += offsets[l];
  const int32_t n = offsets[max_level + 1];
  out.level_offsets = offsets;
  out.arrays.label = Array<int64_t>(Backend::Cpu, n);
  int64_t* order = out.arrays.label.data();
  std::vector<int32_t> rank(codes, -1);
  for (int64_t c = 0; c < codes; ++c)
    if (level[c] >= 0) {
      rank[c] = offsets[level[c]]++;
      order[rank[c]] = c;
    }
  out.arrays.child_offsets = Array<int64_t>(Backend::Cpu, n + 1);
  out.arrays.parent_offsets = Array<int64_t>(Backend::Cpu, n + 1);
  int64_t* co = out.arrays.child_offsets.data();
  int64_t* po = out.arrays.parent_offsets.data();
#pragma omp parallel for schedule(dynamic, 1024) num_threads(::gfnrl::cpu_threads())
  for (int32_t i = 0; i < n; ++i) {
    int32_t o, in;
    enumerated_degrees(e, order[i], &o, &in);
    co[i + 1] = o, po[i + 1] = in;
  }
  co[0] = po[0] = 0;
  for (int32_t i = 0; i < n; ++i) {
    co[i + 1] += co[i];
    po[i + 1] += po[i];
  }
  const int64_t edges = co[n];
  out.arrays.allocate_edges(Backend::Cpu, n, edges);
  const EnumeratedFill f{e, order, rank.data(), out.arrays.write_view()};
#pragma omp parallel for schedule(dynamic, 1024) num_threads(::gfnrl::cpu_threads())
  for (int32_t i = 0; i < n; ++i) enumerated_fill_state(i, f);
}

}  // namespace gfnrl::detail::cpu
