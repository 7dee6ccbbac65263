/// @file array.hpp
/// A typed, backend-tagged buffer (host memory or CUDA device memory), shallow-copied like a
/// shared_ptr. Host code touches device contents only through to_host()/from_host().
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include "gfnrl/backend.hpp"

namespace gfnrl {

namespace detail {
/// Allocates `bytes` on the backend; throws AllocationError (with the size) when it cannot.
std::shared_ptr<void> allocate_bytes(Backend b, std::size_t bytes);
/// memcpy between any two backends.
void copy_bytes(void* dst, Backend dst_b, const void* src, Backend src_b, std::size_t bytes);
}  // namespace detail

template <class T>
class Array {
 public:
  Array() = default;
  /// Uninitialised storage for n elements on backend b.
  Array(Backend b, std::size_t n)
      : backend_(b), size_(n), mem_(detail::allocate_bytes(b, n * sizeof(T))) {}

  static Array from_host(Backend b, const std::vector<T>& v) {
    Array a(b, v.size());
    detail::copy_bytes(a.data(), b, v.data(), Backend::Cpu, v.size() * sizeof(T));
    return a;
  }
  std::vector<T> to_host() const {
    std::vector<T> v(size_);
    detail::copy_bytes(v.data(), Backend::Cpu, data(), backend_, size_ * sizeof(T));
    return v;
  }
  /// Deep copy onto backend b.
  Array to(Backend b) const {
    Array a(b, size_);
    detail::copy_bytes(a.data(), b, data(), backend_, size_ * sizeof(T));
    return a;
  }

  /// A view of n elements at p on backend b, in memory the caller owns: no copy is made, nothing
  /// is freed, and the caller keeps the memory alive while the view (or a copy of it) is used.
  static Array borrow(Backend b, T* p, std::size_t n) {
    Array a;
    a.backend_ = b;
    a.size_ = n;
    a.mem_ = std::shared_ptr<void>(std::shared_ptr<void>(), p);  // aliasing, owning nothing
    return a;
  }

  /// A view of elements [offset, offset + n) sharing this buffer's memory (and keeping it alive).
  Array slice(std::size_t offset, std::size_t n) const {
    Array a;
    a.backend_ = backend_;
    a.size_ = n;
    a.mem_ = std::shared_ptr<void>(mem_, static_cast<T*>(mem_.get()) + offset);
    return a;
  }

  Backend backend() const { return backend_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return static_cast<T*>(mem_.get()); }
  const T* data() const { return static_cast<const T*>(mem_.get()); }

 private:
  Backend backend_ = Backend::Cpu;
  std::size_t size_ = 0;
  std::shared_ptr<void> mem_;
};

}  // namespace gfnrl
