/// @file memory_budget.hpp
/// How much memory a backend can give, and the check that refuses a size before allocating.
#pragma once
#include <cstddef>
#include <string>

#include "gfnrl/backend.hpp"

namespace gfnrl {

/// Free bytes on the backend: MemAvailable on the host, cudaMemGetInfo's free on the device.
/// The environment variable GFNRL_MEMORY_LIMIT (bytes) caps it, for tests and shared machines.
std::size_t available_bytes(Backend b);

/// Throws AllocationError("<what> needs X but only Y is available on <backend>") when
/// `bytes_needed` exceeds available_bytes(b).
void require_bytes(Backend b, std::size_t bytes_needed, const std::string& what);

}  // namespace gfnrl
