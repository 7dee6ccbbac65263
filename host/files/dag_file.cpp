// DAG files: format dispatch, atomic writes, validation into a Dag (+ the file's P_B), export.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <unistd.h>

#include "dag_file_checks.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/memory_budget.hpp"
#include "gfnrl/output_file.hpp"

namespace gfnrl {

namespace detail {
void write_dag_binary(const DagFile& f, std::ostream& out);
bool is_dag_binary(const char* first_bytes, std::size_t n);

bool valid_log_pb(float v) { return !std::isnan(v) && v <= 0.0f; }

void check_state_count(const DagFile& f, const std::string& name) {
  if (static_cast<int64_t>(f.spec.num_states) > static_cast<int64_t>(f.spec.edges.size()) + 1)
    throw InputError(name + ": " + std::to_string(f.spec.num_states) + " states but only " +
                     std::to_string(f.spec.edges.size()) +
                     " edges: every state but the source needs an in-edge, so some state is "
                     "unreachable");
}

namespace {
// Throws at the later of any two records with equal keys, describing it with what(record).
template <class Key, class What>
void report_repeats(std::size_t count, Key key, const Position& at, What what) {
  std::vector<std::size_t> order(count);
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
  for (std::size_t i = 1; i < count; ++i)
    if (key(order[i]) == key(order[i - 1]))
      throw InputError(at(order[i]) + ": " + what(order[i]) + " (first at " +
                       at(order[i - 1]) + ")");
}
}  // namespace

std::string log_pb_problem(double v) {
  if (valid_log_pb(static_cast<float>(v))) return {};
  return "log P_B " + format_number(v) + " is not a log-probability (must be in [-inf, 0])";
}

std::string log_reward_problem(int32_t state, double v) {
  if (std::isfinite(v) && std::fabs(v) <= std::numeric_limits<float>::max()) return {};
  std::string why = "log-reward of state " + std::to_string(state) + " is " + format_number(v) +
                    ": it must be finite and within [-3.40282e+38, 3.40282e+38] (log R is "
                    "stored in float)";
  if (!std::isfinite(v)) why += "; a state that does not terminate simply has no log-reward";
  return why;
}

void check_duplicates(const DagFile& f, const Position& edge_at, const Position& terminal_at) {
  const auto& e = f.spec.edges;
  if (edge_at) report_repeats(
      e.size(), [&](std::size_t i) { return (int64_t(e[i].from) << 32) | uint32_t(e[i].to); },
      edge_at, [&](std::size_t i) {
        return "duplicate edge " + std::to_string(e[i].from) + " -> " + std::to_string(e[i].to);
      });
  const auto& r = f.spec.log_rewards;
  if (terminal_at) report_repeats(
      r.size(), [&](std::size_t i) { return r[i].first; }, terminal_at, [&](std::size_t i) {
        return "log-reward of state " + std::to_string(r[i].first) + " is given twice";
      });
}
}  // namespace detail

const std::vector<std::string>& dag_format_names() {
  static const std::vector<std::string> names{"text", "binary"};
  return names;
}

DagFormat parse_dag_format(const std::string& name) {
  const auto& names = dag_format_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end())
    throw InputError("unknown DAG file format '" + name + "' (allowed: text, binary)");
  return static_cast<DagFormat>(it - names.begin());
}

const char* dag_format_name(DagFormat f) { return dag_format_names().at(static_cast<int>(f)).c_str(); }

DagFile read_dag_file(const std::string& path) {
  require_regular_file(path, "DAG file");
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(path + ": cannot read its size: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open for reading");
  char first[8] = {};
  in.read(first, sizeof first);
  const std::size_t got = static_cast<std::size_t>(in.gcount());
  in.clear();
  in.seekg(0);
  // A read the file system refuses (EIO: /proc/self/mem, a failing disk) throws from inside
  // the stream buffer: said as the file's error.
  try {
    if (detail::is_dag_binary(first, got)) return parse_dag_binary(in, size, path);
    return parse_dag_text(in, path);
  } catch (const std::ios_base::failure& e) {
    throw InputError(path + ": cannot be read (" + e.code().message() + ")");
  }
}

void write_dag_file(const DagFile& f, std::ostream& out, DagFormat format) {
  if (format == DagFormat::Binary) {
    detail::write_dag_binary(f, out);
    return;
  }
  char buf[64];
  out << "gfnrl-dag 1\n# " << f.spec.edges.size() << " edges, " << f.spec.log_rewards.size()
      << " terminating states\nstates " << f.spec.num_states << "\nsource " << f.spec.source
      << "\n";
  for (std::size_t i = 0; i < f.spec.edges.size(); ++i) {
    const auto& e = f.spec.edges[i];
    out << "edge " << e.from << ' ' << e.to << ' ' << e.action;
    // %.9g round-trips a float, %.17g a double.
    if (!f.log_pb.empty()) std::snprintf(buf, sizeof buf, " %.9g", f.log_pb[i]), out << buf;
    out << '\n';
  }
  for (const auto& [s, v] : f.spec.log_rewards) {
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out << "log_reward " << s << ' ' << buf << '\n';
  }
  for (const auto& [s, v] : f.spec.intermediate_log_rewards) {
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out << "intermediate_log_reward " << s << ' ' << buf << '\n';
  }
}

void write_dag_file(const DagFile& f, const std::string& path, DagFormat format) {
  OutputFile out(path, true);
  write_dag_file(f, out.stream(), format);
  out.commit();
}

LoadedDag build_dag_file(const DagFile& f, Backend b, const std::string& name, Stream stream) {
  const StreamScope scope(stream);
  const std::size_t num_edges = f.spec.edges.size();
  // A loaded DAG passes the same budget as a generated environment.
  require_bytes(b, estimate_dag_bytes(f.spec.num_states, static_cast<int64_t>(num_edges)),
                name + " (" + std::to_string(f.spec.num_states) + " states, " +
                    std::to_string(num_edges) + " edges)");
  if (!f.log_pb.empty() && f.log_pb.size() != num_edges)
    throw InputError(name + ": " + std::to_string(f.log_pb.size()) + " log P_B values for " +
                     std::to_string(num_edges) + " edges");
  LoadedDag out;
  std::vector<int32_t> edge_ids;
  try {
    out.dag = build_dag(f.spec, b, &edge_ids);
  } catch (const InputError& e) {
    throw InputError(name + ": " + e.what());
  }
  if (!f.log_pb.empty()) {
    // Normalisation over each state's parents, in the file's numbering so the message matches it.
    std::vector<double> peak(f.spec.num_states, -INFINITY), sum(f.spec.num_states, 0.0);
    for (std::size_t i = 0; i < num_edges; ++i)
      peak[f.spec.edges[i].to] = std::max<double>(peak[f.spec.edges[i].to], f.log_pb[i]);
    for (std::size_t i = 0; i < num_edges; ++i) {
      const int32_t c = f.spec.edges[i].to;
      if (peak[c] > -INFINITY) sum[c] += std::exp(double(f.log_pb[i]) - peak[c]);
    }
    for (int32_t c = 0; c < f.spec.num_states; ++c) {
      if (c == f.spec.source) continue;
      const double total = peak[c] > -INFINITY ? sum[c] * std::exp(peak[c]) : 0.0;
      if (std::abs(total - 1.0) > 1e-4)
        throw InputError(name + ": the P_B values of the edges into state " + std::to_string(c) +
                         " sum to " + format_number(total) + "; they must sum to 1 (tolerance "
                         "1e-4)");
    }
    std::vector<float> table(num_edges);
    for (std::size_t i = 0; i < num_edges; ++i) table[edge_ids[i]] = f.log_pb[i];
    // Values and normalisation are checked above (in the file's numbering, for the message).
    out.backward = BackwardPolicy{Array<float>::from_host(b, table), "file"};
  }
  return out;
}

LoadedDag load_dag(const std::string& path, Backend b, Stream stream) {
  const StreamScope scope(stream);
  return build_dag_file(read_dag_file(path), b, path);
}

DagFile dag_to_file(const Dag& dag, const BackwardPolicy* pb) {
  if (dag.num_edges() > kMaxIndex)  // the formats' edge lists hold at most 2^31-1 edges
    throw InputError("a DAG file holds at most 2^31-1 edges; this DAG has " +
                     std::to_string(dag.num_edges()));
  const DagArrays a = dag.to_host();
  DagFile f;
  f.spec.num_states = dag.num_states();
  f.spec.source = 0;
  f.spec.edges.reserve(a.child_index.size());
  for (int32_t s = 0; s < dag.num_states(); ++s) {
    for (int64_t e = a.child_offsets[s]; e < a.child_offsets[s + 1]; ++e)
      f.spec.edges.push_back({s, a.child_index[e], a.child_action[e]});
    if (a.log_reward[s] > -INFINITY) f.spec.log_rewards.push_back({s, a.log_reward[s]});
    if (!a.intermediate_log_reward.empty() && a.intermediate_log_reward[s] > -INFINITY)
      f.spec.intermediate_log_rewards.push_back({s, a.intermediate_log_reward[s]});
  }
  if (pb) f.log_pb = pb->log_prob.to_host();
  return f;
}

}  // namespace gfnrl
