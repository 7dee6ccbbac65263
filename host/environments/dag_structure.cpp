// dag-structure: Bayesian-network structures built edge by edge; the data set from Philox and
// the generator (the scores: structure_scores.cpp).
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

void validate(const DagStructureConfig& c) {
  check_int("dag-structure", "nodes", c.nodes, 2, detail::kMaxStructureNodes);
  check_int("dag-structure", "samples", c.samples, 2, 1 << 24);
}

StructureData dag_structure_data(const DagStructureConfig& c) {
  validate(c);
  const int d = c.nodes;
  StructureData s;
  s.nodes = d;
  s.samples = c.samples;
  s.weight.assign(std::size_t(d) * d, 0.0);
  // Edges i -> j (i < j) with probability 1/2, weights +-U(0.5, 2).
  for (int i = 0; i < d; ++i)
    for (int j = i + 1; j < d; ++j)
      if (env_uniform(c.seed, kGraph, uint32_t(i * d + j)) < 0.5) {
        const double mag = 0.5 + 1.5 * env_uniform(c.seed, kWeight, uint32_t(i * d + j));
        s.weight[i * d + j] = env_uniform(c.seed, kSign, uint32_t(i * d + j)) < 0.5 ? -mag : mag;
      }
  s.x.assign(std::size_t(c.samples) * d, 0.0);
  for (int r = 0; r < c.samples; ++r)
    for (int j = 0; j < d; ++j) {
      double v = env_normal(c.seed, kNoise, uint32_t(r * d + j));
      for (int i = 0; i < j; ++i) v += s.weight[i * d + j] * s.x[std::size_t(r) * d + i];
      s.x[std::size_t(r) * d + j] = v;
    }
  return s;
}


Dag make_dag_structure(const DagStructureConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  const Array<float> local = Array<float>::from_host(b, dag_structure_local_scores(c));
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::DagStructure;
  env.n = c.nodes;
  env.num_codes = int64_t(1) << (c.nodes * (c.nodes - 1));
  env.num_actions = c.nodes * (c.nodes - 1);
  env.local_score = local.data();
  const int64_t states = 29281;  // the most acyclic digraphs (5 nodes)
  return make_enumerated(env, c.nodes * (c.nodes - 1) / 2, states, states * env.num_actions, b,
                         "dag-structure nodes=" + std::to_string(c.nodes));
}

}  // namespace gfnrl
