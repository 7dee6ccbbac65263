// gfnrl: command-line front end of libgfnrl_cuda.
// Exit codes: 0 success, 2 usage errors and invalid input, 1 runtime failures (memory, CUDA).
#include <csignal>
#include <iostream>

#include "cli_common.hpp"

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

int main(int argc, char** argv) {
  install_signal_cleanup();
  CLI::App app{"gfnrl: exact tabular soft RL and GFlowNets on enumerated DAGs (libgfnrl_cuda " +
               std::string(GFNRL_VERSION) + ")"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(GFNRL_VERSION));
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
  if (argc > 1 && argv[1][0] != '-' && !known) {
    std::cerr << "gfnrl: unknown subcommand '" << argv[1] << "' (allowed: " << names
              << "; run with --help for usage)" << std::endl;
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& done) {  // subcommands report their exit code this way
    return done.get_exit_code();
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "gfnrl: " << e.what() << " (run with --help for usage)" << std::endl;
    return 2;
  } catch (const gfnrl::InputError& e) {
    std::cerr << "gfnrl: " << e.what() << std::endl;
    return 2;
  } catch (const gfnrl::AllocationError& e) {
    std::cerr << "gfnrl: out of memory: " << e.what() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "gfnrl: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
