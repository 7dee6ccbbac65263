/// @file names.hpp
/// Every enumeration the library reads from text keeps its names in one table beside the enum
/// (`algo_names()`, `backward_mode_names()`, `optimizer_names()`, `learner_names()`,
/// `environment_names()`, `hypergrid_preset_names()`, `hypergrid_region_names()`,
/// `backend_names()`): its `parse_*()` and `*_name()` read that table, and the CLI's choices and
/// help, the C ABI's name functions and every error message list the allowed values from it.
#pragma once
#include <string>
#include <vector>

namespace gfnrl {

/// "a, b, c" (or joined by `sep`): the allowed names, for help texts and messages.
std::string join_names(const std::vector<std::string>& names, const std::string& sep = ", ");

namespace detail {
/// The index of `name` in `names`; InputError "unknown <what> '<name>' (allowed: ...)" otherwise.
int parse_name(const std::vector<std::string>& names, const std::string& name,
               const std::string& what);
}  // namespace detail

}  // namespace gfnrl
