/// @file metrics.hpp
/// Exact distances between a policy's terminating distribution and a target, accumulated in double.
#pragma once
#include <limits>
#include <vector>

#include "gfnrl/array.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/hypergrid.hpp"
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
  /// Pearson correlation of the exact log P_T(x) and log p(x) over the target's support, every
  /// state weighted equally; NaN when P_T is 0 somewhere on it, or the target is constant there.
  /// Not gfnx's "corr", which correlates an importance-sampled estimate of log P_T with log R on
  /// sampled states or a test set: the two agree only in the limit of many samples spread
  /// uniformly over the support.
  double corr = 0;
  /// The modes: states whose target weight is within kModeRelativeTolerance of the largest.
  /// Their number, and the normalised mass P_T and the target put on them.
  double num_modes = 0;
  double mode_mass = 0;
  double mode_mass_target = 0;
  /// The variational bounds on log Z with the policy's backward policy (variational_bounds.hpp):
  /// filled by the evaluations that know P_F and P_B (Trainer::evaluate, gfnrl eval, the C
  /// ABI); NaN from compare_to_target alone, and for base-policy (mu^T R) targets.
  double elbo = std::numeric_limits<double>::quiet_NaN();
  double eubo = std::numeric_limits<double>::quiet_NaN();
};

/// A state is a mode when its target weight w(x) >= (1 - kModeRelativeTolerance) max w.
inline constexpr double kModeRelativeTolerance = 1e-6;

/// How far apart two log P_T values may be and still rank as equal, per level of the DAG: the
/// float32 sweeps round each state's log P_T once per level by at most ~4e-7 (the CPU's vexp
/// 2.5e-7 and vlog 1.5e-7 relative, CUDA's expf/logf within 2 ulp), so states of equal reward
/// under the soft-optimal policy differ by up to levels x 4e-7 in log P_T (measured: 1e-6 on
/// 2-D H=8, 3e-6 on 4-D H=8). Rounded up to 5e-7 a level; a learned policy's differences that a
/// rank should see are orders of magnitude larger.
inline constexpr double kRankLogTolerancePerLevel = 5e-7;
/// kRankLogTolerancePerLevel x (the DAG's levels + 1): the tolerance spearman_correlation uses
/// for a DAG's P_T (3.1e-5 on 4-D H=20, 1.3e-4 on 4-D H=64).
double rank_log_tolerance(const Dag& dag);

/// Spearman's rank correlation of log P_T(x) and log p(x) over the target's support (log p
/// finite): Pearson's r of their ranks, each group of equal values sharing its average rank
/// (log P_T = -inf ranks lowest; NaN when either is constant there or P_T holds NaN). Target
/// values tie when exactly equal; log P_T values when within `log_tolerance` of the group's
/// smallest (rank_log_tolerance(dag) for a DAG's P_T: float rounding that splits states of equal
/// reward then no longer splits their ranks, so the soft-optimal policy scores 1 up to rounding
/// where exact ranks gave 0.80 on 2-D H=8). InputError for a negative or non-finite tolerance.
/// On the host (two copies of N floats, two sorts): not one of compare_to_target's
/// per-evaluation sums.
double spearman_correlation(const std::vector<float>& log_p_t, const std::vector<float>& log_target,
                            double log_tolerance = 0.0);
/// The same for marginals on the DAG's backend against its rewards (or a target weight), with
/// rank_log_tolerance(dag).
double spearman_correlation(const Dag& dag, const Marginals& marginals,
                            const Array<float>* log_target_weight = nullptr);

/// The reward's modes (log R(x) >= log max R + log(1 - kModeRelativeTolerance)), ordered for
/// Trainer::reached_groups: on a hypergrid (`grid` given: the DAG make_hypergrid built from it)
/// sorted by mode region, region = sum_d [2 x_d > H - 1] 2^d (the 2^D corners that the GFlowNet
/// papers' "modes found" count), with each state's region; otherwise by state, `region` empty.
struct RewardModes {
  std::vector<int32_t> states, region;
  int64_t num_regions = 0;  ///< distinct regions holding a mode (0 without a grid)
};
RewardModes reward_modes(const Dag& dag, const HypergridConfig* grid = nullptr);

/// The KL-regularised target of a base policy mu: log w(x) = log R(x) + log mu^T(x) per state
/// (-inf off the support), for compare_to_target; `log_z` receives log sum_x w(x) (in double).
/// InputError when mu reaches no terminating state.
Array<float> base_policy_target(const Dag& dag, const ForwardPolicy& mu, double* log_z = nullptr);

/// log Z = log sum_x R(x), in double.
double log_partition(const Dag& dag, Stream stream = {});

/// p[i] = exp(log_p[i]) in double, written to host memory (n = log_p.size() values), for an
/// array on any backend (a device array is read through the host): the probabilities P_T from
/// Marginals::log_terminal, say. Vectorised and threaded on the CPU; within 2e-16 of exp.
void probabilities(const Array<float>& log_p, double* p);
/// The same in a caller's order: p[i] = exp(log_p[order[i]]) for i < n, 0 where order[i] is
/// negative (P_T in another library's state order, say). InputError naming the first order[i]
/// that is not below log_p.size() (p is then partly written).
void probabilities(const Array<float>& log_p, const int64_t* order, std::size_t n, double* p);

/// The index of the first of n host floats that is NaN or +inf, n when none is: the check a table
/// of log-probabilities (finite or -inf) must pass. Vectorised and threaded.
std::size_t first_nan_or_inf(const float* v, std::size_t n);

/// Compares P_T with the target p(x) = w(x) / sum w, where log w = `log_target_weight` (one entry
/// per state, -inf off the support) or, when it is null, the DAG's log-rewards. The distances use
/// P_T normalised by its mass (reported as model_mass, 1 up to rounding for a normalised policy).
Metrics compare_to_target(const Dag& dag, const Marginals& marginals,
                          const Array<float>* log_target_weight = nullptr, Stream stream = {});

/// The same, with the target's log normaliser log sum_x w(x) already known (log_partition(dag)
/// for the DAG's rewards): one reduction fewer when one target is compared with many policies.
Metrics compare_to_target(const Dag& dag, const Marginals& marginals,
                          const Array<float>* log_target_weight, double target_log_z,
                          Stream stream = {});

}  // namespace gfnrl
