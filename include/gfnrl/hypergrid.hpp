/// @file hypergrid.hpp
/// The hypergrid environment: states {0..H-1}^D, actions +1 on one coordinate or exit, every state
/// terminates, R(x) = R0 + R1*prod[0.25<|x_d/(H-1)-0.5|] + R2*prod[0.3<|x_d/(H-1)-0.5|<0.4].
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gfnrl/dag.hpp"

namespace gfnrl {

/// How the region indicators of R are decided.
enum class HypergridRegions : int32_t {
  Exact = 0,   ///< in exact rational arithmetic: the definition (torchgfn agrees on every cell)
  Float64 = 1  ///< as |x/(H-1) - 0.5| in IEEE double, like the float64 reference codes: where
               ///< H-1 is a multiple of 5, cells at distance exactly 0.3 land in the ring
};

/// "exact" / "float64" (indexed by HypergridRegions) and back; InputError naming the value and
/// the allowed names.
const std::vector<std::string>& hypergrid_region_names();
HypergridRegions parse_hypergrid_regions(const std::string& name);
const char* hypergrid_regions_name(HypergridRegions r);

struct HypergridConfig {
  int32_t ndim = 4;     ///< D, 1..16
  int32_t height = 20;  ///< H, >= 2
  double r0 = 1e-3;     ///< > 0 (every state terminates, so every reward must be positive)
  double r1 = 0.5;      ///< >= 0
  double r2 = 2.0;      ///< >= 0
  HypergridRegions regions = HypergridRegions::Exact;  ///< Float64: compatibility only
};

/// Throws InputError naming the bad field and its allowed range (including sizes of more than
/// 2^31-1 states: state ids are int32; edge ids are int64, so the edge count is a memory question).
void validate(const HypergridConfig& c);
int64_t hypergrid_num_states(const HypergridConfig& c);
int64_t hypergrid_num_edges(const HypergridConfig& c);  ///< inner edges (exits not counted)

/// Bytes the hypergrid DAG plus one soft-value solve and one marginal evaluation need on a
/// backend, so a run can be refused before it allocates.
std::size_t estimate_hypergrid_bytes(const HypergridConfig& c);

/// Builds the hypergrid DAG directly on backend b (on the GPU for Backend::Cuda). label[s] is the
/// base-H code sum_d x_d H^d of state s. Checks the memory estimate first and throws
/// AllocationError with it when it does not fit.
Dag make_hypergrid(const HypergridConfig& c, Backend b, Stream stream = {});

/// The published hypergrids (docs/ALGORITHMS.md): on the 4-D H=20 grid "standard" (R0 1e-3,
/// R1 0.5, R2 2) and "hard" (R0 1e-4, R1 1, R2 3) (Tiapkin et al.; TLM); "policy-gradient", the
/// 2-D H=256 grid with R0 1e-2, R1 0.5, R2 2 (Niu et al.); "torchgfn", the 4-D H=8 grid with R0
/// 0.1 of the TB paper as torchgfn's examples reproduce it. InputError for other names.
HypergridConfig hypergrid_preset(const std::string& name);
/// standard, hard, policy-gradient, torchgfn.
const std::vector<std::string>& hypergrid_preset_names();

/// Coordinates of a label produced by make_hypergrid.
std::vector<int32_t> hypergrid_coordinates(const HypergridConfig& c, int64_t label);

}  // namespace gfnrl
