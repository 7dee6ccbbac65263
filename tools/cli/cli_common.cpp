// Shared CLI options and environment construction.
#include "cli_common.hpp"

#include <iostream>

namespace gfnrl::cli {

void add_env_options(CLI::App& cmd, EnvOptions& o) {
  cmd.add_option("--env", o.env, "environment (only 'hypergrid' so far)")
      ->check(CLI::IsMember({"hypergrid"}))
      ->capture_default_str();
  cmd.add_option("--dag", o.dag_file,
                 "load this DAG file (text or binary, README 'DAG files') instead of generating "
                 "--env; --correction file uses the P_B values it carries")
      ->check(CLI::ExistingFile);
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

namespace {
// Flags that describe a generated environment and make no sense with --dag.
const char* const kGeneratorFlags[] = {"--env", "--ndim", "--height", "--r0", "--r1", "--r2"};
}  // namespace

Environment build_environment(const EnvOptions& o, Backend b) {
  Environment env;
  if (!o.dag_file.empty()) {
    progress(o, "loading " + o.dag_file + " on " + backend_name(b));
    LoadedDag l = load_dag(o.dag_file, b);
    env.dag = std::move(l.dag);
    env.file_backward = std::move(l.backward);
    env.description = {{"env", "file"}, {"dag", o.dag_file}};
    progress(o, o.dag_file + ": " + std::to_string(env.dag.num_states()) + " states, " +
                    std::to_string(env.dag.num_edges()) + " edges, " +
                    std::to_string(env.dag.num_levels()) + " levels" +
                    (env.file_backward ? ", with P_B" : ""));
    return env;
  }
  validate(o.grid);
  progress(o, "building hypergrid D=" + std::to_string(o.grid.ndim) +
                  " H=" + std::to_string(o.grid.height) + " (" +
                  std::to_string(hypergrid_num_states(o.grid)) + " states, " +
                  std::to_string(hypergrid_num_edges(o.grid)) + " edges, estimated " +
                  format_bytes(estimate_hypergrid_bytes(o.grid)) + ") on " + backend_name(b));
  env.dag = make_hypergrid(o.grid, b);
  env.description = {{"env", o.env},         {"ndim", o.grid.ndim}, {"height", o.grid.height},
                     {"r0", o.grid.r0},       {"r1", o.grid.r1},     {"r2", o.grid.r2}};
  return env;
}

void check_env_flags(const CLI::App& cmd, const EnvOptions& o) {
  if (o.dag_file.empty()) return;
  for (const char* flag : kGeneratorFlags)
    if (cmd.count(flag) > 0)
      throw InputError(std::string(flag) + " describes a generated environment; it cannot be "
                       "combined with --dag " + o.dag_file);
}

void add_correction_option(CLI::App& cmd, std::string& correction, const std::string& help) {
  cmd.add_option("--correction", correction,
                 help + ": uniform P_B, maxent P_B = n(s)/n(s'), file (the P_B values of the "
                        "--dag file), or none (log P_B = 0: uncorrected, samples n(x)R(x))")
      ->check(CLI::IsMember({"uniform", "maxent", "file", "none"}))
      ->capture_default_str();
}

std::unique_ptr<BackwardPolicy> make_correction(const std::string& name, const Environment& env) {
  if (name == "none") return nullptr;
  if (name == "maxent") return std::make_unique<BackwardPolicy>(maxent_backward_policy(env.dag));
  if (name == "file") {
    if (!env.file_backward)
      throw InputError("--correction file needs a --dag file whose edges carry log P_B values"
                       " (allowed otherwise: uniform, maxent, none)");
    return std::make_unique<BackwardPolicy>(*env.file_backward);
  }
  return std::make_unique<BackwardPolicy>(uniform_backward_policy(env.dag));
}

void print_json_line(const nlohmann::json& j) { std::cout << j.dump() << std::endl; }

}  // namespace gfnrl::cli
