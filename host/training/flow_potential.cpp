// Forward-looking flows' per-state log-reward: log R where a state terminates, its intermediate
// log-reward -E(s) elsewhere (Pan et al., "Better Training of GFlowNets with Local Credit and
// Incomplete Trajectories", ICML 2023: F(s) = F~(s) exp(-E(s))).
#include <cmath>
#include <string>
#include <vector>

#include "gfnrl/error.hpp"
#include "gfnrl/train.hpp"

namespace gfnrl {

std::vector<float> flow_potential(const Dag& dag) {
  std::vector<float> pot = dag.log_reward().to_host();
  const std::vector<float> mid = dag.intermediate_log_reward().to_host();
  for (std::size_t s = 0; s < pot.size(); ++s) {
    if (pot[s] > -INFINITY) continue;
    if (!mid.empty() && mid[s] > -INFINITY) {
      pot[s] = mid[s];
      continue;
    }
    throw InputError("forward-looking flows need log R(s) or an intermediate log-reward -E(s) at "
                     "every state, but state " + std::to_string(s) + " has neither" +
                     (mid.empty() ? " (this DAG carries no intermediate log-rewards)" : ""));
  }
  return pot;
}

}  // namespace gfnrl
