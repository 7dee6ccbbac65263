// Options shared by the gfnrl subcommands: the environment, the backend, and output format.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <memory>
#include <string>

#include "gfnrl/gfnrl.hpp"

namespace gfnrl::cli {

struct EnvOptions {
  std::string env = "hypergrid";
  HypergridConfig grid;
  std::string backend = "auto";
  bool json = false;
  bool quiet = false;
};

/// Adds --env, --ndim, --height, --r0, --r1, --r2, --backend, --json, --quiet to a subcommand.
void add_env_options(CLI::App& cmd, EnvOptions& o);

/// Builds the environment's DAG on the chosen backend, printing progress unless quiet.
Dag build_environment(const EnvOptions& o, Backend b);

/// --preset standard|hard, applied by apply_preset to the hypergrid fields not given explicitly.
void add_preset_option(CLI::App& cmd, std::string& preset);
void apply_preset(const CLI::App& cmd, const std::string& name, HypergridConfig& g);

/// The backward policy named by --correction: "uniform", "maxent", or "none" (nullptr).
std::unique_ptr<BackwardPolicy> make_correction(const std::string& name, const Dag& dag);

/// "[gfnrl] ..." on stderr unless quiet.
void progress(const EnvOptions& o, const std::string& msg);

/// Writes a JSON object as one line on stdout (non-finite numbers become null).
void print_json_line(const nlohmann::json& j);

void register_solve(CLI::App& app);
void register_eval(CLI::App& app);
void register_train(CLI::App& app);
void register_study(CLI::App& app);

}  // namespace gfnrl::cli
