// gfnrl.Dag and the functions that make one: generated environments, DAG files, trees, and any
// DAG given as an edge list from Python (the library's validation applies).
#include "py_dag.hpp"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cmath>

#include "gfnrl/gfnrl.hpp"

namespace gfnrl::python {

HypergridConfig hypergrid_config(int64_t ndim, int64_t height, double r0, double r1, double r2,
                                 const std::string& regions) {
  HypergridConfig c;
  c.ndim = checked_int32(ndim, "hypergrid ndim", 1);
  c.height = checked_int32(height, "hypergrid height", 2);
  c.r0 = r0, c.r1 = r1, c.r2 = r2;
  c.regions = parse_hypergrid_regions(regions);
  return c;
}

namespace {
PyDag from_edges(HostInput<int32_t> src, HostInput<int32_t> dst, HostInput<int32_t> action,
                 HostInput<double> log_reward, int32_t source, const std::string& backend,
                 std::optional<HostInput<double>> intermediate) {
  if (src.ndim() != 1 || dst.ndim() != 1 || action.ndim() != 1 || log_reward.ndim() != 1)
    throw InputError("from_edges: src, dst, action and log_reward must be 1-D arrays");
  const std::size_t e = src.shape(0);
  if (dst.shape(0) != e || action.shape(0) != e)
    throw InputError("from_edges: src, dst and action have " + std::to_string(e) + ", " +
                     std::to_string(dst.shape(0)) + " and " + std::to_string(action.shape(0)) +
                     " entries: give one per edge in each");
  if (log_reward.shape(0) > std::size_t(kMaxIndex))
    throw InputError("from_edges: more than 2^31-1 states");
  DagSpec spec;
  spec.num_states = static_cast<int32_t>(log_reward.shape(0));
  spec.source = source;
  spec.edges.reserve(e);
  for (std::size_t i = 0; i < e; ++i)
    spec.edges.push_back({src.data()[i], dst.data()[i], action.data()[i]});
  // -inf: the state does not terminate; every other value (NaN, +inf included) is a log-reward
  // for the library to check.
  for (int32_t s = 0; s < spec.num_states; ++s)
    if (!(log_reward.data()[s] == -INFINITY)) spec.log_rewards.push_back({s, log_reward.data()[s]});
  if (intermediate) {  // -inf: none at that state
    if (intermediate->ndim() != 1 || intermediate->shape(0) != log_reward.shape(0))
      throw InputError("from_edges: intermediate_log_reward must be 1-D with one entry per state (" +
                       std::to_string(log_reward.shape(0)) + ")");
    for (int32_t s = 0; s < spec.num_states; ++s)
      if (!(intermediate->data()[s] == -INFINITY))
        spec.intermediate_log_rewards.push_back({s, intermediate->data()[s]});
  }
  return PyDag{build_dag(spec, parse_backend(backend)), std::nullopt, "edges"};
}

PyDag hypergrid(int64_t ndim, int64_t height, double r0, double r1, double r2,
                const std::string& backend, const std::string& regions) {
  const HypergridConfig c = hypergrid_config(ndim, height, r0, r1, r2, regions);
  return PyDag{make_hypergrid(c, parse_backend(backend)), c, "hypergrid"};
}

// (src, dst, action) of every edge in the library's edge order (src non-decreasing).
nb::tuple edges(const PyDag& d) {
  const DagArrays a = d.dag.to_host();
  std::vector<int32_t> src(a.child_index.size());
  for (int32_t s = 0; s < d.dag.num_states(); ++s)
    for (int64_t k = a.child_offsets[s]; k < a.child_offsets[s + 1]; ++k) src[k] = s;
  const std::size_t e = src.size();
  return nb::make_tuple(to_numpy(std::move(src), {e}), to_numpy(a.child_index, {e}),
                        to_numpy(a.child_action, {e}));
}

NumpyArray<int32_t> coords(const PyDag& d) {
  if (!d.grid)
    throw InputError("coords() is defined for hypergrids; this DAG is a " + d.kind +
                     " DAG (labels() gives each state's id)");
  const std::vector<int64_t> labels = d.dag.label().to_host();
  const std::size_t n = labels.size(), k = static_cast<std::size_t>(d.grid->ndim);
  std::vector<int32_t> out(n * k);
  for (std::size_t s = 0; s < n; ++s) {
    const std::vector<int32_t> x = hypergrid_coordinates(*d.grid, labels[s]);
    std::copy(x.begin(), x.end(), out.begin() + s * k);
  }
  return to_numpy(std::move(out), {n, k});
}
}  // namespace

namespace {
// The Dag class: sizes, arrays, log Z, from_edges.
void bind_dag_class(nb::module_& m) {
  nb::class_<PyDag>(m, "Dag",
                    "A DAG of states, level-sorted (state 0 is the source), on one backend.")
      .def_prop_ro("num_states", [](const PyDag& d) { return d.dag.num_states(); },
                   "number of states N (ids 0..N-1, level-sorted)")
      .def_prop_ro("num_edges", [](const PyDag& d) { return d.dag.num_edges(); },
                   "number of inner edges E (exits not counted)")
      .def_prop_ro("num_levels", [](const PyDag& d) { return d.dag.num_levels(); },
                   "number of levels (longest path from the source, plus one)")
      .def_prop_ro("exit_action", [](const PyDag& d) { return d.dag.exit_action(); },
                   "the action id of the exit (one more than the largest edge action)")
      .def_prop_ro("backend",
                   [](const PyDag& d) { return std::string(backend_name(d.dag.backend())); },
                   "'cpu' or 'cuda': where the DAG's arrays live")
      .def_prop_ro("kind", [](const PyDag& d) { return d.kind; },
                   "what made it: hypergrid, subsets, bitseq, dag-structure, ising, set-addition, "
                  "binary-tree, tree, file, edges")
      .def("edges", &edges,
           "(src, dst, action): int32 arrays, one entry per edge in the library's edge order")
      .def("log_rewards",
           [](const PyDag& d) { return to_numpy<double>(d.dag.log_reward(), {std::size_t(d.dag.num_states())}); },
           "float64 [num_states]: log R(x), -inf where a state does not terminate")
      .def("intermediate_log_rewards",
           [](const PyDag& d) -> std::optional<NumpyArray<double>> {
             if (d.dag.intermediate_log_reward().empty()) return std::nullopt;
             return to_numpy<double>(d.dag.intermediate_log_reward(),
                                     {std::size_t(d.dag.num_states())});
           },
           "float64 [num_states] or None: each state's intermediate log-reward -E(s) (-inf where "
           "none), which forward-looking flows (fldb, flsubtb) read where log R is -inf")
      .def("labels",
           [](const PyDag& d) { return to_numpy<int64_t>(d.dag.label(), {std::size_t(d.dag.num_states())}); },
           "int64 [num_states]: each state's id in the caller's numbering (from_edges, a DAG "
           "file) or the environment's code")
      .def("log_z",
           [](const PyDag& d) {
             if (!d.workspace->log_z) d.workspace->log_z = log_partition(d.dag);
             return *d.workspace->log_z;
           },
           "log Z = log sum_x R(x), in double")
      .def("coords", &coords, "hypergrids: int32 [num_states, ndim], the coordinates of each state")
      .def_static("from_edges", &from_edges, nb::arg("src"), nb::arg("dst"), nb::arg("action"),
                  nb::arg("log_reward"), nb::arg("source") = 0, nb::arg("backend") = "auto",
                  nb::arg("intermediate_log_reward") = nb::none(),
                  "A DAG from an edge list in your own state ids (0..len(log_reward)-1); "
                  "log_reward[s] = -inf where s does not terminate; intermediate_log_reward "
                  "(optional): -E(s) per state for forward-looking flows, -inf where none. "
                  "Validated: cycles, duplicate edges, unreachable states and dead ends raise "
                  "ValueError.");
}

// Hypergrids and their presets.
void bind_hypergrids(nb::module_& m) {
  m.def("_hypergrid_preset", [](const std::string& name) {
    const HypergridConfig c = hypergrid_preset(name);
    return nb::make_tuple(c.ndim, c.height, c.r0, c.r1, c.r2);
  });
  m.def("hypergrid_preset_names", &hypergrid_preset_names,
        "the published hypergrids: standard, hard, policy-gradient, torchgfn");
  m.def("hypergrid", &hypergrid, nb::arg("ndim"), nb::arg("height"), nb::arg("r0") = 1e-3,
        nb::arg("r1") = 0.5, nb::arg("r2") = 2.0, nb::arg("backend") = "auto",
        nb::arg("regions") = "exact",
        "The hypergrid {0..height-1}^ndim (docs/USAGE.md, 'Environments'); regions 'exact' decides the "
        "reward regions in rational arithmetic, 'float64' as float64 reference codes do.");
}

// The generated environments of the papers (subsets, bit sequences, DAG structures).
void bind_generated_environments(nb::module_& m) {
  m.def("subsets",
        [](int32_t items, double pairwise_scale, uint64_t seed, const std::string& backend) {
          SubsetsConfig c;
          c.items = items, c.pairwise_scale = pairwise_scale, c.seed = seed;
          return PyDag{make_subsets(c, parse_backend(backend)), std::nullopt, "subsets"};
        },
        nb::arg("items") = 8, nb::arg("pairwise_scale") = 0.5, nb::arg("seed") = 0,
        nb::arg("backend") = "auto", "Sets built one item at a time (2^items states).");
  m.def("bitseq",
        [](int32_t length, int32_t word, int32_t modes, double beta, uint64_t seed,
           const std::string& backend) {
          BitseqConfig c;
          c.length = length, c.word = word, c.modes = modes, c.beta = beta, c.seed = seed;
          return PyDag{make_bitseq(c, parse_backend(backend)), std::nullopt, "bitseq"};
        },
        nb::arg("length") = 8, nb::arg("word") = 2, nb::arg("modes") = 4, nb::arg("beta") = 1.0,
        nb::arg("seed") = 0, nb::arg("backend") = "auto",
        "Bit strings built by appending or prepending words; log R = -beta * Hamming distance "
        "to the nearest mode.");
  m.def("dag_structure",
        [](int32_t nodes, int32_t samples, uint64_t seed, const std::string& backend,
           const std::string& score) {
          DagStructureConfig c;
          c.nodes = nodes, c.samples = samples, c.seed = seed;
          c.score = parse_structure_score(score);
          return PyDag{make_dag_structure(c, parse_backend(backend)), std::nullopt,
                       "dag-structure"};
        },
        nb::arg("nodes") = 4, nb::arg("samples") = 100, nb::arg("seed") = 0,
        nb::arg("backend") = "auto", nb::arg("score") = "bic",
        "Bayesian-network structures built one edge at a time; reward BIC or BGe (score='bge').");
}

// torchgfn's environments (Ising, SetAddition, PerfectBinaryTree).
void bind_torchgfn_environments(nb::module_& m) {
  m.def("ising",
        [](int32_t spins, const std::string& coupling, double coupling_constant, double beta,
           const std::string& backend) {
          IsingConfig c;
          c.spins = spins, c.coupling = parse_ising_coupling(coupling);
          c.coupling_constant = coupling_constant, c.beta = beta;
          return PyDag{make_ising(c, parse_backend(backend)), std::nullopt, "ising"};
        },
        nb::arg("spins") = 9, nb::arg("coupling") = "lattice", nb::arg("coupling_constant") = 0.44,
        nb::arg("beta") = 1.0, nb::arg("backend") = "auto",
        "torchgfn's DiscreteEBM with an Ising energy: spins set one at a time (3^spins states), "
        "log R = beta * coupling_constant * s^T J s, J a ring, an L x L torus ('lattice') or "
        "'all' pairs.");
  m.def("set_addition",
        [](int32_t items, int32_t max_items, bool fixed_length, double pairwise_scale,
           uint64_t seed, const std::string& backend) {
          SetAdditionConfig c;
          c.items = items, c.max_items = max_items, c.fixed_length = fixed_length;
          c.pairwise_scale = pairwise_scale, c.seed = seed;
          return PyDag{make_set_addition(c, parse_backend(backend)), std::nullopt, "set-addition"};
        },
        nb::arg("items") = 8, nb::arg("max_items") = 4, nb::arg("fixed_length") = false,
        nb::arg("pairwise_scale") = 0.5, nb::arg("seed") = 0, nb::arg("backend") = "auto",
        "torchgfn's SetAddition: sets of at most max_items items built one item at a time, "
        "the subsets energies; labels are torchgfn's state indices.");
  m.def("binary_tree",
        [](int32_t depth, double beta, uint64_t seed, const std::string& backend) {
          BinaryTreeConfig c;
          c.depth = depth, c.beta = beta, c.seed = seed;
          return PyDag{make_binary_tree(c, parse_backend(backend)), std::nullopt, "binary-tree"};
        },
        nb::arg("depth") = 4, nb::arg("beta") = 1.0, nb::arg("seed") = 0,
        nb::arg("backend") = "auto",
        "torchgfn's PerfectBinaryTree: nodes breadth-first, leaves terminate with "
        "log R = beta * U(-1, 1).");
}

// A DAG's tree, and DAG files.
void bind_trees_and_files(nb::module_& m) {
  m.def("tree",
        [](const PyDag& base, int64_t max_states) {
          return PyDag{make_tree(base.dag, max_states), std::nullopt, "tree"};
        },
        nb::arg("dag"), nb::arg("max_states") = int64_t(1) << 26,
        "The autoregressive (tree) version of a DAG: one state per path from the source.");
  m.def("load_dag",
        [](const std::string& path, const std::string& backend) {
          LoadedDag l = load_dag(path, parse_backend(backend));
          return PyDag{std::move(l.dag), std::nullopt, "file", std::move(l.backward)};
        },
        nb::arg("path"), nb::arg("backend") = "auto",
        "A DAG file (text or binary, docs/USAGE.md 'DAG files'); P_B values it carries are kept for "
        "solve(correction='file').");
}
}  // namespace

void bind_dag(nb::module_& m) {
  bind_dag_class(m);
  bind_hypergrids(m);
  bind_generated_environments(m);
  bind_torchgfn_environments(m);
  bind_trees_and_files(m);
}

}  // namespace gfnrl::python
