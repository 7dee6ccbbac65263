// Options shared by the gfnrl subcommands: the environment, the backend, and output format.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <memory>
#include <optional>
#include <string>

#include "gfnrl/gfnrl.hpp"

namespace gfnrl::cli {

struct EnvOptions {
  std::string env = "hypergrid";
  std::string dag_file;  ///< --dag FILE: load this instead of generating `env`
  bool tree = false;     ///< --tree: the autoregressive unrolling of the environment
  uint64_t env_seed = 0;
  HypergridConfig grid;
  std::string grid_regions = "exact";  ///< --regions, parsed into grid.regions when building
  SubsetsConfig subsets;
  BitseqConfig bitseq;
  DagStructureConfig structure;
  std::string structure_score = "bic";     ///< --score, parsed into structure.score
  IsingConfig ising;
  std::string ising_coupling = "lattice";  ///< --coupling, parsed into ising.coupling
  SetAdditionConfig set_addition;          ///< --max-items, --fixed-length (items: subsets')
  BinaryTreeConfig binary_tree;            ///< --depth (beta: the shared --beta)
  double beta = 1.0;                       ///< --beta: bitseq's and ising's
  std::string backend = "auto";
  bool json = false;
  bool quiet = false;
};

/// Adds --env, --dag, --tree, --env-seed, every environment's parameters (--ndim, --items,
/// --length, --nodes, ...), --backend, --json, --quiet.
void add_env_options(CLI::App& cmd, EnvOptions& o);

/// A built environment: its DAG, the P_B its file carries (if any), and the parameters that
/// describe it in JSON outputs.
struct Environment {
  Dag dag;
  std::optional<BackwardPolicy> file_backward;
  nlohmann::json description;
  std::optional<HypergridConfig> grid;  ///< a generated hypergrid (not its tree): coordinates
};

/// --ndim, --height, --r0.. and --regions as a HypergridConfig (not validated), and the JSON
/// fields that describe a hypergrid in every output.
HypergridConfig hypergrid_config(const EnvOptions& o);
nlohmann::json hypergrid_description(const HypergridConfig& grid);

/// Builds (or loads, with --dag) the environment on the chosen backend, printing progress
/// unless quiet.
Environment build_environment(const EnvOptions& o, Backend b);

/// InputError when a parameter flag does not belong to the chosen environment (--items with
/// --env hypergrid, --ndim with --dag, ...).
void check_env_flags(const CLI::App& cmd, const EnvOptions& o);

/// --preset standard|hard (and, for study, backward), applied by apply_preset to the hypergrid fields not given explicitly.
void add_preset_option(CLI::App& cmd, std::string& preset, bool backward = false);
void apply_preset(const CLI::App& cmd, const std::string& name, HypergridConfig& g);

/// --correction: uniform, maxent, file (the --dag file's P_B) or none; `extra` is appended to
/// the help text.
void add_correction_option(CLI::App& cmd, std::string& correction, const std::string& help);

/// The backward policy named by --correction: "uniform", "maxent", "file" (the DAG file's own
/// P_B; InputError when it has none), or "none" (nullptr).
std::unique_ptr<BackwardPolicy> make_correction(const std::string& name, const Environment& env);

/// "[gfnrl] ..." on stderr unless quiet.
void progress(const EnvOptions& o, const std::string& msg);

/// Writes a JSON object as one line on stdout (non-finite numbers become null).
void print_json_line(const nlohmann::json& j);

/// True when `s` ends with `tail` (file suffixes: .txt, .bin).
bool ends_with(const std::string& s, const std::string& tail);

/// CLI11 check for a file input (and the given keywords, e.g. "uniform"): the path must be an
/// existing regular file, checked with stat() before anything opens it (a FIFO would block,
/// /dev/zero never ends).
CLI::Validator input_file_check(std::vector<std::string> keywords = {});

/// CLI11 check run on the text before conversion: decimal digits only, value in [0, max]. Without
/// it CLI11 wraps "-1" to 2^64-1 for unsigned options and clamps overflowing values.
CLI::Validator whole_number_check(uint64_t max);

/// Adds to every integer option of `app` and its subcommands (CLI11 type INT / UINT) a check
/// that the text is decimal digits (with '-' first for signed types), without leading zeros,
/// within 64 bits: CLI11 alone reads "0x10" as 16, "010" as 8, " 5" as 5 and saturates overflow.
void strict_integer_options(CLI::App& app);

/// A number of an option's list, as the tables will hold it: decimal text wholly consumed,
/// finite, and 0 or within a float's normal range [1.2e-38, 3.4e38] in magnitude (1e-300 would
/// silently become 0, 1e39 infinity). InputError names the option and the text otherwise.
float float_value(const std::string& item, const std::string& text, const std::string& flag);
/// A comma list's items; InputError for an empty list or an empty item (a leading, doubled or
/// trailing comma).
std::vector<std::string> comma_items(const std::string& text, const std::string& flag);

/// A value for an error message: quoted, control bytes as \xHH, cut after `max` characters
/// with the length said.
std::string quoted_value(const std::string& v, std::size_t max = 80);

void register_solve(CLI::App& app);
void register_eval(CLI::App& app);
void register_train(CLI::App& app);
void register_study(CLI::App& app);
void register_tune(CLI::App& app);
void register_convert(CLI::App& app);

}  // namespace gfnrl::cli
