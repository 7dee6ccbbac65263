// The generated environments' names and what they share (environment_parts.hpp): Philox draws,
// range checks, the enumerated generator's dispatch. Each environment has its own file here.
#include <cmath>
#include <string>
#include <vector>

#include "environments/environment_parts.hpp"
#include "gfnrl/detail/philox.hpp"
#include "gfnrl/environments.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"
#include "ops/builder_ops.hpp"

namespace gfnrl {

const std::vector<std::string>& environment_names() {
  static const std::vector<std::string> names{"hypergrid", "subsets", "bitseq", "dag-structure",
                                              "ising",     "set-addition", "binary-tree"};
  return names;
}

namespace detail::env {

// Uniform double in [0, 1) with 53 random bits: draw `index` of table `table` of a seed.
double env_uniform(uint64_t seed, uint32_t table, uint32_t index) {
  const Philox4 r = draw(seed, 0, index, table, kStreamEnvironment);
  return static_cast<double>((uint64_t(r.v[0]) << 21) ^ (r.v[1] >> 11)) * 0x1.0p-53;
}

// Standard normal by Box-Muller from two draws.
double env_normal(uint64_t seed, uint32_t table, uint32_t index) {
  const double u1 = 1.0 - env_uniform(seed, table, 2 * index);  // (0, 1]
  const double u2 = env_uniform(seed, table, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

void check_int(const char* env, const char* name, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    throw InputError(std::string(env) + " " + name + " = " + std::to_string(v) +
                     " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}
void check_nonneg(const char* env, const char* name, double v) {
  if (!std::isfinite(v) || v < 0)
    throw InputError(std::string(env) + " " + name + " = " + std::to_string(v) +
                     " is out of range: must be finite and >= 0");
}

Dag make_enumerated(const EnumeratedEnv& env, int32_t max_level, int64_t max_states,
                    int64_t max_edges, Backend b, const std::string& what) {
  if (max_states > kMaxIndex || max_edges > kMaxEdges)
    throw InputError(what + " has more than 2^31-1 states or 2^40 edges (int32 state ids)");
  // DAG + one solve + marginals (as for the hypergrid), plus the code-space temporaries: sort
  // keys and codes twice, and the dense rank table.
  const std::size_t bytes =
      estimate_dag_bytes(max_states, max_edges) + static_cast<std::size_t>(env.num_codes) * 28;
  require_bytes(b, bytes, what);
  EnumeratedBuffers buf;
  GFNRL_BACKEND_CALL(b, build_enumerated, env, max_level, buf);
  return Dag::from_parts(b, std::move(buf.level_offsets), std::move(buf.arrays), env.num_actions);
}

void attach_intermediate_log_rewards(Dag& dag, const EnumeratedEnv& host_env) {
  const std::vector<int64_t> code = dag.label().to_host();
  std::vector<float> mid = dag.log_reward().to_host();
  const int64_t n = static_cast<int64_t>(mid.size());
  int64_t defined = 0;
#pragma omp parallel for schedule(static) reduction(+ : defined)
  for (int64_t s = 0; s < n; ++s) {
    if (mid[s] > -INFINITY) {
      mid[s] = -INFINITY;  // log R is read there
      continue;
    }
    mid[s] = env_intermediate_log_reward(host_env, code[s]);
    defined += mid[s] > -INFINITY;
  }
  if (defined > 0) dag.set_intermediate_log_reward(mid);
}

}  // namespace detail::env
}  // namespace gfnrl
