// Available memory per backend, and the refusal of sizes that do not fit (before allocating).
#include <sys/resource.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "ops/device_runtime.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"
#include "gfnrl/dag.hpp"
#include "runtime/host_memory.hpp"

namespace gfnrl {

namespace {
std::atomic<int> g_host_share{1};

std::optional<std::size_t> meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  std::size_t kib = 0;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return std::nullopt;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A byte count of a cgroup file (a decimal number); nullopt for "max", nothing, or a missing file.
std::optional<std::size_t> cgroup_number(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  uint64_t v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc()) return std::nullopt;
  return static_cast<std::size_t>(v);
}

// The host's free memory for this process, with what bounds it (for the refusal's message).
detail::MemoryLimit host_budget() {
  detail::MemoryLimit best{std::size_t(1) << 34, "16 GiB (no /proc/meminfo: assumed)"};
  if (const auto m = meminfo_available()) best = {*m, "MemAvailable"};
  const auto tighter = [&best](const std::optional<detail::MemoryLimit>& l) {
    if (l && l->bytes < best.bytes) best = *l;
  };
  tighter(detail::cgroup_memory_limit(read_file("/proc/self/cgroup"), "/sys/fs/cgroup"));
  tighter(detail::address_space_limit());
  const int share = g_host_share.load();
  if (share > 1) {
    best.bytes /= static_cast<std::size_t>(share);
    best.source += ", split among the " + std::to_string(share) + " processes sharing this host";
  }
  return best;
}
}  // namespace

namespace detail {

std::optional<MemoryLimit> cgroup_memory_limit(const std::string& proc_cgroup,
                                               const std::string& fs_root) {
  std::optional<MemoryLimit> best;
  std::istringstream lines(proc_cgroup);
  for (std::string line; std::getline(lines, line);) {
    // "ID:CONTROLLERS:PATH": v2 is "0::PATH"; v1's memory hierarchy lists "memory".
    const std::size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    const bool v2 = line.substr(0, a) == "0" && controllers.empty();
    bool v1 = false;
    std::istringstream names(controllers);
    for (std::string n; std::getline(names, n, ',');) v1 = v1 || n == "memory";
    if (!v2 && !v1) continue;
    // v2 alone is mounted at the root; beside v1 (hybrid) at unified/.
    const bool hybrid = !std::filesystem::exists(fs_root + "/cgroup.controllers") &&
                        std::filesystem::exists(fs_root + "/unified");
    const std::string base = v2 ? (hybrid ? fs_root + "/unified" : fs_root) : fs_root + "/memory";
    const char* limit_file = v2 ? "memory.max" : "memory.limit_in_bytes";
    const char* usage_file = v2 ? "memory.current" : "memory.usage_in_bytes";
    // The cgroup and each ancestor up to the mount.
    for (std::filesystem::path dir = std::filesystem::path(base + path).lexically_normal();;
         dir = dir.parent_path()) {
      const auto limit = cgroup_number((dir / limit_file).string());
      // v1 writes "no limit" as a number near 2^63.
      if (limit && *limit < (std::size_t(1) << 62)) {
        const std::size_t used = cgroup_number((dir / usage_file).string()).value_or(0);
        const std::size_t left = *limit > used ? *limit - used : 0;
        if (!best || left < best->bytes)
          best = MemoryLimit{left, "the cgroup limit " + (dir / limit_file).string() + " (" +
                                       format_bytes(*limit) + ") less its usage"};
      }
      if (dir.string().size() <= base.size() || dir == dir.parent_path()) break;
    }
  }
  return best;
}

std::optional<MemoryLimit> address_space_limit() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return std::nullopt;
  std::size_t mapped = 0;  // VmSize, kB
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmSize:", 0) == 0) mapped = std::strtoull(line.c_str() + 7, nullptr, 10) * 1024;
  const std::size_t limit = static_cast<std::size_t>(rl.rlim_cur);
  return MemoryLimit{limit > mapped ? limit - mapped : 0,
                     "RLIMIT_AS (ulimit -v: " + format_bytes(limit) + ") less the " +
                         format_bytes(mapped) + " of address space in use"};
}

}  // namespace detail

void set_host_memory_share(int processes) {
  if (processes < 1)
    throw InputError("set_host_memory_share: processes = " + std::to_string(processes) +
                     " must be >= 1");
  g_host_share.store(processes);
}

std::size_t available_bytes(Backend b) {
  std::size_t avail = 0;
  if (b == Backend::Cuda) avail = detail::cuda::free_bytes();
  if (b == Backend::Cpu) avail = host_budget().bytes;
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
  if (bytes_needed > avail) {
    std::string bound = b == Backend::Cpu ? host_budget().source : "the device's free memory";
    if (std::getenv("GFNRL_MEMORY_LIMIT")) bound += ", or GFNRL_MEMORY_LIMIT, whichever is lower";
    throw AllocationError(what + " needs an estimated " + format_bytes(bytes_needed) + " (" +
                              std::to_string(bytes_needed) + " bytes) but only " +
                              format_bytes(avail) + " is available on the " + backend_name(b) +
                              " backend (bound by " + bound + ")",
                          bytes_needed, avail);
  }
}

}  // namespace gfnrl
