// Name tables: parsing a name against its enum's table, and listing the allowed names.
#include "gfnrl/names.hpp"

#include "gfnrl/error.hpp"

namespace gfnrl {

std::string join_names(const std::vector<std::string>& names, const std::string& sep) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : sep) + n;
  return out;
}

namespace detail {
int parse_name(const std::vector<std::string>& names, const std::string& name,
               const std::string& what) {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<int>(i);
  throw InputError("unknown " + what + " '" + name + "' (allowed: " + join_names(names) + ")");
}
}  // namespace detail

}  // namespace gfnrl
