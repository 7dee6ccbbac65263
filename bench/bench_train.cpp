// gfnrl-bench-train: training steps, trajectories and transitions per second of every learner,
// for 1 and 64 runs (--runs 1 64 1024 on a GPU), on the CPU and CUDA backends (default: the
// published 4-D H=20 standard hypergrid, 16 trajectories per step and run).
//
// Transitions (actions, exits included) per step are runs x batch x the exact expected trajectory
// length of the runs' policies, averaged over the policies before and after the timed steps (an
// untimed evaluation each; with the default epsilon 0 the rollouts sample those policies).
//
// What one step moves, at minimum (float32 tables of `stride` = E + 2N + 1 entries per run):
//   dense optimizer:  Adam reads param, grad, m, v and writes param, m, v, and the gradient
//                     reset to 0 for the next step (32 B per entry)        -> 32 B x runs x stride
//                     (--optimizer lazy-adam / sgd: on CUDA, or on the CPU with
//                     --optimizer-scan, read the gradient of every entry and update only the
//                     touched ones: 4 B x runs x stride; on the CPU they otherwise visit only the
//                     entries the step touched, which are not counted: 0 B)
//   DQN target table: Polyak reads both tables, writes one (12 B per entry) -> +12 B x runs x stride
//                     (with lazy Adam / SGD on the CPU it averages only the entries the step
//                     reads or changes, which are not counted: 0 B)
//   trained P_B (algo/learned, /tlm, /coupled, /guided): Adam on E backward logits per run
//                     (+32 B x runs x E; TLM's Polyak copy +12 B), and the coupled modes' backward
//                     critic (+32 B x runs x N)
// Rollouts and loss gradients touch only the visited states (~ runs x batch x trajectory length
// x degree): small next to the dense sweeps on large grids, which is why "table GB/s" is the
// number to hold against the memory bandwidth: on the CPU it is also printed as a percentage of
// the host's own read+write bandwidth (bench/host_bandwidth.hpp's triad, measured first).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "gfnrl/gfnrl.hpp"
#include "host_bandwidth.hpp"

using namespace gfnrl;

namespace {
/// The runs' mean exact expected number of actions per trajectory (exit included).
double mean_expected_length(Trainer& t) {
  double sum = 0;
  const std::vector<RunEvaluation> e = t.evaluate();
  for (const RunEvaluation& r : e) sum += r.metrics.expected_length;
  return e.empty() ? 0.0 : sum / double(e.size());
}

struct Options {
  HypergridConfig grid = hypergrid_preset("standard");
  std::string algos = "tb,db,subtb,softdqn,munchausen,pg,ac,pg/coupled", backends = "all";
  std::vector<int> runs_list{1, 64};
  int batch = 16, warmup = 20, max_steps = 2000;
  std::string optimizer = "adam";
  double min_seconds = 1.0;
  bool json = false, optimizer_scan = false;
};

void add_options(CLI::App& app, Options& o) {
  app.add_option("--ndim", o.grid.ndim, "hypergrid D")->capture_default_str();
  app.add_option("--height", o.grid.height, "hypergrid H")->capture_default_str();
  app.add_option("--algos", o.algos,
                 "comma list of learners, each optionally /P_B: learned, tlm, coupled or guided "
                 "(default: the fixed uniform P_B)")
      ->capture_default_str();
  app.add_option("--runs", o.runs_list, "run counts to time")->capture_default_str();
  app.add_option("--batch", o.batch, "trajectories per step and run")->capture_default_str();
  app.add_flag("--optimizer-scan", o.optimizer_scan,
               "lazy-adam / sgd on the CPU: scan every entry instead of the step's touched ones");
  app.add_option("--optimizer", o.optimizer, "adam, lazy-adam or sgd")
      ->check(CLI::IsMember(optimizer_names()))
      ->capture_default_str();
  app.add_option("--backend", o.backends, "cpu, cuda or all (all available)")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}))
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed steps first (DQN: past learning-starts)")
      ->capture_default_str();
  app.add_option("--min-seconds", o.min_seconds, "time steps until this much has elapsed")
      ->capture_default_str();
  app.add_option("--max-steps", o.max_steps, "or until this many timed steps")->capture_default_str();
  app.add_flag("--json", o.json, "one JSON object per line instead of the table");
}

// One timed learner: its steps, seconds, mean trajectory length and table bytes per step.
struct Row {
  std::string name;
  int runs = 0, steps = 0;
  double secs = 0, length = 0, entries = 0, bytes = 0;
};

Row time_learner(const Options& o, const Dag& dag, const BackwardPolicy& pb, Backend b,
                 const std::string& name, int runs) {
  const std::size_t slash = name.find('/');
  const Algo a = parse_algo(name.substr(0, slash));
  const BackwardMode mode = slash == std::string::npos ? BackwardMode::Fixed
                                                       : parse_backward_mode(name.substr(slash + 1));
  TrainConfig c;
  c.algo = a;
  c.runs = runs;
  c.batch = o.batch;
  c.backward = mode;
  c.optimizer = parse_optimizer(o.optimizer);
  c.optimizer_scan = o.optimizer_scan;
  const double per_entry = o.optimizer == "adam"                       ? 32.0
                           : b == Backend::Cpu && !o.optimizer_scan ? 0.0
                                                                    : 4.0;
  c.learning_starts = std::min(c.learning_starts, o.warmup);
  Trainer t(dag, mode == BackwardMode::Fixed ? &pb : nullptr, c);
  for (int i = 0; i < o.warmup; ++i) t.step();
  const double length_before = mean_expected_length(t);
  synchronize(b);
  Row r{name, runs};
  const auto t0 = std::chrono::steady_clock::now();
  while (r.steps < o.max_steps && r.secs < o.min_seconds) {
    t.step();
    ++r.steps;
    if (r.steps % 10 == 0 || b == Backend::Cpu) {
      synchronize(b);
      r.secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  }
  synchronize(b);
  r.secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.length = 0.5 * (length_before + mean_expected_length(t));
  r.entries = double(runs) * (double(dag.num_edges()) + 2.0 * dag.num_states() + 1);
  const bool lazy_target = per_entry == 0.0;  // the walk: DQN's target is lazy too
  r.bytes = r.entries * (per_entry + (is_dqn(a) && !lazy_target ? 12.0 : 0.0));
  if (mode != BackwardMode::Fixed)
    r.bytes += double(runs) * dag.num_edges() * (per_entry + (mode == BackwardMode::Tlm ? 12.0 : 0.0));
  if (mode == BackwardMode::Coupled || mode == BackwardMode::Guided)
    r.bytes += double(runs) * dag.num_states() * per_entry;
  return r;
}

void print_row(const Options& o, const Dag& dag, Backend b, const Row& r, const bench::Triad& triad) {
  const double sps = r.steps / r.secs;
  const double per_run = sps * o.batch * r.runs;
  if (o.json) {
    nlohmann::json j{{"backend", backend_name(b)}, {"algo", r.name}, {"runs", r.runs},
                     {"ndim", o.grid.ndim}, {"height", o.grid.height},
                     {"states", dag.num_states()}, {"edges", dag.num_edges()},
                     {"batch", o.batch}, {"optimizer", o.optimizer},
                     {"optimizer_scan", o.optimizer_scan},
                     {"steps", r.steps}, {"seconds", r.secs},
                     {"steps_per_second", sps},
                     {"trajectories_per_second", per_run},
                     {"mean_expected_length", r.length},
                     {"transitions_per_second", per_run * r.length},
                     {"table_bytes_per_step", r.bytes},
                     {"table_gb_per_second", r.bytes * sps / 1e9}};
    if (b == Backend::Cuda) j["device"] = cuda_device_description();
    if (b == Backend::Cpu) {
      j["host_triad_gbps"] = triad.gbps;
      j["table_pct_of_triad"] = 100 * r.bytes * sps / 1e9 / triad.gbps;
    }
    std::cout << j.dump() << std::endl;
    return;
  }
  const std::string pct = b == Backend::Cpu
                              ? std::to_string(int(100 * r.bytes * sps / 1e9 / triad.gbps + 0.5)) + "%"
                              : "-";
  std::printf("%-5s %-12s %5d %9d %10.0f %8d %12.1f %13.0f %13.0f %10.1f %9.1f %5s\n",
              backend_name(b), r.name.c_str(), r.runs, dag.num_states(), r.entries, r.steps, sps,
              per_run, per_run * r.length, r.bytes / 1e6, r.bytes * sps / 1e9, pct.c_str());
  std::fflush(stdout);
}

void run(const Options& o) {
  validate(o.grid);
  std::vector<Backend> bs;
  if (o.backends != "cuda") bs.push_back(Backend::Cpu);
  if (o.backends != "cpu") {
    if (cuda_available())
      bs.push_back(Backend::Cuda);
    else
      std::cerr << "[bench] CUDA skipped: " << cuda_device_description() << std::endl;
  }
  bench::Triad triad;
  if (bs.front() == Backend::Cpu) {
    triad = bench::host_triad();
    std::fprintf(stderr, "[bench] host triad a = b + s c: %.1f GB/s (%.0f MB, %d threads)\n",
                 triad.gbps, triad.bytes * 1e-6, triad.threads);
  }
  if (!o.json)
    std::printf("%-5s %-12s %5s %9s %10s %8s %12s %13s %13s %10s %9s %5s\n", "bknd", "algo",
                "runs", "states", "entries", "steps", "steps/s", "traj/s", "trans/s", "tableMB",
                "tableGB/s", "%bw");
  for (Backend b : bs) {
    const Dag dag = make_hypergrid(o.grid, b);
    const BackwardPolicy pb = uniform_backward_policy(dag);
    std::stringstream ss(o.algos);
    for (std::string name; std::getline(ss, name, ',');)
      for (int runs : o.runs_list) print_row(o, dag, b, time_learner(o, dag, pb, b, name, runs), triad);
  }
}
}  // namespace

int main(int argc, char** argv) {
  gfnrl::prefer_short_spin_waits(argv);  // as the CLI: measured as users run it
  CLI::App app{"gfnrl-bench-train: training throughput of every tabular learner, CPU and CUDA"};
  Options o;
  add_options(app, o);
  CLI11_PARSE(app, argc, argv);
  try {
    run(o);
  } catch (const InputError& e) {
    std::cerr << "gfnrl-bench-train: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "gfnrl-bench-train: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
