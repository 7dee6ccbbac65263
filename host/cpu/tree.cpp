// CPU tree unrolling: per level, a serial prefix sum of the degrees, then every tree state of the
// level filled in parallel by the shared tree_fill_state.
#include <string>
#include <vector>

#include "ops/builder_ops.hpp"
#include "gfnrl/error.hpp"

namespace gfnrl::detail::cpu {

std::vector<int32_t> build_tree(TreeLevel t, int32_t num_states) {
  std::vector<int32_t> levels{0, 1}, first;
  t.begin = 0;
  t.end = 1;
  while (t.begin < t.end) {
    const int32_t m = t.end - t.begin;
    first.resize(m);
    int64_t created = 0;
    for (int32_t i = 0; i < m; ++i) {
      first[i] = static_cast<int32_t>(created);
      created += tree_degree(t.base, t.label[t.begin + i]);
    }
    if (t.end + created > num_states)
      throw std::logic_error("tree unrolling: more states than the path count " +
                             std::to_string(num_states));
    t.first_child = first.data();
#pragma omp parallel for schedule(static) if (m > 4096) num_threads(::gfnrl::cpu_threads())
    for (int32_t i = 0; i < m; ++i) tree_fill_state(i, t);
    t.begin = t.end;
    t.end += static_cast<int32_t>(created);
    levels.push_back(t.end);
  }
  levels.pop_back();  // the last pass created nothing
  t.child_offsets[num_states] = num_states - 1;
  t.parent_offsets[num_states] = num_states - 1;
  return levels;
}

}  // namespace gfnrl::detail::cpu
