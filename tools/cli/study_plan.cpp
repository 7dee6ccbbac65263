// Planning and running the jobs of `gfnrl study` and `gfnrl tune`.
#include "study_plan.hpp"

#include <algorithm>
#include <sstream>

namespace gfnrl::cli {

std::string default_study_learners() {
  std::vector<std::string> names;
  for (Algo a : {Algo::TB, Algo::DB, Algo::SubTB, Algo::SoftDQN, Algo::Munchausen})
    names.push_back(algo_name(a));
  return join_names(names, ",");
}

namespace {
// One value, or the range of a per-run list.
std::string describe(const std::vector<float>& v) {
  if (v.size() == 1) return format_number(v[0]);
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return format_number(*lo) + ".." + format_number(*hi) + " (per run)";
}

// Each entry is a learner, or learner/P_B to give that learner its own P_B (labelled so).
struct Entry {
  Learner learner;
  std::string pb;  // empty: the session's --pb (or the preset's list)
};

std::vector<Entry> parse_entries(const std::string& list, bool backward) {
  std::vector<Entry> entries;
  std::stringstream ss(list);
  for (std::string name; std::getline(ss, name, ',');) {
    const std::size_t slash = name.find('/');
    Entry e{parse_learner(name.substr(0, slash)), ""};
    if (slash != std::string::npos) {
      e.pb = name.substr(slash + 1);
      const std::vector<std::string>& known = pb_choices();
      if (std::find(known.begin(), known.end(), e.pb) == known.end())
        throw InputError("--algos " + name + ": unknown P_B '" + e.pb + "' (allowed: " +
                         join_names(known) + ")");
      if (backward) throw InputError("--algos " + name + ": --preset backward sets every P_B itself");
    }
    entries.push_back(e);
  }
  if (entries.empty())
    throw InputError("--algos is empty (allowed: " + join_names(learner_names()) + ")");
  return entries;
}
}  // namespace

std::vector<std::string> study_backward_policies(const SessionOptions& so, bool backward) {
  if (!backward) return {so.correction};
  std::vector<std::string> pbs{"uniform", "maxent"};
  for (const std::string& pb : pb_choices())
    if (trained_backward(pb)) pbs.push_back(pb);
  return pbs;
}

std::vector<Job> plan_jobs(const SessionOptions& so, const std::string& algos,
                           const std::vector<std::string>& pbs, bool backward) {
  const std::vector<Entry> entries = parse_entries(algos, backward);
  std::vector<Job> jobs;
  for (const std::string& preset_pb : pbs)
    for (const Entry& e : entries) {
      const Learner& l = e.learner;
      // Niu et al.'s coupled / guided P_B belong to the policy-gradient learners only.
      const bool coupled = trained_backward(preset_pb) && is_coupled(parse_backward_mode(preset_pb));
      if (backward && coupled && !is_policy_gradient(l.algo)) continue;
      const std::string pb = e.pb.empty() ? preset_pb : e.pb;
      SessionOptions with_pb = so;
      with_pb.correction = pb;
      TrainConfig cfg = session_config(with_pb, l.algo);
      cfg.validate();  // a bad learner/P_B pair fails here, before any training
      jobs.push_back({cfg, pb, backward || !e.pb.empty() ? l.name + "/" + pb : l.name, l});
    }
  return jobs;
}

nlohmann::json run_job(Job& job, const SessionOptions& so, const EnvOptions& env,
                       const Environment& built, AtomicCsv& csv, LoopResult* loop,
                       std::function<std::string(int32_t)> row_suffix) {
  const Dag& dag = built.dag;
  SessionOptions with_pb = so;
  with_pb.correction = job.pb;
  TrainConfig& cfg = job.cfg;
  const auto pb = make_correction(attach_prior(with_pb, job.learner, dag, cfg), built);
  progress(env, job.label + ", " + std::to_string(cfg.runs) + " runs x " +
                    std::to_string(so.steps) + " steps x " + std::to_string(cfg.batch) +
                    " trajectories, lr " + describe(cfg.lr) + ", on " +
                    backend_name(dag.backend()));
  Trainer trainer(dag, pb.get(), cfg);
  const double log_z = trainer.target_log_z();
  const RewardModes modes = mode_groups(built);
  LoopOptions lo{so.steps, so.eval_every, env.quiet, job.label, so.tv_threshold,
                 std::move(row_suffix), {}, &modes};
  const LoopResult res = train_loop(trainer, log_z, lo, &csv);
  if (loop) *loop = res;
  nlohmann::json l = summarize(res, cfg, job.label);
  l["pb"] = job.pb;
  l["target_log_z"] = log_z;  // log sum R, or log sum mu^T R with a prior
  l["num_modes"] = modes.states.size();
  if (built.grid) l["num_mode_regions"] = modes.num_regions;
  return l;
}

}  // namespace gfnrl::cli
