// Where the mass goes: P_T and the target per terminating state, with the state's coordinates on a
// hypergrid, as CSV (gfnrl eval --out-pt, gfnrl train --snapshot-every; tools/plot_distribution.py).
#pragma once
#include <string>
#include <vector>

#include "train_session.hpp"

namespace gfnrl::cli {

/// Header `[step,]state,label[,x0,...,x{D-1}],p_t,target`: one row per terminating state and
/// snapshot. p_t = P_T(x) of the policy; target = R(x)/Z, or w(x)/sum w for a target weight
/// (mu^T R). Written atomically (AtomicCsv): the file appears only at commit().
class DistributionCsv {
 public:
  DistributionCsv(const std::string& path, const std::string& flag, const Environment& env,
                  bool with_step);
  /// Rows of one snapshot: log P_T per state (terminating_distribution), the step when with_step.
  void add(const Array<float>& log_pt, int64_t step = 0,
           const Array<float>* log_target_weight = nullptr);
  void commit() { csv_.commit(); }

 private:
  AtomicCsv csv_;
  bool with_step_;
  std::vector<int32_t> terminal_;          // the terminating states, in id order
  std::vector<std::string> where_;         // "state,label[,x...]" of each
  std::vector<float> log_reward_;          // per state
  double log_z_ = 0;
};

}  // namespace gfnrl::cli
