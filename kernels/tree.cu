// Tree unrolling on the GPU, level by level: degrees, a CUB exclusive scan, the shared
// tree_fill_state per tree state; one small device-to-host read per level gives the next level's
// size (levels are few: at most the DAG's longest path).
#include <cub/device/device_scan.cuh>

#include <stdexcept>
#include <string>
#include <vector>

#include "ops/builder_ops.hpp"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
struct DegreeEntry {
  DagView base;
  const int64_t* label;
  int32_t begin;
  int32_t* degree;
  __device__ void operator()(int64_t i) const { degree[i] = tree_degree(base, label[begin + i]); }
};
struct FillEntry {
  TreeLevel t;
  __device__ void operator()(int64_t i) const { tree_fill_state(static_cast<int32_t>(i), t); }
};
}  // namespace

std::vector<int32_t> build_tree(TreeLevel t, int32_t num_states) {
  cudaStream_t st = library_stream();
  Array<int32_t> degree(Backend::Cuda, num_states), first(Backend::Cuda, num_states);
  std::size_t temp_bytes = 0;
  GFNRL_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, temp_bytes, degree.data(), first.data(),
                                                 num_states, st));
  Array<unsigned char> temp(Backend::Cuda, temp_bytes);
  std::vector<int32_t> levels{0, 1};
  t.begin = 0;
  t.end = 1;
  t.first_child = first.data();
  while (t.begin < t.end) {
    const int32_t m = t.end - t.begin;
    for_each_index(m, DegreeEntry{t.base, t.label, t.begin, degree.data()}, st);
    GFNRL_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(temp.data(), temp_bytes, degree.data(),
                                                   first.data(), m, st));
    for_each_index(m, FillEntry{t}, st);
    int32_t tail[2] = {0, 0};  // the last state's first child and degree
    GFNRL_CUDA_CHECK(cudaMemcpyAsync(&tail[0], first.data() + m - 1, sizeof(int32_t),
                                     cudaMemcpyDeviceToHost, st));
    GFNRL_CUDA_CHECK(cudaMemcpyAsync(&tail[1], degree.data() + m - 1, sizeof(int32_t),
                                     cudaMemcpyDeviceToHost, st));
    GFNRL_CUDA_CHECK(cudaStreamSynchronize(st));
    const int64_t created = int64_t(tail[0]) + tail[1];
    if (t.end + created > num_states)
      throw std::logic_error("tree unrolling: more states than the path count " +
                             std::to_string(num_states));
    t.begin = t.end;
    t.end += static_cast<int32_t>(created);
    levels.push_back(t.end);
  }
  levels.pop_back();
  const int64_t last = num_states - 1;
  GFNRL_CUDA_CHECK(cudaMemcpyAsync(t.child_offsets + num_states, &last, sizeof last,
                                   cudaMemcpyHostToDevice, st));
  GFNRL_CUDA_CHECK(cudaMemcpyAsync(t.parent_offsets + num_states, &last, sizeof last,
                                   cudaMemcpyHostToDevice, st));
  GFNRL_CUDA_CHECK(cudaStreamSynchronize(st));
  return levels;
}

}  // namespace gfnrl::detail::cuda
