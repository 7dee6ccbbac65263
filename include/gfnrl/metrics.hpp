/// @file metrics.hpp
/// Exact distances between a policy's terminating distribution and a target, accumulated in double.
#pragma once
#include "gfnrl/array.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/marginals.hpp"
#include "gfnrl/soft_values.hpp"

namespace gfnrl {

struct Metrics {
  double log_z = 0;            ///< log of the target's normaliser (log Z = log sum R for R)
  double tv = 0;               ///< 1/2 sum |P_T - p|
  double kl_target_model = 0;  ///< KL(p || P_T)
  double kl_model_target = 0;  ///< KL(P_T || p)
  double jsd = 0;              ///< Jensen-Shannon divergence (nats)
  double model_mass = 0;       ///< sum P_T (1 for a normalised policy)
  double expected_length = 0;  ///< expected number of actions per trajectory, exit included
};

/// The KL-regularised target of a base policy mu: log w(x) = log R(x) + log mu^T(x) per state
/// (-inf off the support), for compare_to_target; `log_z` receives log sum_x w(x) (in double).
/// InputError when mu reaches no terminating state.
Array<float> base_policy_target(const Dag& dag, const ForwardPolicy& mu, double* log_z = nullptr);

/// log Z = log sum_x R(x), in double.
double log_partition(const Dag& dag, Stream stream = {});

/// Compares P_T with the target p(x) = w(x) / sum w, where log w = `log_target_weight` (one entry
/// per state, -inf off the support) or, when it is null, the DAG's log-rewards. The distances use
/// P_T normalised by its mass (reported as model_mass, 1 up to rounding for a normalised policy).
Metrics compare_to_target(const Dag& dag, const Marginals& marginals,
                          const Array<float>* log_target_weight = nullptr, Stream stream = {});

}  // namespace gfnrl
