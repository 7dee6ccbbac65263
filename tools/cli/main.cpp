// gfnrl: command-line front end of libgfnrl_cuda.
// Exit codes: 0 success, 2 usage errors and invalid input, 1 runtime failures (memory, CUDA).
#include <iostream>

#include "cli_common.hpp"

int main(int argc, char** argv) {
  CLI::App app{"gfnrl: exact tabular soft RL and GFlowNets on enumerated DAGs (libgfnrl_cuda " +
               std::string(GFNRL_VERSION) + ")"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(GFNRL_VERSION));
  gfnrl::cli::register_solve(app);
  gfnrl::cli::register_eval(app);
  gfnrl::cli::register_train(app);
  gfnrl::cli::register_study(app);
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
