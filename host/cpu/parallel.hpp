// When a CPU training op goes parallel. Each op counts its work in its own unit (a trajectory
// position, a table entry, a state, a replayed sample) and one unit's serial cost differs by two
// orders of magnitude between ops (an entry of a fill ~0.3 ns, a position of a SubTB loss ~100 ns),
// so one threshold in units fits none of them. An op goes parallel when its estimated serial
// time, units x kNsPerUnit[op], reaches kParallelFromNs: below that, OpenMP's fork and join
// (worse when processes share cores, as parallel ctest does) costs more than the second core
// saves. kNsPerUnit was measured by `gfnrl-bench-cpu-ops` (one thread, every learner, 4-D H=20
// and 2-D H=16) on the 2-core CI machine; kParallelFromNs is a few times the fork/join cost it
// measured there (docs/PERF_NOTES.md).
//
// OpScope: one op call's work, which decides parallel() and, with profiling switched on (the
// bench), adds its units and its time to the op's totals; otherwise it costs one relaxed load.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

#include "gfnrl/backend.hpp"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace gfnrl::detail::cpu {

enum class CpuOp : int {
  Fill,              ///< fill, Polyak: per entry
  Optimizer,         ///< Adam / lazy Adam / SGD scan: per entry
  OptimizerTouched,  ///< the touched-entry walk: per trajectory position
  PolicySoftmax,     ///< every state's policy row: per state
  Rollout,           ///< per trajectory position (batch x max_len)
  TrajectoryLoss,    ///< tb, db, subtb, mdb, zvar, fm: per trajectory position
  PolicyGradient,    ///< pg, ac, coupled, TLM losses: per trajectory position
  DqnLoss,           ///< per replayed sample
  ReplayInsert,      ///< insert and prioritize-new: per trajectory position
  ReplaySample,      ///< per block-sum slot read plus per sample
  ReplayPriorities,  ///< per sample
  ExactSweep,        ///< the exact gradient's sweeps, log P_B rows: per state
  BackwardRollout,   ///< per backward trajectory position
  Count
};

inline constexpr std::array<const char*, int(CpuOp::Count)> kCpuOpNames{
    "fill",          "optimizer",      "optimizer_touched", "policy_softmax", "rollout",
    "trajectory_loss", "policy_gradient", "dqn_loss",       "replay_insert",  "replay_sample",
    "replay_priorities", "exact_sweep", "backward_rollout"};

/// Serial nanoseconds per unit, in CpuOp order: gfnrl-bench-cpu-ops --steps 30 on the 2-core CI
/// machine (4-D H=20 and 2-D H=16, runs 1 and 8, every learner), 2026-12-02.
inline constexpr std::array<double, int(CpuOp::Count)> kNsPerUnit{
    0.9, 8.0, 4.0, 47.0, 17.0, 19.0, 22.0, 33.0, 3.0, 1.3, 15.0, 63.0, 12.0};
/// The same run measured a fork/join of 0.9 us on an idle machine and 2.5 us with a compile
/// sharing the cores, so 20 us of serial work would be worth a second thread when idle. But when
/// another process holds a core, a thread spinning at the join waits for its partner's next time
/// slice: under a compile, tb on 2-D H=16 ran 3.5x slower on two threads than on one at 20 us
/// (4 runs) and 47x slower at 100 us (16 runs). 200 us keeps the short steps of small grids on
/// one thread, as the old single constant did, and splits the ops of large grids and many runs.
inline constexpr double kParallelFromNs = 200000.0;

/// Tests only: every op call with more than one unit goes parallel whatever its size, so the
/// thread-count equivalence tests (tests/op_equivalence.hpp) split the small problems they run.
std::atomic<bool>& force_parallel();

inline bool parallel(CpuOp op, int64_t work, int64_t units = 2) {
  return units > 1 && (double(work) * kNsPerUnit[int(op)] >= kParallelFromNs ||
                       force_parallel().load(std::memory_order_relaxed));
}

/// Per-op totals of calls, units and nanoseconds while profiling is on.
struct OpTotals {
  std::atomic<int64_t> calls{0}, units{0}, ns{0};
};
std::array<OpTotals, int(CpuOp::Count)>& op_totals();
std::atomic<bool>& op_profiling();

class OpScope {
 public:
  OpScope(CpuOp op, int64_t work)
      : op_(op), work_(work), on_(op_profiling().load(std::memory_order_relaxed)) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~OpScope() {
    if (!on_) return;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - t0_)
                        .count();
    OpTotals& t = op_totals()[int(op_)];
    t.calls += 1;
    t.units += work_;
    t.ns += ns;
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
  /// Whether the loop over `units` independent pieces (threads' shares) goes parallel.
  bool parallel(int64_t units = 2) const { return cpu::parallel(op_, work_, units); }

 private:
  CpuOp op_;
  int64_t work_;
  bool on_;
  std::chrono::steady_clock::time_point t0_{};
};

/// The calling thread's equal share [first, end) of the items [begin, end) (all of them outside a
/// parallel region). The level sweeps split each level this way rather than deal out blocks of
/// 512 states: a level of a few blocks dealt to two threads left one idle at the barrier for up
/// to half the level (OpenMP's waits were 15% of a 4-D H=32 sweep's samples on 2 threads).
inline std::pair<int32_t, int32_t> thread_share(int32_t begin, int32_t end) {
#ifdef _OPENMP
  const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads(), n = end - begin;
  return {static_cast<int32_t>(begin + n * t / threads),
          static_cast<int32_t>(begin + n * (t + 1) / threads)};
#else
  return {begin, end};
#endif
}

/// The CPU twin of kernels/launch.cuh's for_each_run_item, for ops whose items add into their
/// run's row: f(r, m) for every run r < runs and item m < n, the runs over the threads (when `op`
/// goes parallel), each run's items in order on one thread, so the sums are the same floats for
/// every thread count (CUDA adds them with atomics).
template <class F>
void for_each_run_item(const OpScope& op, int32_t runs, int32_t n, F f) {
#pragma omp parallel for schedule(dynamic, 1) if (op.parallel(runs)) num_threads(::gfnrl::cpu_threads())
  for (int32_t r = 0; r < runs; ++r)
    for (int32_t m = 0; m < n; ++m) f(r, m);
}

/// for_each_run_item for independent items (each writes only its own outputs): the (run, item)
/// pairs themselves over the threads, `chunk` at a time as they finish (schedule(dynamic, chunk):
/// items of uneven cost, such as trajectories), or in equal shares when `chunk` is 0.
template <class F>
void for_each_run_item_apart(const OpScope& op, int32_t runs, int32_t n, F f, int chunk = 0) {
  const int64_t total = int64_t(runs) * n;
  auto item = [&](int64_t i) { f(static_cast<int32_t>(i / n), static_cast<int32_t>(i % n)); };
  if (chunk > 0) {
#pragma omp parallel for schedule(dynamic, chunk) if (op.parallel(total)) num_threads(::gfnrl::cpu_threads())
    for (int64_t i = 0; i < total; ++i) item(i);
  } else {
#pragma omp parallel for schedule(static) if (op.parallel(total)) num_threads(::gfnrl::cpu_threads())
    for (int64_t i = 0; i < total; ++i) item(i);
  }
}

/// Every run's states in blocks of `block`: fn(run, first, end, scratch) for each (run, block),
/// over the threads when `op` goes parallel, with one Scratch per thread (the vectorised
/// per-state passes of train_rollout.cpp and train_losses.cpp).
template <class Scratch, class Fn>
void for_run_blocks(const OpScope& op, int32_t runs, int32_t num_states, int32_t block, Fn fn) {
  const int64_t blocks = (num_states + block - 1) / block;
#pragma omp parallel if (op.parallel(runs * blocks)) num_threads(::gfnrl::cpu_threads())
  {
    Scratch scratch;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < runs * blocks; ++b) {
      const auto r = static_cast<int32_t>(b / blocks);
      const auto first = static_cast<int32_t>((b - r * blocks) * block);
      fn(r, first, first + block < num_states ? first + block : num_states, scratch);
    }
  }
}

}  // namespace gfnrl::detail::cpu
