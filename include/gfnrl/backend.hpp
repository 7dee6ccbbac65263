/// @file backend.hpp
/// Where data lives and computation runs: the CPU (OpenMP) or a CUDA device.
#pragma once
#include <string>

namespace gfnrl {

enum class Backend { Cpu, Cuda };

/// True when this build contains the CUDA backend (it was compiled with nvcc).
bool cuda_compiled();
/// True when the CUDA backend is compiled in and at least one CUDA device can be used.
bool cuda_available();
/// Name and compute capability of the current CUDA device ("NVIDIA H100 80GB HBM3 (sm_90)"),
/// or an explanation of why there is none.
std::string cuda_device_description();

/// Parses "cpu", "cuda" or "auto" (cuda when a device exists). Throws InputError on anything else,
/// and on "cuda" when no device is usable (the message says why).
Backend parse_backend(const std::string& name);
const char* backend_name(Backend b);

/// Waits for all queued work of the backend (no-op on the CPU).
void synchronize(Backend b);

}  // namespace gfnrl
