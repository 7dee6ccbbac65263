// Planning and running the jobs of `gfnrl study` and `gfnrl tune`.
#include "study_plan.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>

#include "gfnrl/memory_budget.hpp"
#include "ranks.hpp"
#include "run_pieces.hpp"

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
  if (list.empty()) throw InputError("--algos is empty (allowed: " + join_names(learner_names()) + ")");
  std::vector<std::string> seen;
  for (const std::string& name : comma_items(list, "--algos")) {
    // Twice the same entry would be two indistinguishable sets of rows under one label.
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      throw InputError("--algos '" + list + "': " + name + " is listed twice");
    seen.push_back(name);
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
  std::vector<std::string> pbs{correction_name(Correction::Uniform), correction_name(Correction::MaxEnt)};
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
      TrainConfig cfg = session_config(with_pb, l);
      if (!trained_backward(pb)) check_fixed_backward(l.algo, pb);
      cfg.validate();  // a bad learner/P_B pair fails here, before any training
      jobs.push_back({cfg, pb, backward || !e.pb.empty() ? l.name + "/" + pb : l.name, l});
    }
  return jobs;
}

nlohmann::json run_job(Job& job, const SessionOptions& so, const EnvOptions& env,
                       const Environment& built, const RowSink& rows, LoopResult* loop,
                       std::function<std::string(int32_t)> row_suffix,
                       const std::atomic<bool>* stop) {
  const Dag& dag = built.dag;
  SessionOptions with_pb = so;
  with_pb.correction = job.pb;
  TrainConfig& cfg = job.cfg;
  const auto pb = make_correction(attach_prior(with_pb, job.learner, dag, cfg), built);
  const std::string runs = Ranks::get().sharded()  // rank 0's slice of the job's runs
                               ? "runs " + std::to_string(job.first_run) + ".." +
                                     std::to_string(job.first_run + cfg.runs - 1) + " here"
                               : std::to_string(cfg.runs) + " runs";
  progress(env, job.label + ", " + runs + " x " +
                    std::to_string(so.steps) + " steps x " + std::to_string(cfg.batch) +
                    " trajectories, lr " + describe(cfg.lr) + ", on " +
                    backend_name(dag.backend()));
  Trainer trainer(dag, pb.get(), cfg);
  const double log_z = trainer.target_log_z();
  const RewardModes modes = mode_groups(built);
  LoopOptions lo = session_loop(so, job.label, modes, env.quiet || !Ranks::get().root(),
                                job.on_progress);
  lo.row_suffix = std::move(row_suffix), lo.first_run = job.first_run;
  lo.stop_on_divergence = job.stop_on_divergence;
  lo.stop = stop;
  const LoopResult res = train_loop(trainer, log_z, lo, rows);
  if (loop) *loop = res;
  return job_summary(job, res, log_z, built, modes);
}

nlohmann::json job_summary(const Job& job, const LoopResult& loop, double target_log_z,
                           const Environment& built, const RewardModes& modes) {
  nlohmann::json l = summarize(loop, job.cfg, job.label);
  l["pb"] = job.pb;
  l["target_log_z"] = target_log_z;  // log sum R, or log sum mu^T R with a prior
  l["num_modes"] = modes.states.size();
  if (built.grid) l["num_mode_regions"] = modes.num_regions;
  return l;
}

namespace {
int32_t max_threads() {
#ifdef _OPENMP
  return cpu_threads();
#else
  return std::max(1, static_cast<int32_t>(std::thread::hardware_concurrency()));
#endif
}
}  // namespace

void add_jobs_option(CLI::App& cmd, int32_t& jobs) {
  cmd.add_option("--jobs", jobs,
                 "learners trained side by side, each on its share of the threads (0: auto, one "
                 "per thread on the CPU backend while they fit in memory, one on CUDA); the "
                 "output is the same for any value but its seconds column")
      ->check(CLI::Range(0, 1 << 16))
      ->capture_default_str();
}

int32_t concurrent_jobs(const std::vector<Job>& jobs, const Environment& built, int32_t requested) {
  const int32_t threads = max_threads();
  const int32_t most = std::max<int32_t>(1, static_cast<int32_t>(jobs.size()));
  if (requested > 0) return std::min(requested, most);
  if (built.dag.backend() != Backend::Cpu) return 1;
  // The largest jobs side by side must fit together in what the host has free.
  std::vector<std::size_t> bytes;
  for (const Job& j : jobs) bytes.push_back(Trainer::estimate_bytes(built.dag, j.cfg));
  std::sort(bytes.rbegin(), bytes.rend());
  const std::size_t free = available_bytes(Backend::Cpu);
  int32_t w = 0;
  std::size_t together = 0;
  while (w < std::min(threads, most) && together + bytes[w] <= free) together += bytes[w++];
  return std::max(1, w);
}

namespace {
using RowSuffix = std::function<std::string(std::size_t, int32_t)>;

// run_jobs in this process: every job's rows into `csv_rows` in job order (run_side_by_side).
std::vector<nlohmann::json> run_jobs_here(std::vector<Job>& jobs, const SessionOptions& so,
                                          const EnvOptions& env, const Environment& built,
                                          const RowSink& csv_rows, int32_t workers,
                                          std::vector<LoopResult>* loops,
                                          const RowSuffix& row_suffix) {
  std::vector<nlohmann::json> out(jobs.size());
  if (loops) loops->assign(jobs.size(), LoopResult{});
  run_side_by_side(
      jobs.size(), workers,
      [&](std::size_t i, const RowSink& rows, const std::atomic<bool>& stop) {
        std::function<std::string(int32_t)> suffix;
        if (row_suffix) suffix = [&row_suffix, i](int32_t r) { return row_suffix(i, r); };
        out[i] = run_job(jobs[i], so, env, built, rows, loops ? &(*loops)[i] : nullptr,
                         std::move(suffix), &stop);
      },
      csv_rows);
  return out;
}

// run_jobs under MPI: this rank's pieces trained here, every rank's results merged on rank 0.
std::vector<nlohmann::json> run_jobs_on_ranks(std::vector<Job>& jobs, const SessionOptions& so,
                                              const EnvOptions& env, const Environment& built,
                                              AtomicCsv& csv, int32_t workers,
                                              std::vector<LoopResult>* loops,
                                              const RowSuffix& row_suffix) {
  Ranks& ranks = Ranks::mutable_get();
  std::vector<int32_t> runs;
  for (const Job& j : jobs) runs.push_back(j.cfg.runs);
  const std::vector<Piece> mine = rank_pieces(runs, ranks.rank(), ranks.size());
  std::vector<Job> parts;
  std::vector<double> done(mine.size(), 0.0);
  std::mutex m;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    Job part = jobs[mine[i].job];
    part.cfg = part.cfg.runs_slice(mine[i].first, mine[i].count);
    part.first_run = mine[i].first;
    part.on_progress = [&, i](double f) {  // this rank's share: its pieces weighed alike
      double sum = 0;
      {
        const std::lock_guard<std::mutex> lock(m);
        done[i] = f;
        for (double d : done) sum += d;
      }
      ranks.report_progress(sum / done.size());
    };
    parts.push_back(std::move(part));
  }
  std::vector<std::string> rows;
  std::vector<LoopResult> here;
  const std::vector<nlohmann::json> sums = run_jobs_here(
      parts, so, env, built, [&rows](const std::string& row) { rows.push_back(row); }, workers,
      &here, row_suffix ? [&](std::size_t i, int32_t r) { return row_suffix(mine[i].job, r); }
                        : RowSuffix());
  // The rows came in piece order, evaluations x runs of each.
  std::vector<PieceResult> results;
  const int64_t evals = evaluations(so.steps, so.eval_every);
  std::size_t at = 0;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const std::size_t n = static_cast<std::size_t>(evals * mine[i].count);
    results.push_back({mine[i], here[i], sums[i]["target_log_z"].get<double>(),
                       std::vector<std::string>(rows.begin() + at, rows.begin() + at + n)});
    at += n;
  }
  const auto merged = gather_pieces(std::move(results), runs,
                                    [&csv](const std::string& row) { csv.line(row); });
  if (!merged) return {};  // not rank 0
  const RewardModes modes = mode_groups(built);
  std::vector<nlohmann::json> out;
  if (loops) loops->clear();
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    out.push_back(job_summary(jobs[j], (*merged)[j].loop, (*merged)[j].target_log_z, built, modes));
    if (loops) loops->push_back((*merged)[j].loop);
  }
  return out;
}
}  // namespace

std::vector<nlohmann::json> run_jobs(std::vector<Job>& jobs, const SessionOptions& so,
                                     const EnvOptions& env, const Environment& built,
                                     AtomicCsv& csv, int32_t workers, std::vector<LoopResult>* loops,
                                     std::function<std::string(std::size_t, int32_t)> row_suffix) {
  if (Ranks::get().sharded())
    return run_jobs_on_ranks(jobs, so, env, built, csv, workers, loops, row_suffix);
  return run_jobs_here(jobs, so, env, built, [&csv](const std::string& row) { csv.line(row); },
                       workers, loops, row_suffix);
}

}  // namespace gfnrl::cli
