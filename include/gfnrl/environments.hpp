/// @file environments.hpp
/// Enumerable environments beyond the hypergrid, each generated directly on the chosen backend
/// (on the GPU for Backend::Cuda) from per-state definitions in detail/enumerated_env.hpp, and
/// the autoregressive (tree) unrolling of any DAG. Random parameters (energies, modes, data) are
/// drawn with Philox from the config's seed: the same seed gives the same environment anywhere.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gfnrl/dag.hpp"

namespace gfnrl {

/// The generated environments by name: hypergrid (hypergrid.hpp), subsets, bitseq,
/// dag-structure, ising, set-addition, binary-tree.
const std::vector<std::string>& environment_names();

/// Sets of `items` items built one item at a time: 2^items states, every state terminates,
/// items! paths to the full set (the DAG where the uncorrected bias is extreme).
/// E(S) = sum_{i in S} u_i + sum_{i<j in S} w_ij, u_i ~ U(-1, 1), w_ij ~ U(-1, 1) * pairwise_scale.
/// label = the bitmask of S.
struct SubsetsConfig {
  int32_t items = 8;            ///< 1..24
  double pairwise_scale = 0.5;  ///< >= 0
  uint64_t seed = 0;
};

/// Binary strings of `length` bits built by appending or prepending `word`-bit words (a DAG:
/// a string is reached by several append/prepend orders). Only full-length strings terminate,
/// with log R(x) = -beta * min_i Hamming(x, mode_i) over `modes` random modes.
/// label = 1 << m | bits for a string of m bits (bit m marks the length).
struct BitseqConfig {
  int32_t length = 8;  ///< 1..20, a multiple of word
  int32_t word = 2;    ///< 1..length
  int32_t modes = 4;   ///< >= 1
  double beta = 1.0;   ///< >= 0
  uint64_t seed = 0;
};

/// The decomposable score of a structure: BIC, or BGe (Geiger & Heckerman 2002, with Kuipers,
/// Moffa & Heckerman 2014's correction; the score of DAG-GFlowNet, Deleu et al. 2022: alpha_mu = 1,
/// alpha_w = d + 2, prior mean 0, a uniform prior over graphs).
enum class StructureScore { Bic, Bge };
const std::vector<std::string>& structure_score_names();
StructureScore parse_structure_score(const std::string& name);
std::string structure_score_name(StructureScore s);

/// Bayesian-network structures over `nodes` variables built by adding one edge at a time while
/// staying acyclic (1, 3, 25, 543, 29281 DAGs for 1..5 nodes); every state terminates.
/// log R(G) = score(G) - score(empty graph) on `samples` rows drawn from a random linear-Gaussian
/// network over the nodes (Deleu et al.'s structure-learning setting), score BIC or BGe.
/// label = the adjacency bits (slot i(d-1) + (j < i ? j : j-1) for edge i -> j).
struct DagStructureConfig {
  int32_t nodes = 4;     ///< 2..5
  int32_t samples = 100; ///< >= 2
  uint64_t seed = 0;
  StructureScore score = StructureScore::Bic;
};

/// torchgfn's DiscreteEBM with an Ising energy: x in {-1, 0, 1}^spins, -1 = unset, one variable
/// set to 0 or 1 per step (action i sets x_i = 0, spins + i sets x_i = 1), complete states
/// terminate; with s = 2x - 1, log R(x) = beta * coupling_constant * s^T J s (torchgfn:
/// -alpha E(s), E(s) = -s^T J' s, J' = coupling_constant * J). 3^spins states, k! paths to a state
/// with k variables set. label = torchgfn's state index sum_i (x_i + 1) 3^(spins-1-i).
/// J (symmetric, 0/1): ring, J_ij = 1 for |i - j| = 1 mod spins; lattice, spins = L^2 on an L x L
/// torus (torchgfn's Ising example, variable i at row i / L, column i % L); all, J_ij = 1
/// everywhere, the diagonal included (torchgfn's DiscreteEBM default).
enum class IsingCoupling { Ring, Lattice, All };
const std::vector<std::string>& ising_coupling_names();
IsingCoupling parse_ising_coupling(const std::string& name);
std::string ising_coupling_name(IsingCoupling c);

struct IsingConfig {
  int32_t spins = 9;                           ///< 1..14 (ring: >= 2; lattice: L^2, L >= 2)
  IsingCoupling coupling = IsingCoupling::Lattice;
  double coupling_constant = 0.44;             ///< finite (torchgfn's Ising example: 0.44)
  double beta = 1.0;                           ///< finite, >= 0 (torchgfn's alpha)
};

/// torchgfn's SetAddition (Shen et al. 2023's append-only MDP): sets of at most max_items of
/// `items` items, one item added per step; every set terminates (the empty one too: torchgfn's
/// masks allow the exit everywhere) or, with fixed_length, only those of max_items items.
/// log R(S) = -E(S) with the subsets energies of the same items, pairwise_scale and seed.
/// label = torchgfn's state index sum_i x_i 2^(items-1-i) (item 0 the leading bit).
struct SetAdditionConfig {
  int32_t items = 8;            ///< 1..24
  int32_t max_items = 4;        ///< 1..items
  bool fixed_length = false;
  double pairwise_scale = 0.5;  ///< >= 0
  uint64_t seed = 0;
};

/// torchgfn's PerfectBinaryTree of depth d: nodes 0 .. 2^(d+1) - 2 breadth-first (label = the
/// node), action 0 / 1 to the left / right child 2c + 1 / 2c + 2, the 2^d leaves terminate with
/// log R = beta * u, u ~ U(-1, 1) per leaf (Philox from seed; torchgfn takes any reward_fn).
struct BinaryTreeConfig {
  int32_t depth = 4;   ///< 1..24 (torchgfn's default 4)
  double beta = 1.0;   ///< finite, >= 0
  uint64_t seed = 0;
};

void validate(const SubsetsConfig& c);
void validate(const IsingConfig& c);
void validate(const SetAdditionConfig& c);
void validate(const BinaryTreeConfig& c);
void validate(const BitseqConfig& c);
void validate(const DagStructureConfig& c);

Dag make_subsets(const SubsetsConfig& c, Backend b, Stream stream = {});
Dag make_bitseq(const BitseqConfig& c, Backend b, Stream stream = {});
Dag make_dag_structure(const DagStructureConfig& c, Backend b, Stream stream = {});
Dag make_ising(const IsingConfig& c, Backend b, Stream stream = {});
Dag make_set_addition(const SetAdditionConfig& c, Backend b, Stream stream = {});
Dag make_binary_tree(const BinaryTreeConfig& c, Backend b, Stream stream = {});
/// The leaves' log rewards of a binary-tree environment, left to right.
std::vector<float> binary_tree_leaf_log_rewards(const BinaryTreeConfig& c);

/// The coupling pattern J of an ising environment, row-major spins x spins (0 or 1).
std::vector<float> ising_couplings(const IsingConfig& c);

/// The energy terms of a subsets environment: unary[i], pairwise[i * items + j] (i < j).
struct SubsetsEnergies {
  std::vector<float> unary, pairwise;
};
SubsetsEnergies subsets_energies(const SubsetsConfig& c);
/// The modes of a bitseq environment, as `length`-bit integers.
std::vector<uint32_t> bitseq_modes(const BitseqConfig& c);

/// The dataset of a dag-structure environment and the network it was drawn from.
struct StructureData {
  int32_t nodes = 0, samples = 0;
  std::vector<double> x;         ///< samples x nodes, row-major
  std::vector<double> weight;    ///< true weights, weight[i * nodes + j] for edge i -> j (0: none)
};
StructureData dag_structure_data(const DagStructureConfig& c);
/// The score of node j with parent set `mask` (bit i: i is a parent), minus its score without
/// parents: local[j << nodes | mask]. BIC(j, pa) = -N/2 log(RSS/N) - |pa|/2 log N (least squares
/// on the centred data); BGe as in bge_local_score.
std::vector<float> dag_structure_local_scores(const DagStructureConfig& c);

/// The BGe local score of node j with the parents in `mask` on data x (samples x nodes,
/// row-major), in double, not normalised. With t = alpha_mu (alpha_w - d - 1) / (alpha_mu + 1),
/// R = t I + sum_r (x_r - mean)(x_r - mean)^T + N alpha_mu / (N + alpha_mu) mean mean^T, p = |pa|,
/// a = N + alpha_w - d:
///   score = 1/2 log(alpha_mu / (N + alpha_mu)) + lgamma((a + p + 1) / 2)
///         - lgamma((alpha_w - d + p + 1) / 2) - N/2 log pi + (alpha_w - d + 2p + 1)/2 log t
///         + (a + p)/2 log det R[pa, pa] - (a + p + 1)/2 log det R[j + pa, j + pa].
double bge_local_score(const std::vector<double>& x, int32_t samples, int32_t nodes, int32_t j,
                       uint32_t mask);

/// Upper bounds used for memory estimates before generation.
int64_t subsets_num_states(const SubsetsConfig& c);
int64_t bitseq_num_states(const BitseqConfig& c);
int64_t ising_num_states(const IsingConfig& c);
int64_t set_addition_num_states(const SetAdditionConfig& c);

/// The autoregressive (tree) version of a DAG: one state per path from the source, so each state
/// has one parent and every backward policy is 1 (the reward correction is a no-op). A tree state
/// terminates with the reward of the DAG state its path ends in; label = that state's index in
/// `base`. Built level by level on base's backend; InputError when the number of paths exceeds
/// `max_states`.
Dag make_tree(const Dag& base, int64_t max_states = int64_t(1) << 26, Stream stream = {});

}  // namespace gfnrl
