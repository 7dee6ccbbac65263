// Internal: compare_to_target for a policy that may have diverged (the Trainer's evaluations).
#pragma once
#include <optional>

#include "gfnrl/metrics.hpp"
#include "gfnrl/detail/state_math.hpp"

namespace gfnrl::detail {

/// compare_to_target with the target's log normaliser known, or nullopt when the mass of P_T is
/// not finite: a policy that never terminates, or one whose tables hold a NaN or an infinity
/// (a run that diverged). compare_to_target throws InputError for that case instead.
std::optional<Metrics> metrics_if_finite(const Dag& dag, const Marginals& m,
                                         const Array<float>* log_target, double target_log_z,
                                         Stream stream = {});

/// The Metrics of a reduction's sums (metric_sums), with the target's log normaliser and the
/// log of P_T's mass: what every evaluation reports.
Metrics metrics_from_sums(const MetricSums& s, double target_log_z, double log_mass);

}  // namespace gfnrl::detail
