// A study's runs cut among MPI ranks, and put back together on rank 0 exactly as one process
// writes them. Every job's runs are spread over all ranks in contiguous slices, so each rank
// trains about runs / ranks of every learner and the ranks finish together however much the
// learners' costs differ (measured: docs/PERF_NOTES.md); run r of a job keeps seed + r on
// whichever rank trains it (TrainConfig::runs_slice).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "train_session.hpp"

namespace gfnrl::cli {

/// One rank's part of one job: its runs [first, first + count).
struct Piece {
  std::size_t job = 0;
  int32_t first = 0, count = 0;
};

/// Rank's pieces of jobs with these run counts, in job order. Job j's runs are cut into `size`
/// contiguous slices whose lengths differ by at most one, the longer first; slice k goes to rank
/// (o_j + k) mod size, where o_j = (runs of the jobs before j) mod size continues where the
/// previous job's longer slices ended, so every rank's total differs by at most one run. A job
/// with fewer runs than ranks gives one run each to consecutive ranks (jobs of one run go whole,
/// rotating over the ranks); rank 0 always holds run 0 of job 0.
std::vector<Piece> rank_pieces(const std::vector<int32_t>& runs_per_job, int rank, int size);

/// The number of evaluations (CSV rows per run) of a loop: step 0, every eval_every steps, and
/// the last step (evaluation_due).
int64_t evaluations(int64_t steps, int64_t eval_every);

/// What a rank trained of one piece: the loop's results for its runs, the target's log Z, and
/// its CSV rows (evaluation-major, runs in order, as train_loop writes them).
struct PieceResult {
  Piece piece;
  LoopResult loop;
  double target_log_z = 0;
  std::vector<std::string> rows;
};

/// A rank's results as bytes for Ranks::gather_to_root, and back (same build on every rank).
std::string pack_pieces(const std::vector<PieceResult>& pieces);
std::vector<PieceResult> unpack_pieces(const std::string& bytes);

/// Rank 0: every rank's pieces (any order) put back together for jobs of these run counts. Writes each
/// job's rows into `rows` in one process's order (job by job; per evaluation, runs ascending) and
/// returns each job's LoopResult over all its runs (the slowest piece's seconds) with its
/// target log Z. Throws std::logic_error when the pieces do not cover every run once.
struct MergedJob {
  LoopResult loop;
  double target_log_z = 0;
};
std::vector<MergedJob> merge_pieces(std::vector<PieceResult> pieces,
                                    const std::vector<int32_t>& runs_per_job, const RowSink& rows);

/// Every rank's pieces to rank 0 (Ranks::gather_to_root), merged there (merge_pieces, rows into
/// `rows`); std::nullopt on the other ranks.
std::optional<std::vector<MergedJob>> gather_pieces(std::vector<PieceResult> mine,
                                                    const std::vector<int32_t>& runs_per_job,
                                                    const RowSink& rows);

}  // namespace gfnrl::cli
