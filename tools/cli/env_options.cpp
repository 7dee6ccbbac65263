// The environment options every subcommand shares: which environment (or DAG file), its
// parameters, the tree unrolling, and building it on a backend.
#include <map>
#include <vector>

#include "cli_common.hpp"

namespace gfnrl::cli {

namespace {
// Which environments each parameter flag belongs to ("" = any generated environment; several
// separated by " or ").
const std::vector<std::pair<const char*, const char*>> kFlagEnv = {
    {"--env", ""},           {"--env-seed", ""},      {"--ndim", "hypergrid"},
    {"--height", "hypergrid"}, {"--r0", "hypergrid"},   {"--r1", "hypergrid"},
    {"--r2", "hypergrid"},   {"--regions", "hypergrid"}, {"--items", "subsets or set-addition"},
    {"--pairwise-scale", "subsets or set-addition"}, {"--max-items", "set-addition"},
    {"--fixed-length", "set-addition"}, {"--depth", "binary-tree"},
    {"--length", "bitseq"},  {"--word", "bitseq"},    {"--modes", "bitseq"},
    {"--beta", "bitseq or ising or binary-tree"}, {"--nodes", "dag-structure"}, {"--samples", "dag-structure"}, {"--score", "dag-structure"},
    {"--spins", "ising"},    {"--coupling", "ising"}, {"--coupling-constant", "ising"}};

bool flag_belongs(const std::string& envs, const std::string& env) {
  std::size_t start = 0;
  while (true) {
    const std::size_t end = envs.find(" or ", start);
    if (envs.substr(start, end == std::string::npos ? std::string::npos : end - start) == env)
      return true;
    if (end == std::string::npos) return false;
    start = end + 4;
  }
}
}  // namespace

namespace {
void add_hypergrid_parameters(CLI::App& cmd, EnvOptions& o) {
  cmd.add_option("--ndim", o.grid.ndim, "hypergrid dimension D")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd.add_option("--height", o.grid.height, "hypergrid side length H (states {0..H-1}^D)")
      ->check(CLI::Range(2, 1 << 30))
      ->capture_default_str();
  cmd.add_option("--r0", o.grid.r0, "hypergrid reward floor R0 (> 0)")->capture_default_str();
  cmd.add_option("--r1", o.grid.r1, "hypergrid reward R1 of the outer region (>= 0)")
      ->capture_default_str();
  cmd.add_option("--r2", o.grid.r2, "hypergrid reward R2 of the ring region (>= 0)")
      ->capture_default_str();
  cmd.add_option("--regions", o.grid_regions,
                 "hypergrid: how the region indicators are decided. exact: in rational "
                 "arithmetic, the definition (torchgfn agrees); float64: as |x/(H-1) - 0.5| in "
                 "IEEE double, reproducing float64 reference codes, which put cells at distance "
                 "exactly 0.3 into the ring when H-1 is a multiple of 5")
      ->check(CLI::IsMember(hypergrid_region_names()))
      ->capture_default_str();
}

// The other generated environments' parameters (kFlagEnv says which environment owns each).
void add_environment_parameters(CLI::App& cmd, EnvOptions& o) {
  add_hypergrid_parameters(cmd, o);
  cmd.add_option("--items", o.subsets.items,
                 "subsets, set-addition: number of items n (2^n states for subsets), 1..24")
      ->capture_default_str();
  cmd.add_option("--pairwise-scale", o.subsets.pairwise_scale,
                 "subsets, set-addition: scale of the pairwise energies w_ij ~ U(-1,1)*scale, >= 0")
      ->capture_default_str();
  cmd.add_option("--max-items", o.set_addition.max_items,
                 "set-addition: the largest set, 1..--items")
      ->capture_default_str();
  cmd.add_flag("--fixed-length", o.set_addition.fixed_length,
               "set-addition: only sets of --max-items items terminate (torchgfn's fixed_length)");
  cmd.add_option("--depth", o.binary_tree.depth,
                 "binary-tree: depth d (2^(d+1) - 1 nodes, 2^d terminating leaves), 1..24")
      ->capture_default_str();
  cmd.add_option("--length", o.bitseq.length, "bitseq: string length n, 1..20, a multiple of --word")
      ->capture_default_str();
  cmd.add_option("--word", o.bitseq.word, "bitseq: bits per appended/prepended word k")
      ->capture_default_str();
  cmd.add_option("--modes", o.bitseq.modes, "bitseq: number of random modes, >= 1")
      ->capture_default_str();
  cmd.add_option("--beta", o.beta,
                 "bitseq: log R = -beta * Hamming distance to the nearest mode; ising: log R = "
                 "beta * coupling-constant * s^T J s (torchgfn's alpha); binary-tree: log R = beta * "
                 "U(-1, 1) per leaf; >= 0")
      ->capture_default_str();
  cmd.add_option("--spins", o.ising.spins,
                 "ising: variables n (3^n states), 1..14; a square for --coupling lattice")
      ->capture_default_str();
  cmd.add_option("--coupling", o.ising_coupling,
                 "ising: which pairs interact: ring, lattice (an L x L torus, torchgfn's Ising "
                 "example) or all (every pair and the diagonal, torchgfn's DiscreteEBM default)")
      ->check(CLI::IsMember(ising_coupling_names()))
      ->capture_default_str();
  cmd.add_option("--coupling-constant", o.ising.coupling_constant,
                 "ising: the coupling constant J (torchgfn's example: 0.44)")
      ->capture_default_str();
  cmd.add_option("--nodes", o.structure.nodes, "dag-structure: variables d, 2..5")
      ->capture_default_str();
  cmd.add_option("--samples", o.structure.samples, "dag-structure: rows of the generated data set, >= 2")
      ->capture_default_str();
  cmd.add_option("--score", o.structure_score,
                 "dag-structure: bic, or bge (DAG-GFlowNet's score: alpha_mu 1, alpha_w d + 2)")
      ->check(CLI::IsMember(structure_score_names()))
      ->capture_default_str();
}
}  // namespace

void add_env_options(CLI::App& cmd, EnvOptions& o) {
  cmd.add_option("--env", o.env,
                 "environment: hypergrid, subsets (sets built item by item), bitseq (strings "
                 "built by appending/prepending words), dag-structure (Bayesian-network "
                 "structures, BIC or BGe reward), ising (torchgfn's DiscreteEBM: spins set one at a time, "
                 "Ising energy), set-addition (torchgfn's SetAddition: sets of at most --max-items), "
                 "binary-tree (torchgfn's PerfectBinaryTree)")
      ->check(CLI::IsMember(environment_names()))
      ->capture_default_str();
  cmd.add_option("--dag", o.dag_file,
                 "load this DAG file (text or binary, docs/USAGE.md 'DAG files') instead of generating "
                 "--env; --correction file uses the P_B values it carries")
      ->check(input_file_check());
  cmd.add_flag("--tree", o.tree,
               "use the autoregressive (tree) version: one state per path of the environment "
               "or file (P_B = 1, so the correction is a no-op)");
  cmd.add_option("--env-seed", o.env_seed,
                 "seed of the environment's random parameters (subsets energies, bitseq modes, "
                 "dag-structure data)")
      ->check(whole_number_check(UINT64_MAX))
      ->capture_default_str();
  add_environment_parameters(cmd, o);
  cmd.add_option("--backend", o.backend, "cpu, cuda, or auto (cuda when a device exists)")
      ->check(CLI::IsMember(backend_names()))
      ->capture_default_str();
  cmd.add_flag("--json", o.json, "print one JSON object on one line of stdout");
  cmd.add_flag("--quiet", o.quiet, "no progress lines on stderr");
}

void check_env_flags(const CLI::App& cmd, const EnvOptions& o) {
  for (const auto& [flag, env] : kFlagEnv) {
    if (cmd.count(flag) == 0) continue;
    if (!o.dag_file.empty())
      throw InputError(std::string(flag) + " describes a generated environment; it cannot be "
                       "combined with --dag " + o.dag_file);
    if (*env && !flag_belongs(env, o.env))
      throw InputError(std::string(flag) + " is a parameter of --env " + env + ", not of --env " +
                       o.env);
  }
}

HypergridConfig hypergrid_config(const EnvOptions& o) {
  HypergridConfig grid = o.grid;
  grid.regions = parse_hypergrid_regions(o.grid_regions);
  return grid;
}

nlohmann::json hypergrid_description(const HypergridConfig& grid) {
  return {{"ndim", grid.ndim}, {"height", grid.height}, {"r0", grid.r0}, {"r1", grid.r1},
          {"r2", grid.r2},     {"regions", hypergrid_regions_name(grid.regions)}};
}

namespace {
// One builder per generated environment: its config from the options, progress, the DAG and the
// parameters that describe it in JSON outputs.
Environment generate_hypergrid(const EnvOptions& o, Backend b) {
  Environment env;
  const HypergridConfig grid = hypergrid_config(o);
  validate(grid);
  progress(o, "building hypergrid D=" + std::to_string(o.grid.ndim) +
                  " H=" + std::to_string(o.grid.height) + " (" +
                  std::to_string(hypergrid_num_states(o.grid)) + " states, " +
                  std::to_string(hypergrid_num_edges(o.grid)) + " edges, estimated " +
                  format_bytes(estimate_hypergrid_bytes(o.grid)) + ") on " + backend_name(b));
  env.dag = make_hypergrid(grid, b);
  env.grid = grid;
  env.description = hypergrid_description(grid);
  return env;
}
Environment generate_subsets(const EnvOptions& o, Backend b) {
  Environment env;
  SubsetsConfig c = o.subsets;
  c.seed = o.env_seed;
  progress(o, "building subsets of " + std::to_string(c.items) + " items on " + backend_name(b));
  env.dag = make_subsets(c, b);
  env.description = {{"items", c.items}, {"pairwise_scale", c.pairwise_scale},
                     {"env_seed", c.seed}};
  return env;
}
Environment generate_bitseq(const EnvOptions& o, Backend b) {
  Environment env;
  BitseqConfig c = o.bitseq;
  c.seed = o.env_seed;
  c.beta = o.beta;
  progress(o, "building bitseq length " + std::to_string(c.length) + ", word " +
                  std::to_string(c.word) + " on " + backend_name(b));
  env.dag = make_bitseq(c, b);
  env.description = {{"length", c.length}, {"word", c.word}, {"modes", c.modes},
                     {"beta", c.beta},     {"env_seed", c.seed}};
  return env;
}
Environment generate_dag_structure(const EnvOptions& o, Backend b) {
  Environment env;
  DagStructureConfig c = o.structure;
  c.seed = o.env_seed;
  c.score = parse_structure_score(o.structure_score);
  progress(o, "building dag-structure over " + std::to_string(c.nodes) + " nodes (" +
                  std::to_string(c.samples) + " samples) on " + backend_name(b));
  env.dag = make_dag_structure(c, b);
  env.description = {{"nodes", c.nodes}, {"samples", c.samples}, {"env_seed", c.seed},
                     {"score", o.structure_score}};
  return env;
}
Environment generate_ising(const EnvOptions& o, Backend b) {
  Environment env;
  IsingConfig c = o.ising;
  c.coupling = parse_ising_coupling(o.ising_coupling);
  c.beta = o.beta;
  validate(c);
  progress(o, "building ising with " + std::to_string(c.spins) + " spins (" +
                  std::to_string(ising_num_states(c)) + " states, " + o.ising_coupling +
                  " coupling) on " + backend_name(b));
  env.dag = make_ising(c, b);
  env.description = {{"spins", c.spins}, {"coupling", o.ising_coupling},
                     {"coupling_constant", c.coupling_constant}, {"beta", c.beta}};
  return env;
}
Environment generate_set_addition(const EnvOptions& o, Backend b) {
  Environment env;
  SetAdditionConfig c = o.set_addition;
  c.items = o.subsets.items, c.pairwise_scale = o.subsets.pairwise_scale, c.seed = o.env_seed;
  validate(c);
  progress(o, "building set-addition of " + std::to_string(c.items) + " items, at most " +
                  std::to_string(c.max_items) + " (" +
                  std::to_string(set_addition_num_states(c)) + " states) on " + backend_name(b));
  env.dag = make_set_addition(c, b);
  env.description = {{"items", c.items}, {"max_items", c.max_items},
                     {"fixed_length", c.fixed_length}, {"pairwise_scale", c.pairwise_scale},
                     {"env_seed", c.seed}};
  return env;
}
Environment generate_binary_tree(const EnvOptions& o, Backend b) {
  Environment env;
  BinaryTreeConfig c = o.binary_tree;
  c.beta = o.beta, c.seed = o.env_seed;
  validate(c);
  progress(o, "building binary-tree of depth " + std::to_string(c.depth) + " on " +
                  backend_name(b));
  env.dag = make_binary_tree(c, b);
  env.description = {{"depth", c.depth}, {"beta", c.beta}, {"env_seed", c.seed}};
  return env;
}

Environment generate(const EnvOptions& o, Backend b) {
  using Builder = Environment (*)(const EnvOptions&, Backend);
  static const std::map<std::string, Builder> builders{
      {"hypergrid", generate_hypergrid}, {"subsets", generate_subsets},
      {"bitseq", generate_bitseq},       {"dag-structure", generate_dag_structure},
      {"ising", generate_ising},         {"set-addition", generate_set_addition},
      {"binary-tree", generate_binary_tree}};
  const auto it = builders.find(o.env);
  if (it == builders.end())
    throw InputError("--env " + o.env + ": not one of " + join_names(environment_names()));
  Environment env = it->second(o, b);
  env.description["env"] = o.env;
  return env;
}
}  // namespace

Environment build_environment(const EnvOptions& o, Backend b) {
  Environment env;
  if (!o.dag_file.empty()) {
    progress(o, "loading " + o.dag_file + " on " + backend_name(b));
    LoadedDag l = load_dag(o.dag_file, b);
    env.dag = std::move(l.dag);
    env.file_backward = std::move(l.backward);
    env.description = {{"env", "file"}, {"dag", o.dag_file}};
  } else {
    env = generate(o, b);
  }
  if (o.tree) {
    progress(o, "unrolling into the tree version");
    env.dag = make_tree(env.dag);
    env.file_backward.reset();  // a tree's P_B is 1 on every edge
    env.grid.reset();           // a tree state is a path, not a grid point
    env.description["tree"] = true;
  }
  progress(o, std::to_string(env.dag.num_states()) + " states, " +
                  std::to_string(env.dag.num_edges()) + " edges, " +
                  std::to_string(env.dag.num_levels()) + " levels" +
                  (env.file_backward ? ", P_B from the file" : ""));
  return env;
}

}  // namespace gfnrl::cli
