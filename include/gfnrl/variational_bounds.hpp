/// @file variational_bounds.hpp
/// The exact ELBO and EUBO of a forward policy (the bounds on log Z that gfnx and the GFlowNet-VI
/// literature estimate by sampling), as sums over edges in double: the ELBO from the policy's own
/// visit probabilities, the EUBO from the flows of the target's backward process.
#pragma once
#include "gfnrl/array.hpp"
#include "gfnrl/backward_policy.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/forward_policy.hpp"
#include "gfnrl/marginals.hpp"

namespace gfnrl {

struct VariationalBounds {
  /// E_{tau ~ P_F}[log R(x) + sum log P_B - sum log P_F] - log Z: <= 0, and 0 exactly when
  /// P_F(tau) = R(x) P_B(tau|x) / Z on every trajectory; -inf when P_F reaches an edge P_B never
  /// takes, or exits where R = 0.
  double elbo = 0;
  /// The same expectation with tau ~ R(x)/Z * P_B(tau|x): >= 0, 0 at the same policies; +inf when
  /// the target's backward process takes an edge or exit P_F never takes.
  double eubo = 0;
};

/// Holds the target's backward flows for one backward policy (one soft value iteration with the
/// P_B correction) and log Z, so that many forward policies are bounded for one reduction each.
class VariationalBoundSolver {
 public:
  VariationalBoundSolver(const Dag& dag, const BackwardPolicy& pb, Stream stream = {});
  /// The bounds of `pf`, whose marginals (compute_marginals, MarginalSolver) are `m`.
  VariationalBounds operator()(const ForwardPolicy& pf, const Marginals& m,
                               Stream stream = {}) const;
  double log_z() const { return log_z_; }

 private:
  Dag dag_;
  BackwardPolicy pb_;
  Array<float> pb_prob_;  // P_B(e)
  Array<float> flow_;     // F(s)/Z = exp(V(s) - log Z)
  double log_z_ = 0;
};

/// One evaluation: solves the flows of `pb`, then bounds `pf` (marginals `m`).
VariationalBounds variational_bounds(const Dag& dag, const ForwardPolicy& pf, const Marginals& m,
                                     const BackwardPolicy& pb, Stream stream = {});

}  // namespace gfnrl
