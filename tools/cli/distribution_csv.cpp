// P_T against the target per terminating state, as CSV.
#include "distribution_csv.hpp"

#include <cmath>
#include <cstdio>

namespace gfnrl::cli {

namespace {
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// log sum_i exp(v_i) over the finite entries, in double.
double log_sum_exp(const std::vector<float>& v) {
  double hi = -INFINITY, sum = 0;
  for (float x : v) hi = std::max(hi, double(x));
  if (!std::isfinite(hi)) return hi;
  for (float x : v) sum += std::exp(double(x) - hi);
  return hi + std::log(sum);
}
}  // namespace

DistributionCsv::DistributionCsv(const std::string& path, const std::string& flag,
                                 const Environment& env, bool with_step)
    : csv_(path, flag), with_step_(with_step) {
  const Dag& dag = env.dag;
  log_reward_ = dag.log_reward().to_host();
  log_z_ = log_partition(dag);
  const std::vector<int64_t> labels = dag.label().to_host();
  std::string header = with_step ? "step,state,label" : "state,label";
  if (env.grid)
    for (int32_t d = 0; d < env.grid->ndim; ++d) header += ",x" + std::to_string(d);
  csv_.line(header + ",p_t,target");
  for (int32_t s = 0; s < dag.num_states(); ++s) {
    if (!std::isfinite(log_reward_[s])) continue;  // does not terminate
    std::string w = std::to_string(s) + "," + std::to_string(labels[s]);
    if (env.grid)
      for (int32_t x : hypergrid_coordinates(*env.grid, labels[s])) w += "," + std::to_string(x);
    terminal_.push_back(s);
    where_.push_back(w);
  }
}

void DistributionCsv::add(const Array<float>& log_pt, int64_t step,
                          const Array<float>* log_target_weight) {
  const std::vector<float> lp = log_pt.to_host();
  const std::vector<float> tw = log_target_weight ? log_target_weight->to_host() : log_reward_;
  const double log_norm = log_target_weight ? log_sum_exp(tw) : log_z_;
  const std::string prefix = with_step_ ? std::to_string(step) + "," : "";
  for (std::size_t i = 0; i < terminal_.size(); ++i) {
    const int32_t s = terminal_[i];
    csv_.line(prefix + where_[i] + "," + num(std::exp(double(lp[s]))) + "," +
              num(std::exp(double(tw[s]) - log_norm)));
  }
}

}  // namespace gfnrl::cli
