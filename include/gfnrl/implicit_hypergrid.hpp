/// @file implicit_hypergrid.hpp
/// Exact soft values, marginals and metrics of a hypergrid without building its DAG: children,
/// parents and rewards follow from a state's coordinates (child = code + H^d), so only the values
/// a sweep produces are stored (4 bytes per state per array) and state ids are int64 (grids past
/// 2^31 states). The CSR path (make_hypergrid + SoftValueSolver + compute_marginals) is the
/// reference it is tested against.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gfnrl/array.hpp"
#include "gfnrl/backward_policy.hpp"
#include "gfnrl/hypergrid.hpp"
#include "gfnrl/metrics.hpp"

namespace gfnrl {

/// How a hypergrid is held: `auto` (implicit where the request needs no stored edges, else CSR),
/// `csr` (the DAG), `implicit`.
enum class GridLayout : int32_t { Auto = 0, Csr = 1, Implicit = 2 };
const std::vector<std::string>& grid_layout_names();  ///< auto, csr, implicit
GridLayout parse_grid_layout(const std::string& name);  ///< InputError naming the allowed ones

/// The policy an implicit solve evaluates: the soft-optimal one of its correction, or uniform
/// over the valid moves and the exit.
enum class ImplicitPolicy : int32_t { Optimal = 0, Uniform = 1 };

/// The most states the implicit layout indexes (int64 codes with room for c + H^d).
inline constexpr int64_t kMaxImplicitStates = int64_t{1} << 62;
/// Up to this many states an implicit solve also ranks P_T against R (spearman_correlation: two
/// host copies and two sorts); beyond, spearman is NaN.
inline constexpr int64_t kImplicitSpearmanMaxStates = int64_t{1} << 26;

/// H^D exactly; InputError (naming D, H and the limit) past kMaxImplicitStates.
int64_t implicit_hypergrid_num_states(const HypergridConfig& c);
/// validate() without its int32 state-id limit: the parameters, and at most kMaxImplicitStates.
void validate_implicit(const HypergridConfig& c);
/// log sum_x R(x) = log(R0 H^D + R1 a^D + R2 b^D), a and b the per-coordinate counts of the
/// outer and ring cells under c.regions: the closed form the sweeps are checked against.
double hypergrid_log_partition(const HypergridConfig& c);

/// Bytes an implicit solve allocates on its backend (three or four floats per state, plus the ranking's
/// copies up to kImplicitSpearmanMaxStates states).
std::size_t estimate_implicit_hypergrid_bytes(const HypergridConfig& c, ImplicitPolicy policy,
                                              Correction correction);

/// AllocationError naming that estimate and the bound that binds when it does not fit on
/// backend `b` (solve_hypergrid_implicit checks it first; a front end may check before any output).
void require_implicit_hypergrid_bytes(const HypergridConfig& c, ImplicitPolicy policy,
                                      Correction correction, Backend b = Backend::Cpu);

/// What an implicit solve reports: the metrics of compare_to_target with the ELBO and EUBO (with
/// the uniform P_B, as `gfnrl eval` bounds them), V(s0) of the soft values, the closed-form
/// log Z, and the seconds of each phase.
struct ImplicitHypergridResult {
  Metrics metrics;
  double soft_vi_log_z = std::numeric_limits<double>::quiet_NaN();  ///< V(s0); NaN for Uniform
  double closed_form_log_z = 0;
  double spearman = std::numeric_limits<double>::quiet_NaN();
  int64_t num_states = 0, num_edges = 0;  ///< edges between states (exits not counted)
  int32_t num_levels = 0;
  double values_seconds = 0, marginals_seconds = 0, metrics_seconds = 0;
  GridLayout layout = GridLayout::Implicit;  ///< the layout that solved it (solve_hypergrid)
};

/// Solves the hypergrid `c` in the implicit layout on backend `b` (the CPU's row kernels, or the
/// CUDA kernels: compiled, not yet run on a GPU) for the soft-optimal policy of `correction`
/// (Uniform or None; InputError for the others) or the uniform policy, and compares its P_T with
/// R/Z. Checks the memory estimate first (AllocationError naming it).
ImplicitHypergridResult solve_hypergrid_implicit(const HypergridConfig& c, ImplicitPolicy policy,
                                                 Correction correction,
                                                 Backend b = Backend::Cpu);

/// The same report in either layout: `Implicit` (solve_hypergrid_implicit), `Csr` (the DAG built,
/// then soft value iteration, the marginal sweep, compare_to_target and the bounds with the
/// uniform P_B: the reference), or `Auto`, which takes the implicit layout on the CPU backend
/// whenever it can hold the request (correction uniform or none) and the CSR layout otherwise
/// (the CUDA implicit kernels have not run on a GPU yet, and maxent needs path counts over
/// stored edges). InputError when `Implicit` is asked for what it cannot hold.
ImplicitHypergridResult solve_hypergrid(const HypergridConfig& c, ImplicitPolicy policy,
                                        Correction correction, Backend b = Backend::Cpu,
                                        GridLayout layout = GridLayout::Auto);

/// The per-state arrays of the same computation, indexed by the base-H code (for tests and small
/// grids): log R, the policy's soft values (empty for Uniform), the soft values under the uniform
/// P_B, log visit probabilities and log P_T.
struct ImplicitHypergridArrays {
  Array<float> log_reward, soft_value, bound_value, log_visit, log_terminal;
};
ImplicitHypergridArrays implicit_hypergrid_arrays(const HypergridConfig& c, ImplicitPolicy policy,
                                                  Correction correction,
                                                  Backend b = Backend::Cpu);

}  // namespace gfnrl
