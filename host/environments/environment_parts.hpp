// Internal: what the generated environments share: Philox draws by table (a seed gives the same
// environment on every machine and backend), range checks, and the enumerated generator's
// dispatch with its memory check (host/environments/environments.cpp).
#pragma once
#include <cstdint>
#include <string>

#include "gfnrl/backend.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/detail/enumerated_env.hpp"

namespace gfnrl::detail::env {

/// Uniform double in [0, 1) with 53 random bits: draw `index` of table `table` of a seed.
double env_uniform(uint64_t seed, uint32_t table, uint32_t index);
/// Standard normal by Box-Muller from two draws.
double env_normal(uint64_t seed, uint32_t table, uint32_t index);

/// The draw tables (their numbers fix every environment's random parameters: never renumber).
enum Table : uint32_t { kUnary = 1, kPairwise, kModes, kGraph, kWeight, kSign, kNoise, kLeaf };

/// InputError "ENV NAME = v is out of range [lo, hi]".
void check_int(const char* env, const char* name, int64_t v, int64_t lo, int64_t hi);
/// InputError unless v is finite and >= 0.
void check_nonneg(const char* env, const char* name, double v);

/// Sets `dag`'s intermediate log-rewards (env_intermediate_log_reward) at the states that do not
/// terminate, from each state's code (its label); `host_env` must point at host copies of the
/// environment's tables. Leaves the DAG without them when the environment defines none.
void attach_intermediate_log_rewards(Dag& dag, const EnumeratedEnv& host_env);

/// The DAG of an enumerated environment on backend b, after the memory check (`what` names it).
Dag make_enumerated(const EnumeratedEnv& env, int32_t max_level, int64_t max_states,
                    int64_t max_edges, Backend b, const std::string& what);

}  // namespace gfnrl::detail::env
