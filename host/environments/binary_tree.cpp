// binary-tree: torchgfn's PerfectBinaryTree with Philox leaf rewards.
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

void validate(const BinaryTreeConfig& c) {
  check_int("binary-tree", "depth", c.depth, 1, detail::kMaxTreeDepth);
  check_nonneg("binary-tree", "beta", c.beta);
}

std::vector<float> binary_tree_leaf_log_rewards(const BinaryTreeConfig& c) {
  validate(c);
  std::vector<float> r(std::size_t(1) << c.depth);
  for (std::size_t i = 0; i < r.size(); ++i)
    r[i] = static_cast<float>(c.beta * (2 * env_uniform(c.seed, kLeaf, uint32_t(i)) - 1));
  return r;
}

Dag make_binary_tree(const BinaryTreeConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  const Array<float> leaves = Array<float>::from_host(b, binary_tree_leaf_log_rewards(c));
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::BinaryTree;
  env.n = c.depth;
  env.num_codes = (int64_t(2) << c.depth) - 1;
  env.num_actions = 2;
  env.leaf_log_reward = leaves.data();
  return make_enumerated(env, c.depth, env.num_codes, env.num_codes - 1, b,
                         "binary-tree depth=" + std::to_string(c.depth));
}

}  // namespace gfnrl
