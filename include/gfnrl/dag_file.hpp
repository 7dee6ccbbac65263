/// @file dag_file.hpp
/// DAG files: a line-oriented text form for hand-written graphs and a compact little-endian
/// binary form for 10^7+ edges. Both carry the same content (docs/USAGE.md, "DAG files"):
///  - the number of states (ids 0..N-1, the file's own numbering) and the source state;
///  - edges (from, to, action id), optionally each with log P_B(from | to);
///  - the log-reward log R(x) of every terminating state;
///  - optionally, intermediate log-rewards -E(s) of states (forward-looking flows read them
///    where a state does not terminate).
///
/// Text form (`#` starts a comment; tokens are separated by blanks):
///
///     gfnrl-dag 1                  # magic and format version: the first line
///     states 4                     # before any edge or reward line
///     source 0                     # optional, default 0
///     edge 0 1 0 -0.0              # from to action [log P_B(from|to)]: all edges or none
///     log_reward 3 1.5             # state log R (finite)
///     intermediate_log_reward 1 0.2  # state -E(s) (finite), optional
///
/// Binary form, version 1, all fields little-endian:
///
///     offset  bytes  field
///          0      8  magic "GFNRLDAG"
///          8      4  u32 version = 1
///         12      4  u32 flags: bit 0 = edges carry log P_B; bit 1 = intermediate
///                    log-rewards follow the terminals; other bits must be 0
///         16      4  i32 num_states (>= 1)
///         20      4  i32 source
///         24      8  i64 num_edges (0 .. 2^31-1)
///         32      8  i64 num_terminal (1 .. num_states)
///         40      8  i64 num_intermediate (1 .. num_states with flag bit 1, else 0)
///         48      8  reserved, zero
///         56      8  u64 FNV-1a-64 checksum of bytes [0, 56) and of every byte after 64
///         64  12 E   edges: i32 from, i32 to, i32 action
///              4 E   if flag bit 0: f32 log P_B(from | to) per edge, in edge order
///             12 T   terminals: i32 state, f64 log R
///             12 I   if flag bit 1: i32 state, f64 intermediate log-reward -E(s)
///
/// The reader checks the header (magic, version, flags, ranges) and that the file size equals
/// 64 + 12E (+ 4E) + 12T (+ 12I) before it allocates anything the header claims, then the
/// checksum. Files without intermediate log-rewards are byte for byte those of earlier releases.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "gfnrl/backward_policy.hpp"
#include "gfnrl/dag.hpp"

namespace gfnrl {

/// File content before validation, in the file's own state numbering. spec.rewards is empty and
/// spec.log_rewards holds the terminal states.
struct DagFile {
  DagSpec spec;
  std::vector<float> log_pb;  ///< empty, or one log P_B(from | to) per spec edge
};

enum class DagFormat { Text, Binary };

/// text, binary: indexed by DagFormat.
const std::vector<std::string>& dag_format_names();
/// "text" or "binary"; InputError otherwise.
DagFormat parse_dag_format(const std::string& name);
const char* dag_format_name(DagFormat f);

/// Parses the text form. `name` prefixes error messages ("name:LINE: reason"). Checks syntax,
/// id ranges, duplicate edges, non-finite log-rewards and P_B values per line; graph-level
/// properties (cycles, reachability) are build_dag's.
DagFile parse_dag_text(std::istream& in, const std::string& name);
/// Parses the binary form from a stream holding exactly `size` bytes. Errors name the byte offset.
DagFile parse_dag_binary(std::istream& in, std::uint64_t size, const std::string& name);

/// Reads a file in either form (told apart by the first bytes). Throws InputError naming the file.
DagFile read_dag_file(const std::string& path);
/// Writes `f` (not validated) to `path` in the given form, as an OutputFile (gfnrl/output_file.hpp):
/// through a temporary renamed into place, special files in place, so a failure never leaves a
/// half-written file. Throws InputError naming the path if it cannot write.
void write_dag_file(const DagFile& f, const std::string& path, DagFormat format);
/// The same into a stream (binary: seekable, opened in binary mode).
void write_dag_file(const DagFile& f, std::ostream& out, DagFormat format);

/// A validated, level-sorted Dag loaded from a file, and the file's backward policy if it has one
/// (moved to the Dag's edge ids and checked to be normalised over each state's parents).
struct LoadedDag {
  Dag dag;
  std::optional<BackwardPolicy> backward;
};

/// read_dag_file + build_dag on backend b; every error names the file.
LoadedDag load_dag(const std::string& path, Backend b, Stream stream = {});
/// Validates file content and builds it on backend b (errors prefixed by `name`).
LoadedDag build_dag_file(const DagFile& f, Backend b, const std::string& name, Stream stream = {});

/// The file content of a Dag (states numbered as in the Dag: level-sorted), with `pb` stored per
/// edge when given. Exporting an environment this way lets other tools read it.
DagFile dag_to_file(const Dag& dag, const BackwardPolicy* pb = nullptr);

}  // namespace gfnrl
