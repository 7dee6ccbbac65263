// A std::streambuf over a file descriptor: the output files' stream, which must work on an
// unnamed temporary (O_TMPFILE: no path for an ofstream to open) and on a pipe (no seeking: the
// position is counted, not asked of the descriptor).
#pragma once
#include <cstdint>
#include <streambuf>
#include <vector>

namespace gfnrl::detail {

class FdStreamBuf : public std::streambuf {
 public:
  explicit FdStreamBuf(int fd);
  /// The errno of the first failed write (0: none). A failed write also fails the stream.
  int error() const { return error_; }
  /// One past the largest offset written so far (the file's size once drained).
  uint64_t end() const;
  /// Writes what is buffered; false (error() set) when the descriptor refused it.
  bool drain();

 protected:
  int_type overflow(int_type c) override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int sync() override { return drain() ? 0 : -1; }
  pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode) override;
  pos_type seekpos(pos_type pos, std::ios_base::openmode which) override {
    return seekoff(off_type(pos), std::ios_base::beg, which);
  }

 private:
  bool write_all(const char* p, std::size_t n);
  int fd_;
  int error_ = 0;
  uint64_t pos_ = 0, end_ = 0;  // the descriptor's offset, and one past the largest written
  std::vector<char> buf_;
};

}  // namespace gfnrl::detail
