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
// The command line (options()), its sizes parsed into `grid`.
struct Options {
  std::vector<std::string> sizes{"3x10", "4x10", "5x10", "4x32", "6x15", "7x10"};
  std::string backends = "all", layout = "both", load = "self", as_load;
  int repeats = 7, beside = 0;
  long long max_cpu_states = 20000000;
  bool json = false;
  std::vector<Size> grid;
};

void add_options(CLI::App& app, Options& o) {
  app.add_option("--sizes", o.sizes, "hypergrids as DxH")->capture_default_str();
  app.add_option("--backend", o.backends, "cpu, cuda or all (all available)")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}))
      ->capture_default_str();
  app.add_option("--repeats", o.repeats, "timed repetitions (median reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--max-cpu-states", o.max_cpu_states, "skip larger grids on the CPU")
      ->capture_default_str();
  app.add_flag("--json", o.json, "one JSON object per measurement, one per line, on stdout");
  app.add_option("--layout", o.layout,
                 "csr (the DAG's sweeps, every backend), implicit (no stored edges, CPU: its own "
                 "table, with a whole solve, TV, log Z error and peak RSS), or both")
      ->check(CLI::IsMember({"csr", "implicit", "both"}))
      ->capture_default_str();
  app.add_option("--beside", o.beside,
                 "measure beside N other programs started first (--load): a user's second run")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app.add_option("--load", o.load,
                 "what runs beside: self (copies of this command, looping its sweeps) or omp "
                 "(processes keeping an OpenMP team of every hardware thread busy, as torch's "
                 "thread pool in a training loop)")
      ->check(CLI::IsMember({"self", "omp"}))
      ->capture_default_str();
  app.add_option("--as-load", o.as_load, "internal: run as one of --beside's programs")
      ->check(CLI::IsMember({"self", "omp"}));
}

// DxH entries into o.grid; false (after saying which) for a malformed one.
bool parse_sizes(Options& o) {
  for (const std::string& s : o.sizes) {
    Size z{};
    char x = 0;
    std::istringstream in(s);
    if (!(in >> z.d >> x >> z.h) || x != 'x' || !in.eof()) {
      std::cerr << "gfnrl-bench-exact: --sizes entry '" << s << "' is not DxH (e.g. 4x32)\n";
      return false;
    }
    o.grid.push_back(z);
  }
  return true;
}

// The backends asked for that can run here (CUDA only with a device).
std::vector<Backend> chosen_backends(const std::string& backends) {
  std::vector<Backend> bs;
  if (backends != "cuda") bs.push_back(Backend::Cpu);
  if (backends != "cpu") {
    if (cuda_available())
      bs.push_back(Backend::Cuda);
    else
      std::cerr << "[bench] CUDA not measured: " << cuda_device_description() << "\n";
  }
  if (std::find(bs.begin(), bs.end(), Backend::Cuda) != bs.end())
    std::cerr << "[bench] device: " << cuda_device_description() << "\n";
  return bs;
}

// One CSR row: every path's median seconds, the bytes each sweep moves, its TV.
struct CsrRow {
  double sv_level_s = 0, sv_graph_s = 0, m_level_s = 0, m_graph_s = 0, eval_s = 0, tv = 0;
  OptInPaths opt_in;
  double sv_bytes = 0, m_bytes = 0, sv_gbps = 0, m_gbps = 0, sv_pct = NAN, m_pct = NAN;
};

CsrRow measure_csr(const Dag& dag, Backend b, int repeats, const bench::Triad& triad) {
  CsrRow r;
  const int64_t n = dag.num_states(), e = dag.num_edges();
  const BackwardPolicy pb = uniform_backward_policy(dag);
  SoftValueOptions per_level, graph;
  per_level.sweep.launch = LaunchMode::PerLevel;
  SoftValueSolver sv_level(dag, &pb, per_level), sv_graph(dag, &pb, graph);
  r.sv_level_s = median_seconds(b, repeats, [&] { sv_level.run(); });
  r.sv_graph_s = median_seconds(b, repeats, [&] { sv_graph.run(); });
  const ForwardPolicy pf = sv_graph.result().policy;
  MarginalSolver m_level(dag, pf, SweepOptions{LaunchMode::PerLevel}), m_graph(dag, pf);
  r.m_level_s = median_seconds(b, repeats, [&] { m_level.run(); });
  r.m_graph_s = median_seconds(b, repeats, [&] { m_graph.run(); });
  r.opt_in = time_opt_in_paths(dag, pb, pf, repeats);
  const double log_z = log_partition(dag);
  r.eval_s = median_seconds(b, repeats, [&] {
    m_graph.run();
    r.tv = compare_to_target(dag, m_graph.result(), nullptr, log_z).tv;
  });
  r.sv_bytes = 24.0 * n + 20.0 * e, r.m_bytes = 20.0 * n + (wide_edge_ids(e) ? 20.0 : 16.0) * e;
  // The best of the paths (fmin: the persistent one is NaN on the CPU).
  const double sv_best = std::fmin(std::fmin(std::min(r.sv_level_s, r.sv_graph_s),
                                             r.opt_in.soft_persistent), r.opt_in.soft_coalesced),
               m_best = std::fmin(std::min(r.m_level_s, r.m_graph_s), r.opt_in.marginals_persistent);
  r.sv_gbps = r.sv_bytes / sv_best * 1e-9, r.m_gbps = r.m_bytes / m_best * 1e-9;
  if (b == Backend::Cpu)
    r.sv_pct = 100 * r.sv_gbps / triad.gbps, r.m_pct = 100 * r.m_gbps / triad.gbps;
  return r;
}

nlohmann::json or_null(double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); }

void print_csr_json(const Options& o, const Size& z, const Dag& dag, Backend b, const CsrRow& r,
                    const bench::Triad& triad) {
  nlohmann::json j{{"grid", std::to_string(z.d) + "x" + std::to_string(z.h)},
                   {"ndim", z.d},
                   {"height", z.h},
                   {"backend", backend_name(b)},
                   {"device", b == Backend::Cuda ? cuda_device_description() : "cpu"},
                   {"states", dag.num_states()},
                   {"edges", dag.num_edges()},
                   {"levels", dag.num_levels()},
                   {"soft_vi_bytes", r.sv_bytes},
                   {"soft_vi_per_level_s", r.sv_level_s},
                   {"soft_vi_graph_s", r.sv_graph_s},
                   {"soft_vi_persistent_s", or_null(r.opt_in.soft_persistent)},
                   {"soft_vi_coalesced_s", or_null(r.opt_in.soft_coalesced)},
                   {"soft_vi_gbps", r.sv_gbps},
                   {"marginals_bytes", r.m_bytes},
                   {"marginals_per_level_s", r.m_level_s},
                   {"marginals_graph_s", r.m_graph_s},
                   {"marginals_persistent_s", or_null(r.opt_in.marginals_persistent)},
                   {"marginals_gbps", r.m_gbps},
                   {"evaluate_s", r.eval_s},
                   {"tv", r.tv},
                   {"repeats", o.repeats},
                   {"beside", o.beside},
                   {"load", o.beside > 0 ? nlohmann::json(o.load) : nlohmann::json()},
                   {"threads", cpu_threads()}};
  if (b == Backend::Cpu) {
    j["host_triad_gbps"] = triad.gbps;
    j["soft_vi_pct_of_triad"] = r.sv_pct;
    j["marginals_pct_of_triad"] = r.m_pct;
  }
  std::cout << j.dump() << std::endl;
}

void print_csr_header() {
  std::printf("%-7s %-4s %9s %10s %6s | %-9s %9s %9s %8s %8s %8s %5s | %-9s %9s %9s %8s %8s %5s | %8s\n",
              "grid", "bk", "states", "edges", "levels", "softVI MB", "level ms", "graph ms",
              "pers ms", "coal ms", "GB/s", "%bw", "marg MB", "level ms", "graph ms", "pers ms",
              "GB/s", "%bw", "eval ms");
}

void print_csr_text(const Size& z, const Dag& dag, Backend b, const CsrRow& r) {
  auto pct = [](double v) {
    return std::isnan(v) ? std::string("-") : std::to_string(int(v + 0.5)) + "%";
  };
  std::printf("%-7s %-4s %9lld %10lld %6d | %9.2f %9.3f %9.3f %8.3f %8.3f %8.1f %5s | %9.2f %9.3f %9.3f %8.3f %8.1f %5s | %8.3f\n",
              (std::to_string(z.d) + "x" + std::to_string(z.h)).c_str(), backend_name(b),
              (long long)dag.num_states(), (long long)dag.num_edges(), dag.num_levels(),
              r.sv_bytes * 1e-6, r.sv_level_s * 1e3, r.sv_graph_s * 1e3,
              r.opt_in.soft_persistent * 1e3, r.opt_in.soft_coalesced * 1e3, r.sv_gbps,
              pct(r.sv_pct).c_str(), r.m_bytes * 1e-6, r.m_level_s * 1e3, r.m_graph_s * 1e3,
              r.opt_in.marginals_persistent * 1e3, r.m_gbps, pct(r.m_pct).c_str(), r.eval_s * 1e3);
  std::fflush(stdout);
}

// The CSR table: every grid on every backend (a --beside copy: silently, until stopped).
// Returns 2 for an invalid grid, else 0.
int run_csr_rows(const Options& o, const std::vector<Backend>& bs, const bench::Triad& triad,
                 bool looping) {
  if (!o.json && !looping) print_csr_header();
  do {
    for (const Size& z : o.grid) {
      const HypergridConfig cfg{z.d, z.h};
      try {
        validate(cfg);
      } catch (const InputError& e) {
        std::cerr << "gfnrl-bench-exact: " << e.what() << "\n";
        return 2;
      }
      for (Backend b : bs) {
        if (b == Backend::Cpu && hypergrid_num_states(cfg) > o.max_cpu_states) continue;
        Dag dag;
        try {
          dag = make_hypergrid(cfg, b);
        } catch (const AllocationError& err) {
          std::cerr << "[bench] skip " << z.d << "x" << z.h << " on " << backend_name(b) << ": "
                    << err.what() << "\n";
          continue;
        }
        if (!looping) std::fprintf(stderr, "[bench] %dx%d on %s ...\n", z.d, z.h, backend_name(b));
        const CsrRow r = measure_csr(dag, b, o.repeats, triad);
        if (looping) continue;
        if (o.json)
          print_csr_json(o, z, dag, b, r, triad);
        else
          print_csr_text(z, dag, b, r);
        if (r.tv > 1e-4) std::fprintf(stderr, "[bench] warning: soft-optimal TV %.3g > 1e-4\n", r.tv);
      }
    }
  } while (looping);
  return 0;
}

// The implicit layout's table (CPU). Returns 2 for an invalid grid, else 0.
int run_implicit_rows(const Options& o) {
  const double roofline = bench::vector_roofline();
  if (!o.json) bench::implicit_header(roofline);
  for (const Size& z : o.grid) {
    try {
      bench::implicit_row(z.d, z.h, o.repeats, o.json, roofline);
    } catch (const InputError& e) {
      std::cerr << "gfnrl-bench-exact: " << e.what() << "\n";
      return 2;
    }
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  gfnrl::prefer_short_spin_waits(argv);  // as the CLI: measured as users run it
  CLI::App app{"gfnrl-bench-exact: soft value iteration and exact marginals on hypergrids"};
  Options o;
  add_options(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "gfnrl-bench-exact: " << e.what() << std::endl;
    return 2;
  }
  if (o.as_load == "omp") bench::busy_openmp_team();
  const bool looping = o.as_load == "self";  // a --beside copy: sweep until stopped, print nothing
  std::vector<std::string> load_args{"--backend", o.backends, "--repeats", "1000", "--sizes"};
  for (const std::string& s : o.sizes) load_args.push_back(s);
  if (!parse_sizes(o)) return 2;
  const std::vector<Backend> bs = chosen_backends(o.backends);
  if (bs.empty()) return 1;
  bench::Triad triad;
  if (bs.front() == Backend::Cpu && !looping) {
    triad = bench::host_triad();
    std::fprintf(stderr, "[bench] host triad a = b + s c: %.1f GB/s (%.0f MB, %d threads): the CPU "
                 "rows' %%bw is their GB/s against it\n", triad.gbps, triad.bytes * 1e-6,
                 triad.threads);
  }
  // Started once, before every measurement: the same programs beside every row.
  const bench::BackgroundLoad background(o.load, looping ? 0 : o.beside, load_args);
  if (o.beside > 0 && !looping)
    std::fprintf(stderr, "[bench] beside %d %s program%s (--load %s)\n", o.beside,
                 o.load == "self" ? "copies of this" : "busy OpenMP", o.beside == 1 ? "" : "s",
                 o.load.c_str());
  if (o.layout != "implicit" || looping)
    if (const int rc = run_csr_rows(o, bs, triad, looping)) return rc;
  if (o.layout != "csr" && std::find(bs.begin(), bs.end(), Backend::Cpu) != bs.end())
    return run_implicit_rows(o);
  return 0;
}
