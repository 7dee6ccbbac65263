/// @file backend.hpp
/// Where data lives and computation runs: the CPU (OpenMP) or a CUDA device.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace gfnrl {

enum class Backend { Cpu, Cuda };

/// True when this build contains the CUDA backend (it was compiled with nvcc).
bool cuda_compiled();
/// True when the CUDA backend is compiled in and at least one CUDA device can be used.
bool cuda_available();
/// Name and compute capability of the current CUDA device ("NVIDIA H100 80GB HBM3 (sm_90)"),
/// or an explanation of why there is none.
std::string cuda_device_description();
/// The CUDA devices this process sees (0 without the CUDA backend or a device).
int cuda_device_count();
/// Makes device `ordinal` (in [0, cuda_device_count())) the calling thread's device; call it
/// before any other CUDA work (the library's stream belongs to the device current then). The CLI
/// under MPI binds rank `local_rank % cuda_device_count()`. InputError for a bad ordinal.
void use_cuda_device(int ordinal);

/// cpu, cuda, auto: the names parse_backend accepts.
const std::vector<std::string>& backend_names();
/// Parses "cpu", "cuda" or "auto" (cuda when a device exists). Throws InputError on anything else,
/// and on "cuda" when no device is usable (the message says why).
Backend parse_backend(const std::string& name);
const char* backend_name(Backend b);

/// The threads each parallel loop of the CPU backend uses: GFNRL_THREADS when it is set to a
/// count >= 1, else OpenMP's count for the calling thread (OMP_NUM_THREADS,
/// omp_set_num_threads); at most the calling thread's set_thread_share and cpu_thread_cap();
/// 1 without OpenMP.
int cpu_threads();
/// This thread's share of the CPU backend's threads, 0 for none: cpu_threads() on this thread
/// takes at most this many, whatever GFNRL_THREADS or OpenMP say (run_side_by_side gives each
/// job its share of cpu_threads() this way). Returns the previous share.
int set_thread_share(int threads);
/// GFNRL_THREADS as read once at the first call: its count, or 0 when unset or not a count.
int gfnrl_threads_setting();
/// 4 x the hardware threads: the most the CPU backend asks of OpenMP. A larger request
/// (OMP_NUM_THREADS=100000) would only crash OpenMP creating the threads' stacks.
int cpu_thread_cap();

/// The spin count prefer_short_spin_waits gives libgomp: a waiting thread spins this many times
/// (~a few microseconds) and then sleeps. libgomp's default spins ~300,000 times at every barrier,
/// which costs nothing on an idle machine but, beside another busy program, makes every barrier
/// wait for a descheduled thread's next time slice: the 4-D H=32 sweeps ran 7-60x slower (up to
/// 440 ms against 15 ms on one thread alone). With 1000 they run within 1.1x of one thread alone
/// beside a copy of themselves or a busy OpenMP process, and within measurement noise of the
/// default on an idle machine (docs/PERF_NOTES.md).
inline constexpr const char* kShortSpinCount = "1000";
/// Call first thing in main() (before any thread starts): unless the user set OMP_WAIT_POLICY or
/// GOMP_SPINCOUNT, sets GOMP_SPINCOUNT=kShortSpinCount and runs the program again with the same
/// `argv` (libgomp reads it only when loaded), once. The CLI and the benchmarks do; a program that
/// links the library chooses for itself. Returns when nothing needs doing (or exec failed).
void prefer_short_spin_waits(char** argv);

/// Waits for all queued work of the backend (no-op on the CPU).
void synchronize(Backend b);

/// A CUDA stream as an opaque handle (its cudaStream_t), so public headers need no CUDA
/// includes. Every library call takes one, defaulting to null: the library's own stream (or the
/// stream of an enclosing StreamScope). Ignored by the CPU backend.
struct Stream {
  void* handle = nullptr;
};

/// While alive, the CUDA work this thread asks of the library is enqueued on `stream` (a null
/// stream keeps the current one; scopes nest). Results are ordered on that stream: work the
/// caller enqueues on it afterwards sees them, and every copy the library makes to the host
/// synchronises it first. CUDA graphs the library captured are replayed on it.
class StreamScope {
 public:
  explicit StreamScope(Stream stream);
  ~StreamScope();
  StreamScope(const StreamScope&) = delete;
  StreamScope& operator=(const StreamScope&) = delete;

 private:
  void* previous_ = nullptr;
  bool active_ = false;
};

/// An owned CUDA stream (non-blocking with respect to the legacy default stream), for callers
/// without CUDA headers: tests, the C ABI, FFIs. Throws InputError on a CPU-only build.
class CudaStream {
 public:
  CudaStream();
  Stream get() const { return {handle_.get()}; }

 private:
  std::shared_ptr<void> handle_;
};

}  // namespace gfnrl
