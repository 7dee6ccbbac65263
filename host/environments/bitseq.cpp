// bitseq: strings built by appending or prepending words; modes from Philox.
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

}  // namespace gfnrl
