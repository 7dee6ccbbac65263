// The text DAG form: one directive per line, errors as "name:LINE: reason".
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <istream>
#include <limits>
#include <sstream>
#include <vector>

#include "dag_file_checks.hpp"
#include "gfnrl/error.hpp"

namespace gfnrl {

namespace {

class LineParser {
 public:
  LineParser(std::string name, std::size_t line, std::vector<std::string> tokens)
      : name_(std::move(name)), line_(line), tok_(std::move(tokens)) {}

  [[noreturn]] void fail(const std::string& why) const {
    throw InputError(name_ + ":" + std::to_string(line_) + ": " + why);
  }
  void expect_count(std::size_t lo, std::size_t hi, const char* usage) const {
    if (tok_.size() < lo || tok_.size() > hi)
      fail(detail::quote_excerpt(tok_[0]) + " takes " + usage + ", got " + std::to_string(tok_.size() - 1) +
           " value(s)");
  }
  std::size_t size() const { return tok_.size(); }

  int64_t integer(std::size_t i, const char* what, int64_t lo, int64_t hi) const {
    const std::string& t = tok_[i];
    int64_t v = 0;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size())
      fail(std::string(what) + " " + detail::quote_excerpt(t) + " is not an integer");
    if (v < lo || v > hi)
      fail(std::string(what) + " " + std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " +
           std::to_string(hi) + "]");
    return v;
  }
  // Accepts what strtod accepts (inf, nan included); callers reject non-finite values.
  double real(std::size_t i, const char* what) const {
    const std::string& t = tok_[i];
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size())
      fail(std::string(what) + " " + detail::quote_excerpt(t) + " is not a number");
    return v;
  }

 private:
  std::string name_;
  std::size_t line_;
  std::vector<std::string> tok_;
};

std::vector<std::string> tokenize(const std::string& line) {
  std::istringstream ss(line.substr(0, line.find('#')));
  std::vector<std::string> t;
  for (std::string w; ss >> w;) t.push_back(w);
  return t;
}

// The file read so far, and one method per directive.
struct TextDagReader {
  explicit TextDagReader(const std::string& name) : name(name) { f.spec.num_states = 0; }

  void header(const LineParser& p, const std::string& key) {
    if (key != "gfnrl-dag")
      p.fail("expected the header 'gfnrl-dag 1' as the first line, got " +
             detail::quote_excerpt(key));
    p.expect_count(2, 2, "1 value (the format version)");
    const int64_t version = p.integer(1, "format version", 0, kMaxIndex);
    if (version != 1)
      p.fail("format version " + std::to_string(version) + " is not supported (this reader "
             "reads version 1)");
    has_header = true;
  }

  void states(const LineParser& p) {
    p.expect_count(2, 2, "1 value (the number of states)");
    if (f.spec.num_states > 0) p.fail("'states' is given twice");
    f.spec.num_states = static_cast<int32_t>(p.integer(1, "number of states", 1, kMaxIndex));
  }

  void source(const LineParser& p) {
    p.expect_count(2, 2, "1 value (the source state)");
    if (source_given) p.fail("'source' is given twice");
    f.spec.source = static_cast<int32_t>(p.integer(1, "source state", 0, f.spec.num_states - 1));
    source_given = true;
  }

  void edge(const LineParser& p, std::size_t line) {
    const int32_t n = f.spec.num_states;
    p.expect_count(4, 5, "3 or 4 values (from, to, action [, log P_B(from|to)])");
    const auto from = static_cast<int32_t>(p.integer(1, "edge source state", 0, n - 1));
    const auto to = static_cast<int32_t>(p.integer(2, "edge target state", 0, n - 1));
    const auto action = static_cast<int32_t>(p.integer(3, "action id", 0, kMaxIndex - 1));
    const bool has_pb = p.size() == 5;
    if (!f.spec.edges.empty() && has_pb != !f.log_pb.empty())
      p.fail(std::string("this edge ") + (has_pb ? "has" : "lacks") +
             " a log P_B value and the first edge (line " + std::to_string(edge_line[0]) + ") " +
             (has_pb ? "does not" : "does") + ": give it on every edge or on none");
    if (has_pb) {
      const double v = p.real(4, "log P_B");
      const std::string problem = detail::log_pb_problem(v);
      if (!problem.empty()) p.fail(problem);
      f.log_pb.push_back(static_cast<float>(v));
    }
    if (f.spec.edges.size() >= static_cast<std::size_t>(kMaxIndex)) p.fail("more than 2^31-1 edges");
    f.spec.edges.push_back({from, to, action});
    edge_line.push_back(line);
  }

  void log_reward(const LineParser& p, std::size_t line) {
    p.expect_count(3, 3, "2 values (state, log R)");
    const auto s =
        static_cast<int32_t>(p.integer(1, "terminating state", 0, f.spec.num_states - 1));
    const double v = p.real(2, "log-reward");
    const std::string problem = detail::log_reward_problem(s, v);
    if (!problem.empty()) p.fail(problem);
    f.spec.log_rewards.push_back({s, v});
    reward_line.push_back(line);
  }

  void intermediate_log_reward(const LineParser& p) {
    p.expect_count(3, 3, "2 values (state, intermediate log-reward -E(s))");
    const auto s = static_cast<int32_t>(p.integer(1, "state", 0, f.spec.num_states - 1));
    const double v = p.real(2, "intermediate log-reward");
    if (!(std::abs(v) <= 3.4028234663852886e38))
      p.fail("intermediate log-reward " + std::to_string(v) + " of state " + std::to_string(s) +
             ": give a finite value within float32's range");
    f.spec.intermediate_log_rewards.push_back({s, v});
  }

  // What only the whole file can show: missing sections, state counts, duplicates.
  void finish() {
    if (!has_header) throw InputError(name + ": empty file (expected the header 'gfnrl-dag 1')");
    if (f.spec.num_states == 0) throw InputError(name + ": no 'states N' line");
    if (f.spec.log_rewards.empty())
      throw InputError(name + ": no terminating state (no 'log_reward' line)");
    detail::check_state_count(f, name);
    detail::check_duplicates(
        f, [&](std::size_t e) { return name + ":" + std::to_string(edge_line[e]); },
        [&](std::size_t r) { return name + ":" + std::to_string(reward_line[r]); });
  }

  const std::string& name;
  DagFile f;
  bool has_header = false, source_given = false;
  std::vector<std::size_t> edge_line, reward_line;  // the line of each edge and reward
};

}  // namespace

DagFile parse_dag_text(std::istream& in, const std::string& name) {
  TextDagReader r(name);
  std::string raw;
  for (std::size_t line = 1; detail::read_text_line(in, raw, name, line); ++line) {
    const std::vector<std::string> tok = tokenize(raw);
    if (tok.empty()) continue;
    const LineParser p(name, line, tok);
    const std::string& key = tok[0];
    if (!r.has_header) {
      r.header(p, key);
    } else if (key == "states") {
      r.states(p);
    } else if (key == "source" || key == "edge" || key == "log_reward" ||
               key == "intermediate_log_reward") {
      if (r.f.spec.num_states == 0)
        p.fail("'" + key + "' before 'states N': the state count must come first");
      if (key == "source") r.source(p);
      else if (key == "edge") r.edge(p, line);
      else if (key == "log_reward") r.log_reward(p, line);
      else r.intermediate_log_reward(p);
    } else {
      p.fail("unknown directive " + detail::quote_excerpt(key) +
             " (allowed: states, source, edge, log_reward, intermediate_log_reward)");
    }
  }
  if (in.bad()) throw InputError(name + ": read error");
  r.finish();
  return std::move(r.f);
}

}  // namespace gfnrl
