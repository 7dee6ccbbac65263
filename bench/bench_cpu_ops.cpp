// gfnrl-bench-cpu-ops: the serial cost of one work unit of every CPU training op, and OpenMP's
// fork/join cost, from which host/cpu/parallel.hpp decides when an op goes parallel.
//
// Phase 1 trains every learner (and a trained P_B, the exact gradient, lazy Adam's touched walk)
// on one thread with the ops' profile on: each op call adds the units it counted and its time,
// so ns/unit = total time / total units over every call of the op. Phase 2 times an empty
// two-iteration parallel loop on every thread (the fork, the barrier, the join). The table prints,
// per op, the units from which it goes parallel (host/cpu/parallel.hpp's kParallelFromNs) at the
// measured cost per unit and at the compiled-in one.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu/parallel.hpp"
#include "gfnrl/gfnrl.hpp"

using namespace gfnrl;
namespace cpu = gfnrl::detail::cpu;

namespace {

// One learner to profile: "algo[/pb][:lazy|:exact]".
TrainConfig learner_config(const std::string& spec, int runs) {
  TrainConfig c;
  std::string name = spec, suffix;
  if (const auto colon = name.find(':'); colon != std::string::npos) {
    suffix = name.substr(colon + 1);
    name = name.substr(0, colon);
  }
  const std::size_t slash = name.find('/');
  c.algo = parse_algo(name.substr(0, slash));
  if (slash != std::string::npos) c.backward = parse_backward_mode(name.substr(slash + 1));
  if (suffix == "lazy") c.optimizer = OptimizerKind::LazyAdam;
  else if (suffix == "exact") c.exact_gradient = true;
  else if (!suffix.empty()) throw InputError("learner suffix '" + suffix + "': allowed lazy, exact");
  c.runs = runs;
  c.learning_starts = 4;
  return c;
}

// Median seconds of one fork/join of an empty two-piece loop on every thread.
double fork_join_seconds() {
  std::vector<double> t;
  volatile int sink = 0;
  for (int rep = 0; rep < 7; ++rep) {
    constexpr int kLoops = 4000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < kLoops; ++k) {
#pragma omp parallel for schedule(static)
      for (int i = 0; i < 2; ++i) sink = sink + i;
    }
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                kLoops);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Trains every learner at every run count on every grid, on one thread, with the profile on.
void profile_learners(const std::vector<HypergridConfig>& grids,
                      const std::vector<std::string>& learners, const std::vector<int>& runs_list,
                      int steps) {
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  cpu::op_profiling() = true;
  for (const HypergridConfig& h : grids) {
    const Dag dag = make_hypergrid(h, Backend::Cpu);
    const BackwardPolicy pb = uniform_backward_policy(dag);
    for (const std::string& l : learners)
      for (int runs : runs_list) {
        const TrainConfig c = learner_config(l, runs);
        std::fprintf(stderr, "[bench] %dx%d %s runs %d\n", h.ndim, h.height, l.c_str(), runs);
        Trainer t(dag, c.backward == BackwardMode::Fixed ? &pb : nullptr, c);
        for (int i = 0; i < steps; ++i) t.step();
      }
  }
  cpu::op_profiling() = false;
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
}

// One row (or JSON object) per op: its measured cost per unit and where it goes parallel.
void print_ops(bool json, double fork_join_ns, int threads) {
  if (!json)
    std::printf("%-18s %8s %12s %10s %10s %14s %14s\n", "op", "calls", "units/call", "ns/unit",
                "compiled", "measured from", "compiled from");
  for (int i = 0; i < int(cpu::CpuOp::Count); ++i) {
    const cpu::OpTotals& t = cpu::op_totals()[i];
    const double units = double(t.units), ns = double(t.ns), calls = double(t.calls);
    const double per = units > 0 ? ns / units : 0;
    const double from = per > 0 ? cpu::kParallelFromNs / per : 0;
    const double compiled_from = cpu::kParallelFromNs / cpu::kNsPerUnit[i];
    if (json) {
      std::cout << nlohmann::json{{"op", cpu::kCpuOpNames[i]}, {"calls", t.calls.load()},
                                  {"units", t.units.load()}, {"ns", t.ns.load()},
                                  {"ns_per_unit", per},
                                  {"compiled_ns_per_unit", cpu::kNsPerUnit[i]},
                                  {"parallel_from_units", from},
                                  {"compiled_parallel_from_units", compiled_from},
                                  {"fork_join_ns", fork_join_ns}, {"threads", threads}}
                       .dump()
                << "\n";
    } else {
      std::printf("%-18s %8.0f %12.0f %10.2f %10.2f %14.0f %14.0f\n", cpu::kCpuOpNames[i], calls,
                  calls > 0 ? units / calls : 0.0, per, cpu::kNsPerUnit[i], from, compiled_from);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  gfnrl::prefer_short_spin_waits(argv);  // as the CLI: measured as users run it
  CLI::App app{"gfnrl-bench-cpu-ops: per-op serial cost per work unit and the fork/join cost "
               "behind the CPU ops' parallel thresholds"};
  std::vector<std::string> grids{"4x20", "2x16"};
  std::string algos =
      "tb,db,subtb,mdb,zvar,fm,softdqn,munchausen,pg,ac,tb/learned,pg/coupled,tb:lazy,pg:exact";
  std::vector<int> runs_list{1, 8};
  int steps = 100;
  bool json = false;
  app.add_option("--grids", grids, "hypergrids DxH to train on")->capture_default_str();
  app.add_option("--algos", algos,
                 "comma list of learners, each optionally /P_B and :lazy (lazy Adam) or :exact "
                 "(the exact gradient)")
      ->capture_default_str();
  app.add_option("--runs", runs_list, "run counts")->capture_default_str();
  app.add_option("--steps", steps, "training steps per learner, grid and run count")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_flag("--json", json, "one JSON object per op instead of the table");
  CLI11_PARSE(app, argc, argv);

  try {
    std::vector<std::string> learners;
    std::stringstream ss(algos);
    for (std::string name; std::getline(ss, name, ',');) learners.push_back(name);
    std::vector<HypergridConfig> cfgs;
    for (const std::string& g : grids) {
      HypergridConfig h = hypergrid_preset("standard");
      if (std::sscanf(g.c_str(), "%dx%d", &h.ndim, &h.height) != 2)
        throw InputError("grid '" + g + "': give DxH, e.g. 4x20");
      validate(h);
      cfgs.push_back(h);
    }
    profile_learners(cfgs, learners, runs_list, steps);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    const double fj = fork_join_seconds() * 1e9;
    std::fprintf(stderr, "[bench] fork/join of an empty loop on %d threads: %.0f ns; ops go "
                 "parallel from %.0f ns of estimated serial work\n", threads, fj,
                 cpu::kParallelFromNs);
    print_ops(json, fj, threads);
  } catch (const InputError& e) {
    std::cerr << "gfnrl-bench-cpu-ops: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "gfnrl-bench-cpu-ops: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
