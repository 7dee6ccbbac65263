// The DQN replay buffer (ring wrap-around, new-transition priority, priority update,
// proportional and uniform sampling frequencies), the Polyak update, and the exact metrics (TV,
// KL both ways, JSD) against independent double-precision formulas, zeros included, and log sum
// exp against a long-double sum. The CPU ops are called directly (host/ops/training_ops.hpp,
// reduction_ops.hpp): these are the units the trainer composes.
#include <cmath>
#include <deque>
#include <random>

#include "ops/reduction_ops.hpp"
#include "ops/training_ops.hpp"
#include "test_support.hpp"

namespace gfnrl::test {
namespace {

using detail::ReplayArgs;
using detail::RolloutArgs;

// One run-major replay buffer in host vectors, with the views the ops take.
struct Replay {
  int32_t runs, capacity;
  std::vector<int32_t> state, action;
  std::vector<float> priority, max_priority;
  std::vector<double> cumsum;
  std::vector<int64_t> inserted;
  Replay(int32_t r, int32_t c, bool prioritized)
      : runs(r), capacity(c), state(size_t(r) * c, -1), action(size_t(r) * c, -1),
        priority(prioritized ? size_t(r) * c : 0, 0.0f), max_priority(r, 1.0f),
        cumsum(size_t(r) * c), inserted(r, 0) {}
  ReplayArgs args() {
    return {runs,         capacity,        state.data(),    action.data(),
            priority.empty() ? nullptr : priority.data(), cumsum.data(), inserted.data(),
            max_priority.data()};
  }
};

// Inserts one batch: trajectory m of run r has lengths[r][m] transitions whose states are
// next_id++ (so every transition is recognisable) and actions 1000 + the same id.
void insert_batch(Replay& rb, const std::vector<std::vector<int32_t>>& lengths, int32_t& next_id,
                  std::vector<std::deque<int32_t>>* model) {
  const int32_t batch = static_cast<int32_t>(lengths[0].size());
  int32_t max_len = 1;
  for (const auto& run : lengths)
    for (int32_t l : run) max_len = std::max(max_len, l);
  std::vector<int32_t> states(size_t(rb.runs) * batch * max_len, -7), actions(states.size(), -7),
      lens(size_t(rb.runs) * batch);
  for (int32_t r = 0; r < rb.runs; ++r)
    for (int32_t m = 0; m < batch; ++m) {
      lens[size_t(r) * batch + m] = lengths[r][m];
      for (int32_t t = 0; t < lengths[r][m]; ++t) {
        const size_t at = (size_t(r) * batch + m) * max_len + t;
        states[at] = next_id;
        actions[at] = 1000 + next_id;
        (*model)[r].push_back(next_id++);
        if (static_cast<int32_t>((*model)[r].size()) > rb.capacity) (*model)[r].pop_front();
      }
    }
  RolloutArgs t{};
  t.runs = rb.runs;
  t.batch = batch;
  t.max_len = max_len;
  t.states = states.data();
  t.actions = actions.data();
  t.lengths = lens.data();
  detail::cpu::replay_insert(rb.args(), t);
}

// Transition j of run r (j = 0 .. n-1 in insertion order) sits in slot j % capacity, for the last
// min(n, capacity) of them (the model), with the run's maximal priority at its insertion.
void expect_ring_holds(const Replay& rb, const std::vector<std::deque<int32_t>>& model) {
  for (int32_t r = 0; r < rb.runs; ++r) {
    const int64_t n = rb.inserted[r];
    ASSERT_EQ(static_cast<int64_t>(model[r].size()), std::min<int64_t>(n, rb.capacity));
    for (size_t k = 0; k < model[r].size(); ++k) {
      const int64_t j = n - int64_t(model[r].size()) + int64_t(k);
      const size_t slot = size_t(r) * rb.capacity + size_t(j % rb.capacity);
      EXPECT_EQ(rb.state[slot], model[r][k]) << "run " << r << " transition " << j;
      EXPECT_EQ(rb.action[slot], 1000 + model[r][k]);
      EXPECT_EQ(rb.priority[slot], rb.max_priority[r]);
    }
  }
}

TEST(Replay, RingWrapsAroundKeepingTheLastCapacityTransitionsInWriteOrder) {
  Replay rb(2, 5, true);
  rb.max_priority = {2.5f, 0.75f};
  std::vector<std::deque<int32_t>> model(2);
  int32_t id = 0;
  // Run 0: 3 + 4 transitions (wraps once); run 1: 1 + 1 (does not fill).
  insert_batch(rb, {{3, 4}, {1, 1}}, id, &model);
  insert_batch(rb, {{2, 4}, {0, 2}}, id, &model);  // run 0 wraps again; run 1 gets 2 more
  EXPECT_EQ(rb.inserted, (std::vector<int64_t>{13, 4}));
  expect_ring_holds(rb, model);
  // Run 1 never filled: slot 4 was never written.
  EXPECT_EQ(rb.state[5 + 4], -1);
}

// One batch of 13 transitions into a ring of 5: the ring holds the batch's last 5, as inserting
// them one by one would leave it (the insert skips the ones a later one overwrites, so the CUDA
// insert, which writes trajectories in parallel, never writes a slot twice).
TEST(Replay, ABatchLargerThanTheRingLeavesItsLastCapacityTransitions) {
  Replay rb(2, 5, true);
  rb.max_priority = {2.5f, 0.75f};
  std::vector<std::deque<int32_t>> model(2);
  int32_t id = 0;
  insert_batch(rb, {{1, 1, 1}, {1, 1, 1}}, id, &model);
  insert_batch(rb, {{4, 6, 3}, {2, 0, 1}}, id, &model);
  EXPECT_EQ(rb.inserted, (std::vector<int64_t>{16, 6}));
  expect_ring_holds(rb, model);
}

TEST(Replay, PriorityUpdateSetsSampledSlotsAndRaisesTheMaximum) {
  Replay rb(2, 4, true);
  std::vector<std::deque<int32_t>> model(2);
  int32_t id = 0;
  insert_batch(rb, {{4}, {4}}, id, &model);
  const float exponent = 0.6f;
  // Samples per run: 3; run 0 updates slots 1, 3, 1 (the later write wins), run 1 slot 0.
  const std::vector<int32_t> slot = {1, 3, 1, 0, 0, 0};
  const std::vector<float> abs_td = {0.5f, 4.0f, 0.25f, 0.0f, 0.0f, 2.0f};
  detail::cpu::replay_update_priorities(rb.args(), 3, slot.data(), abs_td.data(), exponent, false);
  auto p = [&](double td) { return static_cast<float>(std::pow(td + 1e-3, double(exponent))); };
  EXPECT_NEAR(rb.priority[1], p(0.25), 1e-6);
  EXPECT_NEAR(rb.priority[3], p(4.0), 1e-6);
  EXPECT_EQ(rb.priority[0], 1.0f);  // untouched: the initial max priority
  EXPECT_EQ(rb.priority[2], 1.0f);
  EXPECT_NEAR(rb.priority[4 + 0], p(2.0), 1e-6);
  EXPECT_NEAR(rb.max_priority[0], p(4.0), 1e-6);
  EXPECT_NEAR(rb.max_priority[1], p(2.0), 1e-6);
  // A zero TD error keeps a positive priority (the floor), so the slot can be replayed again.
  detail::cpu::replay_update_priorities(rb.args(), 3, slot.data(), std::vector<float>(6, 0.0f).data(),
                                        exponent, false);
  EXPECT_NEAR(rb.priority[1], p(0.0), 1e-9);
  EXPECT_GT(rb.priority[1], 0.0f);
  EXPECT_NEAR(rb.max_priority[0], p(4.0), 1e-6) << "the maximum never decreases";
}

// The reference rule (the default): (huber(|d|) + 1e-6)^exponent, huber(d) = d^2/2 below 1 and
// d - 1/2 above; at exponent 0.5 the weight of |d| = 0.01 against |d| = 1 is 0.0100 (the abs-td
// rule gives 0.105).
TEST(Replay, HuberLossPrioritiesFollowTheReferenceRule) {
  Replay rb(1, 4, true);
  std::vector<std::deque<int32_t>> model(1);
  int32_t id = 0;
  insert_batch(rb, {{4}}, id, &model);
  const std::vector<int32_t> slot = {0, 1, 2, 3};
  const std::vector<float> abs_td = {0.01f, 1.0f, 3.0f, 0.5f};
  detail::cpu::replay_update_priorities(rb.args(), 4, slot.data(), abs_td.data(), 0.5f, true);
  const double want[] = {std::sqrt(0.5 * 0.01 * 0.01 + 1e-6), std::sqrt(0.5 + 1e-6),
                         std::sqrt(2.5 + 1e-6), std::sqrt(0.125 + 1e-6)};
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(rb.priority[k], want[k], 1e-6 * want[k]) << k;
  EXPECT_NEAR(rb.priority[0] / rb.priority[1], 0.0100, 0.0002);
  EXPECT_NEAR(rb.max_priority[0], want[2], 1e-6);
  Replay old(1, 4, true);
  insert_batch(old, {{4}}, id, &model);
  detail::cpu::replay_update_priorities(old.args(), 4, slot.data(), abs_td.data(), 0.5f, false);
  EXPECT_NEAR(old.priority[0] / old.priority[1], 0.105, 0.001);
  // With the squared TD loss (--loss mse) the priority is its loss, d^2, as the reference's
  // MSELoss(reduction='none') keys it; it used to stay Huber's.
  Replay squared(1, 4, true);
  insert_batch(squared, {{4}}, id, &model);
  detail::cpu::replay_update_priorities(squared.args(), 4, slot.data(), abs_td.data(), 0.5f,
                                        detail::kPrioritySquared);
  for (int k = 0; k < 4; ++k)
    EXPECT_NEAR(squared.priority[k], std::sqrt(double(abs_td[k]) * abs_td[k] + 1e-6),
                1e-6 * squared.priority[k]) << k;
  TrainConfig c;
  EXPECT_EQ(c.priority, ReplayPriority::HuberLoss) << "the reference rule is the default";
  EXPECT_EQ(c.priority_exponent, 0.5f);
  EXPECT_EQ(parse_replay_priority("abs-td"), ReplayPriority::AbsTd);
  EXPECT_THROW(parse_replay_priority("rank"), InputError);
}

// The reference rule for new transitions: after an insertion that wraps the ring, exactly the
// newest transitions (at most the capacity) take (huber(|Q(s,a) - y|) + 1e-6)^exponent, with the
// SoftDQN target y = log sum_a' exp Q_tgt(s', a') (tau 1, no correction) or log R(s) for an exit,
// written here from the table layout; older slots keep their priority.
TEST(Replay, NewTransitionsTakeTheirOwnTdErrorsPriority) {
  for (const bool huber : {true, false}) {  // the TD loss in use: Huber's, or the squared error
  SCOPED_TRACE(huber ? "huber" : "squared");
  const Dag dag = make_hypergrid({2, 4, 1e-2, 0.5, 2.0}, Backend::Cpu);
  const DagArrays h = dag.to_host();
  const int32_t N = dag.num_states(), E = static_cast<int32_t>(dag.num_edges());
  detail::TableLayout L{N, E};
  std::mt19937 rng(8);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> q(L.stride()), tgt(L.stride());
  for (auto* t : {&q, &tgt})
    for (float& v : *t) v = g(rng);
  // 5 slots; 3 transitions already in (priorities 7), then a batch of 2 trajectories of 2 and
  // 2 transitions: inserted 3 -> 7, so slots 3, 4, 0, 1 are new and slot 2 is old.
  Replay rb(1, 5, true);
  rb.inserted[0] = 7;
  std::fill(rb.priority.begin(), rb.priority.end(), 7.0f);
  // (state, action): the first edge of states 0, 1, 3, the exits of states 5 and 6.
  std::pair<int32_t, int32_t> sa[5] = {{0, 0}, {5, E + 5}, {1, 0}, {3, 0}, {6, E + 6}};
  for (int k : {0, 2, 3}) sa[k].second = h.child_offsets[sa[k].first];
  for (int k = 0; k < 5; ++k) rb.state[k] = sa[k].first, rb.action[k] = sa[k].second;
  std::vector<int32_t> lengths = {2, 2};
  detail::DqnArgs<float> a{};
  a.dag = dag.view(), a.layout = L, a.runs = 1, a.params = q.data(), a.target = tgt.data();
  a.tau = 1.0f, a.alpha = 0.0f, a.l0 = -100.0f, a.huber = huber;
  detail::RolloutArgs t{};
  t.runs = 1, t.batch = 2, t.max_len = 2, t.lengths = lengths.data();
  detail::cpu::replay_prioritize_new(rb.args(), t, a, 0.5f);
  for (int k = 0; k < 5; ++k) {
    const auto [s, act] = sa[k];
    double y;
    if (act >= E) {
      y = h.log_reward[s];
    } else {
      const int32_t c = h.child_index[act];
      double z = std::exp(double(tgt[E + c]));  // every hypergrid state may exit
      for (int64_t e = h.child_offsets[c]; e < h.child_offsets[c + 1]; ++e) z += std::exp(double(tgt[e]));
      y = std::log(z);
    }
    const double d = std::abs(q[act] - y);
    const double loss = huber ? (d < 1 ? 0.5 * d * d : d - 0.5) : d * d;
    const double want = k == 2 ? 7.0 : std::sqrt(loss + 1e-6);
    EXPECT_NEAR(rb.priority[k], want, 2e-5 * (1 + want)) << "slot " << k;
  }
  }
}

// Counts how often each slot of run r is drawn over `steps` calls of `samples` draws.
std::vector<int64_t> sample_counts(Replay& rb, int32_t r, int32_t samples, int32_t steps) {
  std::vector<int64_t> counts(rb.capacity, 0);
  std::vector<int32_t> slot(size_t(rb.runs) * samples), st(slot.size()), ac(slot.size());
  for (int32_t step = 0; step < steps; ++step) {
    detail::cpu::replay_sample(rb.args(), 42, step, samples, slot.data(), st.data(), ac.data());
    for (int32_t i = 0; i < samples; ++i) {
      const int32_t k = slot[size_t(r) * samples + i];
      EXPECT_LT(k, std::min<int64_t>(rb.inserted[r], rb.capacity));
      EXPECT_EQ(st[size_t(r) * samples + i], rb.state[size_t(r) * rb.capacity + k]);
      ++counts[k];
    }
  }
  return counts;
}

// max over slots of |count - N p| / sqrt(N p (1 - p)).
double worst_z(const std::vector<int64_t>& counts, const std::vector<double>& prob) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  double worst = 0;
  for (size_t k = 0; k < prob.size(); ++k) {
    if (prob[k] == 0) {
      EXPECT_EQ(counts[k], 0) << "slot " << k << " has probability 0";
      continue;
    }
    const double mean = total * prob[k], sd = std::sqrt(total * prob[k] * (1 - prob[k]));
    worst = std::max(worst, std::abs(counts[k] - mean) / sd);
  }
  return worst;
}

TEST(Replay, ProportionalSamplingFollowsThePrioritiesWithin5Sigma) {
  Replay rb(2, 8, true);
  std::vector<std::deque<int32_t>> model(2);
  int32_t id = 0;
  insert_batch(rb, {{8}, {5}}, id, &model);  // run 1: 5 of 8 slots filled
  const std::vector<float> pri = {0.05f, 1.0f, 3.0f, 0.5f, 0.0001f, 2.0f, 0.7f, 0.25f};
  for (int r = 0; r < 2; ++r)
    for (int k = 0; k < 8; ++k) rb.priority[size_t(r) * 8 + k] = pri[k] * (r + 1);
  for (int32_t r = 0; r < 2; ++r) {
    const int32_t filled = r == 0 ? 8 : 5;
    std::vector<double> prob(8, 0.0);
    double total = 0;
    for (int k = 0; k < filled; ++k) total += pri[k];
    for (int k = 0; k < filled; ++k) prob[k] = pri[k] / total;
    const double z = worst_z(sample_counts(rb, r, 1000, 200), prob);
    EXPECT_LT(z, 5.0) << "run " << r;
  }
}

// Buffers of many blocks (the CPU samples from block sums): every replayed slot k is where the
// draw's point x = u * total falls in the long-double prefix sums, prefix(k-1) <= x < prefix(k)
// up to rounding, slots of priority 0 are never replayed, and frequencies hold within 5 sigma.
TEST(Replay, LargeBuffersReplayTheSlotWhosePrefixHoldsTheDraw) {
  Replay rb(2, 1000, true);
  std::vector<std::deque<int32_t>> model(2);
  int32_t id = 0;
  insert_batch(rb, {{700}, {1000}}, id, &model);  // run 0: 700 of 1000 slots filled
  std::mt19937 rng(5);
  for (float& p : rb.priority) p = rng() % 10 < 3 ? 0.0f : 0.5f + float(rng() % 1000) / 500.0f;
  rb.priority[3] = 40.0f;  // one heavy slot
  const int32_t samples = 256, steps = 200;
  std::vector<int32_t> slot(size_t(2) * samples), st(slot.size()), ac(slot.size());
  for (int32_t r = 0; r < 2; ++r) {
    const int32_t n = r == 0 ? 700 : 1000;
    std::vector<long double> prefix(n);
    long double acc = 0;
    for (int32_t k = 0; k < n; ++k) prefix[k] = acc += rb.priority[size_t(r) * 1000 + k];
    std::vector<int64_t> counts(1000, 0);
    for (int32_t step = 0; step < steps; ++step) {
      detail::cpu::replay_sample(rb.args(), 42, step, samples, slot.data(), st.data(), ac.data());
      for (int32_t i = 0; i < samples; ++i) {
        const int32_t k = slot[size_t(r) * samples + i];
        ASSERT_LT(k, n);
        const long double x = detail::replay_fraction(detail::replay_draw(42, step, r, i)) * acc;
        const long double tol = 1e-12L * acc;
        EXPECT_LE((k > 0 ? prefix[k - 1] : 0.0L) - tol, x) << "run " << r << " slot " << k;
        EXPECT_GT(prefix[k] + tol, x) << "run " << r << " slot " << k;
        EXPECT_EQ(st[size_t(r) * samples + i], rb.state[size_t(r) * 1000 + k]);
        ++counts[k];
      }
    }
    std::vector<double> prob(1000, 0.0);
    for (int32_t k = 0; k < n; ++k) prob[k] = double(rb.priority[size_t(r) * 1000 + k] / acc);
    EXPECT_LT(worst_z(counts, prob), 5.0) << "run " << r;
  }
}

// The CPU's kept block sums (ReplayArgs::block_sum: only the blocks whose priorities changed are
// summed again) draw the slots the full block sums draw, step after step and through the ring's
// wrap, while priorities change as the Trainer changes them: the new transitions' and the last
// sample's slots. Capacities below, at and past one block, and not multiples of 64.
TEST(Replay, KeptBlockSumsDrawAsTheFullSums) {
  for (const int32_t cap : {50, 130, 1000, 4099}) {
    Replay full(2, cap, true), kept(2, cap, true);
    std::vector<double> sums(size_t(2) * ((cap + 63) / 64));
    std::vector<int64_t> at(2, -1);
    std::vector<std::deque<int32_t>> mf(2), mk(2);
    int32_t idf = 0, idk = 0;
    std::mt19937 rng(cap);
    const int32_t samples = 37;
    std::vector<int32_t> sf(size_t(2) * samples), sk(sf.size()), st(sf.size()), ac(sf.size());
    for (int32_t step = 0; step < 400; ++step) {
      std::vector<std::vector<int32_t>> lengths(2, std::vector<int32_t>(3));
      for (auto& run : lengths)
        for (int32_t& l : run) l = 1 + int32_t(rng() % (step % 50 == 0 ? 300 : 12));
      const std::vector<int64_t> before = full.inserted;
      insert_batch(full, lengths, idf, &mf);
      insert_batch(kept, lengths, idk, &mk);
      for (int32_t r = 0; r < 2; ++r)  // the new transitions' own priorities
        for (int64_t i = before[r]; i < full.inserted[r]; ++i) {
          const float p = float(rng() % 1000) / 100.0f;
          full.priority[size_t(r) * cap + i % cap] = kept.priority[size_t(r) * cap + i % cap] = p;
        }
      ReplayArgs a = kept.args();
      a.block_sum = sums.data(), a.summed_at = at.data();
      detail::cpu::replay_sample(full.args(), 7, step, samples, sf.data(), st.data(), ac.data());
      detail::cpu::replay_sample(a, 7, step, samples, sk.data(), st.data(), ac.data());
      ASSERT_EQ(sk, sf) << "capacity " << cap << ", step " << step;
      for (int32_t r = 0; r < 2; ++r)  // the replayed slots' new priorities
        for (int32_t i = 0; i < samples; ++i) {
          const int32_t k = sf[size_t(r) * samples + i];
          const float p = rng() % 7 == 0 ? 0.0f : float(rng() % 1000) / 10.0f;
          full.priority[size_t(r) * cap + k] = kept.priority[size_t(r) * cap + k] = p;
        }
    }
  }
}

TEST(Replay, UniformSamplingCoversTheFilledSlotsEqually) {
  Replay rb(1, 16, false);
  std::vector<std::deque<int32_t>> model(1);
  int32_t id = 0;
  insert_batch(rb, {{6, 5}}, id, &model);  // 11 of 16 slots
  std::vector<double> prob(16, 0.0);
  for (int k = 0; k < 11; ++k) prob[k] = 1.0 / 11;
  EXPECT_LT(worst_z(sample_counts(rb, 0, 1000, 100), prob), 5.0);
}

TEST(Polyak, MovesTheTargetByTheRateTowardTheSource) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 3.0f);
  std::vector<float> source(1000), target0(1000);
  for (size_t i = 0; i < source.size(); ++i) source[i] = g(rng), target0[i] = g(rng);
  for (float rate : {0.0f, 0.25f, 0.9f, 1.0f}) {
    std::vector<float> target = target0;
    detail::cpu::polyak(target.data(), source.data(), target.size(), rate);
    for (size_t i = 0; i < target.size(); ++i) {
      const double want = (1.0 - rate) * double(target0[i]) + double(rate) * source[i];
      EXPECT_NEAR(target[i], want, 1e-6 * (1 + std::abs(want))) << "rate " << rate << " entry " << i;
    }
    if (rate == 1.0f) EXPECT_EQ(target, source) << "rate 1 copies exactly";
    if (rate == 0.0f) EXPECT_EQ(target, target0) << "rate 0 leaves the target";
  }
}

// ---- metrics --------------------------------------------------------------------------------

struct Expected {
  double tv, kl_pq, kl_qp, jsd;
};

// p = target (normalised), q = model (normalised): the textbook sums in double, 0 log 0 = 0.
Expected textbook(std::vector<double> p, std::vector<double> q) {
  p = normalised(p), q = normalised(q);
  Expected e{0, 0, 0, 0};
  for (size_t i = 0; i < p.size(); ++i) {
    const double m = 0.5 * (p[i] + q[i]);
    e.tv += 0.5 * std::abs(p[i] - q[i]);
    if (p[i] > 0) e.kl_pq += q[i] > 0 ? p[i] * std::log(p[i] / q[i]) : INFINITY;
    if (q[i] > 0) e.kl_qp += p[i] > 0 ? q[i] * std::log(q[i] / p[i]) : INFINITY;
    if (p[i] > 0) e.jsd += 0.5 * p[i] * std::log(p[i] / m);
    if (q[i] > 0) e.jsd += 0.5 * q[i] * std::log(q[i] / m);
  }
  return e;
}

void expect_metrics(const Metrics& m, const Expected& e, const std::string& what) {
  EXPECT_NEAR(m.tv, e.tv, 1e-6) << what;
  EXPECT_NEAR(m.jsd, e.jsd, 1e-6) << what;
  EXPECT_LE(m.jsd, std::log(2.0) + 1e-9) << what;
  for (auto [got, want, name] : {std::tuple{m.kl_target_model, e.kl_pq, "KL(p||q)"},
                                 std::tuple{m.kl_model_target, e.kl_qp, "KL(q||p)"}}) {
    if (std::isinf(want))
      EXPECT_TRUE(std::isinf(got) && got > 0) << what << " " << name << " = " << got;
    else
      EXPECT_NEAR(got, want, 1e-5 * (1 + want)) << what << " " << name;
  }
}

TEST(Metrics, TvKlBothWaysAndJsdEqualTheTextbookSumsAwayFromTheOptimum) {
  const Dag dag = make_hypergrid({2, 5, 1e-2, 0.5, 2.0}, Backend::Cpu);
  const int n = dag.num_states();
  std::vector<float> log_r = dag.log_reward().to_host();
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int trial = 0; trial < 6; ++trial) {
    // A model far from R/Z, with mass != 1 (the metrics normalise it), zeros in some trials;
    // a target that is R or an arbitrary weight with zeros.
    std::vector<double> q(n), w(n);
    for (int s = 0; s < n; ++s) {
      q[s] = u(rng) * u(rng) * 0.1;
      w[s] = trial % 2 ? std::exp(double(log_r[s])) : u(rng);
    }
    if (trial >= 2) q[3] = q[7] = 0;   // model misses states the target has
    if (trial >= 4) w[5] = w[9] = 0;   // target misses states the model has
    if (trial == 5) w[3] = 0;          // a zero in both
    std::vector<float> log_q(n), log_w(n);
    for (int s = 0; s < n; ++s) {
      log_q[s] = q[s] > 0 ? static_cast<float>(std::log(q[s])) : -INFINITY;
      log_w[s] = w[s] > 0 ? static_cast<float>(std::log(w[s])) : -INFINITY;
      q[s] = q[s] > 0 ? std::exp(double(log_q[s])) : 0;  // what the library sees, in double
      w[s] = w[s] > 0 ? std::exp(double(log_w[s])) : 0;
    }
    Marginals mg{Array<float>::from_host(Backend::Cpu, std::vector<float>(n, 0.0f)),
                 Array<float>::from_host(Backend::Cpu, log_q)};
    const Array<float> target = Array<float>::from_host(Backend::Cpu, log_w);
    const Metrics m = compare_to_target(dag, mg, &target);
    expect_metrics(m, textbook(w, q), "trial " + std::to_string(trial));
    double mass = 0;
    for (double x : q) mass += x;
    EXPECT_NEAR(m.model_mass, mass, 1e-6 * mass);
    EXPECT_GT(m.tv, 0.05) << "the test must be away from the optimum";
    // With the target's log normaliser given, the same metrics (one reduction fewer).
    double wsum = 0;
    for (double x : w) wsum += x;
    const Metrics k = compare_to_target(dag, mg, &target, std::log(wsum));
    EXPECT_NEAR(k.tv, m.tv, 1e-12);
    EXPECT_NEAR(k.jsd, m.jsd, 1e-12);
    EXPECT_EQ(k.log_z, std::log(wsum));
  }
}

// corr = Pearson's r of (log P_T, log p) over the target's support, against a two-pass sum in long
// double (NaN once P_T is 0 on the support); modes = states within 1e-6 of the largest weight:
// exact ties, one just inside the tolerance and one just outside, on a 5000-state DAG (two
// reduction chunks).
TEST(Metrics, CorrelationAndModeMassEqualTheirDefinitions) {
  const Dag dag = make_hypergrid({1, 5000, 1e-2, 0.5, 2.0}, Backend::Cpu);
  const int n = dag.num_states();
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0.05, 1.0);
  std::vector<float> log_q(n), log_w(n);
  for (int s = 0; s < n; ++s) {
    log_q[s] = static_cast<float>(std::log(u(rng)));
    log_w[s] = static_cast<float>(std::log(u(rng)) + 0.3 * log_q[s]);  // correlated
  }
  log_w[7] = -INFINITY;  // off the support: not in corr
  const float top = 2.0f;
  for (int s : {11, 2222, 4999}) log_w[s] = top;                                   // ties
  log_w[100] = static_cast<float>(top + std::log1p(-0.5e-6));                      // a mode
  log_w[101] = static_cast<float>(top + std::log1p(-3e-6));                        // not one
  ASSERT_NE(log_w[100], top);
  ASSERT_NE(log_w[101], log_w[100]);
  long double ma = 0, mb = 0, k = 0, qsum = 0, qmode = 0, wsum = 0, wmode = 0;
  for (int s = 0; s < n; ++s) {
    qsum += std::exp((long double)log_q[s]);
    wsum += std::exp((long double)log_w[s]);
    if (s == 11 || s == 2222 || s == 4999 || s == 100) {
      qmode += std::exp((long double)log_q[s]);
      wmode += std::exp((long double)log_w[s]);
    }
    if (std::isfinite(log_w[s])) ma += log_q[s], mb += log_w[s], k += 1;
  }
  ma /= k, mb /= k;
  long double saa = 0, sbb = 0, sab = 0;
  for (int s = 0; s < n; ++s)
    if (std::isfinite(log_w[s])) {
      saa += (log_q[s] - ma) * (log_q[s] - ma);
      sbb += (log_w[s] - mb) * (log_w[s] - mb);
      sab += (log_q[s] - ma) * (log_w[s] - mb);
    }
  const Array<float> target = Array<float>::from_host(Backend::Cpu, log_w);
  Marginals mg{Array<float>::from_host(Backend::Cpu, std::vector<float>(n, 0.0f)),
               Array<float>::from_host(Backend::Cpu, log_q)};
  const Metrics m = compare_to_target(dag, mg, &target);
  EXPECT_NEAR(m.corr, double(sab / std::sqrt(saa * sbb)), 1e-9);
  EXPECT_GT(m.corr, 0.1);
  EXPECT_EQ(m.num_modes, 4);
  EXPECT_NEAR(m.mode_mass, double(qmode / qsum), 1e-12);
  EXPECT_NEAR(m.mode_mass_target, double(wmode / wsum), 1e-12);
  log_q[5] = -INFINITY;  // P_T = 0 on the support
  mg.log_terminal = Array<float>::from_host(Backend::Cpu, log_q);
  EXPECT_TRUE(std::isnan(compare_to_target(dag, mg, &target).corr));
}

// log sum exp over chunks of 4096 (each chunk's maximum, then its sum of exp in double), against
// a long-double sum: lengths on both sides of the chunk size, a whole chunk of -inf, values
// spread over 60 nats; and the special cases: nothing, all -inf, a +inf.
TEST(Metrics, LogSumExpEqualsALongDoubleSumAcrossChunksAndSpecialValues) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-50.0f, 10.0f);
  for (std::size_t n : {1u, 4095u, 4096u, 4097u, 3u * 4096u + 5u}) {
    std::vector<float> x(n);
    for (float& v : x) v = u(rng);
    if (n > 2 * 4096) std::fill(x.begin() + 4096, x.begin() + 2 * 4096, -INFINITY);
    if (n > 3) x[2] = -INFINITY;
    long double sum = 0;
    for (float v : x) sum += std::exp(static_cast<long double>(v));
    EXPECT_NEAR(detail::cpu::log_sum_exp(x.data(), n), static_cast<double>(std::log(sum)), 1e-12)
        << "n = " << n;
  }
  const std::vector<float> none(5000, -INFINITY);
  EXPECT_EQ(detail::cpu::log_sum_exp(none.data(), 0), -INFINITY);
  EXPECT_EQ(detail::cpu::log_sum_exp(none.data(), none.size()), -INFINITY);
  std::vector<float> inf(5000, 1.0f);
  inf[4500] = INFINITY;
  EXPECT_EQ(detail::cpu::log_sum_exp(inf.data(), inf.size()), INFINITY);
}

}  // namespace
}  // namespace gfnrl::test

namespace gfnrl::test {
namespace {

// probabilities(): exp in double of float log-probabilities (P_T for Python's p_t), against long
// double, over 10,000 values (several chunks of the threaded loop and a tail), with -inf -> 0.
TEST(Metrics, ProbabilitiesAreTheExponentialsInDouble) {
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> u(-100.0f, 0.0f);
  std::vector<float> log_p(10000);
  for (float& v : log_p) v = u(rng);
  log_p[17] = -INFINITY, log_p[18] = 0.0f, log_p[9999] = -1e-30f;
  std::vector<double> p(log_p.size());
  probabilities(Array<float>::from_host(Backend::Cpu, log_p), p.data());
  long double worst = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (i == 17) continue;
    const long double want = std::exp(static_cast<long double>(log_p[i]));
    worst = std::max(worst, std::fabs(p[i] - want) / want);
  }
  EXPECT_LE(double(worst), 2.5e-16);
  EXPECT_EQ(p[17], 0.0);
  EXPECT_EQ(p[18], 1.0);
}

// probabilities() in a caller's order: p[i] = exp(log_p[order[i]]), 0 where order[i] < 0, over
// more chunks than the threaded threshold (the order reversed, repeated entries, -1s); an entry
// past the end is named whichever chunk holds it.
TEST(Metrics, ProbabilitiesInOrderGatherAndNameAnEntryPastTheEnd) {
  const std::size_t n = 5 * 4096 + 37;
  std::vector<float> log_p(n);
  for (std::size_t i = 0; i < n; ++i) log_p[i] = -0.001f * float(i % 5000) - 1e-6f * float(i);
  const Array<float> a = Array<float>::from_host(Backend::Cpu, log_p);
  std::vector<int64_t> order(n + 3);
  for (std::size_t i = 0; i < n; ++i) order[i] = int64_t(n - 1 - i);
  order[7] = -1, order[n] = 3, order[n + 1] = 3, order[n + 2] = -5;
  std::vector<double> p(order.size(), -1.0);
  probabilities(a, order.data(), order.size(), p.data());
  for (std::size_t i = 0; i < order.size(); ++i) {
    const double want = order[i] < 0 ? 0.0 : std::exp(double(log_p[order[i]]));
    ASSERT_NEAR(p[i], want, 3e-16 * want) << i;
  }
  for (std::size_t at : {std::size_t(0), std::size_t(4096 + 5), order.size() - 1}) {
    std::vector<int64_t> bad = order;
    bad[at] = int64_t(n) + 2;
    bad.back() = int64_t(n);  // a later entry past the end must not be the one named
    expect_input_error([&] { probabilities(a, bad.data(), bad.size(), p.data()); },
                       "order[" + std::to_string(at) + "] = " + std::to_string(bad[at]) +
                           " is not below the number of values, " + std::to_string(n));
  }
}

// first_nan_or_inf: the first NaN or +inf of a table (-inf and finite values pass), over three
// of its threaded chunks of 65,536 and a tail, wherever the failures sit, and n when none does.
TEST(Metrics, FirstNanOrInfFindsTheFirstFailureInAnyChunk) {
  std::vector<float> v(3 * 65536 + 17, -1.5f);
  v[5] = -INFINITY;
  EXPECT_EQ(first_nan_or_inf(v.data(), v.size()), v.size());
  EXPECT_EQ(first_nan_or_inf(v.data(), 0), 0u);
  for (std::size_t at : {std::size_t(0), std::size_t(65535), std::size_t(65536),
                         std::size_t(2 * 65536 + 3), v.size() - 1}) {
    std::vector<float> w = v;
    w[at] = at % 2 ? NAN : INFINITY;
    w.back() = INFINITY;  // a later failure must not win
    EXPECT_EQ(first_nan_or_inf(w.data(), w.size()), at) << at;
  }
}

// A policy in memory the caller owns, borrowed (Array::borrow: no copy), gives the marginals of
// the same policy copied into library arrays, and is left as it was.
TEST(Metrics, MarginalsOfABorrowedPolicyEqualThoseOfItsCopy) {
  const Dag dag = make_hypergrid({3, 7, 1e-2, 0.5, 2.0}, Backend::Cpu);
  const ForwardPolicy owned = random_policy(dag, 5);
  std::vector<float> e = owned.log_prob.to_host(), x = owned.exit_log_prob.to_host();
  const std::vector<float> e0 = e, x0 = x;
  const ForwardPolicy borrowed{Array<float>::borrow(Backend::Cpu, e.data(), e.size()),
                               Array<float>::borrow(Backend::Cpu, x.data(), x.size())};
  EXPECT_EQ(borrowed.log_prob.data(), e.data());
  EXPECT_EQ(borrowed.exit_log_prob.size(), x.size());
  const Marginals want = compute_marginals(dag, owned), got = compute_marginals(dag, borrowed);
  EXPECT_EQ(got.log_terminal.to_host(), want.log_terminal.to_host());
  EXPECT_EQ(got.log_visit.to_host(), want.log_visit.to_host());
  EXPECT_EQ(e, e0);
  EXPECT_EQ(x, x0);
}

}  // namespace
}  // namespace gfnrl::test
