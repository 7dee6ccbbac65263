// A buffered std::streambuf over a file descriptor (see fd_streambuf.hpp).
#include "fd_streambuf.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace gfnrl::detail {

FdStreamBuf::FdStreamBuf(int fd) : fd_(fd), buf_(std::size_t(1) << 16) {
  setp(buf_.data(), buf_.data() + buf_.size());
}

uint64_t FdStreamBuf::end() const {
  return std::max(end_, pos_ + static_cast<uint64_t>(pptr() - pbase()));
}

bool FdStreamBuf::write_all(const char* p, std::size_t n) {
  if (error_ != 0) return false;
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      error_ = w < 0 ? errno : EIO;
      return false;
    }
    p += w, n -= static_cast<std::size_t>(w), pos_ += static_cast<uint64_t>(w);
  }
  end_ = std::max(end_, pos_);
  return true;
}

bool FdStreamBuf::drain() {
  const std::size_t n = static_cast<std::size_t>(pptr() - pbase());
  setp(buf_.data(), buf_.data() + buf_.size());
  return write_all(buf_.data(), n);
}

FdStreamBuf::int_type FdStreamBuf::overflow(int_type c) {
  if (!drain()) return traits_type::eof();
  if (!traits_type::eq_int_type(c, traits_type::eof())) {
    *pptr() = traits_type::to_char_type(c);
    pbump(1);
  }
  return traits_type::not_eof(c);
}

std::streamsize FdStreamBuf::xsputn(const char* s, std::streamsize n) {
  const auto room = epptr() - pptr();
  if (n <= room) {
    std::copy(s, s + n, pptr());
    pbump(static_cast<int>(n));
    return n;
  }
  // Larger than the room left: what is buffered, then this block directly.
  if (!drain() || !write_all(s, static_cast<std::size_t>(n))) return 0;
  return n;
}

FdStreamBuf::pos_type FdStreamBuf::seekoff(off_type off, std::ios_base::seekdir dir,
                                           std::ios_base::openmode) {
  const uint64_t here = pos_ + static_cast<uint64_t>(pptr() - pbase());
  if (dir == std::ios_base::cur && off == 0) return pos_type(off_type(here));  // tellp: no seek
  if (!drain()) return pos_type(off_type(-1));
  const int whence = dir == std::ios_base::beg ? SEEK_SET : dir == std::ios_base::cur ? SEEK_CUR : SEEK_END;
  const off_t r = ::lseek(fd_, static_cast<off_t>(off), whence);  // fails on a pipe: ESPIPE
  if (r < 0) return pos_type(off_type(-1));
  pos_ = static_cast<uint64_t>(r);
  return pos_type(off_type(r));
}

}  // namespace gfnrl::detail
