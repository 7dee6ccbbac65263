// Output files: resolve the target, write a temporary beside it, rename on commit; special files
// in place; temporaries removable from signal handlers.
#include "gfnrl/output_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

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

void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs) {
  std::vector<std::pair<std::string, std::string>> seen;  // (flag, canonical target)
  for (const auto& [flag, path] : outputs) {
    if (path.empty()) continue;
    const OutputTarget where = resolve_output(path, flag);
    if (where.in_place) continue;  // a device such as /dev/null takes any number of writers
    std::error_code ec;
    const std::filesystem::path target(where.target);
    std::string key = std::filesystem::weakly_canonical(target, ec).string();
    if (ec) key = std::filesystem::absolute(target).lexically_normal().string();
    for (const auto& [other_flag, other] : seen)
      if (other == key)
        throw InputError(flag + " '" + path + "' is the same file as " + other_flag +
                         ": give each output its own path");
    seen.emplace_back(flag, key);
  }
}

OutputFile::OutputFile(const std::string& path, bool binary, const std::string& flag)
    : where_(resolve_output(path, flag)) {
  const auto mode = std::ios::out | std::ios::trunc | (binary ? std::ios::binary : std::ios::out);
  if (where_.in_place) {
    out_.open(where_.target, mode);
  } else {
    tmp_ = where_.target + ".tmp-" + std::to_string(::getpid());
    slot_ = register_temporary(tmp_);
    out_.open(tmp_, mode);
  }
  if (!out_) {
    const std::string why = std::strerror(errno);
    unregister_temporary(slot_);
    if (!tmp_.empty()) std::remove(tmp_.c_str());
    refuse(flag, path, "cannot open for writing: " + why);
  }
}

OutputFile::~OutputFile() {
  if (committed_) return;
  if (out_.is_open()) out_.close();
  if (!tmp_.empty()) std::remove(tmp_.c_str());
  unregister_temporary(slot_);
}

void OutputFile::commit() {
  out_.flush();
  out_.seekp(0, std::ios::end);  // a writer may have sought back (the binary DAG checksum)
  const auto pos = out_.tellp();
  bool ok = out_.good();
  out_.close();
  ok = ok && !out_.fail();
  const auto fail = [&](const std::string& why) {
    if (!tmp_.empty()) std::remove(tmp_.c_str());
    unregister_temporary(slot_);
    committed_ = true;  // nothing left for the destructor
    throw InputError(where_.path + ": " + why);
  };
  if (!ok) fail(std::string("write failed: ") + std::strerror(errno));
  bytes_ = pos >= 0 ? static_cast<uint64_t>(pos) : 0;
  if (!tmp_.empty()) {
    struct stat st {};
    if (::stat(where_.target.c_str(), &st) == 0 && S_ISREG(st.st_mode))
      ::chmod(tmp_.c_str(), st.st_mode & 07777);  // replacing a file keeps its permissions
    if (std::rename(tmp_.c_str(), where_.target.c_str()) != 0)
      fail(std::string("cannot rename the temporary file into place: ") + std::strerror(errno));
  }
  unregister_temporary(slot_);
  committed_ = true;
}

void remove_output_temporaries() noexcept {
  for (int i = 0; i < kSlots; ++i)
    if (g_state[i].load() == 2) ::unlink(g_paths[i]);
}

}  // namespace gfnrl
