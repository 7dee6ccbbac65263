// The items MPI ranks compare (rank_inputs.hpp).
#include "rank_inputs.hpp"

#include <sys/stat.h>

#include <cstring>
#include <exception>
#include <fstream>
#include <optional>

namespace gfnrl::cli {

namespace {
// FNV-1a, 64 bits: enough to tell two ranks' arguments or files apart (not an adversary's).
uint64_t fnv1a(uint64_t h, const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
  return h;
}
constexpr uint64_t kFnvBasis = 14695981039346656037ull;

// The hash of a regular file's bytes; nullopt when `path` names no regular file.
std::optional<uint64_t> file_hash(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  uint64_t h = kFnvBasis;
  std::vector<char> buf(std::size_t(1) << 20);
  try {
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      h = fnv1a(h, buf.data(), static_cast<std::size_t>(in.gcount()));
    }
  } catch (const std::exception&) {  // unreadable here: differs from a readable copy
    return fnv1a(kFnvBasis, "unreadable", 10);
  }
  return h;
}

}  // namespace

std::vector<InputItem> input_items(const std::vector<std::string>& args,
                                   const std::vector<std::string>& input_flags) {
  std::vector<InputItem> items;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    items.push_back({"argument " + std::to_string(i + 1) + " '" + a.substr(0, 200) + "'",
                     fnv1a(kFnvBasis, a.data(), a.size())});
    for (const std::string& flag : input_flags) {
      std::string path;
      if (a == flag && i + 1 < args.size()) path = args[i + 1];
      if (a.rfind(flag + "=", 0) == 0) path = a.substr(flag.size() + 1);
      if (path.empty()) continue;
      if (const auto h = file_hash(path))
        items.push_back({"input file '" + path.substr(0, 200) + "' (" + flag + ")", *h});
    }
  }
  return items;
}

std::string pack_items(const std::vector<InputItem>& items) {
  std::string out;
  for (const InputItem& it : items) {
    const uint64_t len = it.what.size();
    out.append(reinterpret_cast<const char*>(&it.hash), 8);
    out.append(reinterpret_cast<const char*>(&len), 8);
    out += it.what;
  }
  return out;
}

std::vector<InputItem> unpack_items(const std::string& bytes) {
  std::vector<InputItem> items;
  for (std::size_t at = 0; at + 16 <= bytes.size();) {
    InputItem it;
    uint64_t len = 0;
    std::memcpy(&it.hash, bytes.data() + at, 8);
    std::memcpy(&len, bytes.data() + at + 8, 8);
    it.what = bytes.substr(at + 16, len);
    at += 16 + len;
    items.push_back(std::move(it));
  }
  return items;
}

}  // namespace gfnrl::cli
