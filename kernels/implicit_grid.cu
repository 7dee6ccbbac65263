// CUDA twin of host/cpu/implicit_grid.cpp: the implicit hypergrid layout's passes on the GPU,
// each state's arithmetic the shared per-state math of detail/implicit_grid_math.hpp (expf/logf).
//
// Order: a thread per row (x_1..x_{D-1} fixed) walks x_0, children first (soft values) or
// parents first (visits), with the state-by-state logsumexp. Rows of one row level
// (sum_{k>=1} x_k) are independent, and a row depends only on rows one level further (soft
// values) or nearer (visits), so there is one launch per row level over the rows sorted by level
// (a counting sort on the host, int64 row codes on the device). Code-order passes (log R, log P_T,
// the bounds' reduction) take a thread per state. Compiled; not yet run on a GPU (see
// docs/PERF_NOTES.md): its test, ImplicitHypergrid.CudaIsEquivalentToCpu, skips without one.
#include <cub/device/device_reduce.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <vector>

#include "gfnrl/array.hpp"
#include "launch.cuh"
#include "ops/device_runtime.hpp"
#include "ops/implicit_grid_ops.hpp"

namespace gfnrl::detail::cuda {

namespace {

struct CudaMath {
  static GFNRL_HD float exp(float x) { return expf(x); }
  static GFNRL_HD float log(float x) { return logf(x); }
  static GFNRL_HD double exp_d(double x) { return ::exp(x); }
};

__device__ void decode(int64_t code, const ImplicitGrid& g, int32_t* x) {
  for (int d = 0; d < g.ndim; ++d) {
    x[d] = static_cast<int32_t>(code % g.height);
    code /= g.height;
  }
}

__global__ void log_reward_kernel(ImplicitGrid g, float* log_r) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= g.num_states) return;
  int32_t x[kMaxHypergridDim];
  decode(c, g, x);
  log_r[c] = implicit_log_reward(x, g);
}

// One state's step of each sweep: the soft value from the children, the visit log-probability
// from the parents.
struct SoftValueStep {
  const float* log_r;
  float* v;
  __device__ void operator()(int64_t c, const int32_t* x, const ImplicitGrid& g) const {
    v[c] = implicit_soft_value<CudaMath>(v, c, x, log_r[c], g);
  }
};
struct VisitStep {
  const float* v;
  float* log_visit;
  __device__ void operator()(int64_t c, const int32_t* x, const ImplicitGrid& g) const {
    log_visit[c] = implicit_log_visit<CudaMath>(v, log_visit, c, x, g);
  }
};

// A thread per row of rows[begin, end): x_0 descending (children first) or ascending.
template <class Step>
__global__ void rows_kernel(ImplicitGrid g, const int64_t* rows, int64_t begin, int64_t end,
                            bool descending, Step step) {
  const int64_t i = begin + int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= end) return;
  const int64_t base = rows[i];
  int32_t x[kMaxHypergridDim];
  decode(base, g, x);
  for (int32_t k = 0; k < g.height; ++k) {
    x[0] = descending ? g.height - 1 - k : k;
    step(base + x[0], x, g);
  }
}

__global__ void terminal_kernel(ImplicitGrid g, const float* v, const float* log_r,
                                const float* log_visit, float* out) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= g.num_states) return;
  int32_t x[kMaxHypergridDim];
  decode(c, g, x);
  out[c] = log_visit[c] + implicit_log_exit(v, c, log_r[c], implicit_out_degree(x, g), g);
}

struct BoundTermOp {
  ImplicitGrid g;
  const float *v, *vb, *log_visit, *log_r;
  double log_z;
  __device__ ImplicitBoundTerms operator()(int64_t c) const {
    int32_t x[kMaxHypergridDim];
    decode(c, g, x);
    return implicit_bound_terms<CudaMath>(v, vb, log_visit, c, x, log_r[c], log_z, g);
  }
};
struct BoundMergeOp {
  __device__ ImplicitBoundTerms operator()(const ImplicitBoundTerms& a,
                                           const ImplicitBoundTerms& b) const {
    return {a.elbo + b.elbo, a.eubo + b.eubo};
  }
};

/// Row codes (x_0 = 0) sorted by row level, and where each level starts.
struct RowOrder {
  Array<int64_t> rows;
  std::vector<int64_t> level_start;
};

RowOrder row_order(const ImplicitGrid& g) {
  const int64_t num_rows = g.num_states / g.height;
  const int32_t levels = (g.ndim - 1) * (g.height - 1) + 1;
  std::vector<int32_t> level(num_rows);
  std::vector<int32_t> y(g.ndim, 0);  // odometer over x_1..x_{D-1}
  int32_t sum = 0;
  for (int64_t r = 0; r < num_rows; ++r) {
    level[r] = sum;
    for (int32_t k = 1; k < g.ndim; ++k) {
      if (++y[k] < g.height) {
        ++sum;
        break;
      }
      sum -= g.height - 1;
      y[k] = 0;
    }
  }
  RowOrder o;
  o.level_start.assign(levels + 1, 0);
  for (int64_t r = 0; r < num_rows; ++r) ++o.level_start[level[r] + 1];
  for (int32_t l = 0; l < levels; ++l) o.level_start[l + 1] += o.level_start[l];
  std::vector<int64_t> sorted(num_rows), next(o.level_start.begin(), o.level_start.end() - 1);
  for (int64_t r = 0; r < num_rows; ++r) sorted[next[level[r]]++] = r * g.height;
  o.rows = Array<int64_t>::from_host(Backend::Cuda, sorted);
  return o;
}

template <class Launch>
void by_row_levels(const ImplicitGrid& g, bool reverse, Launch launch) {
  const RowOrder o = row_order(g);
  const int32_t levels = static_cast<int32_t>(o.level_start.size()) - 1;
  for (int32_t i = 0; i < levels; ++i) {
    const int32_t l = reverse ? levels - 1 - i : i;
    const int64_t begin = o.level_start[l], end = o.level_start[l + 1];
    if (end > begin) launch(o.rows.data(), begin, end);
  }
  GFNRL_CUDA_CHECK(cudaStreamSynchronize(library_stream()));  // before the row order is freed
}

}  // namespace

void implicit_log_reward(const ImplicitGrid& g, float* log_r) {
  log_reward_kernel<<<grid_for(g.num_states), kBlock, 0, library_stream()>>>(g, log_r);
  GFNRL_CUDA_CHECK_LAUNCH();
}

void implicit_soft_values(const ImplicitGrid& g, const float* log_r, float* v) {
  by_row_levels(g, true, [&](const int64_t* rows, int64_t begin, int64_t end) {
    rows_kernel<<<grid_for(end - begin), kBlock, 0, library_stream()>>>(
        g, rows, begin, end, true, SoftValueStep{log_r, v});
    GFNRL_CUDA_CHECK_LAUNCH();
  });
}

void implicit_visits(const ImplicitGrid& g, const float* v, float* log_visit) {
  by_row_levels(g, false, [&](const int64_t* rows, int64_t begin, int64_t end) {
    rows_kernel<<<grid_for(end - begin), kBlock, 0, library_stream()>>>(
        g, rows, begin, end, false, VisitStep{v, log_visit});
    GFNRL_CUDA_CHECK_LAUNCH();
  });
}

ImplicitBoundTerms implicit_bounds(const ImplicitGrid& g, const float* v, const float* vb,
                                   const float* log_visit, const float* log_r, double log_z) {
  auto in = thrust::make_transform_iterator(thrust::counting_iterator<int64_t>(0),
                                            BoundTermOp{g, v, vb, log_visit, log_r, log_z});
  cudaStream_t st = library_stream();
  Array<ImplicitBoundTerms> out(Backend::Cuda, 1);
  std::size_t temp_bytes = 0;
  GFNRL_CUDA_CHECK(cub::DeviceReduce::Reduce(nullptr, temp_bytes, in, out.data(), g.num_states,
                                             BoundMergeOp{}, ImplicitBoundTerms{}, st));
  Array<unsigned char> temp(Backend::Cuda, temp_bytes);
  GFNRL_CUDA_CHECK(cub::DeviceReduce::Reduce(temp.data(), temp_bytes, in, out.data(),
                                             g.num_states, BoundMergeOp{}, ImplicitBoundTerms{},
                                             st));
  ImplicitBoundTerms host;
  copy(&host, false, out.data(), true, sizeof host);
  return host;
}

void implicit_terminal(const ImplicitGrid& g, const float* v, const float* log_r,
                       const float* log_visit, float* out) {
  terminal_kernel<<<grid_for(g.num_states), kBlock, 0, library_stream()>>>(g, v, log_r,
                                                                           log_visit, out);
  GFNRL_CUDA_CHECK_LAUNCH();
}

}  // namespace gfnrl::detail::cuda
