// The front ends' training loop (training_loop.hpp) against a trainer stepped and evaluated by
// hand, and the side-by-side pool (side_by_side.hpp): rows in job order, the first failure in
// job order, the others stopped.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "test_support.hpp"

namespace gfnrl::test {
namespace {

Dag grid(int32_t ndim, int32_t height) {
  HypergridConfig g;
  g.ndim = ndim;
  g.height = height;
  return make_hypergrid(g, Backend::Cpu);
}

TrainConfig config(Algo a, int32_t runs) {
  TrainConfig c;
  c.algo = a;
  c.runs = runs;
  c.seed = 7;
  c.lr = {0.05f};
  return c;
}

std::vector<std::string> cells(const std::string& row) {
  std::vector<std::string> out;
  std::stringstream in(row);
  for (std::string c; std::getline(in, c, ',');) out.push_back(c);
  if (!row.empty() && row.back() == ',') out.push_back("");
  return out;
}

std::string g9(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Every row of the loop is the evaluation of an identical trainer stepped by hand to the same
// step (the schedule 0, 10, 20, 25 written out here, not taken from evaluation_due), and the
// mean of log10 TV is the trapezoids of those evaluations.
TEST(TrainingLoop, RowsAreTheEvaluationsOfATrainerSteppedByHand) {
  const Dag dag = grid(2, 6);
  const TrainConfig c = config(Algo::TB, 2);
  Trainer looped(dag, nullptr, c), by_hand(dag, nullptr, c);
  const RewardModes modes = reward_modes(dag);
  LoopOptions o;
  o.steps = 25, o.eval_every = 10, o.label = "x", o.modes = &modes, o.tv_threshold = 0.2;
  std::vector<std::string> rows;
  const LoopResult res = train_loop(looped, looped.target_log_z(), o,
                                    [&](const std::string& r) { rows.push_back(r); });
  const std::vector<int64_t> schedule{0, 10, 20, 25};
  ASSERT_EQ(rows.size(), schedule.size() * 2);
  const std::size_t columns = cells(kTrainingCurveHeader).size();
  std::vector<double> area(2, 0.0), last(2, 0.0);
  int64_t last_traj = 0;
  for (std::size_t k = 0; k < schedule.size(); ++k) {
    while (by_hand.steps_done() < schedule[k]) by_hand.step();
    const std::vector<RunEvaluation> ev = by_hand.evaluate();
    const std::vector<int64_t> found = by_hand.reached_groups(modes.states);
    const int64_t traj = schedule[k] * c.batch;
    for (int32_t r = 0; r < 2; ++r) {
      const std::vector<std::string> row = cells(rows[k * 2 + r]);
      ASSERT_EQ(row.size(), columns) << rows[k * 2 + r];
      EXPECT_EQ(row[0], "x");
      EXPECT_EQ(row[1], std::to_string(r));
      EXPECT_EQ(row[2], std::to_string(c.seed + r));
      EXPECT_EQ(row[3], std::to_string(schedule[k]));
      EXPECT_EQ(row[4], std::to_string(traj));
      EXPECT_EQ(row[5], g9(ev[r].metrics.tv));
      EXPECT_EQ(row[8], g9(std::abs(ev[r].log_z_estimate - by_hand.target_log_z())));
      EXPECT_EQ(row[12], "");  // spearman not asked for
      EXPECT_EQ(row[14], std::to_string(found[r]));
      const double lt = std::log10(std::max(ev[r].metrics.tv, 1e-12));
      if (k > 0) area[r] += 0.5 * (lt + last[r]) * double(traj - last_traj);
      last[r] = lt;
    }
    last_traj = traj;
  }
  for (int32_t r = 0; r < 2; ++r)
    EXPECT_NEAR(res.runs[r].mean_log10_tv, area[r] / double(last_traj), 1e-12);
  EXPECT_EQ(res.steps, 25);
  EXPECT_FALSE(res.stopped_early);
  EXPECT_THROW(train_loop(looped, 0.0, LoopOptions{-1, 1}, {}), InputError);
  EXPECT_THROW(train_loop(looped, 0.0, LoopOptions{5, 0}, {}), InputError);
}

TEST(TrainingLoop, OnEvaluationHearsEveryEvaluationAndAStopEndsTheLoop) {
  const Dag dag = grid(2, 5);
  Trainer t(dag, nullptr, config(Algo::DB, 1));
  std::atomic<bool> stop{false};
  std::vector<int64_t> heard;
  LoopOptions o;
  o.steps = 100, o.eval_every = 5, o.stop = &stop;
  o.on_evaluation = [&](const LoopEvaluation& e) {
    heard.push_back(e.trainer.steps_done());
    EXPECT_EQ(e.steps, 100);
    EXPECT_EQ(e.runs.size(), 1u);
    if (e.trainer.steps_done() == 10) stop = true;  // as another job's failure would
  };
  const LoopResult res = train_loop(t, t.target_log_z(), o, {});
  EXPECT_EQ(heard, (std::vector<int64_t>{0, 5, 10}));
  EXPECT_TRUE(res.stopped_early);
  EXPECT_EQ(t.steps_done(), 10);
}

// Jobs that finish in reverse order still give their rows in job order.
TEST(SideBySide, RowsComeInJobOrderWhateverOrderJobsFinish) {
  for (int32_t workers : {1, 2, 4}) {
    std::vector<std::string> rows;
    const bool done = run_side_by_side(
        4, workers,
        [](std::size_t i, const RowSink& out, const std::atomic<bool>&) {
          out(std::to_string(i) + "a");
          std::this_thread::sleep_for(std::chrono::milliseconds(10 * (4 - i)));
          out(std::to_string(i) + "b");
        },
        [&](const std::string& r) { rows.push_back(r); });
    EXPECT_TRUE(done);
    EXPECT_EQ(rows, (std::vector<std::string>{"0a", "0b", "1a", "1b", "2a", "2b", "3a", "3b"}))
        << workers << " workers";
  }
}

// Job 2 fails at once, job 1 later: job 1's error (the first in job order) is raised, job 0
// (which never fails) is stopped, and job 3 never starts.
TEST(SideBySide, TheFirstFailureInJobOrderIsRaisedAndTheOthersStop) {
  std::atomic<int> started{0};
  std::atomic<bool> job0_stopped{false};
  try {
    run_side_by_side(
        4, 3,
        [&](std::size_t i, const RowSink&, const std::atomic<bool>& stop) {
          ++started;
          if (i == 2) throw std::runtime_error("job 2");
          const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (!stop && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          if (i == 1) throw std::runtime_error("job 1");
          job0_stopped = bool(stop);
        },
        {});
    FAIL() << "no error raised";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "job 1");
  }
  EXPECT_TRUE(job0_stopped);
  EXPECT_EQ(started.load(), 3) << "job 3 started after a failure";
}

// Each job's loops get their share of the caller's threads, also when GFNRL_THREADS fixes the
// count (set_thread_share caps cpu_threads() on the worker's thread).
TEST(SideBySide, JobsSplitTheCallersThreads) {
  const int before = set_thread_share(6);  // as GFNRL_THREADS=6 would, on this thread
  EXPECT_LE(cpu_threads(), 6);
  const int outer = cpu_threads();
  std::vector<int> seen(3, 0);
  run_side_by_side(3, 3, [&](std::size_t i, const RowSink&, const std::atomic<bool>&) {
    seen[i] = cpu_threads();
  }, {});
  for (int t : seen) EXPECT_EQ(t, std::max(1, outer / 3)) << "outer " << outer;
  set_thread_share(1);
  EXPECT_EQ(cpu_threads(), 1);
  set_thread_share(before);
}

TEST(SideBySide, AnInterruptionStopsTheJobsAndReturnsFalse) {
  std::atomic<int> stopped{0};
  const bool done = run_side_by_side(
      2, 2,
      [&](std::size_t, const RowSink&, const std::atomic<bool>& stop) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!stop && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (stop) ++stopped;
      },
      {}, [] { return true; });
  EXPECT_FALSE(done);
  EXPECT_EQ(stopped.load(), 2);
}

}  // namespace
}  // namespace gfnrl::test
