// Reductions in double with CUB: log sum exp (a (max, scaled sum) monoid) and the per-state
// metric terms (TV, KL both ways, JSD, mass, visits) and the variational-bound terms (ELBO,
// EUBO), summed over states.
#include <cub/device/device_reduce.cuh>
#include <memory>
#include <type_traits>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include "ops/device_runtime.hpp"
#include "ops/reduction_ops.hpp"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
struct LseTerm {
  const float* x;
  __device__ LseAcc<double> operator()(std::size_t i) const {
    LseAcc<double> a;
    a.add(static_cast<double>(x[i]));
    return a;
  }
};
struct LseMerge {
  __device__ LseAcc<double> operator()(const LseAcc<double>& a, const LseAcc<double>& b) const {
    return LseAcc<double>::merge(a, b);
  }
};
struct MetricTerm {
  const float *log_target, *log_terminal, *log_visit;
  double log_z, log_mass, log_mode_threshold;
  __device__ MetricSums operator()(std::size_t i) const {
    return metric_terms(static_cast<double>(log_target[i]) - log_z,
                        static_cast<double>(log_terminal[i]) - log_mass, log_visit[i],
                        log_target[i] >= log_mode_threshold);
  }
};
struct Load {
  const float* x;
  __device__ float operator()(std::size_t i) const { return x[i]; }
};
struct MaxOp {
  __device__ float operator()(float a, float b) const { return a < b ? b : a; }
};
struct MetricMerge {
  __device__ MetricSums operator()(const MetricSums& a, const MetricSums& b) const {
    return MetricSums::merge(a, b);
  }
};

struct BoundTerm {
  BoundArgs a;
  __device__ BoundSums operator()(std::size_t s) const {
    return bound_terms(a, static_cast<int32_t>(s));
  }
};
struct BoundMerge {
  __device__ BoundSums operator()(const BoundSums& a, const BoundSums& b) const {
    return BoundSums::merge(a, b);
  }
};

// One grow-only device buffer per host thread for a reduction's result and CUB's temporary
// storage, so an evaluation loop allocates nothing after its first call. reduce() ends by copying
// its result to the host synchronously, so the buffer is idle again when it returns, whichever
// stream the next call runs on; a thread that changes device gets a buffer on the new one.
unsigned char* reduce_workspace(std::size_t bytes) {
  struct Workspace {
    std::shared_ptr<void> mem;
    std::size_t bytes = 0;
    int device = -1;
  };
  thread_local Workspace w;
  int device = 0;
  GFNRL_CUDA_CHECK(cudaGetDevice(&device));
  if (w.bytes < bytes || w.device != device) {
    w.mem.reset();  // free the old buffer before asking for the larger one
    w.bytes = 0;
    w.mem = allocate(bytes);
    w.bytes = bytes;
    w.device = device;
  }
  return static_cast<unsigned char*>(w.mem.get());
}

template <class T, class Term, class Merge>
T reduce(std::size_t n, Term term, Merge merge, T init = T{}) {
  static_assert(std::is_trivially_copyable_v<T>);
  auto in = thrust::make_transform_iterator(thrust::counting_iterator<std::size_t>(0), term);
  constexpr std::size_t kOut = (sizeof(T) + 255) / 256 * 256;  // CUB's storage stays aligned
  std::size_t temp_bytes = 0;
  cudaStream_t st = library_stream();
  GFNRL_CUDA_CHECK(cub::DeviceReduce::Reduce(nullptr, temp_bytes, in, static_cast<T*>(nullptr), n,
                                             merge, init, st));
  unsigned char* w = reduce_workspace(kOut + temp_bytes);
  T* out = reinterpret_cast<T*>(w);
  GFNRL_CUDA_CHECK(cub::DeviceReduce::Reduce(w + kOut, temp_bytes, in, out, n, merge, init, st));
  T host;
  copy(&host, false, out, true, sizeof(T));
  return host;
}
}  // namespace

double log_sum_exp(const float* x, std::size_t n) {
  return reduce<LseAcc<double>>(n, LseTerm{x}, LseMerge{}).value();
}

float max_value(const float* x, std::size_t n) {
  return reduce<float>(n, Load{x}, MaxOp{}, -INFINITY);
}

MetricSums metric_sums(const float* log_target, double log_z, const float* log_terminal,
                       double log_mass, const float* log_visit, std::size_t n,
                       double log_mode_threshold) {
  return reduce<MetricSums>(
      n, MetricTerm{log_target, log_terminal, log_visit, log_z, log_mass, log_mode_threshold},
      MetricMerge{});
}

BoundSums bound_sums(const BoundArgs& a) {
  return reduce<BoundSums>(static_cast<std::size_t>(a.dag.num_states), BoundTerm{a}, BoundMerge{});
}

}  // namespace gfnrl::detail::cuda
