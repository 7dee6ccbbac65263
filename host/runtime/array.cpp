// Backend-tagged allocation and copies behind gfnrl::Array.
#include <cstdlib>
#include <cstring>

#include "ops/device_runtime.hpp"
#include "gfnrl/array.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"

namespace gfnrl::detail {

std::shared_ptr<void> allocate_bytes(Backend b, std::size_t bytes) {
  if (bytes == 0) return nullptr;
  if (b == Backend::Cuda) return cuda::allocate(bytes);
  // 64-byte alignment for vector loads; aligned_alloc needs a multiple of the alignment.
  const std::size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p)
    throw AllocationError("host allocation of " + format_bytes(bytes) + " failed", bytes,
                          available_bytes(Backend::Cpu));
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

void copy_bytes(void* dst, Backend dst_b, const void* src, Backend src_b, std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_b == Backend::Cuda || src_b == Backend::Cuda) {
    cuda::copy(dst, dst_b == Backend::Cuda, src, src_b == Backend::Cuda, bytes);
    return;
  }
  std::memcpy(dst, src, bytes);
}

}  // namespace gfnrl::detail
