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
}  // namespace

int main(int argc, char** argv) {
  gfnrl::prefer_short_spin_waits(argv);  // as the CLI: measured as users run it
  CLI::App app{"gfnrl-bench-train: training throughput of every tabular learner, CPU and CUDA"};
  HypergridConfig grid = hypergrid_preset("standard");
  std::string algos = "tb,db,subtb,softdqn,munchausen,pg,ac,pg/coupled", backends = "all";
  std::vector<int> runs_list{1, 64};
  int batch = 16, warmup = 20, max_steps = 2000;
  std::string optimizer = "adam";
  double min_seconds = 1.0;
  bool json = false;
  app.add_option("--ndim", grid.ndim, "hypergrid D")->capture_default_str();
  app.add_option("--height", grid.height, "hypergrid H")->capture_default_str();
  app.add_option("--algos", algos,
                 "comma list of learners, each optionally /P_B: learned, tlm, coupled or guided "
                 "(default: the fixed uniform P_B)")
      ->capture_default_str();
  app.add_option("--runs", runs_list, "run counts to time")->capture_default_str();
  app.add_option("--batch", batch, "trajectories per step and run")->capture_default_str();
  bool optimizer_scan = false;
  app.add_flag("--optimizer-scan", optimizer_scan,
               "lazy-adam / sgd on the CPU: scan every entry instead of the step's touched ones");
  app.add_option("--optimizer", optimizer, "adam, lazy-adam or sgd")
      ->check(CLI::IsMember(optimizer_names()))
      ->capture_default_str();
  app.add_option("--backend", backends, "cpu, cuda or all (all available)")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}))
      ->capture_default_str();
  app.add_option("--warmup", warmup, "untimed steps first (DQN: past learning-starts)")
      ->capture_default_str();
  app.add_option("--min-seconds", min_seconds, "time steps until this much has elapsed")
      ->capture_default_str();
  app.add_option("--max-steps", max_steps, "or until this many timed steps")->capture_default_str();
  app.add_flag("--json", json, "one JSON object per line instead of the table");
  CLI11_PARSE(app, argc, argv);

  try {
    validate(grid);
    std::vector<Backend> bs;
    if (backends != "cuda") bs.push_back(Backend::Cpu);
    if (backends != "cpu") {
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
    if (!json)
      std::printf("%-5s %-12s %5s %9s %10s %8s %12s %13s %13s %10s %9s %5s\n", "bknd", "algo",
                  "runs", "states", "entries", "steps", "steps/s", "traj/s", "trans/s", "tableMB",
                  "tableGB/s", "%bw");
    for (Backend b : bs) {
      const Dag dag = make_hypergrid(grid, b);
      const BackwardPolicy pb = uniform_backward_policy(dag);
      std::stringstream ss(algos);
      for (std::string name; std::getline(ss, name, ',');) {
        const std::size_t slash = name.find('/');
        const Algo a = parse_algo(name.substr(0, slash));
        const BackwardMode mode = slash == std::string::npos
                                      ? BackwardMode::Fixed
                                      : parse_backward_mode(name.substr(slash + 1));
        for (int runs : runs_list) {
          TrainConfig c;
          c.algo = a;
          c.runs = runs;
          c.batch = batch;
          c.backward = mode;
          c.optimizer = parse_optimizer(optimizer);
          c.optimizer_scan = optimizer_scan;
          const double per_entry = optimizer == "adam" ? 32.0
                                   : b == Backend::Cpu && !optimizer_scan ? 0.0
                                                                           : 4.0;
          c.learning_starts = std::min(c.learning_starts, warmup);
          Trainer t(dag, mode == BackwardMode::Fixed ? &pb : nullptr, c);
          for (int i = 0; i < warmup; ++i) t.step();
          const double length_before = mean_expected_length(t);
          synchronize(b);
          const auto t0 = std::chrono::steady_clock::now();
          int steps = 0;
          double secs = 0;
          while (steps < max_steps && secs < min_seconds) {
            t.step();
            ++steps;
            if (steps % 10 == 0 || b == Backend::Cpu) {
              synchronize(b);
              secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            }
          }
          synchronize(b);
          secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          const double length = 0.5 * (length_before + mean_expected_length(t));
          const double entries = double(runs) * (double(dag.num_edges()) + 2.0 * dag.num_states() + 1);
          const bool lazy_target = per_entry == 0.0;  // the walk: DQN's target is lazy too
          double bytes = entries * (per_entry + (is_dqn(a) && !lazy_target ? 12.0 : 0.0));
          if (mode != BackwardMode::Fixed)
            bytes += double(runs) * dag.num_edges() * (per_entry + (mode == BackwardMode::Tlm ? 12.0 : 0.0));
          if (mode == BackwardMode::Coupled || mode == BackwardMode::Guided)
            bytes += double(runs) * dag.num_states() * per_entry;
          const double sps = steps / secs;
          if (json) {
            nlohmann::json j{{"backend", backend_name(b)}, {"algo", name}, {"runs", runs},
                             {"ndim", grid.ndim}, {"height", grid.height},
                             {"states", dag.num_states()}, {"edges", dag.num_edges()},
                             {"batch", batch}, {"optimizer", optimizer},
                             {"optimizer_scan", optimizer_scan},
                             {"steps", steps}, {"seconds", secs},
                             {"steps_per_second", sps},
                             {"trajectories_per_second", sps * batch * runs},
                             {"mean_expected_length", length},
                             {"transitions_per_second", sps * batch * runs * length},
                             {"table_bytes_per_step", bytes},
                             {"table_gb_per_second", bytes * sps / 1e9}};
            if (b == Backend::Cuda) j["device"] = cuda_device_description();
            if (b == Backend::Cpu) {
              j["host_triad_gbps"] = triad.gbps;
              j["table_pct_of_triad"] = 100 * bytes * sps / 1e9 / triad.gbps;
            }
            std::cout << j.dump() << std::endl;
          } else {
            const std::string pct =
                b == Backend::Cpu
                    ? std::to_string(int(100 * bytes * sps / 1e9 / triad.gbps + 0.5)) + "%"
                    : "-";
            std::printf("%-5s %-12s %5d %9d %10.0f %8d %12.1f %13.0f %13.0f %10.1f %9.1f %5s\n",
                        backend_name(b), name.c_str(), runs, dag.num_states(), entries,
                        steps, sps, sps * batch * runs, sps * batch * runs * length,
                        bytes / 1e6, bytes * sps / 1e9, pct.c_str());
            std::fflush(stdout);
          }
        }
      }
    }
  } catch (const InputError& e) {
    std::cerr << "gfnrl-bench-train: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "gfnrl-bench-train: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
