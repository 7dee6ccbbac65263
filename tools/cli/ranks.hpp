// The processes of one gfnrl job started by mpirun or srun: which one this is, how they agree on
// an error found before any work, how a late failure ends them all, and how their results and
// progress reach rank 0. A build without MPI, or a process no launcher started, is one rank.
// ranks_mpi.cpp implements it with MPI, ranks_single.cpp without (CMake picks one).
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace gfnrl::cli {

/// "Open MPI v4.1.4, ..." (the library's own words), or that MPI is not compiled in: --version.
std::string mpi_description();
/// True when this build shards over MPI ranks (ranks_mpi.cpp).
bool mpi_compiled();

/// A launch that would run N full copies of the job, each believing it is alone: srun without
/// PMI (only Slurm's task variables set: SLURM_STEP_NUM_TASKS > 1 and no PMI / PMIx / Open MPI
/// rank), or any launcher's N > 1 tasks for a build without MPI. The refusal to print (empty: a
/// sound launch); `prints` is false on every task but the first, so it is said once.
std::string launch_without_ranks(bool& prints);

/// Every rank's copy of the failure the ranks agreed on before any work (the lowest failing
/// rank's): its exit code and message. Rank 0 prints it; every rank exits with the code.
struct AgreedFailure : std::runtime_error {
  AgreedFailure(int code, const std::string& message) : std::runtime_error(message), code(code) {}
  int code;
};

class Ranks {
 public:
  /// MPI_Init when a launcher started this process (Open MPI's, PMI's or PMIx's rank variable is
  /// set); then, with more than one rank, gives each its share of the node's threads (unless
  /// OMP_NUM_THREADS says otherwise) and binds CUDA device local_rank % device count.
  Ranks(int& argc, char**& argv);
  ~Ranks();  ///< MPI_Finalize
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;

  /// The process's Ranks (main's); one rank before main made it.
  static const Ranks& get();
  static Ranks& mutable_get();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  bool root() const { return rank_ == 0; }
  bool sharded() const { return size_ > 1; }

  /// "rank R of N (host H)": how every error printed under MPI names its origin.
  std::string where() const;

  /// Before any work, and before the checkpoint: every rank was started with the same arguments
  /// and reads the same bytes from every input file (the value after each of `input_flags`, as
  /// "--flag FILE" or "--flag=FILE", when it names a regular file). Throws AgreedFailure (exit 2)
  /// on every rank otherwise, naming the lowest differing rank, its host and the first argument
  /// or file that differs from rank 0's. One rank: nothing to compare.
  void require_same_inputs(const std::vector<std::string>& args,
                           const std::vector<std::string>& input_flags);

  /// The checkpoint before any work, on every rank once (later calls return at once): each rank
  /// says its checks passed; when another rank's failed, throws AgreedFailure with the lowest
  /// failing rank's code and message here.
  void checks_passed();
  /// The failing side of the checkpoint, from main's handler: the failure every rank agrees on.
  AgreedFailure checks_failed(int code, const std::string& message);
  bool checkpoint_passed() const { return agreed_; }

  /// A failure after the checkpoint: prints "gfnrl: rank R of N: message" and ends every rank
  /// (MPI_Abort with `code`; rank 0's SIGTERM handler removes its temporaries).
  [[noreturn]] void abort(int code, const std::string& message);

  /// This rank's share of the work done, in [0, 1]. Other ranks send it to rank 0 (at most once a
  /// second); rank 0 prints every rank's, with an ETA, at most every 2 s unless quiet. Callable
  /// from any thread.
  void report_progress(double fraction);
  void set_quiet(bool quiet) { quiet_ = quiet; }

  /// Every rank's bytes to rank 0, which gets them in rank order (its own first) while it keeps
  /// printing progress; the other ranks get an empty vector.
  std::vector<std::string> gather_to_root(std::string mine);
  /// Rank 0's bytes on every rank (what the others pass is ignored).
  std::string broadcast_from_root(std::string bytes);

 private:
  Ranks() = default;  // the one rank of get() before main made its Ranks
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool mpi_ = false, agreed_ = false, quiet_ = false;
};

/// `path` on rank 0 (and for an output not asked for); /dev/null on the other ranks, which
/// write nothing of their own: their rows go to rank 0.
inline std::string output_on_this_rank(const std::string& path) {
  return path.empty() || Ranks::get().root() ? path : "/dev/null";
}

}  // namespace gfnrl::cli
