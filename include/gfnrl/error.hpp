/// @file error.hpp
/// Exceptions thrown by libgfnrl. Callers (the CLI) map InputError to exit code 2 and
/// AllocationError / CudaError to exit code 1.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>

namespace gfnrl {

/// Bad input: a malformed DAG, a parameter out of range. The message names the offending value.
class InputError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A size that does not fit in memory; carries the estimate so callers can report it.
class AllocationError : public std::runtime_error {
 public:
  AllocationError(const std::string& what, std::size_t bytes_needed, std::size_t bytes_available)
      : std::runtime_error(what), needed_(bytes_needed), available_(bytes_available) {}
  std::size_t bytes_needed() const { return needed_; }
  std::size_t bytes_available() const { return available_; }

 private:
  std::size_t needed_, available_;
};

/// A failing CUDA runtime call or kernel launch (file, line and the CUDA error string in what()).
class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// "1.23 GiB" style formatting for messages.
std::string format_bytes(std::size_t bytes);
/// A value in a message, as %g: 1e-07, not std::to_string's 0.000000; inf and nan by name.
std::string format_number(double v);

}  // namespace gfnrl
