// gfnrl study: every learner, several seeds each, on one hypergrid; one CSV of exact TV curves
// (plot it with tools/plot_convergence.py). The README's main job.
#include <algorithm>
#include <iostream>
#include <sstream>

#include "train_session.hpp"

namespace gfnrl::cli {

namespace {
// The learners of the SoftDQN paper's comparison (Morozov et al.), the study's default.
std::string default_study_learners() {
  std::vector<std::string> names;
  for (Algo a : {Algo::TB, Algo::DB, Algo::SubTB, Algo::SoftDQN, Algo::Munchausen})
    names.push_back(algo_name(a));
  return join_names(names, ",");
}

struct StudyOptions {
  std::string algos = default_study_learners();
  SessionOptions session;
};

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

// The P_B of each pass: the session's, or for the backward preset the fixed P_B that need
// nothing from the environment, then every trained mode.
std::vector<std::string> study_backward_policies(const SessionOptions& so, bool backward) {
  if (!backward) return {so.correction};
  std::vector<std::string> pbs{"uniform", "maxent"};
  for (const std::string& pb : pb_choices())
    if (trained_backward(pb)) pbs.push_back(pb);
  return pbs;
}

struct Job {
  TrainConfig cfg;
  std::string pb, label;
  Learner learner;
};

// Every (P_B, learner) job, each configuration validated before any training.
std::vector<Job> plan_jobs(const SessionOptions& so, const std::vector<Entry>& entries,
                           const std::vector<std::string>& pbs, bool backward) {
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

// Trains one job, its curves into the CSV; its summary.
nlohmann::json run_job(Job& job, const SessionOptions& so, const EnvOptions& env,
                       const Environment& built, AtomicCsv& csv) {
  const Dag& dag = built.dag;
  SessionOptions with_pb = so;
  with_pb.correction = job.pb;
  TrainConfig& cfg = job.cfg;
  const auto pb = make_correction(attach_prior(with_pb, job.learner, dag, cfg), built);
  progress(env, "study: " + job.label + ", " + std::to_string(cfg.runs) + " runs x " +
                    std::to_string(so.steps) + " steps x " + std::to_string(cfg.batch) +
                    " trajectories, lr " + std::to_string(cfg.lr[0]) + ", on " +
                    backend_name(dag.backend()));
  Trainer trainer(dag, pb.get(), cfg);
  const double log_z = trainer.target_log_z();
  nlohmann::json l = summarize(
      train_loop(trainer, log_z,
                 {so.steps, so.eval_every, env.quiet, job.label, so.tv_threshold}, &csv),
      cfg,
      job.label);
  l["pb"] = job.pb;
  l["target_log_z"] = log_z;  // log sum R, or log sum mu^T R with a prior
  return l;
}

void print_table(const nlohmann::json& learners) {
  const std::string to_tv_head =
      learners.empty() ? "to TV" : "to TV<=" + format_number(learners[0]["tv_threshold"].get<double>());
  std::printf("%-18s %5s %8s %12s %12s %12s %14s %10s\n", "algo", "runs", "steps", "TV mean",
              "TV min", "TV max", to_tv_head.c_str(), "steps/s");
  for (const auto& l : learners) {
    const auto& m = l["median_trajectories_to_tv"];
    const std::string to_tv = m.is_null() ? "never" : std::to_string(m.get<int64_t>());
    std::printf("%-18s %5d %8lld %12.5f %12.5f %12.5f %14s %10.1f\n",
                l["algo"].get<std::string>().c_str(), l["runs"].get<int>(),
                static_cast<long long>(l["steps"].get<int64_t>()),
                l["final_tv_mean"].get<double>(), l["final_tv_min"].get<double>(),
                l["final_tv_max"].get<double>(), to_tv.c_str(),
                l["steps_per_second"].get<double>());
  }
}

int run(const StudyOptions& o, const CLI::App& cmd) {
  // --preset backward: every learner with each P_B choice (coupled and guided for pg / ac only);
  // the environment is left as given.
  const bool backward = o.session.preset == "backward";
  SessionOptions so = o.session;
  if (backward) so.preset.clear();
  const std::vector<std::string> pbs = study_backward_policies(so, backward);
  const std::vector<Entry> entries = parse_entries(o.algos, backward);
  const EnvOptions env = checked_environment(so, cmd);
  std::vector<Job> jobs = plan_jobs(so, entries, pbs, backward);
  AtomicCsv csv(so.out);
  csv.line(kCurveHeader);
  const Backend b = parse_backend(env.backend);
  const Environment built = build_environment(env, b);
  nlohmann::json learners = nlohmann::json::array();
  for (Job& job : jobs) learners.push_back(run_job(job, so, env, built, csv));
  csv.commit();
  progress(env, "wrote " + so.out + " (plot: python3 tools/plot_convergence.py " + so.out + ")");
  if (!env.json) {
    print_table(learners);
    return 0;
  }
  nlohmann::json j = built.description;
  j["command"] = "study";
  j["num_states"] = built.dag.num_states();
  const std::string pb_list = join_names(pbs, ",");
  j["correction"] = pb_list;
  j["pb"] = pb_list;
  if (backward) j["preset"] = "backward";
  j["log_z"] = log_partition(built.dag);
  j["backend"] = backend_name(b);
  j["out"] = so.out;
  j["learners"] = learners;
  print_json_line(j);
  return 0;
}
}  // namespace

void register_study(CLI::App& app) {
  auto o = std::make_shared<StudyOptions>();
  SessionOptions& so = o->session;
  so.backward_preset = true;
  so.env.grid.ndim = 2;
  so.env.grid.height = 16;
  so.out = "study.csv";
  so.steps = 20000;
  so.eval_every = 500;
  CLI::App* cmd = app.add_subcommand(
      "study", "every learner with several seeds on one hypergrid: exact TV curves to one CSV");
  cmd->add_option("--algos", o->algos,
                  "comma list of learners, each optionally learner/P_B (e.g. tb,ac/coupled,"
                  "tb/tlm) to override --pb for it; learners: " + join_names(learner_names()))
      ->capture_default_str();
  add_session_options(*cmd, so);
  cmd->callback([o, cmd]() { throw CLI::RuntimeError(run(*o, *cmd)); });
}

}  // namespace gfnrl::cli
