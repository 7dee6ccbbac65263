// Enumerated environments generated on the GPU: a sort key per code (its level, or max_level + 1
// for invalid codes), a stable CUB radix sort of (key, code) over the whole code space, level
// boundaries from the sorted keys, a dense rank table, degree scans, and the shared per-state
// fill (detail/enumerated_env.hpp) — the CPU generator's steps, in the same order.
#include <cub/device/device_radix_sort.cuh>

#include <vector>

#include "ops/builder_ops.hpp"
#include "device_scan.cuh"
#include "launch.cuh"

namespace gfnrl::detail::cuda {

namespace {
// key[code] = level, or `invalid` for a code that is not a state; code[i] = i.
struct KeyEntry {
  EnumeratedEnv e;
  int32_t invalid;
  int32_t* key;
  int64_t* code;
  __device__ void operator()(int64_t i) const {
    key[i] = env_valid(e, i) ? env_level(e, i) : invalid;
    code[i] = i;
  }
};
// bounds[l] = first sorted position with key >= l (keys are sorted, so each l is written once).
struct BoundEntry {
  const int32_t* sorted_key;
  int32_t* bounds;
  __device__ void operator()(int64_t i) const {
    const int32_t lo = i == 0 ? -1 : sorted_key[i - 1];
    for (int32_t l = lo + 1; l <= sorted_key[i]; ++l) bounds[l] = static_cast<int32_t>(i);
  }
};
struct RankDegreeEntry {
  EnumeratedEnv e;
  const int64_t* order;
  int32_t *rank, *out_deg, *in_deg;
  __device__ void operator()(int64_t i) const {
    rank[order[i]] = static_cast<int32_t>(i);
    enumerated_degrees(e, order[i], &out_deg[i], &in_deg[i]);
  }
};
struct FillEntry {
  EnumeratedFill f;
  __device__ void operator()(int64_t i) const { enumerated_fill_state(static_cast<int32_t>(i), f); }
};
}  // namespace

void build_enumerated(const EnumeratedEnv& e, int32_t max_level, EnumeratedBuffers& out) {
  cudaStream_t st = library_stream();
  const int64_t codes = e.num_codes;
  const int32_t invalid = max_level + 1;
  Array<int32_t> key(Backend::Cuda, codes), key_sorted(Backend::Cuda, codes);
  Array<int64_t> code(Backend::Cuda, codes), code_sorted(Backend::Cuda, codes);
  for_each_index(codes, KeyEntry{e, invalid, key.data(), code.data()}, st);
  {
    int end_bit = 1;
    while ((int64_t(1) << end_bit) <= invalid) ++end_bit;
    std::size_t temp_bytes = 0;
    GFNRL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, key.data(),
                                                     key_sorted.data(), code.data(),
                                                     code_sorted.data(), codes, 0, end_bit, st));
    Array<unsigned char> temp(Backend::Cuda, temp_bytes);
    GFNRL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data(), temp_bytes, key.data(),
                                                     key_sorted.data(), code.data(),
                                                     code_sorted.data(), codes, 0, end_bit, st));
    GFNRL_CUDA_CHECK(cudaStreamSynchronize(st));
  }
  // Level l occupies sorted positions [bounds[l], bounds[l+1]); bounds[invalid] = #states.
  // The last key is `invalid` unless every code is valid: then bounds[invalid] = codes.
  Array<int32_t> bounds(Backend::Cuda, invalid + 1);
  {
    const int32_t whole = static_cast<int32_t>(codes);
    GFNRL_CUDA_CHECK(cudaMemcpyAsync(bounds.data() + invalid, &whole, sizeof whole,
                                     cudaMemcpyHostToDevice, st));
    for_each_index(codes, BoundEntry{key_sorted.data(), bounds.data()}, st);
  }
  std::vector<int32_t> offsets = bounds.to_host();  // synchronous copy
  const int32_t n = offsets[invalid];
  out.level_offsets = offsets;
  out.arrays.label = Array<int64_t>(Backend::Cuda, n);
  GFNRL_CUDA_CHECK(cudaMemcpyAsync(out.arrays.label.data(), code_sorted.data(), sizeof(int64_t) * n,
                                   cudaMemcpyDeviceToDevice, st));
  // `key` is reused as the rank table.
  Array<int32_t> out_deg(Backend::Cuda, n), in_deg(Backend::Cuda, n);
  for_each_index(n, RankDegreeEntry{e, out.arrays.label.data(), key.data(), out_deg.data(), in_deg.data()},
                 st);
  out.arrays.child_offsets = Array<int64_t>(Backend::Cuda, n + 1);
  out.arrays.parent_offsets = Array<int64_t>(Backend::Cuda, n + 1);
  offsets_from_degrees(out_deg.data(), out.arrays.child_offsets.data(), n, st);
  offsets_from_degrees(in_deg.data(), out.arrays.parent_offsets.data(), n, st);
  int64_t edges = 0;
  GFNRL_CUDA_CHECK(cudaMemcpyAsync(&edges, out.arrays.child_offsets.data() + n, sizeof edges,
                                   cudaMemcpyDeviceToHost, st));
  GFNRL_CUDA_CHECK(cudaStreamSynchronize(st));
  out.arrays.allocate_edges(Backend::Cuda, n, edges);
  const EnumeratedFill f{e, out.arrays.label.data(), key.data(), out.arrays.write_view()};
  for_each_index(n, FillEntry{f}, st);
  GFNRL_CUDA_CHECK(cudaStreamSynchronize(st));  // before the temporaries are freed
}

}  // namespace gfnrl::detail::cuda
