// gfnrl: command-line front end of libgfnrl_cuda.
// Exit codes: 0 success, 2 usage errors and invalid input, 1 runtime failures (memory, CUDA).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "ranks.hpp"

namespace {
// SIGINT / SIGTERM / SIGHUP (Ctrl-C, `timeout`, a closed terminal): remove the temporaries of
// unfinished outputs, then die of the same signal, so the caller sees the conventional status
// (128 + signal: 130, 143, 129). A signal the parent set to be ignored stays ignored.
extern "C" void on_fatal_signal(int sig) {
  gfnrl::remove_output_temporaries();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void install_signal_cleanup() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
}
}  // namespace

namespace {
// A closed standard stream (`>&-`) is held by /dev/null opened read-only: the next file opened
// cannot take its number (an output file would receive what is printed), and writes to it fail
// with EBADF as they would on the closed descriptor, to be reported by check_stdout.
void hold_closed_standard_streams() {
  for (int fd = 0; fd <= 2; ++fd)
    if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      const int held = ::open("/dev/null", O_RDONLY);
      if (held >= 0 && held != fd) {
        ::dup2(held, fd);
        ::close(held);
      }
    }
}

// What was printed must have arrived: a full disk or a closed stdout is a failure (exit 1), not
// a success with the output lost.
int check_stdout(int code) {
  errno = 0;
  std::cout.flush();
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) || std::cout.fail();
  if (!failed) return code;
  const int err = errno;
  std::cerr << "gfnrl: cannot write to standard output"
            << (err != 0 ? std::string(": ") + std::strerror(err) : std::string()) << std::endl;
  return code != 0 ? code : 1;
}
}  // namespace

namespace {
// An error message as printed: control bytes (an ESC in a value) as \xHH, and any word longer than
// 1024 characters (a 100 KB value echoed back; a path is rarely that long) cut to its first 200
// with its length said.
std::string printable(const std::string& text) {
  std::string out, word;
  const auto flush_word = [&]() {
    if (word.size() > 1024)
      word = word.substr(0, 200) + "...(" + std::to_string(word.size()) + " characters)";
    out += word;
    word.clear();
  };
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == ' ') {
      flush_word();
      out += ' ';
    } else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      word += hex;
    } else {
      word += ch;
    }
  }
  flush_word();
  return out;
}
}  // namespace

namespace {
// OMP_NUM_THREADS or GFNRL_THREADS past the cap (cpu_thread_cap): said once, on stderr, before
// any work. A GFNRL_THREADS that is not a count is a usage error (the library would ignore it).
std::string check_thread_settings(bool root) {
  const char* mine = std::getenv("GFNRL_THREADS");
  if (mine != nullptr && gfnrl::gfnrl_threads_setting() == 0)
    return "GFNRL_THREADS = " + printable(std::string(mine).substr(0, 40)) +
           " is not a thread count: give a decimal number in [1, 999999999], or unset it";
  for (const char* name : {"GFNRL_THREADS", "OMP_NUM_THREADS"}) {
    const char* env = std::getenv(name);
    if (env == nullptr || !root) continue;
    const long long asked = std::strtoll(env, nullptr, 10);  // the first entry of a nested list
    if (asked > gfnrl::cpu_thread_cap())
      std::cerr << "gfnrl: note: " << name << "=" << printable(std::string(env).substr(0, 40))
                << " asks for more threads than the " << gfnrl::cpu_thread_cap()
                << " the CPU backend uses at most (4 x the hardware threads)" << std::endl;
  }
  return {};
}
}  // namespace

namespace {
// A failure's way out: one process prints it; under MPI, before the checkpoint every rank agrees
// on the lowest failing rank's failure (rank 0 prints it), after it the failing rank ends them all.
int fail(int code, const std::string& raw) {
  const std::string text = printable(raw);
  gfnrl::cli::Ranks& ranks = gfnrl::cli::Ranks::mutable_get();
  if (!ranks.sharded()) {
    std::cerr << "gfnrl: " << text << std::endl;
    return code;
  }
  if (ranks.checkpoint_passed()) ranks.abort(code, text);
  const gfnrl::cli::AgreedFailure agreed = ranks.checks_failed(code, text);
  if (ranks.root()) std::cerr << "gfnrl: " << agreed.what() << std::endl;
  return agreed.code;
}

// The subcommands that shard their runs over MPI ranks; the others run in one process.
bool shards(const std::string& name) { return name == "train" || name == "study" || name == "tune"; }
}  // namespace

int run_cli(int argc, char** argv);

int main(int argc, char** argv) {
  gfnrl::prefer_short_spin_waits(argv);  // may run this program again, once, before anything else
  hold_closed_standard_streams();
  install_signal_cleanup();
  return check_stdout(run_cli(argc, argv));
}

int run_cli(int argc, char** argv) {
  gfnrl::cli::Ranks ranks(argc, argv);
  if (const std::string bad = check_thread_settings(ranks.root()); !bad.empty()) return fail(2, bad);
  CLI::App app{"gfnrl: exact tabular soft RL and GFlowNets on enumerated DAGs (libgfnrl_cuda " +
               std::string(GFNRL_VERSION) + ")"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(GFNRL_VERSION) + "\n" +
                                        gfnrl::cli::mpi_description());
  gfnrl::cli::register_solve(app);
  gfnrl::cli::register_eval(app);
  gfnrl::cli::register_train(app);
  gfnrl::cli::register_study(app);
  gfnrl::cli::register_tune(app);
  gfnrl::cli::register_convert(app);
  gfnrl::cli::strict_integer_options(app);
  std::string names;
  bool known = false;
  for (const CLI::App* sub : app.get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
    known = known || (argc > 1 && sub->get_name() == argv[1]);
  }
  if (argc > 1 && argv[1][0] != '-' && !known)
    return fail(2, "unknown subcommand '" + std::string(argv[1]) + "' (allowed: " + names +
                       "; run with --help for usage)");
  if (ranks.sharded() && known && !shards(argv[1]))
    return fail(2, std::string(argv[1]) + " runs in one process: start it without mpirun / srun "
                   "(train, study and tune shard their runs over " +
                   std::to_string(ranks.size()) + " ranks)");
  // N copies of the whole job, each alone, is refused before any work.
  bool prints = true;
  if (const std::string launch = gfnrl::cli::launch_without_ranks(prints); !launch.empty() && known) {
    if (prints) std::cerr << "gfnrl: " << launch << std::endl;
    return 2;
  }
  try {
    // Under MPI every rank must run the same command on the same input files.
    ranks.require_same_inputs(std::vector<std::string>(argv + 1, argv + argc),
                              {"--dag", "--prior", "--tuned", "--policy"});
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& done) {  // subcommands report their exit code this way
    return done.get_exit_code();
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return ranks.root() ? app.exit(e) : 0;  // --help, --version
    return fail(2, std::string(e.what()) + " (run with --help for usage)");
  } catch (const gfnrl::cli::AgreedFailure& e) {  // another rank's failure before any work
    if (ranks.root()) std::cerr << "gfnrl: " << printable(e.what()) << std::endl;
    return e.code;
  } catch (const gfnrl::InputError& e) {
    return fail(2, e.what());
  } catch (const gfnrl::AllocationError& e) {
    return fail(1, std::string("out of memory: ") + e.what());
  } catch (const std::bad_alloc&) {  // past the estimate: a limit it could not see
    return fail(1, "out of memory: an allocation failed beyond the estimate the checks allowed "
                   "(another process took memory meanwhile, or a limit gfnrl cannot read)");
  } catch (const std::exception& e) {
    return fail(1, std::string("error: ") + e.what());
  }
  return 0;
}
