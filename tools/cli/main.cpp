// gfnrl: command-line front end of libgfnrl_cuda.
// Exit codes: 0 success, 2 usage errors and invalid input, 1 runtime failures (memory, CUDA).
#include <csignal>
#include <iostream>

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
// A failure's way out: one process prints it; under MPI, before the checkpoint every rank agrees
// on the lowest failing rank's failure (rank 0 prints it), after it the failing rank ends them all.
int fail(int code, const std::string& text) {
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

int main(int argc, char** argv) {
  install_signal_cleanup();
  gfnrl::cli::Ranks ranks(argc, argv);
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& done) {  // subcommands report their exit code this way
    return done.get_exit_code();
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return ranks.root() ? app.exit(e) : 0;  // --help, --version
    return fail(2, std::string(e.what()) + " (run with --help for usage)");
  } catch (const gfnrl::cli::AgreedFailure& e) {  // another rank's failure before any work
    if (ranks.root()) std::cerr << "gfnrl: " << e.what() << std::endl;
    return e.code;
  } catch (const gfnrl::InputError& e) {
    return fail(2, e.what());
  } catch (const gfnrl::AllocationError& e) {
    return fail(1, std::string("out of memory: ") + e.what());
  } catch (const std::exception& e) {
    return fail(1, std::string("error: ") + e.what());
  }
  return 0;
}
