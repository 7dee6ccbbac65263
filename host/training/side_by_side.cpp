// Jobs side by side on the CPU's threads, rows in job order (side_by_side.hpp).
#include "gfnrl/side_by_side.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gfnrl/backend.hpp"

namespace gfnrl {

namespace {
// The rows of jobs that run side by side, written in job order whatever order they finish in:
// job i's rows wait in a buffer until every earlier job is done. Each job writes only its own
// buffer (sink(i)); finish(i) is called under the caller's lock.
class OrderedRows {
 public:
  OrderedRows(std::size_t n, const RowSink& out) : rows_(n), done_(n, 0), out_(out) {}
  RowSink sink(std::size_t i) {
    return [this, i](const std::string& row) { rows_[i].push_back(row); };
  }
  void finish(std::size_t i) {
    done_[i] = 1;
    for (; flushed_ < rows_.size() && done_[flushed_]; ++flushed_) {
      if (out_)
        for (const std::string& row : rows_[flushed_]) out_(row);
      std::vector<std::string>().swap(rows_[flushed_]);
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<char> done_;
  std::size_t flushed_ = 0;
  const RowSink& out_;
};

// The workers' shared state: the next job, each job's failure, how many workers still run.
struct Pool {
  std::mutex m;
  std::condition_variable idle;
  std::size_t next = 0;
  int32_t running = 0;
  std::vector<std::exception_ptr> failed;
  std::atomic<bool> stop{false};
};

void work(Pool& p, std::size_t n, int32_t threads_each, const SideBySideJob& job,
          OrderedRows& rows) {
#ifdef _OPENMP
  omp_set_num_threads(threads_each);  // this thread's parallel regions only
#endif
  set_thread_share(threads_each);  // and the library's loops, GFNRL_THREADS or not
  for (;;) {
    std::size_t i;
    {
      const std::lock_guard<std::mutex> lock(p.m);
      if (p.next == n || p.stop.load()) break;
      i = p.next++;
    }
    try {
      job(i, rows.sink(i), p.stop);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(p.m);
      p.failed[i] = std::current_exception();
      p.stop = true;
      break;
    }
    const std::lock_guard<std::mutex> lock(p.m);
    rows.finish(i);
  }
  const std::lock_guard<std::mutex> lock(p.m);
  --p.running;
  p.idle.notify_all();
}
}  // namespace

bool run_side_by_side(std::size_t n, int32_t workers, const SideBySideJob& job, const RowSink& rows,
                      const std::function<bool()>& interrupted) {
  if (workers <= 1 || n <= 1) {
    const std::atomic<bool> never{false};
    for (std::size_t i = 0; i < n; ++i) job(i, rows, never);
    return true;
  }
  Pool p;
  p.failed.resize(n);
  OrderedRows ordered(n, rows);
  const int32_t count = std::min<int32_t>(workers, static_cast<int32_t>(n));
  const int32_t threads_each = std::max(1, cpu_threads() / count);
  p.running = count;
  std::vector<std::thread> pool;
  for (int32_t w = 0; w < count; ++w)
    pool.emplace_back([&] { work(p, n, threads_each, job, ordered); });
  bool was_interrupted = false;
  {
    std::unique_lock<std::mutex> lock(p.m);
    while (p.running > 0) {
      p.idle.wait_for(lock, std::chrono::milliseconds(50));
      if (!interrupted || was_interrupted || p.running == 0) continue;
      lock.unlock();
      was_interrupted = interrupted();  // outside the lock: it may take the caller's own locks
      lock.lock();
      if (was_interrupted) p.stop = true;
    }
  }
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : p.failed)
    if (e) std::rethrow_exception(e);
  return !was_interrupted;
}

}  // namespace gfnrl
