// The host's own read+write bandwidth, the ceiling the CPU benchmarks are held against: a
// STREAM-like triad a[i] = b[i] + s c[i] over three float arrays of `bytes` in all (>= 512 MB so
// that no cache holds them), on every OpenMP thread, counted as 12 bytes per element (two reads,
// one write; the write-allocate read is not counted, as STREAM does not). Median of `repeats`.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace gfnrl::bench {

struct Triad {
  double gbps = 0;  ///< 1e9 bytes per second
  double bytes = 0;
  int threads = 1;
};

inline Triad host_triad(std::size_t bytes = std::size_t(576) << 20, int repeats = 5) {
  const std::size_t n = bytes / 12;
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  const auto len = static_cast<std::ptrdiff_t>(n);
  int threads = 1;
  // First touch by the threads that stream them (each thread's pages near it).
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < len; ++i) a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
  std::vector<double> t;
  for (int r = 0; r <= repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
#pragma omp single
      {
#ifdef _OPENMP
        threads = omp_get_num_threads();
#endif
      }
#pragma omp for schedule(static)
      for (std::ptrdiff_t i = 0; i < len; ++i) a[i] = b[i] + 3.0f * c[i];
    }
    if (r > 0)  // the first pass warms the pages
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  volatile float sink = a[n / 2];
  (void)sink;
  return {12.0 * double(n) / t[t.size() / 2] * 1e-9, 12.0 * double(n), threads};
}

}  // namespace gfnrl::bench
