// subsets, bitseq, dag-structure, ising, set-addition, binary-tree: validation, their random parameters (Philox, so a seed gives
// the same environment on every machine), the BIC score tables, memory estimates, and the
// generic enumerated generator's dispatch.
#include "gfnrl/environments.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "ops/builder_ops.hpp"
#include "gfnrl/names.hpp"
#include "gfnrl/detail/philox.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"

namespace gfnrl {

const std::vector<std::string>& environment_names() {
  static const std::vector<std::string> names{"hypergrid", "subsets", "bitseq", "dag-structure",
                                              "ising",     "set-addition", "binary-tree"};
  return names;
}

namespace {


// Uniform double in [0, 1) with 53 random bits: draw `index` of table `table` of a seed.
double env_uniform(uint64_t seed, uint32_t table, uint32_t index) {
  const detail::Philox4 r = detail::draw(seed, 0, index, table, detail::kStreamEnvironment);
  return static_cast<double>((uint64_t(r.v[0]) << 21) ^ (r.v[1] >> 11)) * 0x1.0p-53;
}

// Standard normal by Box-Muller from two draws.
double env_normal(uint64_t seed, uint32_t table, uint32_t index) {
  const double u1 = 1.0 - env_uniform(seed, table, 2 * index);  // (0, 1]
  const double u2 = env_uniform(seed, table, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

enum Table : uint32_t { kUnary = 1, kPairwise, kModes, kGraph, kWeight, kSign, kNoise, kLeaf };

void check_int(const char* env, const char* name, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    throw InputError(std::string(env) + " " + name + " = " + std::to_string(v) +
                     " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}
void check_nonneg(const char* env, const char* name, double v) {
  if (!std::isfinite(v) || v < 0)
    throw InputError(std::string(env) + " " + name + " = " + std::to_string(v) +
                     " is out of range: must be finite and >= 0");
}

// Solves A x = b (m x m, row-major) by Gaussian elimination with partial pivoting.
std::vector<double> solve_linear(std::vector<double> a, std::vector<double> b, int m) {
  for (int c = 0; c < m; ++c) {
    int piv = c;
    for (int r = c + 1; r < m; ++r)
      if (std::abs(a[r * m + c]) > std::abs(a[piv * m + c])) piv = r;
    for (int k = 0; k < m; ++k) std::swap(a[c * m + k], a[piv * m + k]);
    std::swap(b[c], b[piv]);
    for (int r = c + 1; r < m; ++r) {
      const double f = a[r * m + c] / a[c * m + c];
      for (int k = c; k < m; ++k) a[r * m + k] -= f * a[c * m + k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(m);
  for (int r = m - 1; r >= 0; --r) {
    double s = b[r];
    for (int k = r + 1; k < m; ++k) s -= a[r * m + k] * x[k];
    x[r] = s / a[r * m + r];
  }
  return x;
}

Dag make_enumerated(const detail::EnumeratedEnv& env, int32_t max_level, int64_t max_states,
                    int64_t max_edges, Backend b, const std::string& what) {
  if (max_states > kMaxIndex || max_edges > kMaxEdges)
    throw InputError(what + " has more than 2^31-1 states or 2^40 edges (int32 state ids)");
  // DAG + one solve + marginals (as for the hypergrid), plus the code-space temporaries: sort
  // keys and codes twice, and the dense rank table.
  const std::size_t bytes =
      estimate_dag_bytes(max_states, max_edges) + static_cast<std::size_t>(env.num_codes) * 28;
  require_bytes(b, bytes, what);
  detail::EnumeratedBuffers buf;
  GFNRL_BACKEND_CALL(b, build_enumerated, env, max_level, buf);
  return Dag::from_parts(b, std::move(buf.level_offsets), std::move(buf.arrays), env.num_actions);
}

}  // namespace

// ---- subsets -----------------------------------------------------------------------------------

void validate(const SubsetsConfig& c) {
  check_int("subsets", "items", c.items, 1, detail::kMaxSubsetItems);
  check_nonneg("subsets", "pairwise_scale", c.pairwise_scale);
}

int64_t subsets_num_states(const SubsetsConfig& c) { return int64_t(1) << c.items; }

SubsetsEnergies subsets_energies(const SubsetsConfig& c) {
  validate(c);
  SubsetsEnergies e;
  const int n = c.items;
  e.unary.resize(n);
  e.pairwise.assign(std::size_t(n) * n, 0.0f);
  for (int i = 0; i < n; ++i)
    e.unary[i] = static_cast<float>(2 * env_uniform(c.seed, kUnary, i) - 1);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      e.pairwise[i * n + j] = static_cast<float>(
          c.pairwise_scale * (2 * env_uniform(c.seed, kPairwise, uint32_t(i * n + j)) - 1));
  return e;
}

Dag make_subsets(const SubsetsConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  const SubsetsEnergies e = subsets_energies(c);
  const Array<float> unary = Array<float>::from_host(b, e.unary);
  const Array<float> pairwise = Array<float>::from_host(b, e.pairwise);
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::Subsets;
  env.n = c.items;
  env.num_codes = subsets_num_states(c);
  env.num_actions = c.items;
  env.unary = unary.data();
  env.pairwise = pairwise.data();
  return make_enumerated(env, c.items, env.num_codes, env.num_codes / 2 * c.items, b,
                         "subsets items=" + std::to_string(c.items));
}

// ---- bitseq ------------------------------------------------------------------------------------

void validate(const BitseqConfig& c) {
  check_int("bitseq", "length", c.length, 1, detail::kMaxBitseqLength);
  check_int("bitseq", "word", c.word, 1, c.length);
  if (c.length % c.word != 0)
    throw InputError("bitseq length = " + std::to_string(c.length) +
                     " is not a multiple of word = " +
                     std::to_string(c.word) + " (strings are built from whole words)");
  check_int("bitseq", "modes", c.modes, 1, 1 << 16);
  check_nonneg("bitseq", "beta", c.beta);
}

int64_t bitseq_num_states(const BitseqConfig& c) {
  int64_t n = 0;
  for (int m = 0; m <= c.length; m += c.word) n += int64_t(1) << m;
  return n;
}

std::vector<uint32_t> bitseq_modes(const BitseqConfig& c) {
  validate(c);
  std::vector<uint32_t> modes(c.modes);
  for (int i = 0; i < c.modes; ++i) {
    const detail::Philox4 r = detail::draw(c.seed, 0, i, kModes, detail::kStreamEnvironment);
    modes[i] = c.length == 32 ? r.v[0] : r.v[0] & ((uint32_t(1) << c.length) - 1);
  }
  return modes;
}

Dag make_bitseq(const BitseqConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  const Array<uint32_t> modes = Array<uint32_t>::from_host(b, bitseq_modes(c));
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::Bitseq;
  env.n = c.length;
  env.k = c.word;
  env.num_modes = c.modes;
  env.beta = static_cast<float>(c.beta);
  env.num_codes = int64_t(2) << c.length;
  env.num_actions = 2 << c.word;
  env.modes = modes.data();
  const int64_t states = bitseq_num_states(c);
  return make_enumerated(env, c.length / c.word, states, states * env.num_actions, b,
                         "bitseq length=" + std::to_string(c.length) + " word=" +
                             std::to_string(c.word));
}

// ---- dag-structure ---------------------------------------------------------------------------

void validate(const DagStructureConfig& c) {
  check_int("dag-structure", "nodes", c.nodes, 2, detail::kMaxStructureNodes);
  check_int("dag-structure", "samples", c.samples, 2, 1 << 24);
}

StructureData dag_structure_data(const DagStructureConfig& c) {
  validate(c);
  const int d = c.nodes;
  StructureData s;
  s.nodes = d;
  s.samples = c.samples;
  s.weight.assign(std::size_t(d) * d, 0.0);
  // Edges i -> j (i < j) with probability 1/2, weights +-U(0.5, 2).
  for (int i = 0; i < d; ++i)
    for (int j = i + 1; j < d; ++j)
      if (env_uniform(c.seed, kGraph, uint32_t(i * d + j)) < 0.5) {
        const double mag = 0.5 + 1.5 * env_uniform(c.seed, kWeight, uint32_t(i * d + j));
        s.weight[i * d + j] = env_uniform(c.seed, kSign, uint32_t(i * d + j)) < 0.5 ? -mag : mag;
      }
  s.x.assign(std::size_t(c.samples) * d, 0.0);
  for (int r = 0; r < c.samples; ++r)
    for (int j = 0; j < d; ++j) {
      double v = env_normal(c.seed, kNoise, uint32_t(r * d + j));
      for (int i = 0; i < j; ++i) v += s.weight[i * d + j] * s.x[std::size_t(r) * d + i];
      s.x[std::size_t(r) * d + j] = v;
    }
  return s;
}

namespace {
// BIC(j, pa) - BIC(j, {}) for every node and parent set.
std::vector<float> bic_local_scores(const StructureData& s) {
  const int d = s.nodes, n = s.samples;
  std::vector<double> x = s.x;
  for (int j = 0; j < d; ++j) {  // centre every column
    double mean = 0;
    for (int r = 0; r < n; ++r) mean += x[std::size_t(r) * d + j];
    mean /= n;
    for (int r = 0; r < n; ++r) x[std::size_t(r) * d + j] -= mean;
  }
  auto col = [&](int r, int j) { return x[std::size_t(r) * d + j]; };
  std::vector<float> local(std::size_t(d) << d, 0.0f);
  for (int j = 0; j < d; ++j) {
    double yy = 0;
    for (int r = 0; r < n; ++r) yy += col(r, j) * col(r, j);
    const double base = -0.5 * n * std::log(yy / n);
    for (uint32_t mask = 0; mask < (1u << d); ++mask) {
      if ((mask >> j) & 1) continue;  // never a parent of itself
      std::vector<int> pa;
      for (int i = 0; i < d; ++i)
        if ((mask >> i) & 1) pa.push_back(i);
      const int m = static_cast<int>(pa.size());
      double rss = yy;
      if (m > 0) {
        std::vector<double> xtx(m * m, 0.0), xty(m, 0.0);
        for (int r = 0; r < n; ++r)
          for (int a = 0; a < m; ++a) {
            xty[a] += col(r, pa[a]) * col(r, j);
            for (int b2 = 0; b2 < m; ++b2) xtx[a * m + b2] += col(r, pa[a]) * col(r, pa[b2]);
          }
        const std::vector<double> beta = solve_linear(xtx, xty, m);
        for (int a = 0; a < m; ++a) rss -= beta[a] * xty[a];
        rss = std::max(rss, yy * 1e-12);  // an exact fit would give log 0
      }
      const double bic = -0.5 * n * std::log(rss / n) - 0.5 * m * std::log(double(n));
      local[(std::size_t(j) << d) | mask] = static_cast<float>(bic - base);
    }
  }
  return local;
}
}  // namespace

const std::vector<std::string>& structure_score_names() {
  static const std::vector<std::string> names{"bic", "bge"};
  return names;
}
StructureScore parse_structure_score(const std::string& name) {
  return static_cast<StructureScore>(detail::parse_name(structure_score_names(), name, "structure score"));
}
std::string structure_score_name(StructureScore s) {
  return structure_score_names().at(static_cast<std::size_t>(s));
}

namespace {
// log det of the symmetric positive definite m x m matrix a (row-major), by Cholesky.
double log_det_spd(std::vector<double> a, int m) {
  double log_det = 0;
  for (int c = 0; c < m; ++c) {
    double diag = a[c * m + c];
    for (int k = 0; k < c; ++k) diag -= a[c * m + k] * a[c * m + k];
    if (!(diag > 0)) throw std::runtime_error("BGe: the scatter matrix is not positive definite");
    const double l = std::sqrt(diag);
    a[c * m + c] = l;
    log_det += 2 * std::log(l);
    for (int r = c + 1; r < m; ++r) {
      double v = a[r * m + c];
      for (int k = 0; k < c; ++k) v -= a[r * m + k] * a[c * m + k];
      a[r * m + c] = v / l;
    }
  }
  return log_det;
}

// R[vars, vars] of the BGe posterior scatter matrix (full d x d).
double log_det_block(const std::vector<double>& r, int d, const std::vector<int>& vars) {
  const int m = static_cast<int>(vars.size());
  if (m == 0) return 0.0;
  std::vector<double> a(std::size_t(m) * m);
  for (int p = 0; p < m; ++p)
    for (int q = 0; q < m; ++q) a[p * m + q] = r[vars[p] * d + vars[q]];
  return log_det_spd(a, m);
}

constexpr double kBgeAlphaMu = 1.0;

// R = t I + centred scatter + N alpha_mu / (N + alpha_mu) mean mean^T (prior mean 0).
std::vector<double> bge_scatter(const std::vector<double>& x, int n, int d, double t) {
  std::vector<double> mean(d, 0.0), r(std::size_t(d) * d, 0.0);
  for (int k = 0; k < n; ++k)
    for (int j = 0; j < d; ++j) mean[j] += x[std::size_t(k) * d + j] / n;
  for (int k = 0; k < n; ++k)
    for (int a = 0; a < d; ++a)
      for (int b = 0; b < d; ++b)
        r[a * d + b] += (x[std::size_t(k) * d + a] - mean[a]) * (x[std::size_t(k) * d + b] - mean[b]);
  for (int a = 0; a < d; ++a)
    for (int b = 0; b < d; ++b)
      r[a * d + b] += (a == b ? t : 0.0) + n * kBgeAlphaMu / (n + kBgeAlphaMu) * mean[a] * mean[b];
  return r;
}
}  // namespace

namespace {
double bge_t(int32_t nodes) {
  const double alpha_w = nodes + 2.0;
  return kBgeAlphaMu * (alpha_w - nodes - 1) / (kBgeAlphaMu + 1);
}

// The BGe local score from the scatter matrix r (bge_scatter).
double bge_from_scatter(const std::vector<double>& r, int32_t samples, int32_t nodes, int32_t j,
                        uint32_t mask) {
  const double n = samples, d = nodes, alpha_w = d + 2, am = kBgeAlphaMu, t = bge_t(nodes);
  std::vector<int> pa;
  for (int i = 0; i < nodes; ++i)
    if ((mask >> i) & 1) pa.push_back(i);
  const double p = static_cast<double>(pa.size()), a = n + alpha_w - d;
  std::vector<int> family{j};
  family.insert(family.end(), pa.begin(), pa.end());
  return 0.5 * (std::log(am) - std::log(n + am)) + std::lgamma(0.5 * (a + p + 1)) -
         std::lgamma(0.5 * (alpha_w - d + p + 1)) - 0.5 * n * std::log(M_PI) +
         0.5 * (alpha_w - d + 2 * p + 1) * std::log(t) + 0.5 * (a + p) * log_det_block(r, nodes, pa) -
         0.5 * (a + p + 1) * log_det_block(r, nodes, family);
}
}  // namespace

double bge_local_score(const std::vector<double>& x, int32_t samples, int32_t nodes, int32_t j,
                       uint32_t mask) {
  return bge_from_scatter(bge_scatter(x, samples, nodes, bge_t(nodes)), samples, nodes, j, mask);
}

std::vector<float> dag_structure_local_scores(const DagStructureConfig& c) {
  const StructureData s = dag_structure_data(c);
  if (c.score == StructureScore::Bic) return bic_local_scores(s);
  const int d = s.nodes;
  const std::vector<double> r = bge_scatter(s.x, s.samples, d, bge_t(d));
  std::vector<float> local(std::size_t(d) << d, 0.0f);
  for (int j = 0; j < d; ++j) {
    const double empty = bge_from_scatter(r, s.samples, d, j, 0);
    for (uint32_t mask = 0; mask < (1u << d); ++mask)
      if (!((mask >> j) & 1))
        local[(std::size_t(j) << d) | mask] =
            static_cast<float>(bge_from_scatter(r, s.samples, d, j, mask) - empty);
  }
  return local;
}

Dag make_dag_structure(const DagStructureConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  const Array<float> local = Array<float>::from_host(b, dag_structure_local_scores(c));
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::DagStructure;
  env.n = c.nodes;
  env.num_codes = int64_t(1) << (c.nodes * (c.nodes - 1));
  env.num_actions = c.nodes * (c.nodes - 1);
  env.local_score = local.data();
  const int64_t states = 29281;  // the most acyclic digraphs (5 nodes)
  return make_enumerated(env, c.nodes * (c.nodes - 1) / 2, states, states * env.num_actions, b,
                         "dag-structure nodes=" + std::to_string(c.nodes));
}

// ---- ising -------------------------------------------------------------------------------------

const std::vector<std::string>& ising_coupling_names() {
  static const std::vector<std::string> names{"ring", "lattice", "all"};
  return names;
}
IsingCoupling parse_ising_coupling(const std::string& name) {
  return static_cast<IsingCoupling>(detail::parse_name(ising_coupling_names(), name, "ising coupling"));
}
std::string ising_coupling_name(IsingCoupling c) {
  return ising_coupling_names().at(static_cast<std::size_t>(c));
}

namespace {
int32_t lattice_side(int32_t spins) {
  int32_t l = 0;
  while ((l + 1) * (l + 1) <= spins) ++l;
  return l * l == spins ? l : -1;
}
}  // namespace

void validate(const IsingConfig& c) {
  check_int("ising", "spins", c.spins, c.coupling == IsingCoupling::All ? 1 : 2,
            detail::kMaxIsingSpins);
  if (c.coupling == IsingCoupling::Lattice && lattice_side(c.spins) < 2)
    throw InputError("ising spins = " + std::to_string(c.spins) + " is not a square L^2 with "
                     "L >= 2, as the lattice coupling needs (4 or 9 within the limit of " +
                     std::to_string(detail::kMaxIsingSpins) + ")");
  if (!std::isfinite(c.coupling_constant))
    throw InputError("ising coupling_constant = " + std::to_string(c.coupling_constant) +
                     " must be finite");
  check_nonneg("ising", "beta", c.beta);
}

int64_t ising_num_states(const IsingConfig& c) {
  int64_t n = 1;
  for (int32_t i = 0; i < c.spins; ++i) n *= 3;
  return n;
}

std::vector<float> ising_couplings(const IsingConfig& c) {
  validate(c);
  const int32_t n = c.spins;
  std::vector<float> j(std::size_t(n) * n, 0.0f);
  const auto link = [&](int32_t a, int32_t b) { j[a * n + b] = j[b * n + a] = 1.0f; };
  if (c.coupling == IsingCoupling::All) {
    std::fill(j.begin(), j.end(), 1.0f);
  } else if (c.coupling == IsingCoupling::Ring) {
    for (int32_t i = 0; i < n; ++i) link(i, (i + 1) % n);
  } else {  // the torus: right and down neighbours, wrapping
    const int32_t l = lattice_side(n);
    for (int32_t r = 0; r < l; ++r)
      for (int32_t col = 0; col < l; ++col) {
        link(r * l + col, r * l + (col + 1) % l);
        link(r * l + col, ((r + 1) % l) * l + col);
      }
  }
  return j;
}

Dag make_ising(const IsingConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  const Array<float> coupling = Array<float>::from_host(b, ising_couplings(c));
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::Ising;
  env.n = c.spins;
  env.num_codes = ising_num_states(c);
  env.num_actions = 2 * c.spins;
  env.scale = c.beta * c.coupling_constant;
  env.coupling = coupling.data();
  // Edges: each state has 2 children per unset variable; sum over states = 2n 3^(n-1).
  const int64_t edges = env.num_codes / 3 * 2 * c.spins;
  return make_enumerated(env, c.spins, env.num_codes, edges, b,
                         "ising spins=" + std::to_string(c.spins));
}

// ---- set-addition --------------------------------------------------------------------------------

void validate(const SetAdditionConfig& c) {
  check_int("set-addition", "items", c.items, 1, detail::kMaxSubsetItems);
  check_int("set-addition", "max_items", c.max_items, 1, c.items);
  check_nonneg("set-addition", "pairwise_scale", c.pairwise_scale);
}

int64_t set_addition_num_states(const SetAdditionConfig& c) {
  int64_t n = 0, binom = 1;  // sum over k <= max_items of C(items, k)
  for (int32_t k = 0; k <= c.max_items; ++k) {
    n += binom;
    binom = binom * (c.items - k) / (k + 1);
  }
  return n;
}

Dag make_set_addition(const SetAdditionConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  const SubsetsEnergies e = subsets_energies({c.items, c.pairwise_scale, c.seed});
  const Array<float> unary = Array<float>::from_host(b, e.unary);
  const Array<float> pairwise = Array<float>::from_host(b, e.pairwise);
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::SetAddition;
  env.n = c.items;
  env.max_items = c.max_items;
  env.fixed_length = c.fixed_length;
  env.num_codes = int64_t(1) << c.items;
  env.num_actions = c.items;
  env.unary = unary.data();
  env.pairwise = pairwise.data();
  const int64_t states = set_addition_num_states(c);
  return make_enumerated(env, c.max_items, states, states * c.items, b,
                         "set-addition items=" + std::to_string(c.items) + " max_items=" +
                             std::to_string(c.max_items));
}

// ---- binary-tree ---------------------------------------------------------------------------------

void validate(const BinaryTreeConfig& c) {
  check_int("binary-tree", "depth", c.depth, 1, detail::kMaxTreeDepth);
  check_nonneg("binary-tree", "beta", c.beta);
}

std::vector<float> binary_tree_leaf_log_rewards(const BinaryTreeConfig& c) {
  validate(c);
  std::vector<float> r(std::size_t(1) << c.depth);
  for (std::size_t i = 0; i < r.size(); ++i)
    r[i] = static_cast<float>(c.beta * (2 * env_uniform(c.seed, kLeaf, uint32_t(i)) - 1));
  return r;
}

Dag make_binary_tree(const BinaryTreeConfig& c, Backend b, Stream stream) {
  const StreamScope scope(stream);
  validate(c);
  const Array<float> leaves = Array<float>::from_host(b, binary_tree_leaf_log_rewards(c));
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::BinaryTree;
  env.n = c.depth;
  env.num_codes = (int64_t(2) << c.depth) - 1;
  env.num_actions = 2;
  env.leaf_log_reward = leaves.data();
  return make_enumerated(env, c.depth, env.num_codes, env.num_codes - 1, b,
                         "binary-tree depth=" + std::to_string(c.depth));
}

}  // namespace gfnrl
