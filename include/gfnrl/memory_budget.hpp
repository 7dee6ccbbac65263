/// @file memory_budget.hpp
/// How much memory a backend can give, and the check that refuses a size before allocating.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "gfnrl/backend.hpp"

namespace gfnrl {

/// Free bytes on the backend: on the host the least of MemAvailable, the cgroup memory limits of
/// the process (v1 and v2, with their ancestors: Slurm's --mem, containers) less their usage, and
/// RLIMIT_AS (ulimit -v) less the address space in use, divided by set_host_memory_share's
/// count; cudaMemGetInfo's free on the device.
/// The environment variable GFNRL_MEMORY_LIMIT (bytes, a decimal integer >= 0) caps it, for tests
/// and shared machines; any other value (empty, negative, "1e9", "100abc", overflowing) is an
/// InputError naming it.
std::size_t available_bytes(Backend b);

/// This process shares the host's memory with `processes` - 1 others that will allocate as much
/// (the CLI's MPI ranks on one node): available_bytes(Cpu) gives each its share. InputError for
/// processes < 1.
void set_host_memory_share(int processes);

/// Bytes a DAG of `states` states and `edges` inner edges plus one soft-value solve and one
/// marginal evaluation need (the estimate every environment and DAG file is checked against).
/// Per state (72): offsets 2x8, log R 4, label 8, V/exit Q/exit log pi 12, marginals 8, uniform
/// policy exit 4, log n 4, generator temporaries 16. Per edge (44, or 48 past 2^31-1 edges):
/// child index/action 8, parent index 4 and edge id 4 (8 past 2^31-1 edges), Q / log pi / P_B
/// 12, a forward policy 4, the bounds' P_B and slack 12.
std::size_t estimate_dag_bytes(int64_t states, int64_t edges);

/// Throws AllocationError("<what> needs X but only Y is available on <backend>") when
/// `bytes_needed` exceeds available_bytes(b).
void require_bytes(Backend b, std::size_t bytes_needed, const std::string& what);

}  // namespace gfnrl
