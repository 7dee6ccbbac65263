// ising: torchgfn's DiscreteEBM with an Ising energy (ring, lattice torus or all pairs).
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "environments/environment_parts.hpp"
#include "gfnrl/detail/philox.hpp"
#include "gfnrl/environments.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"
#include "gfnrl/names.hpp"
#include "ops/builder_ops.hpp"

namespace gfnrl {

using namespace detail::env;

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
  const std::vector<float> host_coupling = ising_couplings(c);
  const Array<float> coupling = Array<float>::from_host(b, host_coupling);
  detail::EnumeratedEnv env;
  env.kind = detail::EnvKind::Ising;
  env.n = c.spins;
  env.num_codes = ising_num_states(c);
  env.num_actions = 2 * c.spins;
  env.scale = c.beta * c.coupling_constant;
  env.coupling = coupling.data();
  // Edges: each state has 2 children per unset variable; sum over states = 2n 3^(n-1).
  const int64_t edges = env.num_codes / 3 * 2 * c.spins;
  Dag dag = make_enumerated(env, c.spins, env.num_codes, edges, b,
                            "ising spins=" + std::to_string(c.spins));
  env.coupling = host_coupling.data();
  attach_intermediate_log_rewards(dag, env);  // forward-looking flows: the spins set so far
  return dag;
}

}  // namespace gfnrl
