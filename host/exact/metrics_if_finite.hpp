// Internal: compare_to_target for a policy that may have diverged (the Trainer's evaluations).
#pragma once
#include <optional>

#include "gfnrl/metrics.hpp"

namespace gfnrl::detail {

/// compare_to_target with the target's log normaliser known, or nullopt when the mass of P_T is
/// not finite: a policy that never terminates, or one whose tables hold a NaN or an infinity
/// (a run that diverged). compare_to_target throws InputError for that case instead.
std::optional<Metrics> metrics_if_finite(const Dag& dag, const Marginals& m,
                                         const Array<float>* log_target, double target_log_z,
                                         Stream stream = {});

}  // namespace gfnrl::detail
