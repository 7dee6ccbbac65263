/// @file input_file.hpp
/// Reading untrusted input files: only regular files (a FIFO blocks for ever, /dev/zero never
/// ends), lines of bounded length, and messages that quote at most a short printable excerpt.
#pragma once
#include <cstddef>
#include <istream>
#include <string>

namespace gfnrl {

/// Throws InputError("<what> '<path>': ...") unless `path` names an existing regular file
/// (symlinks followed).
void require_regular_file(const std::string& path, const std::string& what);

namespace detail {

/// Longest line a text reader accepts: far above any valid directive, far below what a binary
/// or hostile file would make us buffer.
constexpr std::size_t kMaxLine = 4096;

/// std::getline with limits: false at the end of input; InputError "<name>:<line_no>: ..." at a
/// NUL byte (binary data) or a line longer than kMaxLine, having read no further.
bool read_text_line(std::istream& in, std::string& line, const std::string& name,
                    std::size_t line_no);

/// At most ~60 printable characters of untrusted text, quoted, for a message: other bytes as
/// \xNN, the rest elided with its length.
std::string quote_excerpt(const std::string& text);

}  // namespace detail
}  // namespace gfnrl
