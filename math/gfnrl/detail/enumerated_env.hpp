/// @file enumerated_env.hpp
/// Environments whose states are integer codes in [0, num_codes), defined per code by
/// __host__ __device__ functions: one generic generator (CPU loop or CUDA kernels) enumerates the
/// valid codes, sorts them by level and fills CSR/CSC from child() and parent().
///
///  - subsets(n): code = bitmask of the chosen items; action i adds item i; every state
///    terminates; E(S) = sum_{i in S} u_i + sum_{i<j in S} w_ij.  n(S) = |S|! paths.
///  - bitseq(n, k): code = 1 << m | bits for a string of m bits (m a multiple of k, <= n; the
///    leading 1 marks the length); actions 0..2^k-1 append word a, 2^k..2^(k+1)-1 prepend word
///    a - 2^k. A prepend that yields the same string as an append is dropped (one edge per
///    distinct child). Only strings of length n terminate: log R = -beta * min_i Hamming(x, mode_i).
///  - dag-structure(d): code = the d(d-1) off-diagonal entries of an adjacency matrix, slot
///    t = i(d-1) + (j < i ? j : j-1) for edge i -> j; valid iff acyclic; action t adds edge t;
///    every state terminates; log R(G) = sum_j score(j, parents_G(j)) (a decomposable score,
///    tabulated per node and parent set).
///  - ising(n) (torchgfn's DiscreteEBM): x in {-1, 0, 1}^n with -1 = unset, code = sum_i
///    (x_i + 1) 3^(n-1-i) (torchgfn's state index: x_0 the leading base-3 digit); action i < n
///    sets x_i = 0, action n + i sets x_i = 1; only complete states terminate, with
///    log R(x) = scale * s^T J s, s = 2x - 1 in {-1, 1}^n (torchgfn: -alpha E(s), E = -s^T J s,
///    so scale = alpha times the coupling constant and J the coupling pattern).  n(x) = k! paths
///    for k set variables.
///  - set-addition(n, k) (torchgfn's SetAddition, Shen et al. 2023's append-only MDP): code =
///    torchgfn's state index, item i at bit n-1-i; sets of at most k items; action i adds item i;
///    log R = -E(S) with the subsets energies; every set terminates (torchgfn's masks allow the
///    exit everywhere, the empty set included), or with fixed_length only those of k items.
///  - binary-tree(d) (torchgfn's PerfectBinaryTree): node codes 0 .. 2^(d+1) - 2 in breadth-first
///    order, action a in {0, 1} leads from node c to 2c + 1 + a; the 2^d leaves terminate with
///    log R = leaf_log_reward[leaf - (2^d - 1)]. One path per state.
#pragma once
#include <cstdint>

#include "gfnrl/dag_view.hpp"
#include "gfnrl/detail/hd.hpp"

namespace gfnrl::detail {

enum class EnvKind : int32_t {
  Subsets = 0, Bitseq = 1, DagStructure = 2, Ising = 3, SetAddition = 4, BinaryTree = 5
};

constexpr int kMaxSubsetItems = 24;
constexpr int kMaxBitseqLength = 20;
constexpr int kMaxStructureNodes = 5;
constexpr int kMaxIsingSpins = 14;
constexpr int kMaxTreeDepth = 24;

struct EnumeratedEnv {
  EnvKind kind = EnvKind::Subsets;
  int32_t n = 0;            ///< items (subsets, set-addition), string length (bitseq), nodes
                            ///< (dag-structure), spins (ising), depth (binary-tree)
  int32_t max_items = 0;    ///< set-addition: the largest set
  bool fixed_length = false;  ///< set-addition: only sets of max_items terminate
  int32_t k = 1;            ///< bitseq word bits
  int32_t num_modes = 0;    ///< bitseq
  float beta = 1.0f;        ///< bitseq
  double scale = 1.0;       ///< ising: log R = scale * s^T J s
  int64_t num_codes = 0;
  int32_t num_actions = 0;  ///< actions besides exit (the exit action id is num_actions)
  // Tables in the generator's backend memory.
  const float* unary = nullptr;        ///< subsets: u_i, n entries
  const float* pairwise = nullptr;     ///< subsets: w_ij at i*n + j (i < j used)
  const uint32_t* modes = nullptr;     ///< bitseq: num_modes strings of n bits
  const float* local_score = nullptr;  ///< dag-structure: score(j, mask) at j * 2^d + mask
  const float* coupling = nullptr;     ///< ising: J_ij at i * n + j (small integers: exact sums)
  const float* leaf_log_reward = nullptr;  ///< binary-tree: one per leaf, left to right
};

GFNRL_HD inline int popcount64(uint64_t x) {
  int c = 0;
  for (; x; x &= x - 1) ++c;
  return c;
}

/// Index of the highest set bit (x > 0).
GFNRL_HD inline int top_bit(uint64_t x) {
  int b = -1;
  for (; x; x >>= 1) ++b;
  return b;
}

// ---- dag-structure ---------------------------------------------------------------------------

/// Slot t <-> edge i -> j (i != j).
GFNRL_HD inline void structure_edge(int32_t t, int32_t d, int32_t* i, int32_t* j) {
  *i = t / (d - 1);
  const int32_t r = t % (d - 1);
  *j = r < *i ? r : r + 1;
}

/// Parent masks: parents[j] has bit i set iff edge i -> j is present.
GFNRL_HD inline void structure_parents(int64_t code, int32_t d, uint32_t* parents) {
  for (int j = 0; j < d; ++j) parents[j] = 0;
  for (int32_t t = 0; t < d * (d - 1); ++t)
    if ((code >> t) & 1) {
      int32_t i, j;
      structure_edge(t, d, &i, &j);
      parents[j] |= 1u << i;
    }
}

/// Acyclic iff repeatedly removing nodes without remaining parents empties the graph.
GFNRL_HD inline bool structure_acyclic(int64_t code, int32_t d) {
  uint32_t parents[kMaxStructureNodes];
  structure_parents(code, d, parents);
  uint32_t left = (1u << d) - 1;
  for (bool removed = true; left && removed;) {
    removed = false;
    for (int j = 0; j < d; ++j)
      if (((left >> j) & 1) && (parents[j] & left) == 0) {
        left &= ~(1u << j);
        removed = true;
      }
  }
  return left == 0;
}

// ---- bitseq ----------------------------------------------------------------------------------

GFNRL_HD inline int32_t bitseq_length(int64_t code) { return top_bit(static_cast<uint64_t>(code)); }

// ---- ising -----------------------------------------------------------------------------------

/// The place value 3^(n-1-i) of variable i in the code.
GFNRL_HD inline int64_t ising_place(int32_t n, int32_t i) {
  int64_t p = 1;
  for (int32_t k = i + 1; k < n; ++k) p *= 3;
  return p;
}

/// x_i + 1: 0 unset, 1 for x_i = 0 (spin -1), 2 for x_i = 1 (spin +1).
GFNRL_HD inline int32_t ising_digit(int64_t code, int32_t n, int32_t i) {
  return static_cast<int32_t>((code / ising_place(n, i)) % 3);
}

GFNRL_HD inline int32_t ising_set(int64_t code, int32_t n) {
  int32_t k = 0;
  for (int32_t i = 0; i < n; ++i) k += ising_digit(code, n, i) != 0;
  return k;
}

/// scale * s^T J s with s_i = +-1 for set variables and 0 for unset ones: log R for a complete
/// state; for a partial one the interactions among the spins set so far (the intermediate
/// log-reward -E(s) that forward-looking flows read). -inf for a partial state unless `partial`.
GFNRL_HD inline float ising_log_reward(const EnumeratedEnv& e, int64_t code, bool partial = false) {
  int32_t s[kMaxIsingSpins];
  for (int32_t i = 0; i < e.n; ++i) {
    const int32_t d = ising_digit(code, e.n, i);
    if (d == 0 && !partial) return neg_inf();
    s[i] = d == 2 ? 1 : d == 1 ? -1 : 0;
  }
  float m = 0;  // exact: a sum of small integers
  for (int32_t i = 0; i < e.n; ++i)
    for (int32_t j = 0; j < e.n; ++j) m += e.coupling[i * e.n + j] * float(s[i] * s[j]);
  return static_cast<float>(e.scale * double(m));
}

// ---- subsets and set-addition -------------------------------------------------------------------

/// E(S) = sum_{i in S} u_i + sum_{i<j in S} w_ij, S as a mask with item i at bit i.
GFNRL_HD inline float subsets_energy(const EnumeratedEnv& e, int64_t items) {
  float energy = 0;
  for (int i = 0; i < e.n; ++i) {
    if (!((items >> i) & 1)) continue;
    energy += e.unary[i];
    for (int j = i + 1; j < e.n; ++j)
      if ((items >> j) & 1) energy += e.pairwise[i * e.n + j];
  }
  return energy;
}

/// set-addition's code bit of item i (torchgfn's index: item 0 is the leading bit).
GFNRL_HD inline int64_t set_item_bit(const EnumeratedEnv& e, int32_t i) {
  return int64_t(1) << (e.n - 1 - i);
}

/// The item mask (item i at bit i) of a set-addition code.
GFNRL_HD inline int64_t set_items(const EnumeratedEnv& e, int64_t code) {
  int64_t items = 0;
  for (int32_t i = 0; i < e.n; ++i)
    if (code & set_item_bit(e, i)) items |= int64_t(1) << i;
  return items;
}

// ---- the generic interface ---------------------------------------------------------------------

GFNRL_HD inline bool env_valid(const EnumeratedEnv& e, int64_t code) {
  switch (e.kind) {
    case EnvKind::Subsets:
    case EnvKind::Ising:       // num_codes = 3^n: every code is a state
    case EnvKind::BinaryTree:  // num_codes = 2^(d+1) - 1 nodes
      return true;
    case EnvKind::SetAddition:
      return popcount64(static_cast<uint64_t>(code)) <= e.max_items;
    case EnvKind::Bitseq: {
      if (code < 1) return false;
      const int32_t m = bitseq_length(code);
      return m <= e.n && m % e.k == 0;
    }
    default:
      return structure_acyclic(code, e.n);
  }
}

/// Longest-path level from the source (every action adds one item / word / edge).
GFNRL_HD inline int32_t env_level(const EnumeratedEnv& e, int64_t code) {
  if (e.kind == EnvKind::Bitseq) return bitseq_length(code) / e.k;
  if (e.kind == EnvKind::Ising) return ising_set(code, e.n);
  if (e.kind == EnvKind::BinaryTree) return top_bit(static_cast<uint64_t>(code) + 1);
  return popcount64(static_cast<uint64_t>(code));
}

/// The child of a valid code under `action`, or -1 when the action is unavailable (or, for
/// bitseq, yields the same child as a lower action).
GFNRL_HD inline int64_t env_child(const EnumeratedEnv& e, int64_t code, int32_t action) {
  switch (e.kind) {
    case EnvKind::Subsets:
      return ((code >> action) & 1) ? -1 : code | (int64_t(1) << action);
    case EnvKind::Bitseq: {
      const int32_t m = bitseq_length(code);
      if (m + e.k > e.n) return -1;
      const int64_t bits = code ^ (int64_t(1) << m);
      const int64_t words = int64_t(1) << e.k;
      const int64_t top = int64_t(1) << (m + e.k);
      if (action < words) return top | (bits << e.k) | action;
      const int64_t grown = ((action - words) << m) | bits;
      // Equal to appending its last word iff its first m bits spell the old string.
      return (grown >> e.k) == bits ? -1 : top | grown;
    }
    case EnvKind::Ising: {
      const int32_t i = action % e.n;
      return ising_digit(code, e.n, i) != 0 ? -1 : code + (action / e.n + 1) * ising_place(e.n, i);
    }
    case EnvKind::SetAddition: {
      const int64_t bit = set_item_bit(e, action);
      if ((code & bit) || popcount64(static_cast<uint64_t>(code)) >= e.max_items) return -1;
      return code | bit;
    }
    case EnvKind::BinaryTree:
      return top_bit(static_cast<uint64_t>(code) + 1) < e.n ? 2 * code + 1 + action : -1;
    default: {
      if ((code >> action) & 1) return -1;
      const int64_t c = code | (int64_t(1) << action);
      return structure_acyclic(c, e.n) ? c : -1;
    }
  }
}

/// The parent p with env_child(p, action) == code, or -1.
GFNRL_HD inline int64_t env_parent(const EnumeratedEnv& e, int64_t code, int32_t action) {
  int64_t p = -1;
  switch (e.kind) {
    case EnvKind::Bitseq: {
      const int32_t m = bitseq_length(code) - e.k;
      if (m < 0) return -1;
      const int64_t bits = code ^ (int64_t(1) << (m + e.k));
      const int64_t words = int64_t(1) << e.k;
      const int64_t rest = action < words ? bits >> e.k : bits & ((int64_t(1) << m) - 1);
      p = (int64_t(1) << m) | rest;
      break;
    }
    case EnvKind::Ising: {
      const int32_t i = action % e.n, d = action / e.n + 1;
      if (ising_digit(code, e.n, i) != d) return -1;
      p = code - d * ising_place(e.n, i);
      break;
    }
    case EnvKind::SetAddition:
      if (!(code & set_item_bit(e, action))) return -1;
      p = code & ~set_item_bit(e, action);
      break;
    case EnvKind::BinaryTree:
      if (code < 1 || (code - 1) % 2 != action) return -1;
      p = (code - 1) / 2;
      break;
    default:
      if (!((code >> action) & 1)) return -1;
      p = code & ~(int64_t(1) << action);
  }
  return env_child(e, p, action) == code ? p : -1;
}

GFNRL_HD inline float env_log_reward(const EnumeratedEnv& e, int64_t code) {
  switch (e.kind) {
    case EnvKind::Subsets:
      return -subsets_energy(e, code);
    case EnvKind::SetAddition:
      if (e.fixed_length && popcount64(static_cast<uint64_t>(code)) != e.max_items) return neg_inf();
      return -subsets_energy(e, set_items(e, code));
    case EnvKind::BinaryTree: {
      const int64_t first_leaf = (int64_t(1) << e.n) - 1;
      return code >= first_leaf ? e.leaf_log_reward[code - first_leaf] : neg_inf();
    }
    case EnvKind::Bitseq: {
      if (bitseq_length(code) != e.n) return neg_inf();
      const uint32_t bits = static_cast<uint32_t>(code ^ (int64_t(1) << e.n));
      int best = e.n;
      for (int i = 0; i < e.num_modes; ++i) {
        const int d = popcount64(bits ^ e.modes[i]);
        best = d < best ? d : best;
      }
      return -e.beta * static_cast<float>(best);
    }
    case EnvKind::Ising:
      return ising_log_reward(e, code);
    default: {
      uint32_t parents[kMaxStructureNodes];
      structure_parents(code, e.n, parents);
      float s = 0;
      for (int j = 0; j < e.n; ++j) s += e.local_score[(j << e.n) + parents[j]];
      return s;
    }
  }
}

/// The intermediate log-reward -E(s) of a state that does not terminate, where the environment
/// defines one (its energy is additive, with the terms of the parts built so far available:
/// Pan et al., ICML 2023, forward-looking flows): ising, the spins set so far; set-addition with
/// fixed_length, the subsets energy of the partial set. -inf elsewhere.
GFNRL_HD inline float env_intermediate_log_reward(const EnumeratedEnv& e, int64_t code) {
  switch (e.kind) {
    case EnvKind::Ising: return ising_log_reward(e, code, true);
    case EnvKind::SetAddition: return -subsets_energy(e, set_items(e, code));
    default: return neg_inf();
  }
}

/// Arrays a generator fills for state i (order[i] = its code, rank[code] = i for valid codes).
struct EnumeratedFill {
  EnumeratedEnv env;
  const int64_t* order;
  const int32_t* rank;
  DagWriteView out;  ///< offsets read (already summed), edges and log R written
};

GFNRL_HD inline void enumerated_degrees(const EnumeratedEnv& e, int64_t code, int32_t* out,
                                        int32_t* in) {
  int32_t o = 0, i = 0;
  for (int32_t a = 0; a < e.num_actions; ++a) {
    o += env_child(e, code, a) >= 0;
    i += env_parent(e, code, a) >= 0;
  }
  *out = o;
  *in = i;
}

/// Children in action order; the CSR id of parent edge p -a-> i is child_offsets[p] plus the
/// number of p's available actions below a.
GFNRL_HD inline void enumerated_fill_state(int32_t i, const EnumeratedFill& f) {
  const EnumeratedEnv& e = f.env;
  const int64_t code = f.order[i];
  const DagWriteView& o = f.out;
  int64_t c = o.child_offsets[i], p = o.parent_offsets[i];
  for (int32_t a = 0; a < e.num_actions; ++a) {
    const int64_t child = env_child(e, code, a);
    if (child >= 0) {
      o.child_index[c] = f.rank[child];
      o.child_action[c] = a;
      ++c;
    }
    const int64_t parent = env_parent(e, code, a);
    if (parent >= 0) {
      int32_t below = 0;
      for (int32_t b = 0; b < a; ++b) below += env_child(e, parent, b) >= 0;
      const int32_t pr = f.rank[parent];
      o.parent_index[p] = pr;
      o.parent_edge.set(p, o.child_offsets[pr] + below);
      ++p;
    }
  }
  o.log_reward[i] = env_log_reward(e, code);
}

}  // namespace gfnrl::detail
