// subsets, bitseq, dag-structure and the tree unrolling, each against a brute-force definition
// written here independently (strings, adjacency matrices, explicit sets): states, edges with
// their actions, rewards and path counts; then the exact-core claims on every environment.
#include <bitset>
#include <functional>
#include <string>

#include "test_support.hpp"

namespace gfnrl::test {
namespace {

// A DAG by definition: states by label, edges (from label, to label) -> action, log R by label.
struct Definition {
  std::set<int64_t> states;
  std::map<std::pair<int64_t, int64_t>, int32_t> edges;
  std::map<int64_t, double> log_reward;
  std::map<int64_t, double> intermediate;  // -E(s) where s does not terminate (forward-looking)
};

// The DAG's intermediate log-rewards by label: the definition's where it gives one, else none.
void expect_intermediate(const Dag& dag, const Definition& def) {
  const DagArrays a = dag.to_host();
  if (def.intermediate.empty()) {
    EXPECT_TRUE(a.intermediate_log_reward.empty());
    return;
  }
  ASSERT_EQ(a.intermediate_log_reward.size(), a.label.size());
  for (std::size_t s = 0; s < a.label.size(); ++s) {
    const auto it = def.intermediate.find(a.label[s]);
    if (it == def.intermediate.end())
      EXPECT_EQ(a.intermediate_log_reward[s], -INFINITY) << "label " << a.label[s];
    else
      EXPECT_NEAR(a.intermediate_log_reward[s], it->second, 1e-5) << "label " << a.label[s];
  }
}

void expect_matches(const Dag& dag, const Definition& def, double reward_tol = 1e-5) {
  const DagArrays a = dag.to_host();
  ASSERT_EQ(static_cast<std::size_t>(dag.num_states()), def.states.size());
  ASSERT_EQ(static_cast<std::size_t>(dag.num_edges()), def.edges.size());
  EXPECT_EQ(a.label[0], *def.states.begin()) << "the source is the smallest code here";
  std::set<int64_t> labels(a.label.begin(), a.label.end());
  EXPECT_EQ(labels, def.states);
  for (int s = 0; s < dag.num_states(); ++s) {
    for (int e = a.child_offsets[s]; e < a.child_offsets[s + 1]; ++e) {
      const auto it = def.edges.find({a.label[s], a.label[a.child_index[e]]});
      ASSERT_NE(it, def.edges.end()) << a.label[s] << " -> " << a.label[a.child_index[e]];
      EXPECT_EQ(a.child_action[e], it->second);
    }
    const auto r = def.log_reward.find(a.label[s]);
    if (r == def.log_reward.end())
      EXPECT_TRUE(std::isinf(a.log_reward[s])) << "label " << a.label[s];
    else
      EXPECT_NEAR(a.log_reward[s], r->second, reward_tol * (1 + std::abs(r->second)));
  }
  // CSC is the transpose of CSR.
  for (int c = 0; c < dag.num_states(); ++c)
    for (int j = a.parent_offsets[c]; j < a.parent_offsets[c + 1]; ++j)
      EXPECT_EQ(a.child_index[a.parent_edge[j]], c);
}

// Path counts of the definition by memoised recursion over parents (labels).
std::map<int64_t, double> definition_path_counts(const Definition& def) {
  std::map<int64_t, std::vector<int64_t>> parents;
  for (const auto& [e, act] : def.edges) parents[e.second].push_back(e.first);
  std::map<int64_t, double> memo;
  std::function<double(int64_t)> count = [&](int64_t s) -> double {
    if (s == *def.states.begin()) return 1.0;
    auto it = memo.find(s);
    if (it != memo.end()) return it->second;
    double t = 0;
    for (int64_t p : parents[s]) t += count(p);
    return memo[s] = t;
  };
  std::map<int64_t, double> out;
  for (int64_t s : def.states) out[s] = count(s);
  return out;
}

void expect_path_counts(const Dag& dag, const std::map<int64_t, double>& want) {
  const BruteForce bf(dag);
  const std::vector<double> got = bf.path_counts();
  for (int s = 0; s < dag.num_states(); ++s)
    EXPECT_EQ(got[s], want.at(bf.a.label[s])) << "label " << bf.a.label[s];
  // And the library's own DP, in log space.
  const std::vector<double> log_n = log_path_counts(dag).to_host();
  for (int s = 0; s < dag.num_states(); ++s)
    EXPECT_NEAR(log_n[s], std::log(want.at(bf.a.label[s])), 1e-9);
}

double factorial(int k) { return k <= 1 ? 1.0 : k * factorial(k - 1); }

// ---- subsets -----------------------------------------------------------------------------------

Definition subsets_definition(const SubsetsConfig& c) {
  const SubsetsEnergies en = subsets_energies(c);
  Definition d;
  const int n = c.items;
  for (int64_t s = 0; s < (int64_t(1) << n); ++s) {
    d.states.insert(s);
    double energy = 0;
    for (int i = 0; i < n; ++i) {
      if (!((s >> i) & 1)) {
        d.edges[{s, s | (int64_t(1) << i)}] = i;
        continue;
      }
      energy += en.unary[i];
      for (int j = i + 1; j < n; ++j)
        if ((s >> j) & 1) energy += en.pairwise[i * n + j];
    }
    d.log_reward[s] = -energy;
  }
  return d;
}

TEST(Subsets, MatchesDefinitionWithFactorialPathCounts) {
  for (int items : {1, 3, 6}) {
    const SubsetsConfig c{items, 0.5, 7};
    const Dag dag = make_subsets(c, Backend::Cpu);
    const Definition def = subsets_definition(c);
    expect_matches(dag, def);
    EXPECT_EQ(dag.num_states(), 1 << items);
    EXPECT_EQ(dag.num_edges(), items * (1 << (items - 1)));
    std::map<int64_t, double> fact;
    for (int64_t s : def.states) fact[s] = factorial(std::bitset<32>(s).count());
    EXPECT_EQ(definition_path_counts(def), fact);
    expect_path_counts(dag, fact);
  }
}

TEST(Subsets, SeedDeterminesEnergies) {
  const SubsetsEnergies a = subsets_energies({6, 0.5, 1}), b = subsets_energies({6, 0.5, 1}),
                        c = subsets_energies({6, 0.5, 2});
  EXPECT_EQ(a.unary, b.unary);
  EXPECT_EQ(a.pairwise, b.pairwise);
  EXPECT_NE(a.unary, c.unary);
  for (float u : a.unary) EXPECT_TRUE(u >= -1 && u < 1);
}

// ---- bitseq ------------------------------------------------------------------------------------

std::string bits_string(uint64_t v, int len) {
  std::string s(len, '0');
  for (int i = 0; i < len; ++i) s[len - 1 - i] = ((v >> i) & 1) ? '1' : '0';
  return s;
}
int64_t string_label(const std::string& s) {
  int64_t v = 1;
  for (char ch : s) v = (v << 1) | (ch == '1');
  return v;
}

Definition bitseq_definition(const BitseqConfig& c) {
  const std::vector<uint32_t> modes = bitseq_modes(c);
  Definition d;
  std::vector<std::string> frontier{""};
  for (int m = 0; m <= c.length; m += c.word) {
    std::vector<std::string> next;
    for (const std::string& s : frontier) {
      d.states.insert(string_label(s));
      if (m == c.length) {
        int best = c.length;
        for (uint32_t mode : modes) {
          const std::string ms = bits_string(mode, c.length);
          int h = 0;
          for (int i = 0; i < c.length; ++i) h += ms[i] != s[i];
          best = std::min(best, h);
        }
        d.log_reward[string_label(s)] = -c.beta * best;
        continue;
      }
      for (int a = 0; a < (2 << c.word); ++a) {
        const std::string w = bits_string(a % (1 << c.word), c.word);
        const std::string child = a < (1 << c.word) ? s + w : w + s;
        const auto key = std::make_pair(string_label(s), string_label(child));
        if (!d.edges.count(key)) d.edges[key] = a;  // the lowest action reaching it
        next.push_back(child);
      }
    }
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    frontier = next;
  }
  return d;
}

TEST(Bitseq, MatchesDefinitionAndPathCounts) {
  for (auto [len, word] : std::vector<std::pair<int, int>>{{4, 1}, {6, 2}, {6, 3}, {8, 2}}) {
    const BitseqConfig c{len, word, 3, 0.7, 5};
    const Dag dag = make_bitseq(c, Backend::Cpu);
    const Definition def = bitseq_definition(c);
    expect_matches(dag, def);
    EXPECT_EQ(dag.num_states(), bitseq_num_states(c));
    expect_path_counts(dag, definition_path_counts(def));
    // Not a tree: some string has several construction orders.
    double most = 0;
    for (const auto& [s, k] : definition_path_counts(def)) most = std::max(most, k);
    EXPECT_GT(most, 1.0);
  }
}

// ---- dag-structure ---------------------------------------------------------------------------------

bool acyclic_by_dfs(const std::vector<std::vector<int>>& adj) {
  const int d = static_cast<int>(adj.size());
  std::vector<int> color(d, 0);
  std::function<bool(int)> visit = [&](int u) {
    color[u] = 1;
    for (int v = 0; v < d; ++v)
      if (adj[u][v] && (color[v] == 1 || (color[v] == 0 && !visit(v)))) return false;
    color[u] = 2;
    return true;
  };
  for (int u = 0; u < d; ++u)
    if (color[u] == 0 && !visit(u)) return false;
  return true;
}

// Residual sum of squares of y on the columns `cols` by Gram-Schmidt (an independent solver).
double rss_gram_schmidt(const StructureData& s, int j, const std::vector<int>& cols) {
  const int n = s.samples, d = s.nodes;
  auto centred = [&](int c) {
    std::vector<double> v(n);
    double mean = 0;
    for (int r = 0; r < n; ++r) mean += (v[r] = s.x[std::size_t(r) * d + c]);
    for (double& x : v) x -= mean / n;
    return v;
  };
  std::vector<double> y = centred(j);
  std::vector<std::vector<double>> basis;
  for (int c : cols) {
    std::vector<double> q = centred(c);
    for (const auto& b : basis) {
      double dot = 0;
      for (int r = 0; r < n; ++r) dot += q[r] * b[r];
      for (int r = 0; r < n; ++r) q[r] -= dot * b[r];
    }
    double norm = 0;
    for (double x : q) norm += x * x;
    for (double& x : q) x /= std::sqrt(norm);
    basis.push_back(q);
  }
  for (const auto& b : basis) {
    double dot = 0;
    for (int r = 0; r < n; ++r) dot += y[r] * b[r];
    for (int r = 0; r < n; ++r) y[r] -= dot * b[r];
  }
  double rss = 0;
  for (double x : y) rss += x * x;
  return rss;
}

// Determinant by Laplace expansion along the first row (m <= 4 here).
double laplace_det(const std::vector<std::vector<double>>& a) {
  const std::size_t m = a.size();
  if (m == 0) return 1.0;
  double det = 0;
  for (std::size_t col = 0; col < m; ++col) {
    std::vector<std::vector<double>> minor;
    for (std::size_t r = 1; r < m; ++r) {
      std::vector<double> row;
      for (std::size_t k = 0; k < m; ++k)
        if (k != col) row.push_back(a[r][k]);
      minor.push_back(row);
    }
    det += (col % 2 ? -1.0 : 1.0) * a[0][col] * laplace_det(minor);
  }
  return det;
}

// log p(D_Y) of the variables Y under the Normal-Wishart prior that BGe induces on them (Geiger &
// Heckerman 2002; Kuipers, Moffa & Heckerman 2014), with alpha_mu = 1, alpha_w = d + 2, prior
// mean 0, t = alpha_mu (alpha_w - d - 1) / (alpha_mu + 1): for m = |Y|, a = alpha_w - d + m,
//   -N m/2 log pi + m/2 log(alpha_mu / (N + alpha_mu)) + log Gamma_m((N + a)/2)
//   - log Gamma_m(a/2) + a m/2 log t - (N + a)/2 log det R_YY,
// Gamma_m(x) = pi^(m(m-1)/4) prod_{i=1..m} Gamma(x + (1 - i)/2), and R = t I + sum_r x_r x_r^T
// - N mean mean^T + N alpha_mu / (N + alpha_mu) mean mean^T. A BGe score of G is then
// sum_j log p(D_{j + pa(j)}) - log p(D_{pa(j)}).
double normal_wishart_log_marginal(const StructureData& data, const std::vector<int>& y) {
  const int m = static_cast<int>(y.size()), d = data.nodes;
  if (m == 0) return 0.0;
  const double n = data.samples, am = 1.0, aw = d + 2.0, t = am * (aw - d - 1) / (am + 1);
  const double a = aw - d + m;
  std::vector<double> mean(m, 0.0);
  for (int r = 0; r < data.samples; ++r)
    for (int p = 0; p < m; ++p) mean[p] += data.x[std::size_t(r) * d + y[p]] / n;
  std::vector<std::vector<double>> rmat(m, std::vector<double>(m, 0.0));
  for (int p = 0; p < m; ++p)
    for (int q = 0; q < m; ++q) {
      double s = 0;
      for (int r = 0; r < data.samples; ++r)
        s += data.x[std::size_t(r) * d + y[p]] * data.x[std::size_t(r) * d + y[q]];
      rmat[p][q] = (p == q ? t : 0.0) + s - n * mean[p] * mean[q] + n * am / (n + am) * mean[p] * mean[q];
    }
  const auto log_gamma_m = [&](double x) {
    double v = m * (m - 1) / 4.0 * std::log(M_PI);
    for (int i = 1; i <= m; ++i) v += std::lgamma(x + (1 - i) / 2.0);
    return v;
  };
  return -n * m / 2 * std::log(M_PI) + m / 2.0 * std::log(am / (n + am)) +
         log_gamma_m((n + a) / 2) - log_gamma_m(a / 2) + a * m / 2 * std::log(t) -
         (n + a) / 2 * std::log(laplace_det(rmat));
}

Definition structure_definition(const DagStructureConfig& c) {
  const int d = c.nodes, slots = d * (d - 1);
  const StructureData data = dag_structure_data(c);
  auto slot_edge = [&](int t) {
    const int i = t / (d - 1), r = t % (d - 1);
    return std::make_pair(i, r < i ? r : r + 1);
  };
  auto adjacency = [&](int64_t code) {
    std::vector<std::vector<int>> adj(d, std::vector<int>(d, 0));
    for (int t = 0; t < slots; ++t)
      if ((code >> t) & 1) adj[slot_edge(t).first][slot_edge(t).second] = 1;
    return adj;
  };
  Definition def;
  const int n = data.samples;
  for (int64_t code = 0; code < (int64_t(1) << slots); ++code) {
    const auto adj = adjacency(code);
    if (!acyclic_by_dfs(adj)) continue;
    def.states.insert(code);
    double score = 0;
    for (int j = 0; j < d; ++j) {
      std::vector<int> pa;
      for (int i = 0; i < d; ++i)
        if (adj[i][j]) pa.push_back(i);
      if (c.score == StructureScore::Bge) {  // relative to the empty graph, as the environment
        std::vector<int> family = pa;
        family.push_back(j);
        score += normal_wishart_log_marginal(data, family) - normal_wishart_log_marginal(data, pa) -
                 normal_wishart_log_marginal(data, {j});
        continue;
      }
      score += -0.5 * n * std::log(rss_gram_schmidt(data, j, pa) / n) -
               0.5 * pa.size() * std::log(double(n)) +
               0.5 * n * std::log(rss_gram_schmidt(data, j, {}) / n);
    }
    def.log_reward[code] = score;
    for (int t = 0; t < slots; ++t) {
      if ((code >> t) & 1) continue;
      auto grown = adj;
      grown[slot_edge(t).first][slot_edge(t).second] = 1;
      if (acyclic_by_dfs(grown)) def.edges[{code, code | (int64_t(1) << t)}] = t;
    }
  }
  return def;
}

TEST(DagStructure, CountsAreTheAcyclicDigraphNumbers) {
  const int want[] = {0, 0, 3, 25, 543, 29281};  // OEIS A003024
  for (int d = 2; d <= 5; ++d) {
    const Dag dag = make_dag_structure({d, 50, 1}, Backend::Cpu);
    EXPECT_EQ(dag.num_states(), want[d]) << d << " nodes";
    EXPECT_EQ(dag.num_levels(), d * (d - 1) / 2 + 1) << "complete DAGs have d(d-1)/2 edges";
  }
}

TEST(DagStructure, MatchesDefinitionBicScoresAndPathCounts) {
  for (int d : {2, 3, 4}) {
    const DagStructureConfig c{d, 60, 3};
    const Dag dag = make_dag_structure(c, Backend::Cpu);
    const Definition def = structure_definition(c);
    expect_matches(dag, def, 1e-4);
    // Every order of adding a DAG's edges stays acyclic: n(G) = |E(G)|!.
    std::map<int64_t, double> fact;
    for (int64_t s : def.states) fact[s] = factorial(std::bitset<32>(s).count());
    expect_path_counts(dag, fact);
  }
}

// BGe (DAG-GFlowNet's score) against the marginal likelihoods of variable subsets computed
// directly; Markov-equivalent graphs score the same (0 -> 1 and 1 -> 0).
TEST(DagStructure, MatchesDefinitionBgeScores) {
  for (int d : {2, 3, 4}) {
    DagStructureConfig c{d, 60, 5};
    c.score = StructureScore::Bge;
    const Dag dag = make_dag_structure(c, Backend::Cpu);
    expect_matches(dag, structure_definition(c), 1e-5);
    const DagArrays a = dag.to_host();
    std::map<int64_t, float> by_label;
    for (std::size_t s = 0; s < a.label.size(); ++s) by_label[a.label[s]] = a.log_reward[s];
    // slot 0: edge 0 -> 1; slot d - 1: edge 1 -> 0.
    EXPECT_NEAR(by_label.at(1), by_label.at(int64_t(1) << (d - 1)), 1e-4) << d;
    EXPECT_NE(by_label.at(1), 0.0f);
  }
  // BIC and BGe differ, and the public local score is the environment's table plus the empty one.
  DagStructureConfig c{3, 40, 2};
  const std::vector<float> bic = dag_structure_local_scores(c);
  c.score = StructureScore::Bge;
  const std::vector<float> bge = dag_structure_local_scores(c);
  EXPECT_NE(bic, bge);
  const StructureData data = dag_structure_data(c);
  EXPECT_NEAR(bge[(std::size_t(2) << 3) | 3u],
              bge_local_score(data.x, data.samples, 3, 2, 3u) - bge_local_score(data.x, data.samples, 3, 2, 0),
              1e-4);
}

TEST(DagStructure, TrueNetworkScoresAboveTheEmptyGraph) {
  const DagStructureConfig c{4, 200, 9};
  const StructureData data = dag_structure_data(c);
  const std::vector<float> local = dag_structure_local_scores(c);
  int edges = 0;
  double score = 0;
  for (int j = 0; j < c.nodes; ++j) {
    uint32_t mask = 0;
    for (int i = 0; i < c.nodes; ++i)
      if (data.weight[i * c.nodes + j] != 0) mask |= 1u << i, ++edges;
    score += local[(j << c.nodes) | mask];
  }
  ASSERT_GT(edges, 0) << "seed 9 should draw a network with edges";
  EXPECT_GT(score, 10.0) << "BIC must prefer the generating network to the empty graph";
}

// ---- ising -------------------------------------------------------------------------------------

// The coupling pattern as torchgfn's Ising example builds the lattice (neighbours in a row or a
// column, then the wrap of every row and every column), a ring, or all ones.
std::vector<std::vector<double>> ising_definition_j(const IsingConfig& c) {
  const int n = c.spins;
  std::vector<std::vector<double>> j(n, std::vector<double>(n, 0.0));
  if (c.coupling == IsingCoupling::All) return std::vector<std::vector<double>>(n, std::vector<double>(n, 1.0));
  if (c.coupling == IsingCoupling::Ring) {
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b)
        if ((a + 1) % n == b || (b + 1) % n == a) j[a][b] = 1;
    return j;
  }
  const int l = static_cast<int>(std::lround(std::sqrt(double(n))));
  for (int k = 0; k < n; ++k)
    for (int m = 0; m < k; ++m) {
      const int x1 = k / l, y1 = k % l, x2 = m / l, y2 = m % l;
      if ((x1 == x2 && std::abs(y2 - y1) == 1) || (y1 == y2 && std::abs(x2 - x1) == 1)) j[k][m] = j[m][k] = 1;
    }
  for (int k = 0; k < l; ++k) {
    j[k * l][(k + 1) * l - 1] = j[(k + 1) * l - 1][k * l] = 1;
    j[k][k + n - l] = j[k + n - l][k] = 1;
  }
  return j;
}

// States as vectors x in {-1, 0, 1}^n, labelled by torchgfn's index sum (x_i + 1) 3^(n-1-i).
Definition ising_definition(const IsingConfig& c) {
  const int n = c.spins;
  const auto j = ising_definition_j(c);
  const auto label = [&](const std::vector<int>& x) {
    int64_t v = 0;
    for (int i = 0; i < n; ++i) v = 3 * v + (x[i] + 1);
    return v;
  };
  Definition d;
  std::vector<int> x(n, -1);
  std::function<void(int)> visit = [&](int i) {
    if (i < n) {
      for (int v : {-1, 0, 1}) x[i] = v, visit(i + 1);
      x[i] = -1;
      return;
    }
    const int64_t s = label(x);
    d.states.insert(s);
    bool complete = true;
    for (int k = 0; k < n; ++k) {
      if (x[k] != -1) continue;
      complete = false;
      for (int v : {0, 1}) {
        std::vector<int> y = x;
        y[k] = v;
        d.edges[{s, label(y)}] = v == 0 ? k : n + k;
      }
    }
    // Spins +-1 where set, 0 where unset: log R of a complete state; the interactions of the
    // spins set so far (its intermediate log-reward) of a partial one.
    double m = 0;
    const auto spin = [&](int a) { return x[a] == -1 ? 0 : 2 * x[a] - 1; };
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b) m += j[a][b] * spin(a) * spin(b);
    (complete ? d.log_reward : d.intermediate)[s] = c.beta * c.coupling_constant * m;
  };
  visit(0);
  return d;
}

TEST(Ising, MatchesTorchgfnsDefinitionWithFactorialPathCounts) {
  for (const IsingConfig& c : {IsingConfig{4, IsingCoupling::Lattice, 0.44, 1.0},
                               IsingConfig{9, IsingCoupling::Lattice, 0.44, 1.5},
                               IsingConfig{5, IsingCoupling::Ring, -0.7, 2.0},
                               IsingConfig{3, IsingCoupling::All, 1.0, 1.0},
                               IsingConfig{1, IsingCoupling::All, 0.3, 1.0}}) {
    SCOPED_TRACE(std::to_string(c.spins) + " " + ising_coupling_name(c.coupling));
    const Dag dag = make_ising(c, Backend::Cpu);
    const Definition def = ising_definition(c);
    expect_matches(dag, def);
    expect_intermediate(dag, def);
    EXPECT_EQ(dag.num_states(), ising_num_states(c));
    EXPECT_EQ(dag.num_edges(), 2 * c.spins * ising_num_states(c) / 3);
    const auto j = ising_definition_j(c);
    const std::vector<float> got = ising_couplings(c);
    for (int a = 0; a < c.spins; ++a)
      for (int b = 0; b < c.spins; ++b) EXPECT_EQ(got[a * c.spins + b], j[a][b]) << a << "," << b;
    std::map<int64_t, double> fact;
    for (int64_t s : def.states) {
      int set = 0;
      for (int64_t v = s; v > 0; v /= 3) set += v % 3 != 0;
      fact[s] = factorial(set);
    }
    EXPECT_EQ(definition_path_counts(def), fact);
    expect_path_counts(dag, fact);
  }
  // The 3 x 3 torus: every spin has 4 neighbours, 18 bonds; all spins up: s^T J s = 36.
  const IsingConfig t{9, IsingCoupling::Lattice, 1.0, 1.0};
  const std::vector<float> j = ising_couplings(t);
  EXPECT_EQ(std::accumulate(j.begin(), j.end(), 0.0f), 36.0f);
  const DagArrays a = make_ising(t, Backend::Cpu).to_host();
  EXPECT_EQ(a.log_reward.back(), 36.0f);  // the last state is all ones
}

// torchgfn's own DiscreteEBM test: 2 variables, J all ones, alpha 1; x = (0, 0) and (1, 1) have
// reward e^4 = 54.5982, mixed ones 1 (its labels: x = (0, 1) is 1 * 3 + 2 = 5).
TEST(Ising, ReproducesTorchgfnsDiscreteEbmRewards) {
  const DagArrays a = make_ising({2, IsingCoupling::All, 1.0, 1.0}, Backend::Cpu).to_host();
  std::map<int64_t, float> r;
  for (std::size_t s = 0; s < a.label.size(); ++s) r[a.label[s]] = a.log_reward[s];
  EXPECT_FLOAT_EQ(std::exp(r.at(1 * 3 + 1)), 54.59815f);  // (0, 0)
  EXPECT_FLOAT_EQ(std::exp(r.at(2 * 3 + 2)), 54.59815f);  // (1, 1)
  EXPECT_EQ(r.at(1 * 3 + 2), 0.0f);                        // (0, 1)
  EXPECT_EQ(r.at(2 * 3 + 1), 0.0f);                        // (1, 0)
  EXPECT_TRUE(std::isinf(r.at(0)) && std::isinf(r.at(1 * 3 + 0)));  // incomplete
}

// ---- set-addition ------------------------------------------------------------------------------

// Sets as item vectors x in {0, 1}^n labelled by torchgfn's index sum x_i 2^(n-1-i).
Definition set_addition_definition(const SetAdditionConfig& c) {
  const SubsetsEnergies en = subsets_energies({c.items, c.pairwise_scale, c.seed});
  const int n = c.items;
  Definition d;
  for (int64_t m = 0; m < (int64_t(1) << n); ++m) {  // m: item i at bit i
    std::vector<int> x(n);
    int size = 0;
    for (int i = 0; i < n; ++i) size += x[i] = (m >> i) & 1;
    if (size > c.max_items) continue;
    const auto label = [&](const std::vector<int>& v) {
      int64_t l = 0;
      for (int i = 0; i < n; ++i) l = 2 * l + v[i];
      return l;
    };
    d.states.insert(label(x));
    if (size < c.max_items)
      for (int i = 0; i < n; ++i)
        if (!x[i]) {
          std::vector<int> y = x;
          y[i] = 1;
          d.edges[{label(x), label(y)}] = i;
        }
    double energy = 0;
    for (int i = 0; i < n; ++i)
      for (int j = i; j < n; ++j)
        if (x[i] && x[j]) energy += i == j ? en.unary[i] : en.pairwise[i * n + j];
    // With fixed_length the smaller sets do not terminate: their energy is intermediate.
    (c.fixed_length && size != c.max_items ? d.intermediate : d.log_reward)[label(x)] = -energy;
  }
  return d;
}

TEST(SetAddition, MatchesTorchgfnsDefinitionWithFactorialPathCounts) {
  for (const SetAdditionConfig& c : {SetAdditionConfig{5, 3, false, 0.5, 2},
                                     SetAdditionConfig{6, 2, true, 0.3, 5},
                                     SetAdditionConfig{4, 4, false, 0.5, 1}}) {
    SCOPED_TRACE(std::to_string(c.items) + " items, at most " + std::to_string(c.max_items));
    const Dag dag = make_set_addition(c, Backend::Cpu);
    const Definition def = set_addition_definition(c);
    expect_matches(dag, def);
    expect_intermediate(dag, def);
    EXPECT_EQ(dag.num_states(), set_addition_num_states(c));
    std::map<int64_t, double> fact;
    for (int64_t s : def.states) fact[s] = factorial(std::bitset<32>(s).count());
    expect_path_counts(dag, fact);
  }
  // With max_items = items, its rewards are those of subsets with the item order reversed.
  const DagArrays sa = make_set_addition({4, 4, false, 0.5, 1}, Backend::Cpu).to_host();
  const DagArrays su = make_subsets({4, 0.5, 1}, Backend::Cpu).to_host();
  std::map<int64_t, float> by_label;
  for (std::size_t s = 0; s < su.label.size(); ++s) by_label[su.label[s]] = su.log_reward[s];
  for (std::size_t s = 0; s < sa.label.size(); ++s) {
    int64_t reversed = 0;
    for (int i = 0; i < 4; ++i) reversed |= ((sa.label[s] >> (3 - i)) & 1) << i;
    EXPECT_EQ(sa.log_reward[s], by_label.at(reversed));
  }
}

// ---- binary-tree -------------------------------------------------------------------------------

// torchgfn's construction: a queue from the root, each popped node above the depth given the
// next two indices for actions 0 and 1.
TEST(BinaryTree, MatchesTorchgfnsBreadthFirstConstruction) {
  for (int depth : {1, 3, 5}) {
    const BinaryTreeConfig c{depth, 1.5, 9};
    const std::vector<float> leaves = binary_tree_leaf_log_rewards(c);
    Definition d;
    int64_t next = 0;
    std::vector<std::pair<int64_t, int>> queue{{0, 0}};
    std::vector<int64_t> leaf_order;
    for (std::size_t q = 0; q < queue.size(); ++q) {
      const auto [node, level] = queue[q];
      d.states.insert(node);
      if (level == depth) {
        leaf_order.push_back(node);
        continue;
      }
      for (int a = 0; a < 2; ++a) {
        d.edges[{node, ++next}] = a;
        queue.push_back({next, level + 1});
      }
    }
    ASSERT_EQ(leaf_order.size(), leaves.size());
    for (std::size_t i = 0; i < leaves.size(); ++i) {
      d.log_reward[leaf_order[i]] = leaves[i];
      EXPECT_LE(std::abs(leaves[i]), 1.5f);
    }
    const Dag dag = make_binary_tree(c, Backend::Cpu);
    expect_matches(dag, d, 0.0);
    std::map<int64_t, double> one;
    for (int64_t s : d.states) one[s] = 1.0;
    expect_path_counts(dag, one);
  }
  EXPECT_NE(binary_tree_leaf_log_rewards({4, 1.0, 1}), binary_tree_leaf_log_rewards({4, 1.0, 2}));
}

// ---- every environment: the exact-core claims ---------------------------------------------------

std::vector<std::pair<std::string, Dag>> small_environments(Backend b) {
  return {{"subsets6", make_subsets({6, 0.5, 2}, b)},
          {"bitseq8x2", make_bitseq({8, 2, 4, 1.0, 3}, b)},
          {"dag-structure4", make_dag_structure({4, 40, 4}, b)},
          {"ising4", make_ising({4, IsingCoupling::Lattice, 0.44, 1.0}, b)},
          {"set-addition6x4", make_set_addition({6, 4, false, 0.5, 3}, b)},
          {"binary-tree5", make_binary_tree({5, 1.0, 4}, b)},
          {"hypergrid3x4", make_hypergrid({3, 4}, b)}};
}

TEST(EnvironmentsExactCore, CorrectedSoftVIIsExactAndUncorrectedIsBiasedByPathCounts) {
  for (Backend b : test_backends())
    for (const auto& [name, dag] : small_environments(b)) {
      SCOPED_TRACE(name + " on " + backend_name(b));
      const double log_z = log_partition(dag);
      for (const BackwardPolicy& pb : {uniform_backward_policy(dag), maxent_backward_policy(dag)}) {
        SoftValueSolver solver(dag, &pb);
        solver.run();
        EXPECT_NEAR(solver.log_z(), log_z, 2e-5 * (1 + std::abs(log_z))) << pb.name;
        const Metrics m = compare_to_target(dag, compute_marginals(dag, solver.result().policy));
        EXPECT_LT(m.tv, 2e-5) << pb.name;
      }
      // Uncorrected: samples n(x)R(x); its TV to R/Z is TV(R/Z, nR / sum nR) from brute force.
      SoftValueSolver none(dag, nullptr);
      none.run();
      const BruteForce bf(dag);
      const std::vector<double> n = bf.path_counts();
      std::vector<double> target(bf.n(), 0.0), biased(bf.n(), 0.0);
      for (int s = 0; s < bf.n(); ++s)
        if (bf.terminates(s)) {
          target[s] = std::exp(double(bf.a.log_reward[s]));
          biased[s] = n[s] * target[s];
        }
      const double want = tv_distance(normalised(target), normalised(biased));
      const Metrics m = compare_to_target(dag, compute_marginals(dag, none.result().policy));
      EXPECT_NEAR(m.tv, want, 1e-4);
      double biased_z = 0;
      for (double v : biased) biased_z += v;
      EXPECT_NEAR(none.log_z(), std::log(biased_z), 1e-4 * (1 + std::log(biased_z)));
      // Every complete ising state has n! paths: no bias there.
      // Nor on a tree (one path per state).
      if (name == "ising4" || name == "binary-tree5") EXPECT_LT(want, 1e-12);
      else if (name != "hypergrid3x4") EXPECT_GT(want, 0.05) << "the bias should be visible";
    }
}

// ---- tree ----------------------------------------------------------------------------------------

TEST(Tree, UnrollsEveryPathAndTheCorrectionIsANoOp) {
  for (Backend b : test_backends())
    for (const auto& [name, dag] : small_environments(b)) {
      SCOPED_TRACE(name + " on " + backend_name(b));
      const Dag tree = make_tree(dag);
      const BruteForce base(dag), tb(tree);
      const std::vector<double> n = base.path_counts();
      EXPECT_EQ(tree.num_states(), std::accumulate(n.begin(), n.end(), 0.0));
      EXPECT_EQ(tree.num_edges(), tree.num_states() - 1);
      // Every tree state has one path, and stands for a DAG state with as many copies as paths.
      std::vector<double> copies(base.n(), 0.0);
      for (int s = 0; s < tb.n(); ++s) {
        copies[tb.a.label[s]] += 1;
        EXPECT_EQ(tb.a.log_reward[s], base.a.log_reward[tb.a.label[s]]);
        EXPECT_EQ(tb.a.parent_offsets[s + 1] - tb.a.parent_offsets[s], s == 0 ? 0 : 1);
      }
      EXPECT_EQ(copies, n);
      for (double k : tb.path_counts()) EXPECT_EQ(k, 1.0);
      // P_B = 1 on a tree: corrected (uniform or maxent) and uncorrected soft VI agree exactly.
      SoftValueSolver none(tree, nullptr);
      none.run();
      const std::vector<float> q0 = none.result().q.to_host();
      for (const BackwardPolicy& pb : {uniform_backward_policy(tree), maxent_backward_policy(tree)}) {
        for (float v : pb.log_prob.to_host()) EXPECT_EQ(v, 0.0f);
        SoftValueSolver corrected(tree, &pb);
        corrected.run();
        EXPECT_EQ(corrected.log_z(), none.log_z());
        EXPECT_EQ(corrected.result().q.to_host(), q0);
      }
      // The tree's log Z is the DAG's uncorrected value: log sum_x n(x) R(x).
      SoftValueSolver dag_none(dag, nullptr);
      dag_none.run();
      EXPECT_NEAR(none.log_z(), dag_none.log_z(), 1e-4 * (1 + std::abs(dag_none.log_z())));
    }
}

TEST(Tree, RefusesTooManyPaths) {
  const Dag dag = make_subsets({10, 0.5, 0}, Backend::Cpu);  // sum_k C(10,k) k! = 9,864,101 paths
  try {
    make_tree(dag, 1000000);
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("9864101"), std::string::npos) << e.what();
  }
}

// ---- bad parameters, memory, CUDA ----------------------------------------------------------------

TEST(EnvironmentErrors, ParametersOutOfRangeNameTheValue) {
  auto expect = [](auto&& make, const std::string& fragment) {
    try {
      make();
      ADD_FAILURE() << "expected an InputError mentioning " << fragment;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect([] { make_subsets({0, 0.5, 0}, Backend::Cpu); }, "subsets items = 0 is out of range [1, 24]");
  expect([] { make_subsets({4, -1, 0}, Backend::Cpu); }, "pairwise_scale = -1");
  expect([] { make_bitseq({7, 2, 2, 1, 0}, Backend::Cpu); }, "length = 7 is not a multiple of word = 2");
  expect([] { make_bitseq({21, 1, 2, 1, 0}, Backend::Cpu); }, "bitseq length = 21 is out of range [1, 20]");
  expect([] { make_bitseq({8, 2, 0, 1, 0}, Backend::Cpu); }, "modes = 0");
  expect([] { make_dag_structure({6, 10, 0}, Backend::Cpu); }, "dag-structure nodes = 6 is out of range [2, 5]");
  expect([] { make_dag_structure({3, 1, 0}, Backend::Cpu); }, "samples = 1");
  expect([] { make_ising({15, IsingCoupling::Ring, 1, 1}, Backend::Cpu); }, "ising spins = 15 is out of range [2, 14]");
  expect([] { make_ising({1, IsingCoupling::Ring, 1, 1}, Backend::Cpu); }, "ising spins = 1 is out of range [2, 14]");
  expect([] { make_ising({6, IsingCoupling::Lattice, 1, 1}, Backend::Cpu); }, "ising spins = 6 is not a square");
  expect([] { make_ising({4, IsingCoupling::All, 1, -1}, Backend::Cpu); }, "ising beta = -1");
  expect([] { make_ising({4, IsingCoupling::All, NAN, 1}, Backend::Cpu); }, "coupling_constant = nan must be finite");
  expect([] { parse_ising_coupling("torus"); }, "torus");
  expect([] { make_set_addition({5, 6, false, 0.5, 0}, Backend::Cpu); }, "set-addition max_items = 6 is out of range [1, 5]");
  expect([] { make_binary_tree({25, 1.0, 0}, Backend::Cpu); }, "binary-tree depth = 25 is out of range [1, 24]");
}

TEST(EnvironmentErrors, MemoryEstimateIsCheckedFirst) {
  setenv("GFNRL_MEMORY_LIMIT", "100000", 1);
  EXPECT_THROW(make_subsets({16, 0.5, 0}, Backend::Cpu), AllocationError);
  unsetenv("GFNRL_MEMORY_LIMIT");
}

TEST(EnvironmentsCuda, DeviceGeneratorIsBitIdenticalToCpu) {
  REQUIRE_CUDA_DEVICE();
  const auto cpu = small_environments(Backend::Cpu);
  const auto gpu = small_environments(Backend::Cuda);
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    SCOPED_TRACE(cpu[i].first);
    expect_identical_dags(cpu[i].second.to_host(), gpu[i].second.to_host());
  }
  // The tree unrolling on the device equals the CPU's.
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    const DagArrays a = make_tree(cpu[i].second).to_host(), b = make_tree(gpu[i].second).to_host();
    EXPECT_EQ(a.level_offsets, b.level_offsets) << cpu[i].first;
    EXPECT_EQ(a.child_offsets, b.child_offsets) << cpu[i].first;
    EXPECT_EQ(a.child_action, b.child_action) << cpu[i].first;
    EXPECT_EQ(a.label, b.label) << cpu[i].first;
    EXPECT_EQ(a.log_reward, b.log_reward) << cpu[i].first;
  }
  // A size that takes many blocks on the device.
  const DagArrays a = make_subsets({16, 0.5, 1}, Backend::Cpu).to_host();
  const DagArrays b = make_subsets({16, 0.5, 1}, Backend::Cuda).to_host();
  EXPECT_EQ(a.child_index, b.child_index);
  EXPECT_EQ(a.parent_edge, b.parent_edge);
  EXPECT_EQ(a.log_reward, b.log_reward);
}

}  // namespace
}  // namespace gfnrl::test
