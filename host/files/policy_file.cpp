// Forward policy tables as text files (format in gfnrl/policy_file.hpp).
#include "gfnrl/policy_file.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "gfnrl/detail/hd.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/input_file.hpp"
#include "gfnrl/output_file.hpp"

namespace gfnrl {

void write_policy_file(std::ostream& out, const Dag& dag, const ForwardPolicy& policy) {
  const std::vector<float> lp = policy.log_prob.to_host(), ex = policy.exit_log_prob.to_host();
  char buf[32];
  out << "gfnrl-policy 1\n# " << dag.num_states() << " states, " << dag.num_edges()
      << " edges\nedges " << lp.size() << "\n";
  for (float v : lp) std::snprintf(buf, sizeof buf, "%.9g\n", v), out << buf;
  out << "exits " << ex.size() << "\n";
  for (float v : ex) std::snprintf(buf, sizeof buf, "%.9g\n", v), out << buf;
}

void write_policy_file(const std::string& path, const Dag& dag, const ForwardPolicy& policy) {
  OutputFile out(path);
  write_policy_file(out.stream(), dag, policy);
  out.commit();
}

namespace {
ForwardPolicy read_policy_stream(const std::string& path, const Dag& dag);
}

ForwardPolicy read_policy_file(const std::string& path, const Dag& dag) {
  require_regular_file(path, "policy file");
  try {
    return read_policy_stream(path, dag);
  } catch (const std::ios_base::failure& e) {  // EIO inside the stream buffer (/proc/self/mem)
    throw InputError(path + ": cannot be read (" + e.code().message() + ")");
  }
}

namespace {
// The reader's line-level parts: lines without comments, "KEY COUNT" headers, log-probabilities;
// every failure an InputError naming the file and the line.
class PolicyReader {
 public:
  explicit PolicyReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw InputError(path + ": cannot open for reading");
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw InputError(path_ + ":" + std::to_string(line_no_) + ": " + why);
  }

  // The next non-blank, non-comment line, or "" at the end of the file.
  std::string next_or_end() {
    std::string line;
    while (detail::read_text_line(in_, line, path_, line_no_ + 1)) {
      ++line_no_;
      line = line.substr(0, line.find('#'));
      if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
    }
    return "";
  }

  std::string next() {
    std::string line = next_or_end();
    if (line.empty()) ++line_no_, fail("unexpected end of file");
    return line;
  }

  static std::vector<std::string> words(const std::string& line) {
    std::istringstream ss(line);
    std::vector<std::string> w;
    for (std::string t; ss >> t;) w.push_back(t);
    return w;
  }

  // "KEY COUNT", exactly: COUNT in decimal digits (no 0x, no sign), nothing after it.
  void header(const std::string& key, std::size_t want, const char* what) {
    const std::vector<std::string> w = words(next());
    const bool digits = w.size() == 2 && !w[1].empty() && w[1].size() <= 18 &&
                        w[1].find_first_not_of("0123456789") == std::string::npos;
    if (w.empty() || w[0] != key || !digits)
      fail("expected '" + key + " COUNT' (COUNT in decimal digits, nothing after it)");
    const auto n = std::stoull(w[1]);
    if (n != want)
      fail("the file has " + std::to_string(n) + " " + what + "; the DAG has " +
           std::to_string(want) + " (a policy belongs to one DAG)");
  }

  // One log-probability in [-inf, 0] (up to 1e-6 above 0, read as 0).
  float value() {
    const std::string t = next();
    const std::size_t b = t.find_first_not_of(" \t"), e = t.find_last_not_of(" \t\r");
    const std::string tok = t.substr(b, e - b + 1);
    char* end = nullptr;
    const double v = std::strtod(tok.c_str(), &end);
    if (end != tok.c_str() + tok.size()) fail(detail::quote_excerpt(tok) + " is not a number");
    if (std::isnan(v) || v > 1e-6)
      fail("log-probability " + detail::quote_excerpt(tok) + " must be in [-inf, 0]");
    return static_cast<float>(std::min(v, 0.0));
  }

 private:
  std::string path_;
  std::ifstream in_;
  std::size_t line_no_ = 0;
};

// Each state's probabilities (edges and exit) sum to 1 within 1e-3.
void check_rows_sum_to_one(const std::string& path, const DagArrays& a,
                           const std::vector<float>& lp, const std::vector<float>& ex) {
  for (std::size_t s = 0; s < ex.size(); ++s) {
    detail::LseAcc<double> acc;
    for (int64_t e = a.child_offsets[s]; e < a.child_offsets[s + 1]; ++e) acc.add(lp[e]);
    acc.add(ex[s]);
    if (std::abs(std::exp(acc.value()) - 1.0) > 1e-3)
      throw InputError(path + ": the probabilities of state " + std::to_string(s) + " sum to " +
                       std::to_string(std::exp(acc.value())) + "; they must sum to 1 "
                       "(tolerance 1e-3)");
  }
}

ForwardPolicy read_policy_stream(const std::string& path, const Dag& dag) {
  PolicyReader r(path);
  if (PolicyReader::words(r.next()) != std::vector<std::string>{"gfnrl-policy", "1"})
    r.fail("expected the header 'gfnrl-policy 1' (this reader knows version 1 only)");
  const DagArrays a = dag.to_host();
  std::vector<float> lp(dag.num_edges()), ex(dag.num_states());
  r.header("edges", lp.size(), "edges");
  for (float& v : lp) v = r.value();
  r.header("exits", ex.size(), "states");
  for (std::size_t s = 0; s < ex.size(); ++s) {
    ex[s] = r.value();
    if (ex[s] > -INFINITY && !(a.log_reward[s] > -INFINITY))
      r.fail("state " + std::to_string(s) + " does not terminate, so its exit log-probability "
             "must be -inf");
  }
  // Nothing after the exits block but blank lines and comments: more values mean another DAG.
  const std::string extra = r.next_or_end();
  if (!extra.empty())
    r.fail("unexpected " + detail::quote_excerpt(extra) + " after the exits block (the file has "
           "more lines than the DAG has states)");
  check_rows_sum_to_one(path, a, lp, ex);
  return {Array<float>::from_host(dag.backend(), lp), Array<float>::from_host(dag.backend(), ex)};
}
}  // namespace

}  // namespace gfnrl
