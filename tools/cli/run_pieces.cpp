// Cutting (job, run) pairs among ranks and putting their results back together.
#include "run_pieces.hpp"

#include "ranks.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <type_traits>

namespace gfnrl::cli {

std::vector<Piece> rank_pieces(const std::vector<int32_t>& runs_per_job, int rank, int size) {
  std::vector<Piece> out;
  int64_t offset = 0;  // the rank that gets job j's first slice: where job j - 1's extras ended
  for (std::size_t j = 0; j < runs_per_job.size(); ++j) {
    const int32_t runs = runs_per_job[j];
    const int32_t base = runs / size, extra = runs % size;
    const int32_t k = static_cast<int32_t>((rank - offset % size + size) % size);  // our slice
    const int32_t first = k * base + std::min(k, extra);
    const int32_t count = base + (k < extra ? 1 : 0);
    if (count > 0) out.push_back({j, first, count});
    offset += runs;
  }
  return out;
}

int64_t evaluations(int64_t steps, int64_t eval_every) {
  return 1 + steps / eval_every + (steps % eval_every != 0 ? 1 : 0);
}

namespace {
static_assert(std::is_trivially_copyable_v<RunResult>, "RunResult travels as its bytes");

struct Writer {
  std::string out;
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put(const std::string& s) {
    put(static_cast<uint64_t>(s.size()));
    out += s;
  }
};

struct Reader {
  const std::string& in;
  std::size_t at = 0;
  void need(std::size_t n) const {
    if (in.size() - at < n) throw std::logic_error("a rank's result is cut short");
  }
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, in.data() + at, sizeof v);
    at += sizeof v;
    return v;
  }
  std::string text() {
    const auto n = get<uint64_t>();
    need(n);
    std::string s = in.substr(at, n);
    at += n;
    return s;
  }
};
}  // namespace

std::string pack_pieces(const std::vector<PieceResult>& pieces) {
  Writer w;
  w.put(static_cast<uint64_t>(pieces.size()));
  for (const PieceResult& p : pieces) {
    w.put(p.piece);
    w.put(p.target_log_z);
    const LoopResult& l = p.loop;
    w.put(l.train_seconds), w.put(l.eval_seconds), w.put(l.steps), w.put(l.tv_threshold);
    w.put(static_cast<uint64_t>(l.runs.size()));
    for (const RunResult& r : l.runs) w.put(r);
    w.put(static_cast<uint64_t>(p.rows.size()));
    for (const std::string& row : p.rows) w.put(row);
  }
  return std::move(w.out);
}

std::vector<PieceResult> unpack_pieces(const std::string& bytes) {
  Reader r{bytes};
  std::vector<PieceResult> out(r.get<uint64_t>());
  for (PieceResult& p : out) {
    p.piece = r.get<Piece>();
    p.target_log_z = r.get<double>();
    LoopResult& l = p.loop;
    l.train_seconds = r.get<double>(), l.eval_seconds = r.get<double>();
    l.steps = r.get<int64_t>(), l.tv_threshold = r.get<double>();
    l.runs.resize(r.get<uint64_t>());
    for (RunResult& run : l.runs) run = r.get<RunResult>();
    p.rows.resize(r.get<uint64_t>());
    for (std::string& row : p.rows) row = r.text();
  }
  if (r.at != bytes.size()) throw std::logic_error("a rank's result has trailing bytes");
  return out;
}

std::vector<MergedJob> merge_pieces(std::vector<PieceResult> pieces,
                                    const std::vector<int32_t>& runs_per_job, const RowSink& rows) {
  const std::size_t jobs = runs_per_job.size();
  std::stable_sort(pieces.begin(), pieces.end(), [](const PieceResult& a, const PieceResult& b) {
    return a.piece.job != b.piece.job ? a.piece.job < b.piece.job : a.piece.first < b.piece.first;
  });
  std::vector<MergedJob> out(jobs);
  for (std::size_t j = 0, p = 0; j < jobs; ++j) {
    const std::size_t begin = p;
    for (; p < pieces.size() && pieces[p].piece.job == j; ++p) {
      const PieceResult& x = pieces[p];
      LoopResult& l = out[j].loop;
      if (x.piece.first != static_cast<int32_t>(l.runs.size()) ||
          x.loop.runs.size() != static_cast<std::size_t>(x.piece.count) ||
          x.rows.size() % x.piece.count != 0 ||
          x.rows.size() / x.piece.count != pieces[begin].rows.size() / pieces[begin].piece.count)
        throw std::logic_error("the ranks' pieces of job " + std::to_string(j) +
                               " do not cover its runs once");
      l.runs.insert(l.runs.end(), x.loop.runs.begin(), x.loop.runs.end());
      l.train_seconds = std::max(l.train_seconds, x.loop.train_seconds);
      l.eval_seconds = std::max(l.eval_seconds, x.loop.eval_seconds);
      l.steps = x.loop.steps, l.tv_threshold = x.loop.tv_threshold;
      out[j].target_log_z = x.target_log_z;
    }
    if (out[j].loop.runs.size() != static_cast<std::size_t>(runs_per_job[j]))
      throw std::logic_error("the ranks trained " + std::to_string(out[j].loop.runs.size()) +
                             " of job " + std::to_string(j) + "'s " +
                             std::to_string(runs_per_job[j]) + " runs");
    // One process writes evaluation by evaluation, every run of the job in each.
    const std::size_t evals = pieces[begin].rows.size() / pieces[begin].piece.count;
    if (rows)
      for (std::size_t e = 0; e < evals; ++e)
        for (std::size_t q = begin; q < p; ++q) {
          const std::size_t n = static_cast<std::size_t>(pieces[q].piece.count);
          for (std::size_t i = 0; i < n; ++i) rows(pieces[q].rows[e * n + i]);
        }
  }
  if (!pieces.empty() && pieces.back().piece.job >= jobs)
    throw std::logic_error("a piece of job " + std::to_string(pieces.back().piece.job) +
                           " among " + std::to_string(jobs) + " jobs");
  return out;
}

std::optional<std::vector<MergedJob>> gather_pieces(std::vector<PieceResult> mine,
                                                    const std::vector<int32_t>& runs_per_job,
                                                    const RowSink& rows) {
  const std::vector<std::string> all = Ranks::mutable_get().gather_to_root(pack_pieces(mine));
  if (!Ranks::get().root()) return std::nullopt;
  std::vector<PieceResult> pieces;
  for (const std::string& bytes : all)
    for (PieceResult& p : unpack_pieces(bytes)) pieces.push_back(std::move(p));
  return merge_pieces(std::move(pieces), runs_per_job, rows);
}

}  // namespace gfnrl::cli
