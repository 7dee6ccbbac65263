// Internal: what limits the host memory a process may still take (memory_budget.cpp), each
// source readable on its own for the tests.
#pragma once
#include <cstddef>
#include <optional>
#include <string>

namespace gfnrl::detail {

/// Bytes a limit still allows, and the words that say which limit it is.
struct MemoryLimit {
  std::size_t bytes;
  std::string source;
};

/// The tightest memory limit of the cgroups this process is in, less their usage: cgroup v2's
/// memory.max - memory.current and v1's memory.limit_in_bytes - memory.usage_in_bytes, over the
/// process's cgroup and every ancestor (a parent's limit binds its children). `proc_cgroup` is
/// the text of /proc/self/cgroup, `fs_root` the cgroup mount (/sys/fs/cgroup); nullopt when no
/// cgroup sets a limit.
std::optional<MemoryLimit> cgroup_memory_limit(const std::string& proc_cgroup,
                                               const std::string& fs_root);

/// RLIMIT_AS (ulimit -v) less the address space already mapped (VmSize); nullopt when unlimited.
std::optional<MemoryLimit> address_space_limit();

}  // namespace gfnrl::detail
