// How `gfnrl train/study/tune` cut runs among MPI ranks and put them back together
// (tools/cli/run_pieces.hpp), checked without MPI: every (job, run) pair trained once, ranks'
// totals within one run, rank 0 holding run 0; rank results surviving their bytes (NaN and
// empty optionals included); rows merged into one process's order.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "run_pieces.hpp"

namespace gfnrl::cli {
namespace {

TEST(RunPieces, EveryRunOnceRanksWithinOneRunRankZeroHoldsRunZero) {
  const std::vector<std::vector<int32_t>> studies = {
      {5}, {1}, {2}, {4, 4, 4, 4, 4}, {3, 1, 7}, {1, 1, 1, 1, 1}, {8, 8}, {16, 2, 5}};
  for (const auto& runs : studies)
    for (int size = 1; size <= 7; ++size) {
      std::map<std::pair<std::size_t, int32_t>, int> trained;  // (job, run) -> times
      int64_t lo = INT64_MAX, hi = 0;
      for (int rank = 0; rank < size; ++rank) {
        int64_t total = 0;
        std::size_t last_job = 0;
        bool first = true;
        for (const Piece& p : rank_pieces(runs, rank, size)) {
          ASSERT_LT(p.job, runs.size());
          ASSERT_GE(p.count, 1);
          ASSERT_LE(p.first + p.count, runs[p.job]);
          EXPECT_TRUE(first || p.job > last_job) << "one contiguous piece per job, in job order";
          first = false, last_job = p.job;
          for (int32_t r = p.first; r < p.first + p.count; ++r) ++trained[{p.job, r}];
          total += p.count;
          if (rank == 0 && p.job == 0) EXPECT_EQ(p.first, 0);
        }
        lo = std::min(lo, total), hi = std::max(hi, total);
      }
      int64_t all = 0;
      for (std::size_t j = 0; j < runs.size(); ++j)
        for (int32_t r = 0; r < runs[j]; ++r) EXPECT_EQ((trained[{j, r}]), 1) << j << "," << r;
      for (int32_t n : runs) all += n;
      EXPECT_EQ(trained.size(), static_cast<std::size_t>(all));
      EXPECT_LE(hi - lo, 1) << "ranks' totals differ by more than one run, size " << size;
      // Each learner spread: no rank holds more than ceil(runs / size) of it.
      for (std::size_t j = 0; j < runs.size(); ++j)
        for (int rank = 0; rank < size; ++rank)
          for (const Piece& p : rank_pieces(runs, rank, size))
            if (p.job == j) EXPECT_LE(p.count, (runs[j] + size - 1) / size);
    }
}

TEST(RunPieces, EvaluationsCountStepZeroEveryKAndTheLast) {
  auto brute = [](int64_t steps, int64_t k) {
    int64_t n = 1;
    for (int64_t d = 1; d <= steps; ++d) n += evaluation_due(d, steps, k);
    return n;
  };
  for (int64_t steps : {0, 1, 7, 100, 101})
    for (int64_t k : {1, 3, 50, 100, 1000}) EXPECT_EQ(evaluations(steps, k), brute(steps, k));
}

RunResult sample_run(double tv, bool spearman) {
  RunResult r{};
  r.last.metrics.tv = tv;
  r.last.metrics.elbo = std::numeric_limits<double>::quiet_NaN();
  r.last.log_z_estimate = -tv;
  r.log_z_error = 2 * tv;
  r.to_tv = tv > 0.5 ? -1 : 4096;
  r.mean_log10_tv = std::log10(tv);
  r.modes_found = 3;
  if (spearman) r.spearman = 0.25;
  return r;
}

TEST(RunPieces, ResultsSurviveTheirBytes) {
  PieceResult a{{2, 3, 2}, {}, -1.5, {"x,1", "", "comma, inside"}};
  a.loop.runs = {sample_run(0.1, true), sample_run(0.7, false)};
  a.loop.train_seconds = 1.25, a.loop.eval_seconds = 0.5, a.loop.steps = 77;
  a.loop.tv_threshold = 0.05;
  PieceResult b{{0, 0, 1}, {}, 3.0, {}};
  b.loop.runs = {sample_run(0.3, false)};
  const auto back = unpack_pieces(pack_pieces({a, b}));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].piece.job, 2u);
  EXPECT_EQ(back[0].piece.first, 3);
  EXPECT_EQ(back[0].rows, a.rows);
  EXPECT_EQ(back[0].target_log_z, -1.5);
  EXPECT_EQ(back[0].loop.steps, 77);
  ASSERT_EQ(back[0].loop.runs.size(), 2u);
  EXPECT_EQ(back[0].loop.runs[0].last.metrics.tv, 0.1);
  EXPECT_TRUE(std::isnan(back[0].loop.runs[0].last.metrics.elbo));
  EXPECT_EQ(back[0].loop.runs[0].spearman, std::optional<double>(0.25));
  EXPECT_FALSE(back[0].loop.runs[1].spearman.has_value());
  EXPECT_EQ(back[0].loop.runs[1].to_tv, -1);
  EXPECT_EQ(back[1].loop.runs[0].mean_log10_tv, std::log10(0.3));
  EXPECT_THROW(unpack_pieces(pack_pieces({a}).substr(0, 40)), std::logic_error);
}

// Rows named job/eval/run: the merge must give job by job, evaluation by evaluation, runs up.
TEST(RunPieces, MergeWritesOneProcessOrderWhateverTheRanks) {
  const std::vector<int32_t> runs = {5, 2, 3};
  const int evals = 3;
  std::vector<std::string> expected;
  for (std::size_t j = 0; j < runs.size(); ++j)
    for (int e = 0; e < evals; ++e)
      for (int r = 0; r < runs[j]; ++r)
        expected.push_back(std::to_string(j) + "/" + std::to_string(e) + "/" + std::to_string(r));
  for (int size = 1; size <= 4; ++size) {
    std::vector<PieceResult> all;
    for (int rank = size - 1; rank >= 0; --rank)  // any arrival order
      for (const Piece& p : rank_pieces(runs, rank, size)) {
        PieceResult x{p, {}, double(p.job), {}};
        for (int e = 0; e < evals; ++e)
          for (int32_t r = p.first; r < p.first + p.count; ++r)
            x.rows.push_back(std::to_string(p.job) + "/" + std::to_string(e) + "/" +
                             std::to_string(r));
        for (int32_t r = p.first; r < p.first + p.count; ++r)
          x.loop.runs.push_back(sample_run(0.01 * (r + 1), false));
        x.loop.train_seconds = rank + 1.0;
        all.push_back(x);
      }
    std::vector<std::string> got;
    const auto merged = merge_pieces(all, runs, [&](const std::string& s) { got.push_back(s); });
    EXPECT_EQ(got, expected) << size << " ranks";
    ASSERT_EQ(merged.size(), runs.size());
    for (std::size_t j = 0; j < runs.size(); ++j) {
      ASSERT_EQ(merged[j].loop.runs.size(), static_cast<std::size_t>(runs[j]));
      for (int32_t r = 0; r < runs[j]; ++r)
        EXPECT_EQ(merged[j].loop.runs[r].last.metrics.tv, 0.01 * (r + 1));
      EXPECT_EQ(merged[j].target_log_z, double(j));
    }
  }
  // A run missing (inside or at the end): refused, not written wrong.
  std::vector<PieceResult> gap;
  gap.push_back({{0, 0, 2}, {}, 0, {"a", "b"}});
  gap.back().loop.runs = {sample_run(0.1, false), sample_run(0.1, false)};
  gap.push_back({{0, 3, 1}, {}, 0, {"c"}});
  gap.back().loop.runs = {sample_run(0.1, false)};
  EXPECT_THROW(merge_pieces(gap, {4}, {}), std::logic_error);
  gap.pop_back();  // runs 0-1 of 4: the tail missing
  EXPECT_THROW(merge_pieces(gap, {4}, {}), std::logic_error);
  EXPECT_NO_THROW(merge_pieces(gap, {2}, {}));
}

}  // namespace
}  // namespace gfnrl::cli
