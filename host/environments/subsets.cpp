// subsets: sets built one item at a time; energies from Philox (environments.hpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "environments/environment_parts.hpp"
#include "gfnrl/detail/philox.hpp"
#include "gfnrl/environments.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"
#include "gfnrl/names.hpp"
#include "ops/builder_ops.hpp"

namespace gfnrl {

using namespace detail::env;

void validate(const SubsetsConfig& c) {
  check_int("subsets", "items", c.items, 1, detail::kMaxSubsetItems);
  check_nonneg("subsets", "pairwise_scale", c.pairwise_scale);
}

int64_t subsets_num_states(const SubsetsConfig& c) { return int64_t(1) << c.items; }

SubsetsEnergies subsets_energies(const SubsetsConfig& c) {
  validate(c);
  SubsetsEnergies e;
  const int n = c.items;
  e.unary.resize(n);
  e.pairwise.assign(std::size_t(n) * n, 0.0f);
  for (int i = 0; i < n; ++i)
    e.unary[i] = static_cast<float>(2 * env_uniform(c.seed, kUnary, i) - 1);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      e.pairwise[i * n + j] = static_cast<float>(
          c.pairwise_scale * (2 * env_uniform(c.seed, kPairwise, uint32_t(i * n + j)) - 1));
  return e;
}

Dag make_subsets(const SubsetsConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  const SubsetsEnergies e = subsets_energies(c);
  const Array<float> unary = Array<float>::from_host(b, e.unary);
  const Array<float> pairwise = Array<float>::from_host(b, e.pairwise);
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::Subsets;
  env.n = c.items;
  env.num_codes = subsets_num_states(c);
  env.num_actions = c.items;
  env.unary = unary.data();
  env.pairwise = pairwise.data();
  return make_enumerated(env, c.items, env.num_codes, env.num_codes / 2 * c.items, b,
                         "subsets items=" + std::to_string(c.items));
}

}  // namespace gfnrl
