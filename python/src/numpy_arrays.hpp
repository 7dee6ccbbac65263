// Arrays across the Python boundary: library arrays out as numpy arrays that own their memory,
// C-contiguous CPU arrays (numpy, or anything DLPack-capable) in.
#pragma once
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "gfnrl/array.hpp"

namespace gfnrl::python {

namespace nb = nanobind;

template <class T>
using NumpyArray = nb::ndarray<nb::numpy, T>;
/// What the bindings accept: C-contiguous, on the host.
template <class T>
using HostInput = nb::ndarray<const T, nb::c_contig, nb::device::cpu>;
/// C-contiguous on the host or on a device (DLPack: torch CUDA tensors, CuPy); the binding checks
/// the device against the DAG's backend.
template <class T>
using AnyInput = nb::ndarray<const T, nb::c_contig>;

/// An allocator that leaves the elements of a sized vector default-initialised, so that a buffer
/// about to be overwritten in full (P_T, 1.3 MB a call on 4-D H=20) is not zeroed first.
template <class T>
struct UninitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() = default;
  template <class U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
};
/// A host buffer whose elements start unset.
template <class T>
using HostBuffer = std::vector<T, UninitAllocator<T>>;

/// A numpy array of `shape` that takes ownership of `v` (freed when Python drops the array).
template <class T, class Alloc>
NumpyArray<T> to_numpy(std::vector<T, Alloc> v, std::vector<std::size_t> shape) {
  using Vec = std::vector<T, Alloc>;
  auto holder = std::make_unique<Vec>(std::move(v));
  T* data = holder->data();
  nb::capsule owner(holder.get(), [](void* p) noexcept {
    std::unique_ptr<Vec>(static_cast<Vec*>(p));  // frees it
  });
  holder.release();  // now owned by the capsule
  return NumpyArray<T>(data, shape.size(), shape.data(), owner);
}

/// A library array copied to the host, as numpy (converted to U).
template <class U, class T>
NumpyArray<U> to_numpy(const Array<T>& a, std::vector<std::size_t> shape) {
  const std::vector<T> h = a.to_host();
  return to_numpy(std::vector<U>(h.begin(), h.end()), std::move(shape));
}

}  // namespace gfnrl::python
