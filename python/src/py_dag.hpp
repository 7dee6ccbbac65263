// The Python Dag: a library Dag with what Python users also need to know about it.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "gfnrl/backward_policy.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/hypergrid.hpp"
#include "gfnrl/marginals.hpp"
#include "gfnrl/variational_bounds.hpp"
#include "numpy_arrays.hpp"

namespace gfnrl::python {

/// evaluate()'s workspace, made on first use and reused by every later call on the same DAG:
/// the policy tables the caller's arrays are copied into and the marginal solver bound to them.
struct EvaluationWorkspace {
  ForwardPolicy policy;
  std::unique_ptr<MarginalSolver> solver;
  Marginals marginals;  // the output of a solver over host tables read in place
  std::optional<double> log_z;  // log sum R, once per DAG
  std::map<std::string, VariationalBoundSolver> bounds;  // per named P_B, once each
  HostBuffer<float> gathered_edge, gathered_exit;  // an action table's P_F in the DAG's orders
  std::unique_ptr<ActionTableMarginalSolver> action_solver;  // an action table's marginals
};

struct PyDag {
  Dag dag;
  std::optional<HypergridConfig> grid;  // hypergrids: for coords()
  std::string kind;                     // "hypergrid", "subsets", "file", "edges", ...
  std::optional<BackwardPolicy> file_pb;  // the P_B values a DAG file carries
  std::shared_ptr<EvaluationWorkspace> workspace = std::make_shared<EvaluationWorkspace>();
};

/// The fixed backward policy named `name`: uniform, maxent, file (the DAG file's own P_B) or
/// none (no correction: nullopt). InputError for anything else.
std::optional<BackwardPolicy> correction_named(const PyDag& d, const std::string& name);

/// `v` as an int32 in [lo, 2^31-1]; InputError naming `what` otherwise (Python ints are
/// unbounded: a huge one is an input error, not a type error).
int32_t checked_int32(int64_t v, const char* what, int64_t lo);

/// A hypergrid's parameters from Python's arguments (ranges checked, the region rule parsed).
HypergridConfig hypergrid_config(int64_t ndim, int64_t height, double r0, double r1, double r2,
                                 const std::string& regions);

/// Rows of a [runs x n] (or [n]: one run) table; InputError naming `what` otherwise.
std::size_t rows_of(const AnyInput<float>& a, std::size_t n, const char* what);

/// InputError naming entry [run, i] of host table `what` when one of its n values is NaN or +inf.
void check_log_probs(const float* v, std::size_t n, const char* what, std::size_t run);

void bind_dag(nb::module_& m);
void bind_evaluate(nb::module_& m);
void bind_exact(nb::module_& m);
void bind_train(nb::module_& m);

}  // namespace gfnrl::python
