// gfnrl-bench-exact: soft value iteration and exact marginals on hypergrids from 10^3 to 10^7
// states, CPU and CUDA, per-level launches vs the replayed CUDA graph vs one persistent
// cooperative launch per sweep (CUDA only: "pers ms"), and soft values with block-cooperative
// edge writes (CUDA only: "coal ms"). Prints states, edges, the bytes the minimal algorithm
// moves, the median time, and the achieved GB/s of the fastest path; on the CPU also as a
// percentage of the host's own read+write bandwidth (a triad over 576 MB, measured first).
// --beside N [--load self|omp] measures beside N other programs (background_load.hpp): N more
// copies of this bench, or N busy OpenMP processes (torch's thread pool in a training loop).
//
// Minimal traffic (float32 tables, int32 state ids, int64 offsets, each array touched once):
//   soft VI:   per state offsets, log R, V, exit Q, exit log pi (24 B); per edge child index,
//              P_B, V(child), Q, log pi (20 B)                         -> 24 N + 20 E bytes
//   marginals: per state offsets, exit log P_F, log visit, log P_T (20 B); per edge parent index,
//              parent edge id (4 B, or 8 B when wide_edge_ids), log P_F, log visit(parent)
//              (16 B or 20 B)                                           -> 20 N + 16 E bytes
//   evaluate:  the marginals, then compare_to_target with log Z known (what gfnrl.evaluate does
//              from Python, for bench/bench_python_evaluate.py's ratio)  -> + 12 N bytes
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "background_load.hpp"
#include "gfnrl/gfnrl.hpp"
#include "host_bandwidth.hpp"
#include "implicit_layout.hpp"

using namespace gfnrl;

namespace {

double median_seconds(Backend b, int repeats, const std::function<void()>& f) {
  f();  // warm-up (and graph capture)
  synchronize(b);
  std::vector<double> t;
  Stopwatch sw(b);
  for (int i = 0; i < repeats; ++i) {
    sw.start();
    f();
    t.push_back(sw.seconds());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Size {
  int d, h;
};

// The CUDA-only paths, opt-in until measured (NaN on the CPU, which has one path): one
// cooperative launch per sweep, and soft values' block-cooperative edge writes from a graph.
struct OptInPaths {
  double soft_persistent = NAN, soft_coalesced = NAN, marginals_persistent = NAN;
};
OptInPaths time_opt_in_paths(const Dag& dag, const BackwardPolicy& pb, const ForwardPolicy& pf,
                             int repeats) {
  OptInPaths t;
  if (dag.backend() != Backend::Cuda) return t;
  SoftValueOptions persistent, coalesced;
  persistent.sweep.launch = LaunchMode::Persistent;
  coalesced.sweep.kernel = KernelMode::CoalescedWrites;
  SoftValueSolver sv_pers(dag, &pb, persistent), sv_coal(dag, &pb, coalesced);
  t.soft_persistent = median_seconds(Backend::Cuda, repeats, [&] { sv_pers.run(); });
  t.soft_coalesced = median_seconds(Backend::Cuda, repeats, [&] { sv_coal.run(); });
  MarginalSolver m_pers(dag, pf, SweepOptions{LaunchMode::Persistent});
  t.marginals_persistent = median_seconds(Backend::Cuda, repeats, [&] { m_pers.run(); });
  return t;
}
}  // namespace

int main(int argc, char** argv) {
  gfnrl::prefer_short_spin_waits(argv);  // as the CLI: measured as users run it
  CLI::App app{"gfnrl-bench-exact: soft value iteration and exact marginals on hypergrids"};
  std::vector<std::string> sizes{"3x10", "4x10", "5x10", "4x32", "6x15", "7x10"};
  std::string backends = "all";
  int repeats = 7;
  long long max_cpu_states = 20000000;
  bool json = false;
  app.add_option("--sizes", sizes, "hypergrids as DxH")->capture_default_str();
  app.add_option("--backend", backends, "cpu, cuda or all (all available)")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}))
      ->capture_default_str();
  app.add_option("--repeats", repeats, "timed repetitions (median reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--max-cpu-states", max_cpu_states, "skip larger grids on the CPU")
      ->capture_default_str();
  app.add_flag("--json", json, "one JSON object per measurement, one per line, on stdout");
  std::string layout = "both";
  app.add_option("--layout", layout,
                 "csr (the DAG's sweeps, every backend), implicit (no stored edges, CPU: its own "
                 "table, with a whole solve, TV, log Z error and peak RSS), or both")
      ->check(CLI::IsMember({"csr", "implicit", "both"}))
      ->capture_default_str();
  int beside = 0;
  std::string load = "self", as_load;
  app.add_option("--beside", beside,
                 "measure beside N other programs started first (--load): a user's second run")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app.add_option("--load", load,
                 "what runs beside: self (copies of this command, looping its sweeps) or omp "
                 "(processes keeping an OpenMP team of every hardware thread busy, as torch's "
                 "thread pool in a training loop)")
      ->check(CLI::IsMember({"self", "omp"}))
      ->capture_default_str();
  app.add_option("--as-load", as_load, "internal: run as one of --beside's programs")
      ->check(CLI::IsMember({"self", "omp"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "gfnrl-bench-exact: " << e.what() << std::endl;
    return 2;
  }
  if (as_load == "omp") bench::busy_openmp_team();
  const bool looping = as_load == "self";  // a --beside copy: sweep until stopped, print nothing
  std::vector<std::string> load_args{"--backend", backends, "--repeats", "1000", "--sizes"};
  for (const std::string& s : sizes) load_args.push_back(s);
  std::vector<Size> grid;
  for (const std::string& s : sizes) {
    Size z{};
    char x = 0;
    std::istringstream in(s);
    if (!(in >> z.d >> x >> z.h) || x != 'x' || !in.eof()) {
      std::cerr << "gfnrl-bench-exact: --sizes entry '" << s << "' is not DxH (e.g. 4x32)\n";
      return 2;
    }
    grid.push_back(z);
  }
  std::vector<Backend> bs;
  if (backends != "cuda") bs.push_back(Backend::Cpu);
  if (backends != "cpu") {
    if (cuda_available())
      bs.push_back(Backend::Cuda);
    else
      std::cerr << "[bench] CUDA not measured: " << cuda_device_description() << "\n";
  }
  if (bs.empty()) return 1;
  if (std::find(bs.begin(), bs.end(), Backend::Cuda) != bs.end())
    std::cerr << "[bench] device: " << cuda_device_description() << "\n";
  bench::Triad triad;
  if (bs.front() == Backend::Cpu && !looping) {
    triad = bench::host_triad();
    std::fprintf(stderr, "[bench] host triad a = b + s c: %.1f GB/s (%.0f MB, %d threads): the CPU "
                 "rows' %%bw is their GB/s against it\n", triad.gbps, triad.bytes * 1e-6,
                 triad.threads);
  }

  // Started once, before every measurement: the same programs beside every row.
  const bench::BackgroundLoad background(load, looping ? 0 : beside, load_args);
  if (beside > 0 && !looping)
    std::fprintf(stderr, "[bench] beside %d %s program%s (--load %s)\n", beside,
                 load == "self" ? "copies of this" : "busy OpenMP", beside == 1 ? "" : "s",
                 load.c_str());
  const bool csr_layout = layout != "implicit" || looping;
  if (!json && !looping && csr_layout)
    std::printf("%-7s %-4s %9s %10s %6s | %-9s %9s %9s %8s %8s %8s %5s | %-9s %9s %9s %8s %8s %5s | %8s\n",
                "grid", "bk", "states", "edges", "levels", "softVI MB", "level ms", "graph ms",
                "pers ms", "coal ms", "GB/s", "%bw", "marg MB", "level ms", "graph ms", "pers ms",
                "GB/s", "%bw", "eval ms");
  do {  // a --beside copy sweeps until stopped
  for (const Size& z : grid) {
    if (!csr_layout) break;
    const HypergridConfig cfg{z.d, z.h};
    try {
      validate(cfg);
    } catch (const InputError& e) {
      std::cerr << "gfnrl-bench-exact: " << e.what() << "\n";
      return 2;
    }
    for (Backend b : bs) {
      const int64_t n = hypergrid_num_states(cfg), e = hypergrid_num_edges(cfg);
      if (b == Backend::Cpu && n > max_cpu_states) continue;
      Dag dag;
      try {
        dag = make_hypergrid(cfg, b);
      } catch (const AllocationError& err) {
        std::cerr << "[bench] skip " << z.d << "x" << z.h << " on " << backend_name(b) << ": "
                  << err.what() << "\n";
        continue;
      }
      if (!looping) std::fprintf(stderr, "[bench] %dx%d on %s ...\n", z.d, z.h, backend_name(b));
      const BackwardPolicy pb = uniform_backward_policy(dag);
      SoftValueOptions per_level, graph;
      per_level.sweep.launch = LaunchMode::PerLevel;
      SoftValueSolver sv_level(dag, &pb, per_level), sv_graph(dag, &pb, graph);
      const double sv_level_s = median_seconds(b, repeats, [&] { sv_level.run(); });
      const double sv_graph_s = median_seconds(b, repeats, [&] { sv_graph.run(); });
      const ForwardPolicy pf = sv_graph.result().policy;
      MarginalSolver m_level(dag, pf, SweepOptions{LaunchMode::PerLevel}), m_graph(dag, pf);
      const double m_level_s = median_seconds(b, repeats, [&] { m_level.run(); });
      const double m_graph_s = median_seconds(b, repeats, [&] { m_graph.run(); });
      const OptInPaths opt_in = time_opt_in_paths(dag, pb, pf, repeats);
      const double sv_pers_s = opt_in.soft_persistent, sv_coal_s = opt_in.soft_coalesced,
                   m_pers_s = opt_in.marginals_persistent;
      const double log_z = log_partition(dag);
      double tv = 0;
      const double eval_s = median_seconds(b, repeats, [&] {
        m_graph.run();
        tv = compare_to_target(dag, m_graph.result(), nullptr, log_z).tv;
      });
      const double sv_bytes = 24.0 * n + 20.0 * e,
                   m_bytes = 20.0 * n + (wide_edge_ids(e) ? 20.0 : 16.0) * e;
      // The best of the paths (fmin: the persistent one is NaN on the CPU).
      const double sv_best = std::fmin(std::fmin(std::min(sv_level_s, sv_graph_s), sv_pers_s), sv_coal_s),
                   m_best = std::fmin(std::min(m_level_s, m_graph_s), m_pers_s);
      const double sv_gbps = sv_bytes / sv_best * 1e-9, m_gbps = m_bytes / m_best * 1e-9;
      const bool cpu = b == Backend::Cpu;
      const double sv_pct = cpu ? 100 * sv_gbps / triad.gbps : NAN;
      const double m_pct = cpu ? 100 * m_gbps / triad.gbps : NAN;
      if (looping) continue;
      if (json) {
        nlohmann::json j{{"grid", std::to_string(z.d) + "x" + std::to_string(z.h)},
                         {"ndim", z.d},
                         {"height", z.h},
                         {"backend", backend_name(b)},
                         {"device", b == Backend::Cuda ? cuda_device_description() : "cpu"},
                         {"states", n},
                         {"edges", e},
                         {"levels", dag.num_levels()},
                         {"soft_vi_bytes", sv_bytes},
                         {"soft_vi_per_level_s", sv_level_s},
                         {"soft_vi_graph_s", sv_graph_s},
                         {"soft_vi_persistent_s", std::isnan(sv_pers_s) ? nlohmann::json() : nlohmann::json(sv_pers_s)},
                         {"soft_vi_coalesced_s", std::isnan(sv_coal_s) ? nlohmann::json() : nlohmann::json(sv_coal_s)},
                         {"soft_vi_gbps", sv_gbps},
                         {"marginals_bytes", m_bytes},
                         {"marginals_per_level_s", m_level_s},
                         {"marginals_graph_s", m_graph_s},
                         {"marginals_persistent_s", std::isnan(m_pers_s) ? nlohmann::json() : nlohmann::json(m_pers_s)},
                         {"marginals_gbps", m_gbps},
                         {"evaluate_s", eval_s},
                         {"tv", tv},
                         {"repeats", repeats},
                         {"beside", beside},
                         {"load", beside > 0 ? nlohmann::json(load) : nlohmann::json()},
                         {"threads", cpu_threads()}};
        if (cpu) {
          j["host_triad_gbps"] = triad.gbps;
          j["soft_vi_pct_of_triad"] = sv_pct;
          j["marginals_pct_of_triad"] = m_pct;
        }
        std::cout << j.dump() << std::endl;
      } else {
        auto pct = [](double v) {
          return std::isnan(v) ? std::string("-") : std::to_string(int(v + 0.5)) + "%";
        };
        std::printf("%-7s %-4s %9lld %10lld %6d | %9.2f %9.3f %9.3f %8.3f %8.3f %8.1f %5s | %9.2f %9.3f %9.3f %8.3f %8.1f %5s | %8.3f\n",
                    (std::to_string(z.d) + "x" + std::to_string(z.h)).c_str(), backend_name(b),
                    (long long)n, (long long)e, dag.num_levels(), sv_bytes * 1e-6,
                    sv_level_s * 1e3, sv_graph_s * 1e3, sv_pers_s * 1e3, sv_coal_s * 1e3, sv_gbps,
                    pct(sv_pct).c_str(), m_bytes * 1e-6, m_level_s * 1e3, m_graph_s * 1e3,
                    m_pers_s * 1e3, m_gbps, pct(m_pct).c_str(), eval_s * 1e3);
        std::fflush(stdout);
      }
      if (tv > 1e-4) std::fprintf(stderr, "[bench] warning: soft-optimal TV %.3g > 1e-4\n", tv);
    }
  }
  } while (looping);
  if (layout != "csr" && std::find(bs.begin(), bs.end(), Backend::Cpu) != bs.end()) {
    const double roofline = bench::vector_roofline();
    if (!json) bench::implicit_header(roofline);
    for (const Size& z : grid) {
      try {
        bench::implicit_row(z.d, z.h, repeats, json, roofline);
      } catch (const InputError& e) {
        std::cerr << "gfnrl-bench-exact: " << e.what() << "\n";
        return 2;
      }
    }
  }
  return 0;
}
