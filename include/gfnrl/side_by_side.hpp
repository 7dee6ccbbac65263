// Jobs trained side by side on the CPU's threads, their CSV rows in job order: `gfnrl study`,
// `gfnrl tune` and Python's gfnrl.study(jobs=...).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "gfnrl/training_loop.hpp"

namespace gfnrl {

/// Job i of run_side_by_side: writes its rows to `rows` and ends early (LoopOptions::stop) once
/// `stop` is set.
using SideBySideJob =
    std::function<void(std::size_t i, const RowSink& rows, const std::atomic<bool>& stop)>;

/// Runs jobs 0..n-1, `workers` at a time, each worker's OpenMP loops on cpu_threads() / workers
/// threads. `rows` receives every job's rows in job order (job i's wait until jobs 0..i-1 are
/// done), so the output equals that of the jobs one by one. With workers <= 1 or n <= 1 the jobs
/// run one by one on the calling thread.
///
/// When a job throws, no job starts after it and `stop` is set for those running; once every
/// worker has stopped, the first failure in job order is rethrown. `interrupted`, when given, is
/// polled every 50 ms by the calling thread while workers run (Python's Ctrl-C): when it returns
/// true the jobs are stopped the same way and run_side_by_side returns false. True otherwise.
bool run_side_by_side(std::size_t n, int32_t workers, const SideBySideJob& job, const RowSink& rows,
                      const std::function<bool()>& interrupted = {});

}  // namespace gfnrl
