/// @file stopwatch.hpp
/// Wall time of backend work: CUDA events on the library's stream for Backend::Cuda, a steady
/// clock for the CPU.
#pragma once
#include <chrono>
#include <memory>

#include "gfnrl/backend.hpp"

namespace gfnrl {

class Stopwatch {
 public:
  explicit Stopwatch(Backend b);
  void start();
  /// Seconds since start() (waits for the backend's queued work).
  double seconds();

 private:
  Backend backend_;
  std::chrono::steady_clock::time_point t0_;
  std::shared_ptr<void> events_;
};

}  // namespace gfnrl
