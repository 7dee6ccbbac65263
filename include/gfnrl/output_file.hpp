/// @file output_file.hpp
/// Output files that are never seen half-written and never destroy what is not ours.
///
/// A path that names a regular file or nothing is written to an unnamed temporary in its
/// directory (O_TMPFILE; where the file system has none, a short-named `.gfnrl-tmp-<pid>-<n>`
/// beside it) and linked or renamed over it on commit(), keeping the old file's permission bits
/// and owner; a reader sees the old file or the whole new one, and a process killed even by
/// SIGKILL leaves no temporary behind. A symlink is followed (the link stays, its target is
/// replaced). A special file (character device such as /dev/null, FIFO, socket) is written in
/// place: renaming over it would replace the device node. A directory, an empty path, or a
/// missing or unwritable parent directory is an InputError naming the path, raised by the
/// constructor, i.e. before any work. An OutputFile destroyed without commit() leaves the target
/// untouched, and remove_output_temporaries() removes every named temporary from a signal handler.
/// The environment variable GFNRL_NAMED_TEMPORARIES=1 makes every output take the named fallback
/// (to test it where O_TMPFILE works).
#pragma once
#include <cstdint>
#include <memory>
#include <ostream>
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

/// InputError when two of the (flag, path) outputs resolve to the same file, naming both flags:
/// the same inode, or for a file not there yet the same directory inode and name, so `d.csv`,
/// `./sub/../d.csv`, a hard link and a symlink to it are one file. Empty paths (an output not
/// requested) and special files (/dev/null) are skipped.
void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs);

namespace detail {
class FdStreamBuf;
}

class OutputFile {
 public:
  /// Resolves `path` (see resolve_output) and opens the temporary (or the special file).
  explicit OutputFile(const std::string& path, bool binary = false,
                      const std::string& flag = "output");
  ~OutputFile();  ///< without commit(): removes the temporary, leaving the target untouched
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  std::ostream& stream() { return out_; }
  /// Flushes, closes and links or renames the temporary over the target. Throws InputError
  /// naming the path (and removes the temporary) when a write failed. A file owned by another
  /// user that cannot be given back to that owner is overwritten in place instead of replaced.
  void commit();
  /// Bytes written (valid after commit()).
  uint64_t bytes() const { return bytes_; }
  const std::string& path() const { return where_.path; }

 private:
  [[noreturn]] void fail(const std::string& why);
  void place();  // the finished temporary under the target's name
  OutputTarget where_;
  int fd_ = -1;
  bool anonymous_ = false;  // an O_TMPFILE file: nameless until place()
  std::string tmp_;         // a named temporary while one exists
  int slot_ = -1;           // its signal-cleanup registration
  std::unique_ptr<detail::FdStreamBuf> buf_;
  std::ostream out_;
  uint64_t bytes_ = 0;
  bool committed_ = false;
};

/// Unlinks the named temporary of every OutputFile not yet committed or destroyed (unnamed ones
/// vanish with the process). Async-signal-safe:
/// call it from SIGINT / SIGTERM / SIGHUP handlers before exiting.
void remove_output_temporaries() noexcept;

}  // namespace gfnrl
