// Checks shared by the text and binary DAG readers, which differ only in how they name a
// position in the file (a line, a byte offset).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "gfnrl/dag_file.hpp"
#include "gfnrl/input_file.hpp"

namespace gfnrl::detail {

/// Where record i (an edge, a terminal) came from in the file, e.g. "graph.txt:12" or
/// "graph.bin: byte 76 (edge 1)".
using Position = std::function<std::string(std::size_t record)>;

/// Throws InputError at the later occurrence of a repeated edge (from, to) or of a state's
/// log-reward, naming both positions. Sort-based: memory O(records), never O(num_states). An
/// empty Position skips that kind (the binary reader's streaming pass checked it already).
void check_duplicates(const DagFile& f, const Position& edge_at, const Position& terminal_at);

/// Throws InputError when num_states exceeds num_edges + 1: every state but the source needs an
/// in-edge to be reachable, so such a file is invalid and must not make us allocate N states.
void check_state_count(const DagFile& f, const std::string& name);

/// A log P_B entry must be a log-probability: not NaN, at most 0 (-inf allowed: P_B = 0).
bool valid_log_pb(float v);
/// Empty when valid_log_pb(v), else the reason, naming the value (%g) and the allowed range.
std::string log_pb_problem(double v);

/// log R is stored in float: a finite value within +-FLT_MAX (3.40282e+38). Empty when valid,
/// else the reason, naming the value (%g) and the allowed range.
std::string log_reward_problem(int32_t state, double v);

}  // namespace gfnrl::detail
