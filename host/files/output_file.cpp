// Output files: resolve the target, write an unnamed temporary in its directory, link or rename it
// into place on commit; special files in place; named temporaries removable from signal handlers.
#include "gfnrl/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "fd_streambuf.hpp"
#include "gfnrl/error.hpp"

namespace gfnrl {

namespace {

// Open temporaries, for remove_output_temporaries(): fixed storage and lock-free atomics, so the
// signal handler touches nothing that may be mid-update (state 1 = being written, 2 = armed).
constexpr int kSlots = 64;
constexpr std::size_t kPathMax = 4096;
char g_paths[kSlots][kPathMax];
std::atomic<int> g_state[kSlots];
static_assert(std::atomic<int>::is_always_lock_free, "signal-safe cleanup needs lock-free atomics");

int register_temporary(const std::string& p) {
  if (p.size() >= kPathMax) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (g_state[i].compare_exchange_strong(expected, 1)) {
      std::memcpy(g_paths[i], p.c_str(), p.size() + 1);
      g_state[i].store(2);
      return i;
    }
  }
  return -1;  // more open outputs than slots: still written, only not removed on a signal
}

void unregister_temporary(int slot) {
  if (slot >= 0) g_state[slot].store(0);
}

std::string parent_of(const std::string& p) {
  const std::string dir = std::filesystem::path(p).parent_path().string();
  return dir.empty() ? "." : dir;
}

[[noreturn]] void refuse(const std::string& flag, const std::string& path, const std::string& why) {
  throw InputError(flag + " '" + path + "': " + why);
}

}  // namespace

OutputTarget resolve_output(const std::string& path, const std::string& flag) {
  if (path.empty()) throw InputError(flag + ": the output path is empty");
  std::string p = path;
  struct stat st {};
  for (int hops = 0;; ++hops) {
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) break;
    if (hops == 40) refuse(flag, path, "too many levels of symbolic links");
    std::error_code ec;
    const std::filesystem::path link = std::filesystem::read_symlink(p, ec);
    if (ec) refuse(flag, path, "cannot read the symbolic link: " + ec.message());
    p = link.is_absolute() ? link.string() : (std::filesystem::path(parent_of(p)) / link).string();
  }
  OutputTarget t{path, p, false};
  if (::stat(p.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) refuse(flag, path, "is a directory (give a file name)");
    if (::access(p.c_str(), W_OK) != 0) refuse(flag, path, std::string("not writable: ") + std::strerror(errno));
    t.in_place = !S_ISREG(st.st_mode);  // a device, FIFO or socket: never rename over it
    if (t.in_place) return t;
  } else if (errno != ENOENT) {
    refuse(flag, path, std::strerror(errno));
  }
  const std::string dir = parent_of(p);
  struct stat dst {};
  if (::stat(dir.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode))
    refuse(flag, path, "the directory '" + dir + "' does not exist");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    refuse(flag, path, "cannot create files in '" + dir + "': " + std::strerror(errno));
  return t;
}

namespace {

// What makes two outputs one file: the inode of an existing file, or for one not there yet the
// inode of its directory and its name (resolve_output has checked that the directory exists).
std::string output_identity(const OutputTarget& t) {
  struct stat st {};
  if (::stat(t.target.c_str(), &st) == 0)
    return "i" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  const std::filesystem::path p(t.target);
  if (::stat(parent_of(t.target).c_str(), &st) != 0) return "p" + t.target;
  return "d" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + "/" +
         p.filename().string();
}

// A short name beside the target for a named temporary: never longer than NAME_MAX, whatever the
// target's name.
std::string temporary_name(const std::string& target) {
  static std::atomic<uint64_t> counter{0};
  const std::string dir = std::filesystem::path(target).parent_path().string();
  return (dir.empty() ? "" : dir + "/") + ".gfnrl-tmp-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter++);
}

// Copies the whole of `from` over the file `to` in place (a file whose owner a replacement could
// not keep): truncated, then written; the errno of a failure, 0 on success.
int copy_over(int from, const std::string& to) {
  const int out = ::open(to.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (out < 0) return errno;
  std::vector<char> buf(std::size_t(1) << 16);
  detail::FdStreamBuf sink(out);  // its write loop (EINTR, short writes)
  int err = ::lseek(from, 0, SEEK_SET) < 0 ? errno : 0;
  while (err == 0) {
    const ssize_t r = ::read(from, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) err = errno;
    if (r <= 0) break;
    if (sink.sputn(buf.data(), r) != r) err = sink.error() ? sink.error() : EIO;
  }
  if (err == 0 && !sink.drain()) err = sink.error() ? sink.error() : EIO;
  if (::close(out) != 0 && err == 0) err = errno;
  return err;
}

}  // namespace

void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs) {
  std::vector<std::pair<std::string, std::string>> seen;  // (flag, identity)
  for (const auto& [flag, path] : outputs) {
    if (path.empty()) continue;
    const OutputTarget where = resolve_output(path, flag);
    if (where.in_place) continue;  // a device such as /dev/null takes any number of writers
    const std::string key = output_identity(where);
    for (const auto& [other_flag, other] : seen)
      if (other == key)
        throw InputError(flag + " '" + path + "' is the same file as " + other_flag +
                         ": give each output its own path");
    seen.emplace_back(flag, key);
  }
}

OutputFile::OutputFile(const std::string& path, bool /*binary: no text mode on POSIX*/,
                       const std::string& flag)
    : where_(resolve_output(path, flag)), out_(nullptr) {
  int why = 0;
  if (where_.in_place) {
    fd_ = ::open(where_.target.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    why = errno;
  } else {
    // Unnamed first: nothing to remove if the process dies. Linking it needs /proc/self/fd.
#ifdef O_TMPFILE
    // GFNRL_NAMED_TEMPORARIES=1 takes the fallback below on any file system (its tests).
    const char* named = std::getenv("GFNRL_NAMED_TEMPORARIES");
    if ((named == nullptr || std::strcmp(named, "1") != 0) && ::access("/proc/self/fd", X_OK) == 0) {
      fd_ = ::open(parent_of(where_.target).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
      anonymous_ = fd_ >= 0;
    }
#endif
    if (fd_ < 0) {  // a file system without O_TMPFILE: a named temporary, removed on signals
      tmp_ = temporary_name(where_.target);
      slot_ = register_temporary(tmp_);
      fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      why = errno;
      if (fd_ < 0) {
        unregister_temporary(slot_);
        tmp_.clear();
      }
    }
  }
  if (fd_ < 0) refuse(flag, path, std::string("cannot open for writing: ") + std::strerror(why));
  buf_ = std::make_unique<detail::FdStreamBuf>(fd_);
  out_.rdbuf(buf_.get());
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (committed_) return;
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  unregister_temporary(slot_);
}

void OutputFile::fail(const std::string& why) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  unregister_temporary(slot_);
  committed_ = true;  // nothing left for the destructor
  throw InputError(where_.path + ": " + why);
}

void OutputFile::place() {
  const std::string& target = where_.target;
  struct stat st {};
  const bool replacing = ::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  if (replacing) {
    ::fchmod(fd_, st.st_mode & 07777);  // replacing a file keeps its permission bits
    if ((st.st_uid != ::geteuid() || st.st_gid != ::getegid()) &&
        ::fchown(fd_, st.st_uid, st.st_gid) != 0) {
      // Another user's file that this process cannot give back to them: overwrite it in place,
      // so that it stays theirs (not atomic: a reader may see it half-written).
      if (const int err = copy_over(fd_, target))
        fail(std::string("cannot overwrite another user's file in place: ") + std::strerror(err));
      if (!tmp_.empty()) ::unlink(tmp_.c_str());
      return;
    }
  }
  if (anonymous_) {
    const std::string self = "/proc/self/fd/" + std::to_string(fd_);
    // Nothing there: link it under its name directly, atomically.
    if (!replacing && ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, target.c_str(), AT_SYMLINK_FOLLOW) == 0)
      return;
    // A file there (or one appeared): a short-lived name, renamed over it below.
    tmp_ = temporary_name(target);
    slot_ = register_temporary(tmp_);
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tmp_.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      const int err = errno;
      unregister_temporary(slot_);
      tmp_.clear();
      fail(std::string("cannot link the finished file into its directory: ") + std::strerror(err));
    }
  }
  if (std::rename(tmp_.c_str(), target.c_str()) != 0)
    fail(std::string("cannot rename the temporary file into place: ") + std::strerror(errno));
}

void OutputFile::commit() {
  out_.flush();
  const bool ok = out_.good() && buf_->drain() && buf_->error() == 0;
  if (!ok) {
    const int err = buf_->error();
    fail(err != 0 ? std::string("write failed: ") + std::strerror(err)
                  : std::string("write failed: the writer seeks back (a binary DAG's checksum), "
                                "which a pipe or device cannot do; write to a file"));
  }
  bytes_ = buf_->end();
  if (!where_.in_place) place();
  const int closed = ::close(fd_);
  const int err = errno;
  fd_ = -1;
  if (closed != 0 && where_.in_place) fail(std::string("write failed: ") + std::strerror(err));
  unregister_temporary(slot_);
  tmp_.clear();
  committed_ = true;
}

void remove_output_temporaries() noexcept {
  for (int i = 0; i < kSlots; ++i)
    if (g_state[i].load() == 2) ::unlink(g_paths[i]);
}

}  // namespace gfnrl
