// The option table (train_options.hpp): every range it states is the one its predicate and
// TrainConfig::validate() enforce, every option can be set from text and written back, and bad
// text is refused by name.
#include <cmath>
#include <limits>
#include <string>
#include <variant>

#include "test_support.hpp"

namespace gfnrl::test {
namespace {

// The range text read as a statement about v, independently of the table's predicate:
// "in [a, b]" / "in (a, b)" with any brackets, "> x", ">= x", "< x", "finite and ...", "finite".
bool text_admits(const std::string& range, double v) {
  std::string r = range;
  bool ok = true;
  if (r.rfind("finite", 0) == 0) {
    ok = std::isfinite(v);
    r = r.size() > 6 ? r.substr(std::string("finite and ").size()) : "";
  }
  if (r.empty()) return ok;
  if (r.rfind("in ", 0) == 0) {
    const char open = r[3], close = r.back();
    const std::size_t comma = r.find(',');
    const double a = std::stod(r.substr(4, comma - 4)), b = std::stod(r.substr(comma + 1));
    const bool lo = open == '[' ? v >= a : v > a, hi = close == ']' ? v <= b : v < b;
    return ok && lo && hi;
  }
  if (r.rfind(">= ", 0) == 0) return ok && v >= std::stod(r.substr(3));
  if (r.rfind("> ", 0) == 0) return ok && v > std::stod(r.substr(2));
  if (r.rfind("< ", 0) == 0) return ok && v < std::stod(r.substr(2));
  ADD_FAILURE() << "range text not understood: " << range;
  return false;
}

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kProbes[] = {-kInf, -2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 1e30, kInf,
                          std::numeric_limits<double>::quiet_NaN()};

// Writes v into option o's field of c (numbers only); false for the other kinds.
bool put(TrainConfig& c, const TrainOption& o, double v) {
  if (auto* m = std::get_if<float TrainConfig::*>(&o.field)) return c.**m = float(v), true;
  if (auto* m = std::get_if<std::optional<float> TrainConfig::*>(&o.field))
    return c.**m = float(v), true;
  if (auto* m = std::get_if<std::vector<float> TrainConfig::*>(&o.field))
    return c.**m = {float(v)}, true;
  // integers take whole values within int32
  if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 2e9) return false;
  if (auto* m = std::get_if<int32_t TrainConfig::*>(&o.field)) return c.**m = int32_t(v), true;
  if (auto* m = std::get_if<int64_t TrainConfig::*>(&o.field)) return c.**m = int64_t(v), true;
  return false;
}

}  // namespace

// For every ranged option and every probe value: validate() accepts it exactly when the range
// text admits it, and a refusal names the option.
TEST(TrainOptions, ValidateEnforcesEveryStatedRangeByName) {
  int checked = 0;
  for (const TrainOption& o : train_options()) {
    if (!o.ok) {
      EXPECT_STREQ(o.range, "") << o.name;
      continue;
    }
    for (double v : kProbes) {
      TrainConfig c;
      if (!put(c, o, v)) continue;
      ++checked;
      const bool admitted = text_admits(o.range, double(float(v)));
      try {
        c.validate();
        EXPECT_TRUE(admitted) << o.name << " = " << v << " accepted; range " << o.range;
      } catch (const InputError& e) {
        EXPECT_FALSE(admitted) << o.name << " = " << v << " refused: " << e.what();
        EXPECT_EQ(std::string(e.what()).rfind(o.name, 0), 0u) << e.what();
      }
    }
  }
  EXPECT_GT(checked, 200);
}

// Every option written as text (TrainOption::value) and set back gives the same value, from the
// defaults and from values set to something else.
TEST(TrainOptions, EveryOptionRoundTripsThroughText) {
  TrainConfig other;
  other.runs = 2;
  set_train_option(other, "lr", "0.5,0.25");
  set_train_option(other, "optimizer", "lazy-adam");
  set_train_option(other, "huber", "false");
  set_train_option(other, "target_every", "7");
  set_train_option(other, "epsilon_decay_steps", "123456789012");
  set_train_option(other, "guide_log_reward", "-3.5");
  set_train_option(other, "subtb_weighting", "equal");
  EXPECT_EQ(other.lr, (std::vector<float>{0.5f, 0.25f}));
  EXPECT_EQ(other.optimizer, OptimizerKind::LazyAdam);
  EXPECT_FALSE(other.huber);
  EXPECT_EQ(other.target_every, 7);
  EXPECT_EQ(other.epsilon_decay_steps, 123456789012LL);
  EXPECT_EQ(other.guide_log_reward, -3.5f);
  EXPECT_EQ(other.subtb_weighting, SubTBWeighting::Equal);
  for (const TrainConfig& from : {TrainConfig{}, other})
    for (const TrainOption& o : train_options()) {
      const std::string text = o.value(from);
      if (text.empty()) continue;  // an unset optional
      TrainConfig to;
      set_train_option(to, o.name, text);
      EXPECT_EQ(o.value(to), text) << o.name;
    }
}

TEST(TrainOptions, BadTextIsRefusedNamingTheOptionAndWhatItTakes) {
  TrainConfig c;
  const std::pair<const char*, const char*> bad[] = {
      {"target_rate", "fast"},     {"target_rate", "0.5x"},  {"target_rate", "nan"},
      {"target_rate", "1e39"},     {"target_every", "1.5"},  {"target_every", "99999999999"},
      {"huber", "yes"},            {"lr", "0.1,,0.2"},       {"epsilon_decay_steps", ""},
      {"optimizer", "rmsprop"}};
  for (const auto& [name, text] : bad) {
    try {
      set_train_option(c, name, text);
      ADD_FAILURE() << name << " = '" << text << "' accepted";
    } catch (const InputError& e) {
      const std::string m = e.what();
      EXPECT_TRUE(m.find(name) != std::string::npos || m.find(text) != std::string::npos) << m;
    }
  }
  expect_input_error([&] { set_train_option(c, "lrate", "0.1"); },
                     "unknown option 'lrate' (allowed: lr, lr_log_z, optimizer");
  expect_input_error([&] { set_train_option(c, "huber", "yes"); },
                     "option huber = 'yes': not a bool");
}

TEST(TrainOptions, NamesAreUniqueAndFlagsDashed) {
  std::set<std::string> names, flags;
  for (const TrainOption& o : train_options()) {
    EXPECT_TRUE(names.insert(o.name).second) << o.name;
    if (!o.flag) continue;
    EXPECT_TRUE(flags.insert(o.flag).second) << o.flag;
    EXPECT_EQ(std::string(o.flag).rfind("--", 0), 0u) << o.flag;
    EXPECT_NE(std::string(o.help), "") << o.name;
  }
  EXPECT_EQ(find_train_option("nope"), nullptr);
  EXPECT_EQ(find_train_option("gae_lambda")->flag, std::string("--gae-lambda"));
}

}  // namespace gfnrl::test
