// What MPI ranks compare before any work, to agree that they run the same job: each argument's
// text and, after an input flag, its file's bytes, hashed (ranks_mpi.cpp sends them to rank 0).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gfnrl::cli {

/// One compared item: what it is (for the message) and its hash.
struct InputItem {
  std::string what;
  uint64_t hash;
};

/// The items of a command line: every argument, and the file named after each of `input_flags`
/// (--flag PATH or --flag=PATH) where it is a regular file.
std::vector<InputItem> input_items(const std::vector<std::string>& args,
                                   const std::vector<std::string>& input_flags);

/// Items to bytes and back (for MPI_Gather).
std::string pack_items(const std::vector<InputItem>& items);
std::vector<InputItem> unpack_items(const std::string& bytes);

}  // namespace gfnrl::cli
