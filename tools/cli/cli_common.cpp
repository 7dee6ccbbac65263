// Shared CLI options and environment construction.
#include "cli_common.hpp"
#include "ranks.hpp"

#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>

namespace gfnrl::cli {

void progress(const EnvOptions& o, const std::string& msg) {
  if (!o.quiet && Ranks::get().root()) std::cerr << "[gfnrl] " << msg << std::endl;
}

void add_correction_option(CLI::App& cmd, std::string& correction, const std::string& help) {
  cmd.add_option("--correction", correction,
                 help + ": uniform P_B, maxent P_B = n(s)/n(s'), file (the P_B values of the "
                        "--dag file), or none (log P_B = 0: uncorrected, samples n(x)R(x))")
      ->check(CLI::IsMember(correction_names()))
      ->capture_default_str();
}

std::unique_ptr<BackwardPolicy> make_correction(const std::string& name, const Environment& env) {
  const Correction c = parse_correction(name);
  if (c == Correction::File && !env.file_backward)
    throw InputError("--correction file needs a --dag file whose edges carry log P_B values"
                     " (allowed otherwise: uniform, maxent, none)");
  std::optional<BackwardPolicy> pb =
      gfnrl::make_correction(env.dag, c, env.file_backward ? &*env.file_backward : nullptr);
  return pb ? std::make_unique<BackwardPolicy>(std::move(*pb)) : nullptr;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void print_json_line(const nlohmann::json& j) { std::cout << j.dump() << std::endl; }

}  // namespace gfnrl::cli

namespace gfnrl::cli {

CLI::Validator input_file_check(std::vector<std::string> keywords) {
  std::string name;
  for (const std::string& k : keywords) name += k + "|";
  return CLI::Validator(
      [keywords](std::string& v) -> std::string {
        for (const std::string& k : keywords)
          if (v == k) return "";
        try {
          require_regular_file(v, "file");
        } catch (const InputError& e) {
          if (keywords.empty()) return e.what();
          std::string allowed;
          for (std::size_t i = 0; i < keywords.size(); ++i)
            allowed += (i == 0 ? "" : ", ") + keywords[i];
          return v + " is neither " + allowed + " nor a readable file (" + e.what() + ")";
        }
        return "";
      },
      name + "FILE");
}

CLI::Validator whole_number_check(uint64_t max) {
  return CLI::Validator(
      [max](std::string& v) -> std::string {
        uint64_t x = 0;
        const auto r = std::from_chars(v.data(), v.data() + v.size(), x);
        const bool digits = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || r.ec != std::errc() || x > max)
          return "value '" + v.substr(0, 40) + "' is out of range: give a whole number in [0, " +
                 std::to_string(max) + "]";
        return "";
      },
      "UINT");
}

// CLI11 reads integers with strtoll(..., 0): "0x10" is 16, "010" is 8, " 5" is 5, and a value
// past 2^63 - 1 saturates to it. Every integer option takes decimal digits only (a '-' first where
// the type is signed), no leading zeros, within its type's 64-bit range; narrower types are then
// range-checked by CLI11's own conversion and the options' Range checks.
CLI::Validator decimal_integer_check(bool is_signed) {
  return CLI::Validator(
      [is_signed](std::string& v) -> std::string {
        const bool negative = is_signed && !v.empty() && v[0] == '-';
        const std::string digits = v.substr(negative ? 1 : 0);
        const bool ok = !digits.empty() &&
                        digits.find_first_not_of("0123456789") == std::string::npos &&
                        (digits.size() == 1 || digits[0] != '0');
        const std::string shown = quoted_value(v);
        if (!ok)
          return "value " + shown + " is not a whole decimal number (digits only" +
                 std::string(is_signed ? ", an optional '-' first" : "") +
                 ", no leading zeros, blanks or 0x)";
        bool in_range = false;
        if (is_signed) {
          int64_t x = 0;
          const auto r = std::from_chars(v.data(), v.data() + v.size(), x);
          in_range = r.ec == std::errc() && r.ptr == v.data() + v.size();
        } else {
          uint64_t x = 0;
          const auto r = std::from_chars(v.data(), v.data() + v.size(), x);
          in_range = r.ec == std::errc() && r.ptr == v.data() + v.size();
        }
        if (!in_range)
          return "value " + shown + " is out of range: at most " +
                 (is_signed ? std::to_string(INT64_MAX) : std::to_string(UINT64_MAX));
        return "";
      },
      "");
}

void strict_integer_options(CLI::App& app) {
  for (CLI::Option* opt : app.get_options()) {
    const std::string type = opt->get_type_name();
    const auto is = [&](const std::string& name) {
      return type.compare(0, name.size(), name) == 0 &&
             (type.size() == name.size() || type[name.size()] == ':');
    };
    if (is("INT")) opt->check(decimal_integer_check(true));
    if (is("UINT")) opt->check(decimal_integer_check(false));
  }
  for (CLI::App* sub : app.get_subcommands({})) strict_integer_options(*sub);
}

std::string quoted_value(const std::string& v, std::size_t max) {
  std::string out = "'";
  for (std::size_t i = 0; i < v.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += v.size() > max ? "'... (" + std::to_string(v.size()) + " characters)" : "'";
  return out;
}

float float_value(const std::string& item, const std::string& text, const std::string& flag) {
  char* end = nullptr;
  const double v = std::strtod(item.c_str(), &end);
  const std::string where = flag + " '" + text + "': '" + item + "'";
  if (item.empty() || end == item.c_str() || *end != '\0' || !std::isfinite(v))
    throw InputError(where + " is not a finite number");
  const double mag = std::fabs(v);
  if (mag != 0 && (mag < double(FLT_MIN) || mag > double(FLT_MAX)))
    throw InputError(where + " is not representable in the tables' float precision: give 0 or a "
                     "magnitude in [1.2e-38, 3.4e38]");
  return static_cast<float>(v);
}

std::vector<std::string> comma_items(const std::string& text, const std::string& flag) {
  if (text.empty()) throw InputError(flag + " is empty");
  std::vector<std::string> items;
  std::size_t at = 0;
  for (;;) {
    const std::size_t comma = text.find(',', at);
    items.push_back(text.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (items.back().empty())
      throw InputError(flag + " '" + text + "': an empty item (a leading, doubled or trailing "
                       "comma)");
    if (comma == std::string::npos) return items;
    at = comma + 1;
  }
}

}  // namespace gfnrl::cli
