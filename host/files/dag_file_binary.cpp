// The binary DAG form (layout in gfnrl/dag_file.hpp): explicit little-endian encoding, sizes
// checked against the file size before any allocation, an FNV-1a-64 checksum over the content.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <istream>
#include <limits>
#include <ostream>

#include "dag_file_checks.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"

namespace gfnrl::detail {

namespace {

constexpr char kMagic[8] = {'G', 'F', 'N', 'R', 'L', 'D', 'A', 'G'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kFlagBackward = 1, kFlagIntermediate = 2;
constexpr std::size_t kHeaderBytes = 64, kChecksumAt = 56;
constexpr std::size_t kEdgeBytes = 12, kPbBytes = 4, kTerminalBytes = 12, kIntermediateBytes = 12;

struct Fnv1a64 {
  uint64_t h = 0xcbf29ce484222325ull;
  void add(const unsigned char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  }
};

template <class T>
void put_le(unsigned char* p, T v) {
  static_assert(std::is_integral_v<T>);
  for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<unsigned char>(uint64_t(v) >> (8 * i));
}
template <class T>
T get_le(const unsigned char* p) {
  static_assert(std::is_integral_v<T>);
  uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= uint64_t(p[i]) << (8 * i);
  return static_cast<T>(v);
}
template <class F, class U>
U bits_of(F f) {
  static_assert(sizeof(F) == sizeof(U));
  U u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
template <class F, class U>
F from_bits(U u) {
  F f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

void write_dag_binary(const DagFile& f, std::ostream& out) {
  const bool has_pb = !f.log_pb.empty();
  const auto& mid = f.spec.intermediate_log_rewards;
  std::array<unsigned char, kHeaderBytes> h{};
  std::memcpy(h.data(), kMagic, 8);
  put_le<uint32_t>(&h[8], kVersion);
  put_le<uint32_t>(&h[12], (has_pb ? kFlagBackward : 0) | (mid.empty() ? 0 : kFlagIntermediate));
  put_le<int64_t>(&h[40], static_cast<int64_t>(mid.size()));
  put_le<int32_t>(&h[16], f.spec.num_states);
  put_le<int32_t>(&h[20], f.spec.source);
  put_le<int64_t>(&h[24], static_cast<int64_t>(f.spec.edges.size()));
  put_le<int64_t>(&h[32], static_cast<int64_t>(f.spec.log_rewards.size()));
  Fnv1a64 sum;
  sum.add(h.data(), kChecksumAt);
  out.write(reinterpret_cast<const char*>(h.data()), kHeaderBytes);
  // Records are buffered in blocks so that a 10^7-edge file is written in large writes.
  std::vector<unsigned char> buf;
  auto flush = [&](bool force) {
    if (!force && buf.size() < (1u << 20)) return;
    sum.add(buf.data(), buf.size());
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
    buf.clear();
  };
  auto push = [&](auto v) {
    unsigned char b[sizeof v];
    put_le(b, v);
    buf.insert(buf.end(), b, b + sizeof v);
  };
  for (const auto& e : f.spec.edges) {
    push(e.from), push(e.to), push(e.action);
    flush(false);
  }
  for (float v : f.log_pb) {
    push(bits_of<float, uint32_t>(v));
    flush(false);
  }
  for (const auto& [s, v] : f.spec.log_rewards) {
    push(s), push(bits_of<double, uint64_t>(v));
    flush(false);
  }
  for (const auto& [s, v] : mid) {
    push(s), push(bits_of<double, uint64_t>(v));
    flush(false);
  }
  flush(true);
  put_le<uint64_t>(&h[kChecksumAt], sum.h);
  out.seekp(static_cast<std::streamoff>(kChecksumAt));
  out.write(reinterpret_cast<const char*>(&h[kChecksumAt]), 8);
}

bool is_dag_binary(const char* first_bytes, std::size_t n) {
  return n >= 8 && std::memcmp(first_bytes, kMagic, 8) == 0;
}

}  // namespace gfnrl::detail

namespace gfnrl {

namespace {
using namespace detail;

[[noreturn]] void fail(const std::string& name, const std::string& why) {
  throw InputError(name + ": " + why);
}

// What the 64-byte header says, and where each section starts.
struct BinaryHeader {
  std::array<unsigned char, kHeaderBytes> bytes{};
  int32_t n = 0, source = 0;
  int64_t num_edges = 0, num_terminal = 0, num_intermediate = 0;
  bool has_pb = false;
  uint64_t edges_at = kHeaderBytes, pb_at = 0, terminals_at = 0, intermediate_at = 0;
};

// Reads and checks the header, and the file size it implies.
BinaryHeader read_header(std::istream& in, std::uint64_t size, const std::string& name) {
  BinaryHeader b;
  auto& h = b.bytes;
  if (size < kHeaderBytes || !in.read(reinterpret_cast<char*>(h.data()), kHeaderBytes))
    fail(name, "truncated: " + std::to_string(size) + " bytes, shorter than the " +
                   std::to_string(kHeaderBytes) + "-byte header");
  if (std::memcmp(h.data(), kMagic, 8) != 0)
    fail(name, "bad magic at byte 0 (expected \"GFNRLDAG\")");
  const auto version = get_le<uint32_t>(&h[8]);
  if (version != kVersion)
    fail(name, "byte 8: format version " + std::to_string(version) +
                   " is not supported (this reader reads version 1)");
  const auto flags = get_le<uint32_t>(&h[12]);
  const uint32_t known = kFlagBackward | kFlagIntermediate;
  if (flags & ~known)
    fail(name, "byte 12: unknown flag bits " + std::to_string(flags & ~known) +
                   " (version 1 defines bits 0 and 1 only)");
  b.n = get_le<int32_t>(&h[16]);
  b.source = get_le<int32_t>(&h[20]);
  b.num_edges = get_le<int64_t>(&h[24]);
  b.num_terminal = get_le<int64_t>(&h[32]);
  const std::string n = std::to_string(b.n);
  if (b.n < 1) fail(name, "byte 16: num_states " + n + " must be >= 1");
  if (b.source < 0 || b.source >= b.n)
    fail(name, "byte 20: source " + std::to_string(b.source) + " is out of range [0, " + n + ")");
  if (b.num_edges < 0 || b.num_edges > kMaxIndex)
    fail(name, "byte 24: num_edges " + std::to_string(b.num_edges) +
                   " is out of range [0, 2^31-1]");
  if (b.num_terminal < 1 || b.num_terminal > b.n)
    fail(name, "byte 32: num_terminal " + std::to_string(b.num_terminal) +
                   " is out of range [1, " + n + "]");
  b.num_intermediate = get_le<int64_t>(&h[40]);
  if ((flags & kFlagIntermediate) ? (b.num_intermediate < 1 || b.num_intermediate > b.n)
                                  : b.num_intermediate != 0)
    fail(name, "byte 40: num_intermediate " + std::to_string(b.num_intermediate) +
                   ((flags & kFlagIntermediate) ? " is out of range [1, " + n + "]"
                                                : " must be 0 without flag bit 1"));
  for (std::size_t i = 48; i < kChecksumAt; ++i)
    if (h[i] != 0) fail(name, "byte " + std::to_string(i) + ": reserved header bytes must be zero");
  if (int64_t(b.n) > b.num_edges + 1)  // check_state_count, from the header alone
    fail(name, std::to_string(b.n) + " states but only " + std::to_string(b.num_edges) +
                   " edges: every state but the source needs an in-edge, so some state is "
                   "unreachable");
  b.has_pb = flags & kFlagBackward;
  // Sizes fit in 64 bits comfortably: num_edges, num_terminal < 2^31.
  b.pb_at = b.edges_at + kEdgeBytes * uint64_t(b.num_edges);
  b.terminals_at = b.pb_at + (b.has_pb ? kPbBytes * uint64_t(b.num_edges) : 0);
  b.intermediate_at = b.terminals_at + kTerminalBytes * uint64_t(b.num_terminal);
  const uint64_t expected = b.intermediate_at + kIntermediateBytes * uint64_t(b.num_intermediate);
  if (size != expected)
    fail(name, std::string(size < expected ? "truncated" : "oversized") +
                   ": the header describes " + std::to_string(b.num_edges) + " edges" +
                   (b.has_pb ? " with P_B" : "") + ", " + std::to_string(b.num_terminal) +
                   " terminal states and " + std::to_string(b.num_intermediate) +
                   " intermediate log-rewards, " + std::to_string(expected) +
                   " bytes, but the file has " + std::to_string(size));
  return b;
}

// Reads `count` records of `bytes` each in blocks of about 1 MiB (whole records), handing each
// block to `on_block` and then each record to `use(index, bytes)`.
template <class Use, class OnBlock>
void for_each_record(std::istream& in, std::size_t count, std::size_t bytes, const std::string& name,
                     std::vector<unsigned char>& block, Use&& use, OnBlock&& on_block) {
  const std::size_t per_block = std::max<std::size_t>(1, (1u << 20) / bytes);
  for (std::size_t i = 0; i < count; i += per_block) {
    const std::size_t k = std::min(per_block, count - i);
    block.resize(k * bytes);
    if (!in.read(reinterpret_cast<char*>(block.data()), static_cast<std::streamsize>(block.size())))
      fail(name, "read error");
    on_block(block);
    for (std::size_t j = 0; j < k; ++j) use(i + j, block.data() + j * bytes);
  }
}

// What the checksum pass decides while the bytes stream by, before anything is allocated for
// the records: every value's range, and every duplicate when the edges come sorted by source
// state (as gfnrl writes them: CSR order) and the terminals by state. The first problem is kept
// and reported once the checksum holds (a corrupted file is said to be corrupted).
struct StreamFindings {
  std::string problem;  // the first, with its byte offset
  bool edges_sorted = true, terminals_sorted = true;  // false: duplicates are left to the sort
};

class StreamChecks {
 public:
  StreamChecks(const BinaryHeader& b, const std::string& name) : b_(b), name_(name) {}
  StreamFindings& findings() { return found_; }

  void edge(std::size_t e, int32_t from, int32_t to, int32_t action) {
    if (!found_.problem.empty()) return;
    // The message is built only for a bad edge: this runs once per edge of files of ~10^9.
    if (from < 0 || from >= b_.n) return note(edge_at(e) + ": source state " + std::to_string(from) + range());
    if (to < 0 || to >= b_.n) return note(edge_at(e) + ": target state " + std::to_string(to) + range());
    if (action < 0 || action == kMaxIndex)
      return note(edge_at(e) + ": action id " + std::to_string(action) + " is out of range [0, 2^31-2]");
    if (!found_.edges_sorted) return;
    if (e > 0 && from < run_from_) {
      found_.edges_sorted = false;  // another order: the sort after reading finds duplicates
      run_.clear();
      return;
    }
    if (e == 0 || from != run_from_) end_run();
    run_from_ = from;
    run_.push_back({to, e});
  }
  // The last run of equal source states: a repeated target is a duplicate edge.
  void end_run() {
    std::sort(run_.begin(), run_.end());
    for (std::size_t i = 1; i < run_.size() && found_.problem.empty(); ++i)
      if (run_[i].first == run_[i - 1].first)
        note(edge_at(run_[i].second) + ": duplicate edge " + std::to_string(run_from_) + " -> " +
             std::to_string(run_[i].first) + " (first at " + edge_at(run_[i - 1].second) + ")");
    run_.clear();
  }
  void log_pb(std::size_t e, float v) {
    if (found_.problem.empty() && !valid_log_pb(v))
      note(name_ + ": byte " + std::to_string(b_.pb_at + kPbBytes * e) + " (edge " +
           std::to_string(e) + "): " + log_pb_problem(v));
  }
  void terminal(std::size_t t, int32_t s, double v) {
    if (!found_.problem.empty()) return;
    if (s < 0 || s >= b_.n) return note(terminal_at(t) + ": state " + std::to_string(s) + range());
    if (std::string problem = log_reward_problem(s, v); !problem.empty())
      return note(terminal_at(t) + ": " + problem);
    if (!found_.terminals_sorted) return;
    if (t > 0 && s < last_state_) found_.terminals_sorted = false;
    else if (t > 0 && s == last_state_)
      note(terminal_at(t) + ": log-reward of state " + std::to_string(s) + " is given twice (first at " +
           terminal_at(t - 1) + ")");
    last_state_ = s;
  }

 private:
  void note(const std::string& why) { found_.problem = why; }
  std::string range() const { return " is out of range [0, " + std::to_string(b_.n) + ")"; }
  std::string edge_at(std::size_t e) const {
    return name_ + ": byte " + std::to_string(b_.edges_at + kEdgeBytes * e) + " (edge " +
           std::to_string(e) + ")";
  }
  std::string terminal_at(std::size_t t) const {
    return name_ + ": byte " + std::to_string(b_.terminals_at + kTerminalBytes * t) +
           " (terminal " + std::to_string(t) + ")";
  }
  const BinaryHeader& b_;
  const std::string& name_;
  StreamFindings found_;
  int32_t run_from_ = 0, last_state_ = 0;
  std::vector<std::pair<int32_t, std::size_t>> run_;  // (target, edge) of the current source
};

// A header can describe a file of the right size and still lie (bit flips, hostile input):
// verify the checksum in a streaming pass with a fixed 1 MiB buffer, checking every record's
// values on the way (StreamChecks), then rewind to the records.
StreamFindings verify_checksum(std::istream& in, const BinaryHeader& b, const std::string& name) {
  Fnv1a64 sum;
  sum.add(b.bytes.data(), kChecksumAt);
  StreamChecks checks(b, name);
  std::vector<unsigned char> block;
  // Each section in whole records, in file order (the checksum is of the bytes in order).
  auto section = [&](std::size_t count, std::size_t bytes, auto&& use) {
    for_each_record(in, count, bytes, name, block, use,
                    [&](const std::vector<unsigned char>& bl) { sum.add(bl.data(), bl.size()); });
  };
  section(static_cast<std::size_t>(b.num_edges), kEdgeBytes, [&](std::size_t e, const unsigned char* p) {
    checks.edge(e, get_le<int32_t>(p), get_le<int32_t>(p + 4), get_le<int32_t>(p + 8));
  });
  if (checks.findings().edges_sorted) checks.end_run();
  if (b.has_pb)
    section(static_cast<std::size_t>(b.num_edges), kPbBytes, [&](std::size_t e, const unsigned char* p) {
      checks.log_pb(e, from_bits<float>(get_le<uint32_t>(p)));
    });
  section(static_cast<std::size_t>(b.num_terminal), kTerminalBytes,
          [&](std::size_t t, const unsigned char* p) {
            checks.terminal(t, get_le<int32_t>(p), from_bits<double>(get_le<uint64_t>(p + 4)));
          });
  // Intermediate log-rewards: ranges, finiteness and duplicates are build_dag's (naming the
  // state); the checksum covers them here.
  section(static_cast<std::size_t>(b.num_intermediate), kIntermediateBytes,
          [](std::size_t, const unsigned char*) {});
  if (sum.h != get_le<uint64_t>(&b.bytes[kChecksumAt]))
    fail(name, "checksum mismatch (byte 56): the file is corrupted");
  if (!checks.findings().problem.empty()) throw InputError(checks.findings().problem);
  in.clear();
  in.seekg(static_cast<std::streamoff>(kHeaderBytes));
  if (!in) fail(name, "cannot seek back after the checksum pass");
  return checks.findings();
}

// The records, decoded in 1 MiB blocks (sizes already bounded by the file's).
DagFile read_records(std::istream& in, const BinaryHeader& b, const std::string& name) {
  DagFile f;
  f.spec.num_states = b.n;
  f.spec.source = b.source;
  f.spec.edges.resize(static_cast<std::size_t>(b.num_edges));
  if (b.has_pb) f.log_pb.resize(static_cast<std::size_t>(b.num_edges));
  f.spec.log_rewards.resize(static_cast<std::size_t>(b.num_terminal));
  std::vector<unsigned char> buf;
  auto read = [&](std::size_t count, std::size_t bytes, auto&& use) {
    for_each_record(in, count, bytes, name, buf, use, [](const std::vector<unsigned char>&) {});
  };
  read(f.spec.edges.size(), kEdgeBytes, [&](std::size_t i, const unsigned char* p) {
    f.spec.edges[i] = {get_le<int32_t>(p), get_le<int32_t>(p + 4), get_le<int32_t>(p + 8)};
  });
  read(f.log_pb.size(), kPbBytes, [&](std::size_t i, const unsigned char* p) {
    f.log_pb[i] = from_bits<float>(get_le<uint32_t>(p));
  });
  read(f.spec.log_rewards.size(), kTerminalBytes, [&](std::size_t i, const unsigned char* p) {
    f.spec.log_rewards[i] = {get_le<int32_t>(p), from_bits<double>(get_le<uint64_t>(p + 4))};
  });
  f.spec.intermediate_log_rewards.resize(static_cast<std::size_t>(b.num_intermediate));
  read(f.spec.intermediate_log_rewards.size(), kIntermediateBytes,
       [&](std::size_t i, const unsigned char* p) {
         f.spec.intermediate_log_rewards[i] = {get_le<int32_t>(p),
                                               from_bits<double>(get_le<uint64_t>(p + 4))};
       });
  return f;
}

// What the streaming pass left: the duplicates of records that did not come sorted (every
// value's range is checked there).
void check_records(const DagFile& f, const BinaryHeader& b, const std::string& name,
                   const StreamFindings& streamed) {
  auto edge_at = [&](std::size_t e) {
    return name + ": byte " + std::to_string(b.edges_at + kEdgeBytes * e) + " (edge " +
           std::to_string(e) + ")";
  };
  auto terminal_at = [&](std::size_t t) {
    return name + ": byte " + std::to_string(b.terminals_at + kTerminalBytes * t) +
           " (terminal " + std::to_string(t) + ")";
  };
  check_duplicates(f, streamed.edges_sorted ? Position() : edge_at,
                   streamed.terminals_sorted ? Position() : terminal_at);
}
}  // namespace

// Header, memory budget, checksum; only then allocate, read and check the records.
DagFile parse_dag_binary(std::istream& in, std::uint64_t size, const std::string& name) {
  const BinaryHeader b = read_header(in, size, name);
  // Parsed arrays (edge 12 B, P_B 4 B, terminal 16 B) plus the DAG built from them.
  require_bytes(Backend::Cpu,
                static_cast<std::size_t>(b.num_edges) * (12 + (b.has_pb ? 4 : 0)) +
                    static_cast<std::size_t>(b.num_terminal + b.num_intermediate) * 16 +
                    // more states than edges + 1 is refused later (check_state_count)
                    estimate_dag_bytes(std::min<int64_t>(b.n, b.num_edges + 1), b.num_edges),
                name + " (" + std::to_string(b.n) + " states, " + std::to_string(b.num_edges) +
                    " edges)");
  const StreamFindings streamed = verify_checksum(in, b, name);
  DagFile f = read_records(in, b, name);
  check_records(f, b, name, streamed);
  return f;
}

}  // namespace gfnrl
