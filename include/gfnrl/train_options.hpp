/// The TrainConfig fields the front ends set by name, in one table: each one's name (Python's
/// Trainer keyword, the C ABI's option name), CLI flag, allowed range and help. The CLI binds
/// its flags from it, Python's Trainer(**options) and gfnrl_trainer_create_with_options set
/// fields through it, and TrainConfig::validate() checks every range in it, so a new field is
/// one row here plus its member (and the code that uses it).
#pragma once
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gfnrl/train.hpp"

namespace gfnrl {

/// A field set through one of its names (OptimizerKind, ReplayPriority, Regression, ...).
struct NamedField {
  const std::vector<std::string>& (*names)();
  void (*set)(TrainConfig&, const std::string&);  ///< InputError for a name not in names()
  std::string (*get)(const TrainConfig&);
};

/// One option. `field` says its type: a float, an int32, an int64, a flag, a per-run list of
/// floats (one value, or one per run), an optional float, or a name.
struct TrainOption {
  using Field = std::variant<float TrainConfig::*, int32_t TrainConfig::*, int64_t TrainConfig::*,
                             bool TrainConfig::*, std::vector<float> TrainConfig::*,
                             std::optional<float> TrainConfig::*, NamedField>;
  const char* name;   ///< "target_rate"
  const char* flag;   ///< the CLI's "--target-rate"
  Field field;
  const char* range;  ///< "in (0, 1]", stated in help and errors; "" for none
  bool (*ok)(double); ///< whether a value is in range; nullptr for none
  const char* help;

  /// "a float", "an integer", "a bool", "a float or a list of floats (one per run)", "a name
  /// (adam, sgd, lazy-adam)": what the option takes, for error messages.
  std::string takes() const;
  /// The option's value in `c` as text (lists comma-separated, flags true/false).
  std::string value(const TrainConfig& c) const;
};

/// Every option, in the order the CLI's --help lists them.
const std::vector<TrainOption>& train_options();
/// The option called `name` (TrainOption::name), or nullptr.
const TrainOption* find_train_option(const std::string& name);
/// The names of every option, in table order.
std::vector<std::string> train_option_names();

/// Sets option `name` of `c` from text, as the C ABI and configuration text give it: numbers
/// whole and finite (floats representable in float), flags true/false/1/0, per-run lists comma
/// separated, names from the option's list. InputError naming the option and the bad text
/// (an unknown option lists the known ones). The range is checked by TrainConfig::validate().
void set_train_option(TrainConfig& c, const std::string& name, const std::string& text);

/// InputError when a value of `c`'s options is out of its range, or a per-run list holds
/// neither one value nor `c.runs` (TrainConfig::validate's per-field part).
void check_train_option_ranges(const TrainConfig& c);

}  // namespace gfnrl
