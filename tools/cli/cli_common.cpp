// Shared CLI options and environment construction.
#include "cli_common.hpp"

#include <iostream>

namespace gfnrl::cli {

void add_env_options(CLI::App& cmd, EnvOptions& o) {
  cmd.add_option("--env", o.env, "environment (only 'hypergrid' so far)")
      ->check(CLI::IsMember({"hypergrid"}))
      ->capture_default_str();
  cmd.add_option("--ndim", o.grid.ndim, "hypergrid dimension D")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd.add_option("--height", o.grid.height, "hypergrid side length H (states {0..H-1}^D)")
      ->check(CLI::Range(2, 1 << 30))
      ->capture_default_str();
  cmd.add_option("--r0", o.grid.r0, "reward floor R0 (> 0)")->capture_default_str();
  cmd.add_option("--r1", o.grid.r1, "reward R1 of the outer region (>= 0)")->capture_default_str();
  cmd.add_option("--r2", o.grid.r2, "reward R2 of the ring region (>= 0)")->capture_default_str();
  cmd.add_option("--backend", o.backend, "cpu, cuda, or auto (cuda when a device exists)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
  cmd.add_flag("--json", o.json, "print one JSON object on one line of stdout");
  cmd.add_flag("--quiet", o.quiet, "no progress lines on stderr");
}

void progress(const EnvOptions& o, const std::string& msg) {
  if (!o.quiet) std::cerr << "[gfnrl] " << msg << std::endl;
}

Dag build_environment(const EnvOptions& o, Backend b) {
  validate(o.grid);
  progress(o, "building hypergrid D=" + std::to_string(o.grid.ndim) +
                  " H=" + std::to_string(o.grid.height) + " (" +
                  std::to_string(hypergrid_num_states(o.grid)) + " states, " +
                  std::to_string(hypergrid_num_edges(o.grid)) + " edges, estimated " +
                  format_bytes(estimate_hypergrid_bytes(o.grid)) + ") on " + backend_name(b));
  return make_hypergrid(o.grid, b);
}

std::unique_ptr<BackwardPolicy> make_correction(const std::string& name, const Dag& dag) {
  if (name == "none") return nullptr;
  if (name == "maxent") return std::make_unique<BackwardPolicy>(maxent_backward_policy(dag));
  return std::make_unique<BackwardPolicy>(uniform_backward_policy(dag));
}

void print_json_line(const nlohmann::json& j) { std::cout << j.dump() << std::endl; }

}  // namespace gfnrl::cli
