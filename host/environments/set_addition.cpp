// set-addition: torchgfn's SetAddition (append-only sets of at most max_items items).
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

void validate(const SetAdditionConfig& c) {
  check_int("set-addition", "items", c.items, 1, detail::kMaxSubsetItems);
  check_int("set-addition", "max_items", c.max_items, 1, c.items);
  check_nonneg("set-addition", "pairwise_scale", c.pairwise_scale);
}

int64_t set_addition_num_states(const SetAdditionConfig& c) {
  int64_t n = 0, binom = 1;  // sum over k <= max_items of C(items, k)
  for (int32_t k = 0; k <= c.max_items; ++k) {
    n += binom;
    binom = binom * (c.items - k) / (k + 1);
  }
  return n;
}

Dag make_set_addition(const SetAdditionConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  const SubsetsEnergies e = subsets_energies({c.items, c.pairwise_scale, c.seed});
  const Array<float> unary = Array<float>::from_host(b, e.unary);
  const Array<float> pairwise = Array<float>::from_host(b, e.pairwise);
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::SetAddition;
  env.n = c.items;
  env.max_items = c.max_items;
  env.fixed_length = c.fixed_length;
  env.num_codes = int64_t(1) << c.items;
  env.num_actions = c.items;
  env.unary = unary.data();
  env.pairwise = pairwise.data();
  const int64_t states = set_addition_num_states(c);
  Dag dag = make_enumerated(env, c.max_items, states, states * c.items, b,
                            "set-addition items=" + std::to_string(c.items) + " max_items=" +
                                std::to_string(c.max_items));
  env.unary = e.unary.data();
  env.pairwise = e.pairwise.data();
  attach_intermediate_log_rewards(dag, env);  // fixed_length: -E of the partial sets
  return dag;
}

}  // namespace gfnrl
