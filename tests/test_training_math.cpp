// The shared per-trajectory math of training, held against independent computations: Philox
// against Random123's known answers; every loss gradient against central finite differences of
// the loss written out from its definition (double precision); sampled trajectories against the
// exact terminating distribution of the behaviour policy.
#include <gtest/gtest.h>

#include <functional>

#include <cmath>
#include <random>

#include "gfnrl/detail/backward_math.hpp"
#include "gfnrl/detail/dqn_math.hpp"
#include "gfnrl/detail/loss_math.hpp"
#include "gfnrl/detail/philox.hpp"
#include "gfnrl/detail/rollout_math.hpp"
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

using detail::TableLayout;

TEST(Philox, MatchesRandom123KnownAnswers) {
  struct Kat {
    detail::Philox4 ctr;
    uint32_t k0, k1;
    uint32_t out[4];
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const Kat& k : kats) {
    const detail::Philox4 r = detail::philox4x32_10(k.ctr, k.k0, k.k1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], k.out[i]) << "word " << i;
  }
}

// ---- a random DAG with random tables and random trajectories --------------------------------
struct Fixture {
  Dag dag;
  DagArrays h;
  TableLayout L;
  int32_t runs = 2, batch = 5, max_len = 0;
  std::vector<double> params;
  std::vector<double> log_pb;   // log P_B per edge: one row (stride 0) or one per run (stride E)
  int64_t pb_stride = 0;
  std::vector<double> mu_edge, mu_exit;  // a base policy mu (empty: none)
  std::vector<int32_t> states, actions, lengths;

  // all_terminate: every state gets a reward (for the energy-difference learners).
  explicit Fixture(unsigned seed, bool all_terminate = false) {
    DagSpec spec = random_dag_spec(14, seed, 10);
    if (all_terminate) {
      std::vector<char> has(spec.num_states, 0);
      for (const auto& [x, r] : spec.rewards) has[x] = 1;
      for (int32_t x = 0; x < spec.num_states; ++x)
        if (!has[x]) spec.rewards.push_back({x, 0.2 + 0.1 * x});
    }
    dag = build_dag(spec, Backend::Cpu);
    h = dag.to_host();
    L.num_states = dag.num_states();
    L.num_edges = dag.num_edges();
    max_len = dag.num_levels();
    std::mt19937 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    params.resize(std::size_t(runs) * L.stride());
    for (double& p : params) p = g(rng);
    log_pb.resize(L.num_edges);
    for (double& p : log_pb) p = -std::abs(g(rng));  // any constant works
    states.assign(std::size_t(runs) * batch * max_len, -1);
    actions.assign(states.size(), -1);
    lengths.assign(std::size_t(runs) * batch, 0);
    for (int32_t t = 0; t < runs * batch; ++t) {  // uniformly random valid actions
      int32_t s = 0, k = 0;
      while (true) {
        const int64_t b = h.child_offsets[s], n = h.child_offsets[s + 1] - b;
        const bool ex = std::isfinite(h.log_reward[s]);
        const int32_t c = static_cast<int32_t>(rng() % (n + (ex ? 1 : 0)));
        states[t * max_len + k] = s;
        actions[t * max_len + k] = c < n ? b + c : static_cast<int32_t>(L.exit_entry(s));
        ++k;
        if (c >= n) break;
        s = h.child_index[b + c];
      }
      lengths[t] = k;
    }
  }

  // log P_F(a|s) of run r written out directly.
  double log_pf(const std::vector<double>& p, int32_t r, int32_t s, int64_t a) const {
    const double* row = p.data() + int64_t(r) * L.stride();
    double z = 0;
    for (int64_t e = h.child_offsets[s]; e < h.child_offsets[s + 1]; ++e) z += std::exp(row[e]);
    if (std::isfinite(h.log_reward[s])) z += std::exp(row[L.exit_entry(s)]);
    return row[a] - std::log(z);
  }
  double pb(int32_t r, int64_t a) const { return a < L.num_edges ? log_pb[r * pb_stride + a] : 0.0; }
  double mu(int32_t s, int64_t a) const {
    if (mu_edge.empty()) return 0.0;
    return a < L.num_edges ? mu_edge[a] : mu_exit[s];
  }
  // A random normalised base policy over every state's actions.
  void random_mu(unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0.2, 1.0);
    mu_edge.assign(L.num_edges, 0.0);
    mu_exit.assign(L.num_states, -INFINITY);
    for (int32_t s = 0; s < L.num_states; ++s) {
      std::vector<double> w;
      for (int64_t e = h.child_offsets[s]; e < h.child_offsets[s + 1]; ++e) w.push_back(u(rng));
      if (std::isfinite(h.log_reward[s])) w.push_back(u(rng));
      double z = 0;
      for (double x : w) z += x;
      std::size_t k = 0;
      for (int64_t e = h.child_offsets[s]; e < h.child_offsets[s + 1]; ++e) mu_edge[e] = std::log(w[k++] / z);
      if (std::isfinite(h.log_reward[s])) mu_exit[s] = std::log(w[k] / z);
    }
  }

  // log P_B from backward logits theta [runs x E], written out: softmax over each child's parents.
  std::vector<double> backward_rows(const std::vector<double>& theta) const {
    std::vector<double> out(theta.size());
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t e = 0; e < L.num_edges; ++e) {
        double z = 0;
        for (int32_t e2 = 0; e2 < L.num_edges; ++e2)
          if (h.child_index[e2] == h.child_index[e]) z += std::exp(theta[r * L.num_edges + e2]);
        out[r * L.num_edges + e] = theta[r * L.num_edges + e] - std::log(z);
      }
    return out;
  }
  int32_t st(int32_t t, int32_t k) const { return states[t * max_len + k]; }
  int64_t ac(int32_t t, int32_t k) const { return actions[t * max_len + k]; }

  // The loss shape g applied to every residual (Hu et al. 2025; written out here, independently
  // of loss_math.hpp): squared unless a test sets another.
  std::function<double(double)> g = [](double d) { return d * d; };
  double fm_alpha = 1.0;  // FM's reward-matching weight

  // Each loss from its definition (train.hpp / loss_math.hpp), summed over runs.
  double tb_loss(const std::vector<double>& p) const {
    double total = 0;
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t m = 0; m < batch; ++m) {
        const int32_t t = r * batch + m, len = lengths[t];
        double d = p[r * L.stride() + L.log_z_entry()] - h.log_reward[st(t, len - 1)];
        for (int32_t k = 0; k < len; ++k)
          d += log_pf(p, r, st(t, k), ac(t, k)) - mu(st(t, k), ac(t, k)) - pb(r, ac(t, k));
        total += g(d) / batch;
      }
    return total;
  }
  // log F(s): the table's entry, plus log R~(s) with forward-looking flows: log R(s) where s
  // terminates, else the intermediate log-reward the test gave (written out here, not
  // flow_potential's).
  bool forward_looking = false;
  std::vector<float> intermediate;  // empty, or [N]
  float potential(int32_t s) const {
    return std::isfinite(h.log_reward[s]) || intermediate.empty() ? h.log_reward[s]
                                                                   : intermediate[s];
  }
  double flow(const std::vector<double>& p, int32_t r, int32_t s) const {
    return p[r * L.stride() + L.flow_entry(s)] + (forward_looking ? double(potential(s)) : 0.0);
  }
  double db_loss(const std::vector<double>& p) const {
    double total = 0;
    for (int32_t r = 0; r < runs; ++r) {
      double sum = 0, count = 0;
      for (int32_t m = 0; m < batch; ++m) {
        const int32_t t = r * batch + m, len = lengths[t];
        for (int32_t k = 0; k < len; ++k) {
          const int32_t s = st(t, k);
          const int64_t a = ac(t, k);
          const double end = k + 1 < len ? flow(p, r, st(t, k + 1)) + pb(r, a) : h.log_reward[s];
          const double d = flow(p, r, s) + log_pf(p, r, s, a) - mu(s, a) - end;
          sum += g(d);
          ++count;
        }
      }
      total += sum / count;
    }
    return total;
  }
  // SubTB as Madan et al. define it: the geometric-within weighting below.
  double subtb_loss(const std::vector<double>& p, double lambda) const {
    return weighted_subtb_loss(p, lambda, detail::SubTBWeighting::GeometricWithin);
  }
  // The residual of the pair (i, j) of trajectory t: F(s_i) + sum_{i<=k<j} (log P_F - log mu -
  // log P_B) - F(s_j), with F at position len the log-reward.
  double subtb_residual(const std::vector<double>& p, int32_t r, int32_t t, int32_t i,
                        int32_t j) const {
    const int32_t len = lengths[t];
    auto phi = [&](int32_t k) {
      return k < len ? flow(p, r, st(t, k)) : double(h.log_reward[st(t, len - 1)]);
    };
    double d = phi(i) - phi(j);
    for (int32_t k = i; k < j; ++k)
      d += log_pf(p, r, st(t, k), ac(t, k)) - mu(st(t, k), ac(t, k)) -
           (k + 1 < len ? pb(r, ac(t, k)) : 0.0);
    return d;
  }
  // SubTB under each weighting, from its definition (train.hpp): base weight of a pair (i, j)
  // lambda^(j-i) (geometric-*), 1 (equal), only (0, T+1) (tb) or only j = i+1 (db,
  // modified-db), normalised per trajectory and averaged over the batch (geometric-within,
  // equal-within, tb, modified-db) or normalised over all the run's pairs (geometric-batch,
  // equal, db). geometric (torchgfn's code): per length d the mean over the run's pairs of that
  // length, weighted (1 - lambda) lambda^(d-1) / (1 - lambda^max_len).
  double weighted_subtb_loss(const std::vector<double>& p, double lambda,
                             detail::SubTBWeighting w) const {
    using W = detail::SubTBWeighting;
    const bool within = w == W::GeometricWithin || w == W::EqualWithin || w == W::TB ||
                        w == W::ModifiedDB;
    double total = 0;
    for (int32_t r = 0; r < runs; ++r) {
      if (w == W::Geometric) {
        int32_t longest = 0;
        for (int32_t m = 0; m < batch; ++m) longest = std::max(longest, lengths[r * batch + m]);
        std::vector<double> sum(longest + 1, 0.0), count(longest + 1, 0.0);
        for (int32_t m = 0; m < batch; ++m) {
          const int32_t t = r * batch + m, len = lengths[t];
          for (int32_t i = 0; i <= len; ++i)
            for (int32_t j = i + 1; j <= len; ++j) {
              sum[j - i] += g(subtb_residual(p, r, t, i, j));
              count[j - i] += 1;
            }
        }
        for (int32_t d = 1; d <= longest; ++d)
          total += (1 - lambda) * std::pow(lambda, d - 1) / (1 - std::pow(lambda, longest)) *
                   sum[d] / count[d];
        continue;
      }
      double run_num = 0, run_den = 0;
      for (int32_t m = 0; m < batch; ++m) {
        const int32_t t = r * batch + m, len = lengths[t];
        double num = 0, den = 0;
        for (int32_t i = 0; i <= len; ++i)
          for (int32_t j = i + 1; j <= len; ++j) {
            double base = std::pow(lambda, j - i);
            if (w == W::EqualWithin || w == W::Equal) base = 1;
            if (w == W::TB) base = (i == 0 && j == len) ? 1 : 0;
            if (w == W::DB || w == W::ModifiedDB) base = j == i + 1 ? 1 : 0;
            if (base == 0) continue;
            num += base * g(subtb_residual(p, r, t, i, j));
            den += base;
          }
        if (within) total += num / den / batch;
        run_num += num, run_den += den;
      }
      if (!within) total += run_num / run_den;
    }
    return total;
  }
  // FM from its definition, with flows summed edge by edge (no parent lists): per run, each
  // visited state past s_0 compares its in-flow (every edge whose child it is) with its out-flow
  // (its children's edges and its exit), mean over those visits; plus the mean over the batch of
  // the exit flow of the last state against R.
  double fm_loss(const std::vector<double>& p) const {
    double total = 0;
    for (int32_t r = 0; r < runs; ++r) {
      const double* row = p.data() + int64_t(r) * L.stride();
      double visits = 0, state_sum = 0, reward_sum = 0;
      for (int32_t m = 0; m < batch; ++m) {
        const int32_t t = r * batch + m, len = lengths[t];
        for (int32_t k = 1; k < len; ++k) {
          const int32_t s = st(t, k);
          double in = 0, out = 0;
          for (int32_t e = 0; e < L.num_edges; ++e)
            if (h.child_index[e] == s) in += std::exp(row[e]);
          for (int64_t e = h.child_offsets[s]; e < h.child_offsets[s + 1]; ++e) out += std::exp(row[e]);
          if (std::isfinite(h.log_reward[s])) out += std::exp(row[L.exit_entry(s)]);
          state_sum += g(std::log(in) - std::log(out));
          ++visits;
        }
        const int32_t x = st(t, len - 1);
        reward_sum += fm_alpha * g(row[L.exit_entry(x)] - h.log_reward[x]);
      }
      total += (visits > 0 ? state_sum / visits : 0.0) + reward_sum / batch;
    }
    return total;
  }
  // ZVar from its definition: per run, D_m = TB's residual without log Z, the loss the mean of
  // g(D_m - mean D). Also each run's mean D (its log Z estimate is minus it).
  double zvar_loss(const std::vector<double>& p, std::vector<double>* mean_d = nullptr) const {
    double total = 0;
    for (int32_t r = 0; r < runs; ++r) {
      std::vector<double> d(batch);
      double mean = 0;
      for (int32_t m = 0; m < batch; ++m) {
        const int32_t t = r * batch + m, len = lengths[t];
        d[m] = -h.log_reward[st(t, len - 1)];
        for (int32_t k = 0; k < len; ++k)
          d[m] += log_pf(p, r, st(t, k), ac(t, k)) - mu(st(t, k), ac(t, k)) - pb(r, ac(t, k));
        mean += d[m] / batch;
      }
      for (int32_t m = 0; m < batch; ++m) total += g(d[m] - mean) / batch;
      if (mean_d) mean_d->push_back(mean);
    }
    return total;
  }
  // Modified DB from its definition (loss_math.hpp): inner transitions only.
  double mdb_loss(const std::vector<double>& p) const {
    double total = 0;
    for (int32_t r = 0; r < runs; ++r) {
      double sum = 0, count = 0;
      for (int32_t m = 0; m < batch; ++m) {
        const int32_t t = r * batch + m;
        for (int32_t k = 0; k + 1 < lengths[t]; ++k) {
          const int32_t s = st(t, k), n = st(t, k + 1);
          const double d = h.log_reward[s] + log_pf(p, r, s, ac(t, k)) +
                           log_pf(p, r, n, L.exit_entry(n)) - h.log_reward[n] -
                           log_pf(p, r, s, L.exit_entry(s)) - pb(r, ac(t, k));
          sum += g(d);
          ++count;
        }
      }
      total += count > 0 ? sum / count : 0.0;
    }
    return total;
  }
  // The TD loss from its definition (dqn_math.hpp) on replayed (state, action) pairs, targets
  // from the target table; `energy`: rewards log R(s') - log R(s), 0 on the exit.
  double td_loss(const std::vector<double>& p, const std::vector<double>& target,
                 const std::vector<int32_t>& ss, const std::vector<int32_t>& sa, int32_t samples,
                 double tau, double alpha, bool huber, double l0, bool energy = false) const {
    auto lse = [&](const double* row, int32_t s) {
      double z = 0;
      for (int64_t e = h.child_offsets[s]; e < h.child_offsets[s + 1]; ++e) z += std::exp(row[e] / tau);
      if (std::isfinite(h.log_reward[s])) z += std::exp(row[L.exit_entry(s)] / tau);
      return std::log(z);
    };
    double total = 0;
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t i = 0; i < samples; ++i) {
        const int32_t s = ss[r * samples + i];
        const int64_t act = sa[r * samples + i];
        const double* tr = target.data() + r * L.stride();
        double y = act >= L.num_edges ? (energy ? 0.0 : double(h.log_reward[s]))
                                      : pb(r, act) + tau * lse(tr, h.child_index[act]);
        if (energy && act < L.num_edges)
          y += double(h.log_reward[h.child_index[act]]) - double(h.log_reward[s]);
        const double munch = tau * (tr[act] / tau - lse(tr, s));
        y += alpha * std::min(0.0, std::max(l0, munch));
        const double d = p[r * L.stride() + act] - y;
        total += (huber ? (std::abs(d) <= 1 ? 0.5 * d * d : std::abs(d) - 0.5) : d * d) / samples;
      }
    return total;
  }
  // DqnArgs over the replayed pairs with the fixture's tables and P_B; callers set the learner's
  // own fields (tau, alpha, loss kind, ...) and call replay_all.
  detail::DqnArgs<double> dqn_args(const std::vector<double>& target, const std::vector<int32_t>& ss,
                                   const std::vector<int32_t>& sa, int32_t samples,
                                   std::vector<double>& grad, std::vector<double>& loss) const {
    detail::DqnArgs<double> args{};
    args.dag = dag.view();
    args.layout = L;
    args.params = params.data();
    args.target = target.data();
    args.grad = grad.data();
    args.loss = loss.data();
    args.log_pb = log_pb.data();
    args.log_pb_stride = pb_stride;
    args.runs = runs;
    args.samples = samples;
    args.sample_state = ss.data();
    args.sample_action = sa.data();
    return args;
  }
  void replay_all(const detail::DqnArgs<double>& a) const {
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t i = 0; i < a.samples; ++i) detail::dqn_sample(a, r, i);
  }
  // Replayed pairs: every transition of the run's trajectories in order (s0's first actions,
  // the inner transitions, the exits), cycling when `samples` exceeds their number.
  void replay_pairs(int32_t samples, std::vector<int32_t>& ss, std::vector<int32_t>& sa) const {
    for (int32_t r = 0; r < runs; ++r) {
      std::vector<std::pair<int32_t, int32_t>> all;  // (trajectory, position)
      for (int32_t m = 0; m < batch; ++m)
        for (int32_t k = 0; k < lengths[r * batch + m]; ++k) all.push_back({r * batch + m, k});
      for (int32_t i = 0; i < samples; ++i) {
        const auto [t, k] = all[i % all.size()];
        ss.push_back(st(t, k));
        sa.push_back(static_cast<int32_t>(ac(t, k)));
      }
    }
  }
};

template <class LossFn>
void expect_gradient_matches(const std::vector<double>& at, const std::vector<double>& grad,
                             LossFn loss) {
  std::vector<double> p = at;
  const double h = 1e-6;
  double worst = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double keep = p[i];
    p[i] = keep + h;
    const double up = loss(p);
    p[i] = keep - h;
    const double down = loss(p);
    p[i] = keep;
    const double fd = (up - down) / (2 * h);
    EXPECT_NEAR(grad[i], fd, 1e-6 * (1 + std::abs(fd))) << "entry " << i;
    worst = std::max(worst, std::abs(grad[i] - fd));
  }
  ::testing::Test::RecordProperty("max_abs_error", std::to_string(worst));
}

std::vector<double> analytic(const Fixture& f, detail::LossKind kind, double lambda,
                             bool with_pb, double* loss_out, std::vector<double>* pb_grad = nullptr,
                             detail::Regression shape = detail::Regression::Squared,
                             double shape_param = 1.0,
                             detail::SubTBWeighting weighting = detail::SubTBWeighting::GeometricWithin,
                             std::vector<double>* log_z_out = nullptr,
                             bool forward_looking = false,
                             std::vector<double>* per_run = nullptr) {
  std::vector<double> grad(f.params.size(), 0.0), loss(f.runs, 0.0);
  std::vector<double> scratch(std::size_t(f.runs) * f.batch * detail::kSubTBScratch * (f.max_len + 1));
  detail::TrajectoryLossArgs<double> a{};
  a.dag = f.dag.view();
  a.layout = f.L;
  a.params = f.params.data();
  a.grad = grad.data();
  a.loss = loss.data();
  a.log_pb = with_pb ? f.log_pb.data() : nullptr;
  a.log_pb_stride = f.pb_stride;
  if (pb_grad) {
    pb_grad->assign(std::size_t(f.runs) * f.L.num_edges, 0.0);
    a.pb_grad = pb_grad->data();
  }
  a.runs = f.runs;
  a.batch = f.batch;
  a.max_len = f.max_len;
  a.states = f.states.data();
  a.actions = f.actions.data();
  a.lengths = f.lengths.data();
  a.lambda = lambda;
  a.regression = shape;
  a.regression_param = shape_param;
  a.fm_alpha = f.fm_alpha;
  a.weighting = weighting;
  std::vector<float> pot;
  for (int32_t s = 0; s < f.L.num_states; ++s) pot.push_back(f.potential(s));
  a.flow_potential = forward_looking ? pot.data() : nullptr;
  a.scratch = scratch.data();
  a.prior_edge = f.mu_edge.empty() ? nullptr : f.mu_edge.data();
  a.prior_exit = f.mu_exit.empty() ? nullptr : f.mu_exit.data();
  std::vector<double> table = f.params;  // ZVar writes each run's log Z estimate into it
  a.zvar_log_z = table.data();
  for (int32_t r = 0; r < f.runs; ++r) {
    if (kind == detail::LossKind::ZVar) {
      detail::zvar_run(a, r);
      continue;
    }
    for (int32_t m = 0; m < f.batch; ++m) detail::trajectory_loss(kind, a, r, m);
  }
  if (log_z_out)
    for (int32_t r = 0; r < f.runs; ++r)
      log_z_out->push_back(table[r * f.L.stride() + f.L.log_z_entry()]);
  if (per_run) *per_run = loss;
  *loss_out = loss[0] + loss[1];
  return grad;
}

class LossGradient : public ::testing::TestWithParam<unsigned> {};

TEST_P(LossGradient, TrajectoryBalanceMatchesFiniteDifferences) {
  const Fixture f(GetParam());
  double loss = 0;
  const auto g = analytic(f, detail::LossKind::TB, 0, true, &loss);
  EXPECT_NEAR(loss, f.tb_loss(f.params), 1e-9 * (1 + loss));
  expect_gradient_matches(f.params, g, [&](const std::vector<double>& p) { return f.tb_loss(p); });
}

TEST_P(LossGradient, DetailedBalanceMatchesFiniteDifferences) {
  const Fixture f(GetParam());
  double loss = 0;
  const auto g = analytic(f, detail::LossKind::DB, 0, true, &loss);
  EXPECT_NEAR(loss, f.db_loss(f.params), 1e-9 * (1 + loss));
  expect_gradient_matches(f.params, g, [&](const std::vector<double>& p) { return f.db_loss(p); });
}

TEST_P(LossGradient, SubTrajectoryBalanceMatchesFiniteDifferences) {
  const Fixture f(GetParam());
  for (double lambda : {0.9, 1.0, 0.3}) {
    double loss = 0;
    const auto g = analytic(f, detail::LossKind::SubTB, lambda, true, &loss);
    EXPECT_NEAR(loss, f.subtb_loss(f.params, lambda), 1e-9 * (1 + loss)) << "lambda " << lambda;
    expect_gradient_matches(
        f.params, g, [&](const std::vector<double>& p) { return f.subtb_loss(p, lambda); });
  }
}

// Past +-80 in the exponent (torchgfn's clamp) linex and shifted-cosh go on linearly with the
// slope they have there: finite values (inf before), a continuous value and slope at the clamp,
// and the slope the derivative of the value (central differences in double).
TEST(LossShape, ExponentsAreClampedAtEightyAndContinueLinearly) {
  using detail::Regression;
  for (const auto& [kind, p] : std::vector<std::pair<Regression, double>>{
           {Regression::Linex, 1.0}, {Regression::Linex, -0.5}, {Regression::Linex, 1000.0},
           {Regression::ShiftedCosh, 1.0}}) {
    const double edge = 80.0 / std::abs(kind == Regression::Linex ? p : 1.0);
    for (double t : {-3 * edge, -edge - 1e-3, -edge + 1e-3, 0.3, edge - 1e-3, edge + 1e-3, 5 * edge}) {
      const double g = detail::regression_value<double>(kind, p, t);
      const double slope = detail::regression_slope<double>(kind, p, t);
      EXPECT_TRUE(std::isfinite(g) && std::isfinite(slope)) << t;
      EXPECT_GE(g, 0.0) << t;
      const double h = 1e-6 * std::max(1.0, std::abs(t));
      const double fd = (detail::regression_value<double>(kind, p, t + h) -
                         detail::regression_value<double>(kind, p, t - h)) / (2 * h);
      EXPECT_NEAR(slope, fd, 1e-5 * (1 + std::abs(slope))) << "t = " << t << ", a = " << p;
    }
    // Inside the clamp: the closed form itself.
    const double t = 0.7 * edge;
    const double want = kind == Regression::Linex ? (std::exp(p * t) - p * t - 1) / (p * p)
                                                  : std::exp(t) + std::exp(-t) - 2;
    EXPECT_NEAR(detail::regression_value<double>(kind, p, t), want, 1e-9 * want);
  }
  // In float, a residual of 1000 under linex:1 used to be inf.
  EXPECT_TRUE(std::isfinite(detail::regression_value<float>(Regression::Linex, 1.0f, 1000.0f)));
}

// Every loss shape on every balance loss: the value and the finite-difference gradient of the
// loss written out with g, at the fixture's random tables.
TEST_P(LossGradient, EveryLossShapeMatchesFiniteDifferences) {
  using detail::Regression;
  struct Shape {
    const char* name;
    Regression kind;
    double param;
    std::function<double(double)> g;
  };
  const std::vector<Shape> shapes = {
      {"absolute", Regression::Absolute, 1.0, [](double d) { return std::abs(d); }},
      {"huber 0.7", Regression::Huber, 0.7,
       [](double d) { return std::abs(d) <= 0.7 ? d * d : 0.7 * (2 * std::abs(d) - 0.7); }},
      {"linex 0.5", Regression::Linex, 0.5,
       [](double d) { return (std::exp(0.5 * d) - 0.5 * d - 1) / 0.25; }},
      {"linex 1", Regression::Linex, 1.0, [](double d) { return std::exp(d) - d - 1; }},
      {"linex -0.5", Regression::Linex, -0.5,
       [](double d) { return (std::exp(-0.5 * d) + 0.5 * d - 1) / 0.25; }},
      {"shifted-cosh", Regression::ShiftedCosh, 1.0,
       [](double d) { return std::exp(d) + std::exp(-d) - 2; }},
  };
  Fixture f(GetParam()), every_terminates(GetParam(), /*all_terminate=*/true);  // mdb's DAGs
  for (const Shape& sh : shapes) {
    f.g = every_terminates.g = sh.g;
    const auto check = [&](detail::LossKind kind, double lambda,
                           const std::function<double(const std::vector<double>&)>& want,
                           const Fixture& on) {
      double loss = 0;
      const auto grad = analytic(on, kind, lambda, true, &loss, nullptr, sh.kind, sh.param);
      EXPECT_NEAR(loss, want(on.params), 1e-9 * (1 + loss)) << sh.name;
      expect_gradient_matches(on.params, grad, want);
    };
    check(detail::LossKind::TB, 0, [&](const std::vector<double>& p) { return f.tb_loss(p); }, f);
    check(detail::LossKind::DB, 0, [&](const std::vector<double>& p) { return f.db_loss(p); }, f);
    check(detail::LossKind::SubTB, 0.9,
          [&](const std::vector<double>& p) { return f.subtb_loss(p, 0.9); }, f);
    const Fixture& e = every_terminates;
    check(detail::LossKind::ModifiedDB, 0,
          [&](const std::vector<double>& p) { return e.mdb_loss(p); }, e);
  }
}

// SubTB's weightings: each against finite differences of its definition written out, and their
// closed forms: tb is the TB loss with log Z = F(s0), db the DB loss, equal-within the default
// at lambda = 1.
TEST_P(LossGradient, SubtbWeightingsMatchTheirDefinitionsAndClosedForms) {
  using W = detail::SubTBWeighting;
  const Fixture f(GetParam());
  for (W w : {W::GeometricWithin, W::Geometric, W::EqualWithin, W::Equal, W::TB, W::DB,
              W::ModifiedDB, W::GeometricBatch}) {
    double loss = 0;
    const auto grad = analytic(f, detail::LossKind::SubTB, 0.8, true, &loss, nullptr,
                               detail::Regression::Squared, 1.0, w);
    const auto want = [&](const std::vector<double>& p) { return f.weighted_subtb_loss(p, 0.8, w); };
    EXPECT_NEAR(loss, want(f.params), 1e-9 * (1 + loss)) << int(w);
    expect_gradient_matches(f.params, grad, want);
  }
  double db = 0, sub_db = 0, tb = 0, sub_tb = 0, eq = 0, geo1 = 0;
  const auto g_db = analytic(f, detail::LossKind::DB, 0, true, &db);
  const auto g_sub_db = analytic(f, detail::LossKind::SubTB, 0.8, true, &sub_db, nullptr,
                                 detail::Regression::Squared, 1.0, W::DB);
  EXPECT_NEAR(sub_db, db, 1e-12 * (1 + db));
  for (std::size_t i = 0; i < g_db.size(); ++i) EXPECT_NEAR(g_sub_db[i], g_db[i], 1e-12) << i;
  // TB with log Z = F(s0): copy F(s0) into each run's log Z entry; the TB gradient on log Z is
  // SubTB's on F(s0), and the other entries agree.
  Fixture tbf = f;
  for (int32_t r = 0; r < f.runs; ++r)
    tbf.params[r * f.L.stride() + f.L.log_z_entry()] = f.params[r * f.L.stride() + f.L.flow_entry(0)];
  const auto g_tb = analytic(tbf, detail::LossKind::TB, 0, true, &tb);
  const auto g_sub_tb = analytic(f, detail::LossKind::SubTB, 0.8, true, &sub_tb, nullptr,
                                 detail::Regression::Squared, 1.0, W::TB);
  EXPECT_NEAR(sub_tb, tb, 1e-12 * (1 + tb));
  for (int32_t r = 0; r < f.runs; ++r)
    for (int64_t e = 0; e < f.L.stride(); ++e) {
      const int64_t at = r * f.L.stride() + e;
      if (e == f.L.log_z_entry()) continue;
      const double want = e == f.L.flow_entry(0) ? g_tb[r * f.L.stride() + f.L.log_z_entry()] : g_tb[at];
      EXPECT_NEAR(g_sub_tb[at], want, 1e-12) << "run " << r << " entry " << e;
    }
  analytic(f, detail::LossKind::SubTB, 0.3, true, &eq, nullptr, detail::Regression::Squared, 1.0,
           W::EqualWithin);
  analytic(f, detail::LossKind::SubTB, 1.0, true, &geo1);
  EXPECT_NEAR(eq, geo1, 1e-12 * (1 + eq));
}

// FL-DB and FL-SubTB: loss and gradient against finite differences of the losses written out
// with F(s) = table + log R~(s) (Fixture::flow).
void expect_forward_looking_gradients(const Fixture& f) {
  for (detail::LossKind kind : {detail::LossKind::DB, detail::LossKind::SubTB}) {
    double loss = 0;
    const auto grad = analytic(f, kind, 0.9, true, &loss, nullptr, detail::Regression::Squared,
                               1.0, detail::SubTBWeighting::GeometricWithin, nullptr, true);
    const auto want = [&](const std::vector<double>& p) {
      return kind == detail::LossKind::DB ? f.db_loss(p) : f.subtb_loss(p, 0.9);
    };
    EXPECT_NEAR(loss, want(f.params), 1e-9 * (1 + loss)) << int(kind);
    expect_gradient_matches(f.params, grad, want);
  }
}

// Forward-looking flows on DAGs where some states do not terminate, with an intermediate
// log-reward -E(s) there (Pan et al. 2023): loss and gradient against finite differences of the
// losses written with F(s) = table + (log R(s) or -E(s)); and the library's potential is the
// same per-state choice (flow_potential), refusing a DAG that lacks both at a state.
TEST_P(LossGradient, ForwardLookingFlowsWithIntermediateLogRewardsMatchFiniteDifferences) {
  Fixture f(GetParam());
  std::mt19937 rng(GetParam() + 17);
  std::normal_distribution<float> g(0.0f, 1.0f);
  f.intermediate.assign(f.L.num_states, -INFINITY);
  int missing = 0;
  for (int32_t s = 0; s < f.L.num_states; ++s)
    if (!std::isfinite(f.h.log_reward[s])) f.intermediate[s] = g(rng), ++missing;
  ASSERT_GT(missing, 0) << "the fixture's DAG has no non-terminating state";
  f.forward_looking = true;
  expect_forward_looking_gradients(f);
  EXPECT_THROW(flow_potential(f.dag), InputError);  // no intermediate log-rewards yet
  f.dag.set_intermediate_log_reward(f.intermediate);
  const std::vector<float> pot = flow_potential(f.dag);
  for (int32_t s = 0; s < f.L.num_states; ++s) EXPECT_EQ(pot[s], f.potential(s)) << s;
  std::vector<float> holed = f.intermediate;
  for (int32_t s = f.L.num_states - 1; s >= 0; --s)
    if (!std::isfinite(f.h.log_reward[s])) {
      holed[s] = -INFINITY;
      f.dag.set_intermediate_log_reward(holed);
      try {
        flow_potential(f.dag);
        ADD_FAILURE() << "a state with neither log R nor -E(s) was accepted";
      } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("state " + std::to_string(s) + " has neither"),
                  std::string::npos) << e.what();
      }
      break;
    }
}

// Forward-looking flows (FL-DB, FL-SubTB) on DAGs where every state terminates: loss and
// gradient against finite differences of the losses written with F(s) = table + log R(s); and
// FL-DB with log F~(s) = -log P_F(exit|s) is modified DB: every exit residual 0, every inner one
// modified DB's, so the per-run residual sums agree.
TEST_P(LossGradient, ForwardLookingFlowsMatchFiniteDifferencesAndModifiedDb) {
  Fixture f(GetParam(), /*all_terminate=*/true);
  f.forward_looking = true;
  expect_forward_looking_gradients(f);
  Fixture g = f;
  for (int32_t r = 0; r < g.runs; ++r)
    for (int32_t s = 0; s < g.L.num_states; ++s)
      g.params[r * g.L.stride() + g.L.flow_entry(s)] = -g.log_pf(g.params, r, s, g.L.exit_entry(s));
  double fl = 0, mdb = 0;
  std::vector<double> fl_run, mdb_run;
  analytic(g, detail::LossKind::DB, 0, true, &fl, nullptr, detail::Regression::Squared, 1.0,
           detail::SubTBWeighting::GeometricWithin, nullptr, true, &fl_run);
  analytic(g, detail::LossKind::ModifiedDB, 0, true, &mdb, nullptr, detail::Regression::Squared,
           1.0, detail::SubTBWeighting::GeometricWithin, nullptr, false, &mdb_run);
  for (int32_t r = 0; r < g.runs; ++r) {
    int64_t all = 0, inner = 0;
    for (int32_t m = 0; m < g.batch; ++m) all += g.lengths[r * g.batch + m], inner += g.lengths[r * g.batch + m] - 1;
    ASSERT_GT(inner, 0);
    EXPECT_NEAR(fl_run[r] * all, mdb_run[r] * inner, 1e-9 * (1 + mdb_run[r] * inner)) << "run " << r;
  }
}

std::vector<double> random_theta(const Fixture& f, unsigned seed);  // below

// ZVar: the batch variance of TB's residual without log Z (and each loss shape of it, whose
// gradient carries the mean's term) against finite differences, a learned P_B's gradient too,
// and the log Z estimate -mean D written into the table.
TEST_P(LossGradient, LogPartitionVarianceMatchesFiniteDifferences) {
  Fixture f(GetParam());
  using detail::Regression;
  const std::vector<std::pair<Regression, std::function<double(double)>>> shapes = {
      {Regression::Squared, [](double d) { return d * d; }},
      {Regression::Linex, [](double d) { return (std::exp(0.5 * d) - 0.5 * d - 1) / 0.25; }},
      {Regression::Absolute, [](double d) { return std::abs(d); }}};
  for (const auto& [shape, g] : shapes) {
    f.g = g;
    double loss = 0;
    std::vector<double> log_z, mean_d;
    const auto grad = analytic(f, detail::LossKind::ZVar, 0, true, &loss, nullptr, shape, 0.5,
                               detail::SubTBWeighting::GeometricWithin, &log_z);
    EXPECT_NEAR(loss, f.zvar_loss(f.params, &mean_d), 1e-9 * (1 + loss)) << int(shape);
    expect_gradient_matches(f.params, grad, [&](const std::vector<double>& p) { return f.zvar_loss(p); });
    ASSERT_EQ(log_z.size(), mean_d.size());
    for (std::size_t r = 0; r < log_z.size(); ++r) EXPECT_NEAR(log_z[r], -mean_d[r], 1e-12);
    // No gradient reaches the log Z entry: it is an estimate, not a parameter.
    for (int32_t r = 0; r < f.runs; ++r) EXPECT_EQ(grad[r * f.L.stride() + f.L.log_z_entry()], 0.0);
  }
  // A learned P_B: d loss / d theta against finite differences in theta.
  f.g = [](double d) { return d * d; };
  const std::vector<double> theta = random_theta(f, GetParam() + 500);
  f.pb_stride = f.L.num_edges;
  f.log_pb = f.backward_rows(theta);
  double loss = 0;
  std::vector<double> pb_grad;
  analytic(f, detail::LossKind::ZVar, 0, true, &loss, &pb_grad);
  expect_gradient_matches(theta, pb_grad, [&](const std::vector<double>& th) {
    Fixture h = f;
    h.log_pb = h.backward_rows(th);
    return h.zvar_loss(h.params);
  });
}

// FM: the value and gradient of the loss written out edge by edge, under three shapes; P_B
// given or not changes nothing (FM has none).
TEST_P(LossGradient, FlowMatchingMatchesFiniteDifferences) {
  Fixture f(GetParam());
  using detail::Regression;
  const std::vector<std::tuple<Regression, double, std::function<double(double)>>> shapes = {
      {Regression::Squared, 1.0, [](double d) { return d * d; }},
      {Regression::Huber, 0.5,
       [](double d) { return std::abs(d) <= 0.5 ? d * d : 0.5 * (2 * std::abs(d) - 0.5); }},
      {Regression::Linex, 0.5, [](double d) { return (std::exp(0.5 * d) - 0.5 * d - 1) / 0.25; }}};
  for (const auto& [shape, param, g] : shapes) {
    for (double alpha : {1.0, 0.3, 0.0}) {  // the reward-matching weight (torchgfn's alpha)
      f.g = g;
      f.fm_alpha = alpha;
      double loss = 0, loss_no_pb = 0;
      const auto grad = analytic(f, detail::LossKind::FM, 0, true, &loss, nullptr, shape, param);
      const auto grad_no_pb =
          analytic(f, detail::LossKind::FM, 0, false, &loss_no_pb, nullptr, shape, param);
      EXPECT_NEAR(loss, f.fm_loss(f.params), 1e-9 * (1 + loss)) << int(shape) << " " << alpha;
      EXPECT_EQ(loss, loss_no_pb);
      EXPECT_EQ(grad, grad_no_pb);
      expect_gradient_matches(f.params, grad,
                              [&](const std::vector<double>& p) { return f.fm_loss(p); });
      for (int32_t r = 0; r < f.runs; ++r)  // only edge flows are parameters
        for (int64_t i = f.L.num_actions(); i < f.L.stride(); ++i)
          EXPECT_EQ(grad[r * f.L.stride() + i], 0.0);
    }
  }
}

// FM's exact fixed point: with log F(s -> s') = log P_B(s|s') + V(s') for the uniform P_B and
// the exit flow R(s), V(s) = log (sum_c e^V(c) / parents(c) + R(s)) computed here from the
// children (the soft values with the uniform correction), every residual is 0, so is the
// gradient, and the out-flow of s_0 is Z = sum_x R(x).
TEST_P(LossGradient, FlowMatchingVanishesAtTheUniformCorrectionSoftValues) {
  Fixture f(GetParam());
  std::vector<int32_t> parents(f.L.num_states, 0);
  for (int32_t e = 0; e < f.L.num_edges; ++e) ++parents[f.h.child_index[e]];
  std::vector<double> v(f.L.num_states, -INFINITY);
  for (int32_t s = f.L.num_states - 1; s >= 0; --s) {  // level-sorted: children after parents
    double z = std::isfinite(f.h.log_reward[s]) ? std::exp(double(f.h.log_reward[s])) : 0.0;
    for (int64_t e = f.h.child_offsets[s]; e < f.h.child_offsets[s + 1]; ++e) {
      ASSERT_GT(f.h.child_index[e], s);
      z += std::exp(v[f.h.child_index[e]]) / parents[f.h.child_index[e]];
    }
    v[s] = std::log(z);
  }
  double z = 0;
  for (int32_t s = 0; s < f.L.num_states; ++s)
    if (std::isfinite(f.h.log_reward[s])) z += std::exp(double(f.h.log_reward[s]));
  for (int32_t r = 0; r < f.runs; ++r) {
    double* row = f.params.data() + r * f.L.stride();
    for (int32_t e = 0; e < f.L.num_edges; ++e)
      row[e] = v[f.h.child_index[e]] - std::log(double(parents[f.h.child_index[e]]));
    for (int32_t s = 0; s < f.L.num_states; ++s) row[f.L.exit_entry(s)] = f.h.log_reward[s];
    EXPECT_NEAR(detail::action_lse(f.dag.view(), f.L, static_cast<const double*>(row), 0, 1.0), std::log(z), 1e-12);
  }
  double loss = 0;
  const auto grad = analytic(f, detail::LossKind::FM, 0, false, &loss);
  EXPECT_NEAR(loss, 0.0, 1e-20);
  for (double x : grad) EXPECT_NEAR(x, 0.0, 1e-12);
  // Off the fixed point the loss is positive: shift one edge flow on a visited state's path.
  f.params[f.ac(0, 0) < f.L.num_edges ? f.ac(0, 0) : f.L.exit_entry(0)] += 0.3;
  analytic(f, detail::LossKind::FM, 0, false, &loss);
  EXPECT_GT(loss, 1e-6);
}

// SoftDQN / Munchausen: replayed transitions = every transition of the fixture's trajectories.
TEST_P(LossGradient, SoftDqnAndMunchausenMatchFiniteDifferences) {
  const Fixture f(GetParam());
  const int32_t samples = 24;
  std::vector<int32_t> ss, sa;
  f.replay_pairs(samples, ss, sa);
  std::mt19937 rng(GetParam() + 7);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> target(f.params.size());
  for (double& x : target) x = g(rng);
  // Coverage: inner transitions (neither at s0 nor exits) at several states, and the Munchausen
  // term tau log pi_tgt(a|s) (alpha 0.6, tau 2.5) both clipped at l0 = -1 and inside (l0, 0) at
  // several states each.
  std::set<int32_t> inner_states, clipped_states, open_states;
  for (int32_t r = 0; r < f.runs; ++r)
    for (int32_t i = 0; i < samples; ++i) {
      const int32_t s = ss[r * samples + i];
      const int64_t act = sa[r * samples + i];
      if (s != 0 && act < f.L.num_edges) inner_states.insert(s);  // s0 is state 0
      const double tau = 2.5, *row = target.data() + r * f.L.stride();
      double z = 0;
      for (int64_t e = f.h.child_offsets[s]; e < f.h.child_offsets[s + 1]; ++e) z += std::exp(row[e] / tau);
      if (std::isfinite(f.h.log_reward[s])) z += std::exp(row[f.L.exit_entry(s)] / tau);
      const double munch = row[act] - tau * std::log(z);
      (munch <= -1.0 ? clipped_states : open_states).insert(s);
    }
  EXPECT_GE(inner_states.size(), 3u);
  EXPECT_GE(clipped_states.size(), 2u);
  EXPECT_GE(open_states.size(), 2u);
  for (double alpha : {0.0, 0.15, 0.6}) {
    for (bool huber : {true, false}) {
      const double tau = 1.0 / (1.0 - alpha);
      std::vector<double> grad(f.params.size(), 0.0), loss(f.runs, 0.0), td(f.runs * samples);
      detail::DqnArgs<double> a = f.dqn_args(target, ss, sa, samples, grad, loss);
      a.abs_td = td.data();
      a.tau = tau;
      a.alpha = alpha;
      a.l0 = -1.0;  // small enough to be active on some samples
      a.huber = huber;
      f.replay_all(a);
      auto td_loss = [&](const std::vector<double>& p) {
        return f.td_loss(p, target, ss, sa, samples, tau, alpha, huber, -1.0);
      };
      EXPECT_NEAR(loss[0] + loss[1], td_loss(f.params), 1e-9);
      expect_gradient_matches(f.params, grad, td_loss);
    }
  }
}

// A learned P_B: the gradient each loss sends to the backward logits theta (through the
// log-softmax over parents) against finite differences of the loss in theta.
std::vector<double> random_theta(const Fixture& f, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> theta(std::size_t(f.runs) * f.L.num_edges);
  for (double& x : theta) x = g(rng);
  return theta;
}

TEST_P(LossGradient, LearnedBackwardPolicyGradientsMatchFiniteDifferences) {
  Fixture f(GetParam());
  const std::vector<double> theta = random_theta(f, GetParam() + 100);
  f.pb_stride = f.L.num_edges;
  f.log_pb = f.backward_rows(theta);
  struct Case {
    detail::LossKind kind;
    double lambda;
  };
  for (const Case c : {Case{detail::LossKind::TB, 0}, Case{detail::LossKind::DB, 0},
                       Case{detail::LossKind::SubTB, 0.9}}) {
    double loss = 0;
    std::vector<double> pb_grad;
    analytic(f, c.kind, c.lambda, true, &loss, &pb_grad);
    expect_gradient_matches(theta, pb_grad, [&](const std::vector<double>& th) {
      Fixture g = f;
      g.log_pb = f.backward_rows(th);
      return c.kind == detail::LossKind::TB   ? g.tb_loss(g.params)
             : c.kind == detail::LossKind::DB ? g.db_loss(g.params)
                                              : g.subtb_loss(g.params, c.lambda);
    });
  }
  // SoftDQN / Munchausen: through log P_B in the TD target.
  const int32_t samples = 6;
  std::vector<int32_t> ss, sa;
  f.replay_pairs(samples, ss, sa);
  std::vector<double> target = f.params;  // a target table different from the online one
  for (double& x : target) x = 0.5 * x + 0.3;
  for (double alpha : {0.0, 0.15}) {
    const double tau = 1.0 / (1.0 - alpha);
    std::vector<double> grad(f.params.size(), 0.0), loss(f.runs, 0.0),
        pb_grad(theta.size(), 0.0);
    detail::DqnArgs<double> a = f.dqn_args(target, ss, sa, samples, grad, loss);
    a.pb_grad = pb_grad.data();
    a.tau = tau;
    a.alpha = alpha;
    a.l0 = -1.0;
    a.huber = true;
    f.replay_all(a);
    expect_gradient_matches(theta, pb_grad, [&](const std::vector<double>& th) {
      Fixture g = f;
      g.log_pb = f.backward_rows(th);
      return g.td_loss(g.params, target, ss, sa, samples, tau, alpha, true, -1.0);
    });
  }
}

// Energy differences (every state terminates): modified DB, and SoftDQN / Munchausen with
// rewards log R(s') - log R(s); each with a learned P_B too.
TEST_P(LossGradient, EnergyDifferenceLearnersMatchFiniteDifferences) {
  Fixture f(GetParam(), /*all_terminate=*/true);
  double loss = 0;
  auto g = analytic(f, detail::LossKind::ModifiedDB, 0, true, &loss);
  EXPECT_NEAR(loss, f.mdb_loss(f.params), 1e-9 * (1 + loss));
  expect_gradient_matches(f.params, g, [&](const std::vector<double>& p) { return f.mdb_loss(p); });
  const std::vector<double> theta = random_theta(f, GetParam() + 300);
  f.pb_stride = f.L.num_edges;
  f.log_pb = f.backward_rows(theta);
  std::vector<double> pb_grad;
  analytic(f, detail::LossKind::ModifiedDB, 0, true, &loss, &pb_grad);
  expect_gradient_matches(theta, pb_grad, [&](const std::vector<double>& th) {
    Fixture h = f;
    h.log_pb = f.backward_rows(th);
    return h.mdb_loss(h.params);
  });
  const int32_t samples = 6;
  std::vector<int32_t> ss, sa;
  f.replay_pairs(samples, ss, sa);
  std::vector<double> target = f.params;
  for (double& x : target) x = 0.5 * x - 0.2;
  for (double alpha : {0.0, 0.15}) {
    const double tau = 1.0 / (1.0 - alpha);
    std::vector<double> grad(f.params.size(), 0.0), l(f.runs, 0.0);
    detail::DqnArgs<double> a = f.dqn_args(target, ss, sa, samples, grad, l);
    a.tau = tau;
    a.alpha = alpha;
    a.l0 = -1.0;
    a.huber = false;
    a.energy_reward = true;
    f.replay_all(a);
    auto td = [&](const std::vector<double>& p) {
      return f.td_loss(p, target, ss, sa, samples, tau, alpha, false, -1.0, true);
    };
    EXPECT_NEAR(l[0] + l[1], td(f.params), 1e-9);
    expect_gradient_matches(f.params, grad, td);
  }
}

// KL-regularised learners (Deleu's talk): with a base policy mu, TB is Relative TB, SubTB is
// Trust-PCL, DB relative DB; every step's log P_F loses log mu(a|s).
TEST_P(LossGradient, BasePolicyLossesMatchFiniteDifferences) {
  Fixture f(GetParam());
  f.random_mu(GetParam() + 400);
  f.log_pb.assign(f.log_pb.size(), 0.0);  // mu replaces P_B
  double loss = 0;
  auto g = analytic(f, detail::LossKind::TB, 0, true, &loss);
  EXPECT_NEAR(loss, f.tb_loss(f.params), 1e-9 * (1 + loss));
  expect_gradient_matches(f.params, g, [&](const std::vector<double>& p) { return f.tb_loss(p); });
  g = analytic(f, detail::LossKind::DB, 0, true, &loss);
  EXPECT_NEAR(loss, f.db_loss(f.params), 1e-9 * (1 + loss));
  expect_gradient_matches(f.params, g, [&](const std::vector<double>& p) { return f.db_loss(p); });
  g = analytic(f, detail::LossKind::SubTB, 0.9, true, &loss);
  EXPECT_NEAR(loss, f.subtb_loss(f.params, 0.9), 1e-9 * (1 + loss));
  expect_gradient_matches(f.params, g,
                          [&](const std::vector<double>& p) { return f.subtb_loss(p, 0.9); });
}

// Path Consistency Learning under the corrected reward (r = log P_B on inner edges, log R on the
// exit; V(s0) learned as log Z) written from its soft-RL definition: its gradient is TB's.
TEST_P(LossGradient, PclGradientEqualsTbGradientUnderTheCorrectedReward) {
  const Fixture f(GetParam());
  auto pcl = [&](const std::vector<double>& p) {
    double total = 0;
    for (int32_t r = 0; r < f.runs; ++r)
      for (int32_t m = 0; m < f.batch; ++m) {
        const int32_t t = r * f.batch + m, len = f.lengths[t];
        // C = -V(s0) + sum_t (r_t - log pi(a_t|s_t)), V(s_after_exit) = 0.
        double c = -p[r * f.L.stride() + f.L.log_z_entry()];
        for (int32_t k = 0; k < len; ++k) {
          const int64_t a = f.ac(t, k);
          const double reward = a < f.L.num_edges ? f.pb(r, a) : double(f.h.log_reward[f.st(t, k)]);
          c += reward - f.log_pf(p, r, f.st(t, k), a);
        }
        total += c * c / f.batch;
      }
    return total;
  };
  double loss = 0;
  const auto g = analytic(f, detail::LossKind::TB, 0, true, &loss);
  EXPECT_NEAR(loss, pcl(f.params), 1e-9 * (1 + loss));
  expect_gradient_matches(f.params, g, pcl);
}

// Forward-looking DB = soft Q-learning (Tiapkin et al.): with log F(s) := LSE Q(s, .) and
// log P_F(a|s) := Q(s,a) - LSE Q(s, .), the DB residual F(s) + log P_F(a|s) - F(s') - log P_B is
// Q(s,a) - (log P_B + LSE Q(s', .)), the soft TD error; with F(s') held fixed (the target), the DB
// loss's gradient in Q is the SoftDQN update computed by dqn_sample with the online table as
// its target (MSE, alpha = 0).
TEST_P(LossGradient, ForwardLookingDbUpdateEqualsSoftQLearningUpdate) {
  const Fixture f(GetParam());
  const int32_t samples = 6;
  std::vector<int32_t> ss, sa;
  f.replay_pairs(samples, ss, sa);
  auto lse = [&](const std::vector<double>& q, int32_t r, int32_t s) {
    double z = 0;
    const double* row = q.data() + r * f.L.stride();
    for (int64_t e = f.h.child_offsets[s]; e < f.h.child_offsets[s + 1]; ++e) z += std::exp(row[e]);
    if (std::isfinite(f.h.log_reward[s])) z += std::exp(row[f.L.exit_entry(s)]);
    return std::log(z);
  };
  // DB on the replayed transitions, flows from the online Q except F(s'), frozen at `frozen`.
  auto db = [&](const std::vector<double>& q, const std::vector<double>& frozen) {
    double total = 0;
    for (int32_t r = 0; r < f.runs; ++r)
      for (int32_t i = 0; i < samples; ++i) {
        const int32_t s = ss[r * samples + i];
        const int64_t a = sa[r * samples + i];
        const double log_f = lse(q, r, s), log_pf = q[r * f.L.stride() + a] - lse(q, r, s);
        const double end = a < f.L.num_edges
                               ? lse(frozen, r, f.h.child_index[a]) + f.pb(r, a)
                               : double(f.h.log_reward[s]);
        const double d = log_f + log_pf - end;
        total += d * d / samples;
      }
    return total;
  };
  std::vector<double> grad(f.params.size(), 0.0), loss(f.runs, 0.0);
  detail::DqnArgs<double> a = f.dqn_args(f.params, ss, sa, samples, grad, loss);
  a.tau = 1.0;
  a.alpha = 0.0;
  a.l0 = -100.0;
  a.huber = false;
  f.replay_all(a);
  EXPECT_NEAR(loss[0] + loss[1], db(f.params, f.params), 1e-9) << "residuals are the TD errors";
  expect_gradient_matches(f.params, grad,
                          [&](const std::vector<double>& q) { return db(q, f.params); });
}

// TLM: L = -(1/#inner) sum log P_B over the inner transitions of each run's batch.
TEST_P(LossGradient, TlmLossAndGradientMatchTheirDefinition) {
  const Fixture f(GetParam());
  const std::vector<double> theta = random_theta(f, GetParam() + 200);
  auto tlm_loss = [&](const std::vector<double>& th) {
    const std::vector<double> lp = f.backward_rows(th);
    double total = 0;
    for (int32_t r = 0; r < f.runs; ++r) {
      double sum = 0, inner = 0;
      for (int32_t m = 0; m < f.batch; ++m) {
        const int32_t t = r * f.batch + m;
        for (int32_t k = 0; k + 1 < f.lengths[t]; ++k, ++inner)
          sum -= lp[r * f.L.num_edges + f.ac(t, k)];
      }
      total += inner > 0 ? sum / inner : 0.0;
    }
    return total;
  };
  const std::vector<double> lp = f.backward_rows(theta);
  std::vector<double> grad(theta.size(), 0.0), loss(f.runs, 0.0);
  detail::TlmArgs<double> a{};
  a.dag = f.dag.view();
  a.layout = f.L;
  a.log_pb = lp.data();
  a.grad = grad.data();
  a.loss = loss.data();
  a.runs = f.runs;
  a.batch = f.batch;
  a.max_len = f.max_len;
  a.states = f.states.data();
  a.actions = f.actions.data();
  a.lengths = f.lengths.data();
  for (int32_t r = 0; r < f.runs; ++r)
    for (int32_t m = 0; m < f.batch; ++m) detail::tlm_trajectory(a, r, m);
  EXPECT_NEAR(loss[0] + loss[1], tlm_loss(theta), 1e-9);
  EXPECT_GE(loss[0], 0.0);  // a negative log-likelihood of probabilities <= 1
  expect_gradient_matches(theta, grad, tlm_loss);
  // The library's log-softmax over parents equals the one written out here.
  std::vector<double> lib(theta.size());
  for (int32_t r = 0; r < f.runs; ++r)
    for (int32_t c = 0; c < f.L.num_states; ++c)
      detail::backward_log_probs_state(f.dag.view(), theta.data() + r * f.L.num_edges, c,
                                       lib.data() + r * f.L.num_edges);
  for (std::size_t i = 0; i < lib.size(); ++i) EXPECT_NEAR(lib[i], lp[i], 1e-12);
}

INSTANTIATE_TEST_SUITE_P(RandomDags, LossGradient, ::testing::Values(1u, 2u, 3u));

// ---- rollouts ---------------------------------------------------------------------------------
// The histogram of sampled terminal states against the exact P_T of the behaviour policy
// (1 - eps) softmax(scale * row) + eps uniform, computed by brute-force path enumeration.
TEST(Rollout, SampledTerminalStatesFollowTheBehaviourPolicy) {
  const Fixture f(5);
  const BruteForce bf(f.dag);
  const float scale = 0.7f, eps = 0.3f;
  std::vector<float> row(f.L.stride());
  for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<float>(f.params[i]);
  std::vector<float> lp(f.L.num_edges), exit_lp(f.L.num_states);
  for (int32_t s = 0; s < f.L.num_states; ++s) {
    double z = 0;
    const int64_t b = f.h.child_offsets[s], end = f.h.child_offsets[s + 1];
    const bool ex = std::isfinite(f.h.log_reward[s]);
    for (int32_t e = b; e < end; ++e) z += std::exp(double(scale) * row[e]);
    if (ex) z += std::exp(double(scale) * row[f.L.exit_entry(s)]);
    const double n = end - b + (ex ? 1 : 0);
    for (int32_t e = b; e < end; ++e)
      lp[e] = float(std::log((1 - eps) * std::exp(double(scale) * row[e]) / z + eps / n));
    exit_lp[s] = ex ? float(std::log((1 - eps) * std::exp(double(scale) * row[f.L.exit_entry(s)]) / z + eps / n))
                    : -INFINITY;
  }
  const std::vector<double> pt = bf.terminal(lp, exit_lp);

  const int32_t batch = 200000;
  std::vector<int32_t> states(std::size_t(batch) * f.max_len), actions(states.size()), lengths(batch);
  detail::RolloutArgs a{};
  a.dag = f.dag.view();
  a.layout = f.L;
  a.params = row.data();
  a.runs = 1;
  a.batch = batch;
  a.max_len = f.max_len;
  const float unit = 1.0f;
  a.tau = 1.0f / scale;  // scale = 1 / (tau * temperature 1)
  a.temperature_start = a.temperature_end = &unit;
  a.epsilon_start = &eps;
  a.epsilon_end = &eps;
  a.seed = 42;
  a.step = 3;
  a.states = states.data();
  a.actions = actions.data();
  a.lengths = lengths.data();
  std::vector<double> hist(f.L.num_states, 0.0);
  for (int32_t m = 0; m < batch; ++m) {
    detail::rollout_trajectory(a, 0, m);
    const int32_t len = lengths[m];
    ASSERT_GE(len, 1);
    ASSERT_TRUE(f.L.is_exit(actions[std::size_t(m) * f.max_len + len - 1]));
    hist[states[std::size_t(m) * f.max_len + len - 1]] += 1.0 / batch;
  }
  for (int32_t s = 0; s < f.L.num_states; ++s)
    EXPECT_NEAR(hist[s], pt[s], 5 * std::sqrt(pt[s] * (1 - pt[s]) / batch) + 1e-4) << "state " << s;
}

TEST(Rollout, SameSeedSameTrajectoriesOtherSeedOthers) {
  const Fixture f(6);
  std::vector<float> row(f.L.stride(), 0.0f);
  auto sample = [&](uint64_t seed, uint64_t step) {
    std::vector<int32_t> st(64 * f.max_len, -1), ac(st.size(), -1), len(64);
    const float eps = 0.1f;
    const float unit = 1.0f;
    detail::RolloutArgs a{f.dag.view(), f.L, row.data(), 1, 64, f.max_len, 1.0f, &unit, &unit, 0,
                          &eps, &eps, 0, seed, step, st.data(), ac.data(), len.data()};
    for (int32_t m = 63; m >= 0; --m) detail::rollout_trajectory(a, 0, m);  // any order
    ac.insert(ac.end(), len.begin(), len.end());
    return ac;
  };
  EXPECT_EQ(sample(1, 0), sample(1, 0));
  EXPECT_NE(sample(1, 0), sample(2, 0));
  EXPECT_NE(sample(1, 0), sample(1, 1));
}

}  // namespace
}  // namespace gfnrl::test
