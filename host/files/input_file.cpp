// Untrusted input files: regular files only, bounded lines, short quoted excerpts.
#include "gfnrl/input_file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "gfnrl/error.hpp"

namespace gfnrl {

void require_regular_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw InputError(what + " '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw InputError(what + " '" + path + "': not a regular file (" +
                     (S_ISDIR(st.st_mode)    ? "a directory"
                      : S_ISFIFO(st.st_mode) ? "a FIFO"
                      : S_ISCHR(st.st_mode)  ? "a character device"
                      : S_ISBLK(st.st_mode)  ? "a block device"
                                             : "a special file") +
                     "); give a file");
}

namespace detail {

bool read_text_line(std::istream& in, std::string& line, const std::string& name,
                    std::size_t line_no) {
  line.clear();
  // Straight from the buffer: istream::get() builds a sentry per character, which made reading
  // a 174 MB text DAG several times slower than std::getline.
  std::streambuf* buf = in.rdbuf();
  for (int c; (c = buf->sbumpc()) != std::char_traits<char>::eof();) {
    if (c == '\n') return true;
    if (c == '\0')
      throw InputError(name + ":" + std::to_string(line_no) + ": NUL byte at column " +
                       std::to_string(line.size() + 1) + " (binary data, not a text file)");
    if (line.size() == kMaxLine)
      throw InputError(name + ":" + std::to_string(line_no) + ": line longer than " +
                       std::to_string(kMaxLine) + " characters, starting " + quote_excerpt(line));
    line.push_back(static_cast<char>(c));
  }
  return !line.empty();
}

std::string quote_excerpt(const std::string& text) {
  constexpr std::size_t kShown = 60;
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < kShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += "'";
  if (text.size() > kShown) out += "... (" + std::to_string(text.size()) + " characters)";
  return out;
}

}  // namespace detail
}  // namespace gfnrl
