/// @file output_file.hpp
/// Output files that are never seen half-written and never destroy what is not ours.
///
/// A path that names a regular file or nothing is written as `<file>.tmp-<pid>` beside it and
/// renamed over it on commit(), keeping the old file's permission bits; a reader sees the old file
/// or the whole new one. A symlink is followed (the link stays, its target is replaced). A special
/// file (character device such as /dev/null, FIFO, socket) is written in place: renaming over it
/// would replace the device node. A directory, an empty path, or a missing or unwritable parent
/// directory is an InputError naming the path, raised by the constructor, i.e. before any work.
/// An OutputFile destroyed without commit() removes its temporary, and
/// remove_output_temporaries() removes every open one from a signal handler.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace gfnrl {

/// Where the bytes for `path` end up. Throws InputError (naming `flag` and the path) for an empty
/// path, a directory, a missing or unwritable parent directory, an unwritable existing file, or a
/// symlink loop. Opens nothing.
struct OutputTarget {
  std::string path;    ///< as given
  std::string target;  ///< after following symlinks
  bool in_place;       ///< a special file: written directly, never renamed over
};
OutputTarget resolve_output(const std::string& path, const std::string& flag = "output");

/// InputError when two of the (flag, path) outputs resolve to the same file, naming both flags.
/// Empty paths (an output not requested) and special files (/dev/null) are skipped.
void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs);

class OutputFile {
 public:
  /// Resolves `path` (see resolve_output) and opens the temporary (or the special file).
  explicit OutputFile(const std::string& path, bool binary = false,
                      const std::string& flag = "output");
  ~OutputFile();  ///< without commit(): removes the temporary, leaving the target untouched
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  std::ostream& stream() { return out_; }
  /// Flushes, closes and renames the temporary over the target. Throws InputError naming the
  /// path (and removes the temporary) when a write failed.
  void commit();
  /// Bytes written (valid after commit()).
  uint64_t bytes() const { return bytes_; }
  const std::string& path() const { return where_.path; }

 private:
  OutputTarget where_;
  std::string tmp_;  // empty when written in place
  int slot_ = -1;    // signal-cleanup registration
  std::ofstream out_;
  uint64_t bytes_ = 0;
  bool committed_ = false;
};

/// Unlinks the temporary of every OutputFile not yet committed or destroyed. Async-signal-safe:
/// call it from SIGINT / SIGTERM / SIGHUP handlers before exiting.
void remove_output_temporaries() noexcept;

}  // namespace gfnrl
