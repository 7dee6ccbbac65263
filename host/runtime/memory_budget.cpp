// Available memory per backend, and the refusal of sizes that do not fit (before allocating).
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "ops/device_runtime.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"
#include "gfnrl/dag.hpp"

namespace gfnrl {

namespace {
std::size_t host_available() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  std::size_t kib = 0;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return static_cast<std::size_t>(1) << 34;  // unknown: assume 16 GiB
}
}  // namespace

std::size_t available_bytes(Backend b) {
  std::size_t avail = 0;
  if (b == Backend::Cuda) avail = detail::cuda::free_bytes();
  if (b == Backend::Cpu) avail = host_available();
  if (const char* cap = std::getenv("GFNRL_MEMORY_LIMIT")) {
    // Digits only: strtoull alone would accept "-1" (as 2^64-1), " 5", "100abc" as 100, and
    // clamp overflow silently.
    const std::string text = cap;
    uint64_t v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || text[0] == '-' || text[0] == '+' || r.ec != std::errc() ||
        r.ptr != text.data() + text.size())
      throw InputError("GFNRL_MEMORY_LIMIT = '" + text.substr(0, 40) +
                       "' is not a byte count: give a decimal integer in [0, 2^64-1], or unset it");
    if (v < avail) avail = static_cast<std::size_t>(v);
  }
  return avail;
}

std::size_t estimate_dag_bytes(int64_t states, int64_t edges) {
  // 64-bit CSR/CSC offsets: 72 bytes per state; edge ids in the CSC stored in 8 bytes instead
  // of 4 past kMaxIndex edges.
  const std::size_t per_edge = wide_edge_ids(edges) ? 48 : 44;
  return static_cast<std::size_t>(states) * 72 + static_cast<std::size_t>(edges) * per_edge +
         (std::size_t(1) << 20);
}

void require_bytes(Backend b, std::size_t bytes_needed, const std::string& what) {
  const std::size_t avail = available_bytes(b);
  if (bytes_needed > avail)
    throw AllocationError(what + " needs an estimated " + format_bytes(bytes_needed) + " (" +
                              std::to_string(bytes_needed) + " bytes) but only " +
                              format_bytes(avail) + " is available on the " + backend_name(b) +
                              " backend",
                          bytes_needed, avail);
}

}  // namespace gfnrl
