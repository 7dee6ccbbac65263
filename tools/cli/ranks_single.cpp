// Ranks of a build without MPI: always one rank, whatever launched the process.
#include <cstdio>
#include <cstdlib>

#include "ranks.hpp"

namespace gfnrl::cli {

namespace {
Ranks* current = nullptr;
}  // namespace

std::string mpi_description() { return "MPI: not compiled in (configure where CMake finds MPI)"; }
bool mpi_compiled() { return false; }
std::string Ranks::where() const { return "rank 0 of 1"; }
void Ranks::require_same_inputs(const std::vector<std::string>&, const std::vector<std::string>&) {}

Ranks::Ranks(int&, char**&) { current = this; }
Ranks::~Ranks() { current = nullptr; }

const Ranks& Ranks::get() { return mutable_get(); }
Ranks& Ranks::mutable_get() {
  static Ranks single;
  return current ? *current : single;
}

void Ranks::checks_passed() { agreed_ = true; }
AgreedFailure Ranks::checks_failed(int code, const std::string& message) {
  agreed_ = true;
  return AgreedFailure(code, message);
}

void Ranks::abort(int code, const std::string& message) {
  std::fprintf(stderr, "gfnrl: %s\n", message.c_str());
  std::exit(code);
}

void Ranks::report_progress(double) {}

std::vector<std::string> Ranks::gather_to_root(std::string mine) { return {std::move(mine)}; }
std::string Ranks::broadcast_from_root(std::string bytes) { return bytes; }

}  // namespace gfnrl::cli
