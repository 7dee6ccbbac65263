// Ranks with MPI: a process started by mpirun / srun is one rank of MPI_COMM_WORLD.
#include <mpi.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "gfnrl/backend.hpp"
#include "rank_inputs.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"
#include "ranks.hpp"

namespace gfnrl::cli {

namespace {
Ranks* current = nullptr;

// Message tags: progress (two doubles: fraction done, seconds since start), then a result's
// length (one uint64) followed by its bytes in chunks MPI's int counts can hold.
constexpr int kTagProgress = 1, kTagResultSize = 2, kTagResultData = 3;
constexpr uint64_t kChunk = uint64_t(1) << 30;

using Clock = std::chrono::steady_clock;

// Progress shared by the threads of this rank; MPI calls are serialised by the same mutex
// (MPI_THREAD_SERIALIZED).
struct ProgressBoard {
  std::mutex m;
  // Below MPI_THREAD_SERIALIZED only the thread that initialised MPI may call it: the workers'
  // reports (study's side-by-side learners) are then dropped, the main thread's still go.
  bool any_thread = true;
  std::thread::id main_thread;  // the one that called MPI_Init_thread
  Clock::time_point start = Clock::now(), last_sent{}, last_print{};
  MPI_Request pending = MPI_REQUEST_NULL;
  double outgoing[2] = {0, 0};
  std::vector<double> fraction, seconds;  // rank 0: every rank's last report
};
ProgressBoard board;

// Any launcher's rank variable: Open MPI's mpirun, Slurm's srun (PMI / PMIx), MPICH's hydra.
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

double since_start() {
  return std::chrono::duration<double>(Clock::now() - board.start).count();
}

// Rank 0: takes in every progress report that has arrived (board.m held).
void drain_progress() {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, kTagProgress, MPI_COMM_WORLD, &flag, &st);
    if (!flag) return;
    double msg[2];
    MPI_Recv(msg, 2, MPI_DOUBLE, st.MPI_SOURCE, kTagProgress, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    board.fraction[st.MPI_SOURCE] = msg[0];
    board.seconds[st.MPI_SOURCE] = msg[1];
  }
}

// Rank 0: one line for every rank, the slowest rank's ETA at its own rate so far (board.m held).
void print_board(bool force) {
  const auto now = Clock::now();
  if (!force && now - board.last_print < std::chrono::seconds(2)) return;
  board.last_print = now;
  const std::size_t n = board.fraction.size();
  double sum = 0, eta = 0;
  std::size_t slowest = 0;
  for (std::size_t r = 0; r < n; ++r) {
    const double f = board.fraction[r];
    sum += f;
    if (f < board.fraction[slowest]) slowest = r;
    if (f > 0 && f < 1) eta = std::max(eta, board.seconds[r] * (1 - f) / f);
  }
  std::string each;
  for (std::size_t r = 0; r < n && n <= 8; ++r)
    each += (r ? ", " : " (") + std::to_string(int(100 * board.fraction[r])) + "%";
  if (!each.empty()) each += ")";
  std::fprintf(stderr, "[gfnrl] %zu ranks: %3.0f%% of the runs done%s, slowest rank %zu at %.0f%%, "
               "ETA %.0f s\n", n, 100 * sum / n, each.c_str(), slowest,
               100 * board.fraction[slowest], eta);
}
}  // namespace

bool mpi_compiled() { return true; }

namespace {
std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown host";
  return name;
}

}  // namespace

std::string mpi_description() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string s(text, static_cast<std::size_t>(len));
  s = s.substr(0, s.find_first_of(",\n"));
  return "MPI: " + s + " (train, study and tune shard their runs under mpirun / srun)";
}

Ranks::Ranks(int& argc, char**& argv) {
  current = this;
  if (!launched_by_mpi()) return;
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  mpi_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  board.any_thread = provided >= MPI_THREAD_SERIALIZED;
  board.main_thread = std::this_thread::get_id();
  if (!board.any_thread && rank_ == 0)
    std::fprintf(stderr, "gfnrl: warning: this MPI library gives thread level %d, below "
                 "MPI_THREAD_SERIALIZED (%d): progress from worker threads is not reported\n",
                 provided, MPI_THREAD_SERIALIZED);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
  board.fraction.assign(size_, 0.0);
  board.seconds.assign(size_, 0.0);
  if (size_ == 1) return;
  set_host_memory_share(local_size_);  // the node's ranks each check against their share
#ifdef _OPENMP
  // The node's threads shared among its ranks; a launcher's binding (a smaller affinity mask)
  // or OMP_NUM_THREADS wins.
  if (!std::getenv("OMP_NUM_THREADS")) {
    const int hw = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    omp_set_num_threads(std::max(1, std::min(cpu_threads(), hw / local_size_)));
  }
#endif
  try {  // a device that cannot be bound leaves the rank on the runtime's default one
    if (const int devices = cuda_device_count(); devices > 0) use_cuda_device(local_rank_ % devices);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gfnrl: rank %d: warning: CUDA device %d not bound: %s\n", rank_,
                 local_rank_, e.what());
  }
}

Ranks::~Ranks() {
  if (mpi_) {
    std::lock_guard<std::mutex> lock(board.m);
    if (board.pending != MPI_REQUEST_NULL) MPI_Wait(&board.pending, MPI_STATUS_IGNORE);
    MPI_Finalize();
  }
  current = nullptr;
}

const Ranks& Ranks::get() { return mutable_get(); }
Ranks& Ranks::mutable_get() {
  static Ranks single;
  return current ? *current : single;
}

namespace {
// The checkpoint's one exchange, the same on passing and failing ranks: the lowest failing rank
// (`mine`: this rank if it failed, else size), then its code and message to every rank. The
// failure agreed on, or none.
std::optional<AgreedFailure> agree(int mine, int size, int code, std::string message) {
  int lowest = size;
  MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (lowest == size) return std::nullopt;
  message.resize(std::min<std::size_t>(message.size(), 1 << 20));
  MPI_Bcast(&code, 1, MPI_INT, lowest, MPI_COMM_WORLD);
  uint64_t len = message.size();
  MPI_Bcast(&len, 1, MPI_UINT64_T, lowest, MPI_COMM_WORLD);
  message.resize(len);
  MPI_Bcast(message.data(), static_cast<int>(len), MPI_CHAR, lowest, MPI_COMM_WORLD);
  return AgreedFailure(code, message);
}
// The test hook GFNRL_TEST_FAIL_RANK=K: rank K fails at its first progress report. Only 1 to 9
// decimal digits count; any other value is ignored.
bool fails_on_purpose(int rank) {
  const char* k = std::getenv("GFNRL_TEST_FAIL_RANK");
  const std::size_t len = k ? std::strlen(k) : 0;
  return len > 0 && len <= 9 && std::strspn(k, "0123456789") == len && std::atoi(k) == rank;
}
}  // namespace

std::string Ranks::where() const {
  static const std::string host = host_name();
  return "rank " + std::to_string(rank_) + " of " + std::to_string(size_) + " (host " + host + ")";
}

void Ranks::require_same_inputs(const std::vector<std::string>& args,
                                const std::vector<std::string>& input_flags) {
  if (!sharded()) return;
  const std::vector<InputItem> mine = input_items(args, input_flags);
  const std::vector<InputItem> root_items =
      unpack_items(broadcast_from_root(root() ? pack_items(mine) : std::string()));
  std::string differs;
  for (std::size_t k = 0; k < std::max(mine.size(), root_items.size()) && differs.empty(); ++k) {
    if (k >= mine.size())
      differs = "it lacks rank 0's " + root_items[k].what;
    else if (k >= root_items.size())
      differs = "its " + mine[k].what + " is not on rank 0";
    else if (mine[k].what != root_items[k].what)
      differs = "here " + mine[k].what + ", on rank 0 " + root_items[k].what;
    else if (mine[k].hash != root_items[k].hash)
      differs = mine[k].what + " has other contents here than on rank 0";
  }
  const std::string message =
      where() + ": started with other inputs than rank 0 (" + differs +
      "); every rank must run the same command on the same files, or the results would mix";
  if (auto failure = agree(differs.empty() ? size_ : rank_, size_, 2, message)) throw *failure;
}

void Ranks::checks_passed() {
  if (agreed_) return;
  agreed_ = true;
  if (!sharded()) return;
  if (auto failure = agree(size_, size_, 0, {})) throw *failure;
}

AgreedFailure Ranks::checks_failed(int code, const std::string& text) {
  agreed_ = true;
  if (!sharded()) return AgreedFailure(code, text);
  return *agree(rank_, size_, code, where() + ": " + text);
}

void Ranks::abort(int code, const std::string& message) {
  std::fprintf(stderr, "gfnrl: %s: %s\n", where().c_str(), message.c_str());
  std::fflush(stderr);
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

void Ranks::report_progress(double fraction) {
  if (!sharded()) return;
  if (fails_on_purpose(rank_))  // a late failure, for the tests
    throw std::runtime_error("GFNRL_TEST_FAIL_RANK: rank " + std::to_string(rank_) +
                             " fails on purpose");
  if (!board.any_thread && std::this_thread::get_id() != board.main_thread) return;
  std::lock_guard<std::mutex> lock(board.m);
  if (root()) {
    board.fraction[0] = fraction;
    board.seconds[0] = since_start();
    drain_progress();
    if (!quiet_) print_board(false);
    return;
  }
  const auto now = Clock::now();
  if (now - board.last_sent < std::chrono::seconds(1) && fraction < 1) return;
  int done = 1;
  if (board.pending != MPI_REQUEST_NULL) MPI_Test(&board.pending, &done, MPI_STATUS_IGNORE);
  if (!done) return;  // rank 0 has not taken the last one in yet
  board.last_sent = now;
  board.outgoing[0] = fraction;
  board.outgoing[1] = since_start();
  MPI_Isend(board.outgoing, 2, MPI_DOUBLE, 0, kTagProgress, MPI_COMM_WORLD, &board.pending);
}

std::string Ranks::broadcast_from_root(std::string bytes) {
  if (!sharded()) return bytes;
  const std::lock_guard<std::mutex> lock(board.m);
  uint64_t len = bytes.size();
  MPI_Bcast(&len, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  bytes.resize(len);
  for (uint64_t at = 0; at < len; at += kChunk)
    MPI_Bcast(bytes.data() + at, static_cast<int>(std::min(kChunk, len - at)), MPI_BYTE, 0,
              MPI_COMM_WORLD);
  return bytes;
}

std::vector<std::string> Ranks::gather_to_root(std::string mine) {
  if (!sharded()) return {std::move(mine)};
  std::unique_lock<std::mutex> lock(board.m);
  if (!root()) {
    if (board.pending != MPI_REQUEST_NULL) MPI_Wait(&board.pending, MPI_STATUS_IGNORE);
    const uint64_t len = mine.size();
    MPI_Send(&len, 1, MPI_UINT64_T, 0, kTagResultSize, MPI_COMM_WORLD);
    for (uint64_t at = 0; at < len; at += kChunk)
      MPI_Send(mine.data() + at, static_cast<int>(std::min(kChunk, len - at)), MPI_BYTE, 0,
               kTagResultData, MPI_COMM_WORLD);
    return {};
  }
  std::vector<std::string> all(size_);
  all[0] = std::move(mine);
  board.fraction[0] = 1;
  int missing = size_ - 1;
  while (missing > 0) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, kTagResultSize, MPI_COMM_WORLD, &flag, &st);
    drain_progress();  // a rank's reports arrive before its result
    if (!flag) {
      if (!quiet_) print_board(false);
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      lock.lock();
      continue;
    }
    const int from = st.MPI_SOURCE;
    uint64_t len = 0;
    MPI_Recv(&len, 1, MPI_UINT64_T, from, kTagResultSize, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    std::string& bytes = all[from];
    bytes.resize(len);
    for (uint64_t at = 0; at < len; at += kChunk)
      MPI_Recv(bytes.data() + at, static_cast<int>(std::min(kChunk, len - at)), MPI_BYTE, from,
               kTagResultData, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    board.fraction[from] = 1;
    --missing;
  }
  return all;
}

}  // namespace gfnrl::cli
