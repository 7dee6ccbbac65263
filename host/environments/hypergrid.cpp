// Hypergrid: parameter validation, size closed forms, memory estimate, backend dispatch.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ops/builder_ops.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/hypergrid.hpp"
#include "gfnrl/names.hpp"
#include "gfnrl/memory_budget.hpp"

namespace gfnrl {

namespace {

// H^D saturating at kMaxIndex + 1 (enough to tell "too large").
int64_t saturating_pow(int64_t h, int32_t d) {
  int64_t r = 1;
  for (int32_t i = 0; i < d; ++i) {
    r *= h;
    if (r > kMaxIndex) return kMaxIndex + 1;
  }
  return r;
}

void check_real(const char* name, double v, double lo, bool lo_open) {
  if (!std::isfinite(v) || (lo_open ? v <= lo : v < lo))
    throw InputError(std::string("hypergrid ") + name + " = " + std::to_string(v) + " is out of range: must be finite and " +
                     (lo_open ? "> " : ">= ") + std::to_string(lo) +
                     (lo_open ? " (every hypergrid state terminates, so every reward must be "
                                "positive)"
                              : ""));
}
}  // namespace

int64_t hypergrid_num_states(const HypergridConfig& c) { return saturating_pow(c.height, c.ndim); }

int64_t hypergrid_num_edges(const HypergridConfig& c) {
  const int64_t n = hypergrid_num_states(c);
  return n / c.height * (c.height - 1) * c.ndim;
}

void validate(const HypergridConfig& c) {
  if (c.ndim < 1 || c.ndim > detail::kMaxHypergridDim)
    throw InputError("hypergrid ndim = " + std::to_string(c.ndim) + " is out of range [1, " +
                     std::to_string(detail::kMaxHypergridDim) + "]");
  if (c.height < 2)
    throw InputError("hypergrid height = " + std::to_string(c.height) + " is out of range: must be >= 2");
  if (c.regions != HypergridRegions::Exact && c.regions != HypergridRegions::Float64)
    throw InputError("hypergrid regions = " + std::to_string(static_cast<int32_t>(c.regions)) +
                     " is out of range [0, 1] (0 exact, 1 float64)");
  check_real("r0", c.r0, 0.0, true);
  check_real("r1", c.r1, 0.0, false);
  check_real("r2", c.r2, 0.0, false);
  // State ids are int32; edge ids int64 (a 4-D grid of 6e8 states has 2.4e9 edges). With at
  // most 2^31-1 states and 16 dimensions, the edge count stays below kMaxEdges.
  if (hypergrid_num_states(c) > kMaxIndex)
    throw InputError("hypergrid ndim = " + std::to_string(c.ndim) + ", height = " +
                     std::to_string(c.height) +
                     " has more than 2^31-1 states: the state count must be at most 2^31-1 "
                     "(int32 state ids)");
}

std::size_t estimate_hypergrid_bytes(const HypergridConfig& c) {
  return estimate_dag_bytes(hypergrid_num_states(c), hypergrid_num_edges(c));
}

std::vector<int32_t> hypergrid_coordinates(const HypergridConfig& c, int64_t label) {
  std::vector<int32_t> x(c.ndim);
  detail::hypergrid_decode(label, {c.ndim, c.height, c.r0, c.r1, c.r2}, x.data());
  return x;
}

Dag make_hypergrid(const HypergridConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  require_bytes(b, estimate_hypergrid_bytes(c),
                "hypergrid ndim=" + std::to_string(c.ndim) + " height=" + std::to_string(c.height) +
                    " (" + std::to_string(hypergrid_num_states(c)) + " states)");
  const int64_t n = hypergrid_num_states(c);
  const int64_t e = hypergrid_num_edges(c);
  const int32_t d = c.ndim, top = c.height - 1;
  // Level sizes: number of x in {0..H-1}^D with sum l (convolution of D boxes).
  std::vector<int64_t> count{1};
  for (int32_t k = 0; k < d; ++k) {
    std::vector<int64_t> next(count.size() + top, 0);
    for (std::size_t l = 0; l < count.size(); ++l)
      for (int32_t v = 0; v <= top; ++v) next[l + v] += count[l];
    count.swap(next);
  }
  const int32_t num_levels = static_cast<int32_t>(count.size());
  std::vector<int32_t> levels(num_levels + 1, 0), max_out(num_levels), max_in(num_levels);
  for (int32_t l = 0; l < num_levels; ++l) {
    levels[l + 1] = levels[l] + static_cast<int32_t>(count[l]);
    // A state of level l has at least l - D(H-2) coordinates at H-1 and at most l non-zero ones.
    max_out[l] = d - std::clamp(l - d * (top - 1), 0, d);
    max_in[l] = std::min(d, l);
  }
  DagBuffers buf = DagBuffers::allocate(b, n, e);
  const detail::HypergridShape shape{c.ndim, c.height, c.r0, c.r1, c.r2,
                                     c.regions == HypergridRegions::Float64};
  GFNRL_BACKEND_CALL(b, build_hypergrid, shape, n, buf);
  return Dag::from_parts(b, std::move(levels), std::move(max_out), std::move(max_in),
                         std::move(buf), c.ndim);
}

}  // namespace gfnrl

namespace gfnrl {

const std::vector<std::string>& hypergrid_region_names() {
  static const std::vector<std::string> names{"exact", "float64"};
  return names;
}

HypergridRegions parse_hypergrid_regions(const std::string& name) {
  return static_cast<HypergridRegions>(
      detail::parse_name(hypergrid_region_names(), name, "hypergrid region rule"));
}

const char* hypergrid_regions_name(HypergridRegions r) {
  return hypergrid_region_names().at(static_cast<std::size_t>(r)).c_str();
}

const std::vector<std::string>& hypergrid_preset_names() {
  static const std::vector<std::string> names{"standard", "hard", "policy-gradient", "torchgfn"};
  return names;
}

HypergridConfig hypergrid_preset(const std::string& name) {
  const int preset = detail::parse_name(hypergrid_preset_names(), name, "hypergrid preset");
  HypergridConfig c;
  c.ndim = 4;
  c.height = 20;
  if (preset == 0) {  // standard
    c.r0 = 1e-3, c.r1 = 0.5, c.r2 = 2.0;
  } else if (preset == 1) {  // hard
    c.r0 = 1e-4, c.r1 = 1.0, c.r2 = 3.0;
  } else if (preset == 2) {  // policy-gradient: Niu et al. (ICML 2024), 2-D H=256, R0 1e-2
    c.ndim = 2;
    c.height = 256;
    c.r0 = 1e-2, c.r1 = 0.5, c.r2 = 2.0;
  } else {  // torchgfn: the TB paper's 4-D H=8 grid with R0 0.1, as torchgfn's examples run it
    c.ndim = 4;
    c.height = 8;
    c.r0 = 0.1, c.r1 = 0.5, c.r2 = 2.0;
  }
  return c;
}

}  // namespace gfnrl
