// Exploration and learning-rate schedules: the formulas, written here independently, and the
// Trainer using them (a schedule that does not move is bit-identical to none; a warm-up scales
// the first SGD step exactly).
#include <gtest/gtest.h>

#include <cmath>

#include "gfnrl/gfnrl.hpp"

namespace gfnrl {
namespace {

Dag grid() {
  HypergridConfig g;
  g.ndim = 2, g.height = 6, g.r0 = 0.1;
  return make_hypergrid(g, Backend::Cpu);
}

std::vector<float> train(TrainConfig c, int steps) {
  const Dag dag = grid();
  const BackwardPolicy pb = uniform_backward_policy(dag);
  Trainer t(dag, &pb, c);
  for (int i = 0; i < steps; ++i) t.step();
  return t.parameters();
}

TEST(Schedules, EpsilonAndTemperatureFollowTheirLinearFormula) {
  TrainConfig c;
  c.epsilon = {0.1f}, c.epsilon_end = {0.0f}, c.epsilon_decay_steps = 30000;
  c.temperature = {2.0f}, c.temperature_end = {0.5f}, c.temperature_decay_steps = 100;
  for (int64_t t : {0, 1, 50, 99, 100, 101, 15000, 30000, 90000}) {
    const double f = std::min<double>(t, 30000) / 30000.0, g = std::min<double>(t, 100) / 100.0;
    EXPECT_NEAR(c.scheduled_epsilon(t), 0.1 * (1 - f), 1e-7) << t;
    EXPECT_NEAR(c.scheduled_temperature(t), 2.0 + (0.5 - 2.0) * g, 1e-6) << t;
  }
  c.epsilon_decay_steps = 0;  // constant: exactly the configured value
  EXPECT_EQ(c.scheduled_epsilon(12345), 0.1f);
}

TEST(Schedules, LearningRateWarmsUpThenFollowsACosine) {
  TrainConfig c;
  EXPECT_EQ(c.lr_factor(1), 1.0f);
  EXPECT_EQ(c.lr_factor(1000000), 1.0f);
  c.lr_warmup_steps = 4;
  c.lr_cosine_steps = 8;
  const double pi = 3.14159265358979323846;
  for (int64_t u = 1; u <= 20; ++u) {
    const double want =
        u <= 4 ? u / 4.0 : 0.5 * (1 + std::cos(pi * std::min<int64_t>(u - 4, 8) / 8.0));
    EXPECT_NEAR(c.lr_factor(u), want, 1e-7) << u;
  }
  EXPECT_NEAR(c.lr_factor(12), 0.0, 1e-7);  // the end of the cosine
}

TEST(Schedules, AScheduleThatDoesNotMoveIsBitIdenticalToNone) {
  TrainConfig plain;
  plain.runs = 2, plain.epsilon = {0.2f}, plain.temperature = {1.5f}, plain.algo = Algo::DB;
  TrainConfig still = plain;
  still.epsilon_end = {0.2f}, still.epsilon_decay_steps = 50;
  still.temperature_end = {1.5f}, still.temperature_decay_steps = 50;
  EXPECT_EQ(train(plain, 30), train(still, 30));
  TrainConfig moving = plain;
  moving.epsilon_end = {1.0f}, moving.epsilon_decay_steps = 10;
  EXPECT_NE(train(plain, 30), train(moving, 30));
}

// A tuning grid gives each run its own exploration: run r of a batch with per-run epsilon lists
// trains exactly as a batch of one with seed + r and run r's values.
TEST(Schedules, PerRunExplorationSchedulesTrainEachRunAsItsOwnConfiguration) {
  TrainConfig batched;
  batched.algo = Algo::TB, batched.runs = 3, batched.seed = 7;
  batched.epsilon = {0.0f, 0.3f, 0.8f}, batched.epsilon_end = {0.5f, 0.0f, 0.8f};
  batched.epsilon_decay_steps = 6;
  batched.temperature = {1.0f, 2.0f, 0.5f}, batched.temperature_end = {3.0f, 1.0f, 0.5f};
  batched.temperature_decay_steps = 8;
  batched.lr = {1e-2f, 3e-2f, 5e-2f};
  const std::vector<float> all = train(batched, 12);
  const std::size_t stride = all.size() / 3;
  for (int32_t r = 0; r < 3; ++r) {
    TrainConfig one = batched;
    one.runs = 1, one.seed = 7 + r;
    one.epsilon = {batched.epsilon[r]}, one.epsilon_end = {batched.epsilon_end[r]};
    one.temperature = {batched.temperature[r]}, one.temperature_end = {batched.temperature_end[r]};
    one.lr = {batched.lr[r]};
    EXPECT_EQ(train(one, 12), std::vector<float>(all.begin() + r * stride,
                                                 all.begin() + (r + 1) * stride))
        << "run " << r;
    EXPECT_EQ(batched.scheduled_epsilon(3, r), one.scheduled_epsilon(3));
    EXPECT_EQ(batched.scheduled_temperature(5, r), one.scheduled_temperature(5));
  }
  EXPECT_NEAR(batched.scheduled_epsilon(3, 0), 0.25, 1e-7);
  EXPECT_NEAR(batched.scheduled_epsilon(3, 1), 0.15, 1e-7);
  EXPECT_EQ(batched.scheduled_epsilon(100, 2), 0.8f);
  EXPECT_NEAR(batched.scheduled_temperature(4, 0), 2.0, 1e-7);
  EXPECT_NEAR(batched.scheduled_temperature(4, 1), 1.5, 1e-7);
  // A list of the wrong length, or a value out of [0, 1], is refused by name.
  TrainConfig bad = batched;
  bad.epsilon = {0.1f, 0.2f};
  EXPECT_THROW(bad.validate(), InputError);
  bad.epsilon = {0.1f, 1.5f, 0.0f};
  try {
    bad.validate();
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("epsilon = 1.5"), std::string::npos) << e.what();
  }
  bad = batched;
  bad.temperature = {1.0f, 0.0f, 1.0f};
  try {
    bad.validate();
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("temperature = 0 is out of range: must be finite and > 0"),
              std::string::npos) << e.what();
  }
}

TEST(Schedules, WarmUpScalesTheFirstSgdStepExactly) {
  TrainConfig warm;
  warm.optimizer = OptimizerKind::Sgd;
  warm.lr = {0.5f}, warm.lr_log_z = {0.25f};
  warm.lr_warmup_steps = 4;  // step 1: factor 1/4, exact in binary
  TrainConfig quarter = warm;
  quarter.lr_warmup_steps = 0;
  quarter.lr = {0.125f}, quarter.lr_log_z = {0.0625f};
  EXPECT_EQ(train(warm, 1), train(quarter, 1));
  TrainConfig full = warm;
  full.lr_warmup_steps = 0;
  EXPECT_NE(train(warm, 1), train(full, 1));
}

TEST(Schedules, BadSchedulesAreRefusedByName) {
  TrainConfig c;
  c.epsilon_end = {1.5f};
  EXPECT_THROW(c.validate(), InputError);
  c = {};
  c.temperature_end = {0.0f};
  EXPECT_THROW(c.validate(), InputError);
  c = {};
  c.lr_warmup_steps = -1;
  try {
    c.validate();
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("lr_warmup_steps (--lr-warmup) = -1"), std::string::npos) << e.what();
  }
  c = {};
  c.algo = Algo::PolicyGradient, c.exact_gradient = true, c.epsilon_decay_steps = 10;
  EXPECT_THROW(c.validate(), InputError);
}

}  // namespace
}  // namespace gfnrl
