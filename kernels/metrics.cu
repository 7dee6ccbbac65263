// Reductions in double with CUB: log sum exp (a (max, scaled sum) monoid) and the per-state
// metric terms (TV, KL both ways, JSD, mass, visits) summed over states.
#include <cub/device/device_reduce.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include "ops/reduction_ops.hpp"
#include "gfnrl/array.hpp"
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
  double log_z, log_mass;
  __device__ MetricSums operator()(std::size_t i) const {
    return metric_terms(static_cast<double>(log_target[i]) - log_z,
                        static_cast<double>(log_terminal[i]) - log_mass,
                        static_cast<double>(log_visit[i]));
  }
};
struct MetricMerge {
  __device__ MetricSums operator()(const MetricSums& a, const MetricSums& b) const {
    return MetricSums::merge(a, b);
  }
};

template <class T, class Term, class Merge>
T reduce(std::size_t n, Term term, Merge merge) {
  auto in = thrust::make_transform_iterator(thrust::counting_iterator<std::size_t>(0), term);
  Array<T> out(Backend::Cuda, 1);
  std::size_t temp_bytes = 0;
  cudaStream_t st = library_stream();
  GFNRL_CUDA_CHECK(cub::DeviceReduce::Reduce(nullptr, temp_bytes, in, out.data(), n, merge, T{}, st));
  Array<unsigned char> temp(Backend::Cuda, temp_bytes);
  GFNRL_CUDA_CHECK(
      cub::DeviceReduce::Reduce(temp.data(), temp_bytes, in, out.data(), n, merge, T{}, st));
  return out.to_host()[0];
}
}  // namespace

double log_sum_exp(const float* x, std::size_t n) {
  return reduce<LseAcc<double>>(n, LseTerm{x}, LseMerge{}).value();
}

MetricSums metric_sums(const float* log_target, double log_z, const float* log_terminal,
                       double log_mass, const float* log_visit, std::size_t n) {
  return reduce<MetricSums>(n, MetricTerm{log_target, log_terminal, log_visit, log_z, log_mass},
                            MetricMerge{});
}

}  // namespace gfnrl::detail::cuda
