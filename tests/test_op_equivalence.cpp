// Op-by-op equivalence of the training ops that sample, store and update (issue 12, part 1):
// policy tables, log Z estimates, rollouts, reached counts, replay, optimizers, Polyak, fill and
// the backward log-softmax, each run on the CPU reference and on the backend under test from the
// same inputs (tests/op_equivalence.hpp says how they are compared).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "op_equivalence.hpp"

namespace gfnrl::test {
namespace {

using detail::TableLayout;

TableLayout layout_of(const Dag& d) {
  return TableLayout{d.num_states(), static_cast<int32_t>(d.num_edges())};
}

// softmax(scale * row) over the actions of s in the sampler's order (children, then the exit), in
// double.
std::vector<double> action_probabilities(const DagArrays& h, const TableLayout& L, const float* row,
                                         int32_t s, double scale) {
  std::vector<double> logits;
  for (int64_t e = h.child_offsets[s]; e < h.child_offsets[s + 1]; ++e)
    logits.push_back(scale * row[e]);
  if (std::isfinite(h.log_reward[s])) logits.push_back(scale * row[L.exit_entry(s)]);
  double mx = -INFINITY, z = 0;
  for (double x : logits) mx = std::max(mx, x);
  for (double x : logits) z += std::exp(x - mx);
  for (double& x : logits) x = std::exp(x - mx) / z;
  return logits;
}

TEST_P(OpEquivalence, PolicyLogProbsIsEquivalentToCpu) {
  const std::vector<Dag> dags = equivalence_dags();
  for (std::size_t k = 0; k < dags.size(); ++k) {
    SCOPED_TRACE(kDagNames[k]);
    const DagTwin d = dag_twin(kDagNames[k], dags[k]);
    const TableLayout L = layout_of(dags[k]);
    const int32_t runs = 3, N = L.num_states, E = L.num_edges;
    Twin<float> params = twin(uniform_floats(runs * L.stride(), -2, 2, 1));
    Twin<float> lp = filled<float>(std::size_t(runs) * E, 7.0f);
    Twin<float> ex = filled<float>(std::size_t(runs) * N, 7.0f);
    both([&](const Side& s) {
      GFNRL_BACKEND_CALL(s.backend, policy_log_probs, s.view(d), L, s(params), runs, 0.7f, s(lp),
                         s(ex));
    });
    expect_close(lp, "log pi", E);
    expect_close(ex, "exit log pi", N);
  }
}

TEST_P(OpEquivalence, LogZEstimatesIsEquivalentToCpu) {
  using detail::LogZEstimate;
  const std::vector<Dag> dags = equivalence_dags();
  for (std::size_t k = 0; k < dags.size(); ++k) {
    SCOPED_TRACE(kDagNames[k]);
    const DagTwin d = dag_twin(kDagNames[k], dags[k]);
    const TableLayout L = layout_of(dags[k]);
    const int32_t runs = 3;
    Twin<float> params = twin(uniform_floats(runs * L.stride(), -2, 2, 2));
    for (LogZEstimate mode :
         {LogZEstimate::LogZ, LogZEstimate::SourceFlow, LogZEstimate::SoftValue,
          LogZEstimate::SourceExit, LogZEstimate::EnergySoftValue,
          LogZEstimate::ForwardLookingFlow, LogZEstimate::SourceOutFlow}) {
      Twin<float> out = filled<float>(runs, 7.0f);
      both([&](const Side& s) {
        GFNRL_BACKEND_CALL(s.backend, log_z_estimates, s.view(d), L, s(params), runs, mode, 0.6f,
                           s(out));
      });
      expect_close(out, "log Z estimate, mode " + std::to_string(int(mode)), 1);
    }
  }
}

// Rollouts of 4 runs x 16 trajectories with exploration and temperatures that differ per run and
// follow schedules (run 3 explores only).
struct RolloutCase {
  static constexpr int32_t kRuns = 4, kBatch = 16;
  static constexpr float kTau = 0.8f;
  static constexpr uint64_t kSeed = 11, kStep = 4;
  static constexpr int64_t kTemperatureSteps = 10, kEpsilonSteps = 7;
  DagTwin d;
  TableLayout L;
  int32_t max_len;
  std::vector<float> host_params;
  Twin<float> params, t0, t1, e0, e1;
  Twin<int32_t> states, actions, lengths;
  Twin<uint8_t> reached;

  detail::RolloutArgs args(const Side& s) {
    detail::RolloutArgs a{};
    a.dag = s.view(d);
    a.layout = L;
    a.params = s(params);
    a.runs = kRuns;
    a.batch = kBatch;
    a.max_len = max_len;
    a.tau = kTau;
    a.temperature_start = s(t0);
    a.temperature_end = s(t1);
    a.temperature_steps = kTemperatureSteps;
    a.epsilon_start = s(e0);
    a.epsilon_end = s(e1);
    a.epsilon_steps = kEpsilonSteps;
    a.seed = kSeed;
    a.step = kStep;
    a.states = s(states);
    a.actions = s(actions);
    a.lengths = s(lengths);
    a.reached = s(reached);
    return a;
  }
};

class RolloutEquivalence : public OpEquivalence {
 protected:
  RolloutCase rollout_case(const std::string& name, const Dag& cpu) const {
    RolloutCase c{dag_twin(name, cpu), layout_of(cpu), cpu.num_levels()};
    c.host_params = uniform_floats(c.kRuns * c.L.stride(), -3, 3, 3);
    c.params = twin(c.host_params);
    c.t0 = twin<float>({1.0f, 0.5f, 2.0f, 1.0f});
    c.t1 = twin<float>({1.0f, 1.5f, 0.7f, 1.0f});
    c.e0 = twin<float>({0.0f, 0.3f, 0.05f, 1.0f});
    c.e1 = twin<float>({0.0f, 0.1f, 0.5f, 1.0f});
    const std::size_t traj = std::size_t(c.kRuns) * c.kBatch;
    c.states = filled<int32_t>(traj * c.max_len, -7);
    c.actions = filled<int32_t>(traj * c.max_len, -7);
    c.lengths = filled<int32_t>(traj, -7);
    c.reached = filled<uint8_t>(std::size_t(c.kRuns) * cpu.num_states(), 0);
    return c;
  }
};

// The same states, actions and lengths, and the same reached flags.
TEST_P(RolloutEquivalence, RolloutIsEquivalentToCpu) {
  const std::vector<Dag> dags = equivalence_dags();
  int boundary_draws = 0;
  for (std::size_t k = 0; k < dags.size(); ++k) {
    SCOPED_TRACE(kDagNames[k]);
    RolloutCase c = rollout_case(kDagNames[k], dags[k]);
    both([&](const Side& s) { GFNRL_BACKEND_CALL(s.backend, rollout, c.args(s)); });
    const int32_t runs = c.kRuns, batch = c.kBatch, max_len = c.max_len, N = dags[k].num_states();
    const TableLayout& L = c.L;
    const uint64_t seed = c.kSeed, step = c.kStep;
    const std::vector<int32_t> sa = c.states.ref.to_host(), sb = c.states.dev.to_host();
    const std::vector<int32_t> aa = c.actions.ref.to_host(), ab = c.actions.dev.to_host();
    const std::vector<int32_t> la = c.lengths.ref.to_host(), lb = c.lengths.dev.to_host();
    const std::vector<float> t0h = c.t0.ref.to_host(), t1h = c.t1.ref.to_host();
    const std::vector<float> e0h = c.e0.ref.to_host(), e1h = c.e1.ref.to_host();
    const DagArrays h = dags[k].to_host();
    std::vector<bool> run_diverged(runs, false);
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t m = 0; m < batch; ++m) {
        const std::size_t tr = std::size_t(r) * batch + m, base = tr * max_len;
        const int32_t t = first_difference(sa, sb, aa, ab, base, la[tr]);
        if (t == la[tr] && lb[tr] == la[tr]) continue;
        // A different pick at state s: only a draw on a CDF boundary of the softmax explains it.
        SCOPED_TRACE("run " + std::to_string(r) + " trajectory " + std::to_string(m) +
                     " position " + std::to_string(t));
        ASSERT_LT(t, la[tr]) << "equal actions, lengths differ";
        ASSERT_EQ(sa[base + t], sb[base + t]);
        ASSERT_FALSE(bitwise()) << "the CPU twin picked another action";
        const detail::Philox4 u = detail::draw(seed + r, step, m, t, detail::kStreamRollout);
        const float eps = detail::linear_schedule(e0h[r], e1h[r], c.kEpsilonSteps, step);
        ASSERT_FALSE(eps > 0 && detail::uniform01(u.v[0]) < eps) << "an exploring pick differs";
        const double scale =
            1.0 / (double(c.kTau) * detail::linear_schedule(t0h[r], t1h[r], c.kTemperatureSteps, step));
        const double gap = boundary_distance(
            detail::uniform01(u.v[2]),
            action_probabilities(h, L, c.host_params.data() + r * L.stride(), sa[base + t], scale));
        EXPECT_LT(gap, kBoundaryTol) << "the picks differ " << gap << " from any CDF boundary";
        ++boundary_draws;
        run_diverged[r] = true;
      }
    const std::vector<uint8_t> ra = c.reached.ref.to_host(), rb = c.reached.dev.to_host();
    for (int32_t r = 0; r < runs; ++r)
      if (!run_diverged[r])
        EXPECT_TRUE(std::equal(ra.begin() + r * N, ra.begin() + (r + 1) * N, rb.begin() + r * N))
            << "reached flags of run " << r;
  }
  std::printf("[ rollouts ] %d draw(s) within %g of a CDF boundary picked differently on %s\n",
              boundary_draws, kBoundaryTol, backend_name(dev()));
}

TEST_P(OpEquivalence, CountReachedIsEquivalentToCpu) {
  const int32_t runs = 5, N = 300;
  std::mt19937 rng(4);
  std::vector<uint8_t> flags(std::size_t(runs) * N);
  for (uint8_t& f : flags) f = rng() % 7 == 0;
  std::vector<int32_t> states, group;
  for (int32_t i = 0; i < 60; ++i) {
    states.push_back(static_cast<int32_t>(rng() % N));
    group.push_back(i / 4);  // groups of four states, nondecreasing
  }
  Twin<uint8_t> reached = twin(flags);
  Twin<int32_t> st = twin(states), gr = twin(group), out = filled<int32_t>(runs, -1);
  both([&](const Side& s) {
    GFNRL_BACKEND_CALL(s.backend, count_reached, s(reached), runs, N, s(st), s(gr),
                       static_cast<int32_t>(states.size()), s(out));
  });
  expect_same(out, "groups reached");
}

class ReplayEquivalence : public OpEquivalence {};

TEST_P(ReplayEquivalence, ReplayInsertIsEquivalentToCpu) {
  const Dag cpu = make_hypergrid({2, 6, 1e-3, 0.5, 2.0}, Backend::Cpu);
  const TableLayout L = layout_of(cpu);
  const Batch bt = sample_batch(cpu, L, uniform_floats(3 * L.stride(), -1, 1, 5), 3, 6, 3);
  for (bool prioritized : {false, true}) {
    SCOPED_TRACE(prioritized ? "prioritized" : "uniform");
    Replay rp = replay(prioritized, {0, 5, 40});
    Twin<int32_t> st = twin(bt.states), ac = twin(bt.actions), len = twin(bt.lengths);
    both([&](const Side& s) {
      GFNRL_BACKEND_CALL(s.backend, replay_insert, rp.args(s), bt.rollout(s, st, ac, len));
    });
    expect_same(rp.slot_state, "slot states");
    expect_same(rp.slot_action, "slot actions");
    expect_same(rp.inserted, "inserted");
    if (prioritized) expect_close(rp.priority, "priorities", 0, 0.0);
  }
}

TEST_P(ReplayEquivalence, ReplaySampleIsEquivalentToCpu) {
  int boundary_draws = 0;
  for (bool prioritized : {false, true}) {
    SCOPED_TRACE(prioritized ? "prioritized" : "uniform");
    Replay rp = replay(prioritized, {5, 23, 100});
    const uint64_t seed = 21, step = 8;
    both([&](const Side& s) {
      GFNRL_BACKEND_CALL(s.backend, replay_sample, rp.args(s), seed, step, rp.samples,
                         s(rp.sample_slot), s(rp.sample_state), s(rp.sample_action));
    });
    const std::vector<int32_t> ka = rp.sample_slot.ref.to_host(), kb = rp.sample_slot.dev.to_host();
    const std::vector<float> pr = rp.priority.ref.to_host();
    const std::vector<int64_t> ins = rp.inserted.ref.to_host();
    for (int32_t r = 0; r < rp.runs; ++r)
      for (int32_t i = 0; i < rp.samples; ++i) {
        const std::size_t o = std::size_t(r) * rp.samples + i;
        if (ka[o] == kb[o]) continue;
        ASSERT_TRUE(prioritized && !bitwise()) << "run " << r << " sample " << i << ": slot "
                                               << ka[o] << " vs " << kb[o];
        // The CPU sums blocks, CUDA scans: their prefix sums differ in the last bits, so only a
        // fraction on a prefix-sum boundary may land in a neighbouring slot.
        const int32_t n = static_cast<int32_t>(std::min<int64_t>(ins[r], rp.capacity));
        std::vector<double> p(pr.begin() + r * rp.capacity, pr.begin() + r * rp.capacity + n);
        double total = 0;
        for (double x : p) total += x;
        for (double& x : p) x /= total;
        const double u = detail::replay_fraction(detail::replay_draw(seed, step, r, i));
        EXPECT_LT(boundary_distance(u, p), 1e-12) << "run " << r << " sample " << i;
        ++boundary_draws;
      }
    expect_same(rp.sample_slot, "sampled slots");
    if (boundary_draws == 0) {
      expect_same(rp.sample_state, "sampled states");
      expect_same(rp.sample_action, "sampled actions");
    }
  }
  std::printf("[ replay ] %d prioritized draw(s) on a prefix-sum boundary differ on %s\n",
              boundary_draws, backend_name(dev()));
}

TEST_P(ReplayEquivalence, ReplayUpdatePrioritiesIsEquivalentToCpu) {
  for (bool huber : {false, true}) {
    Replay rp = replay(true, {5, 23, 100});
    // Distinct slots per run: two samples of one slot would race on the device (in training they
    // carry the same |TD error|, so either write is the same value).
    // Run 0 holds 5 transitions, so its 9 samples repeat slots, each repeat with its |TD error|.
    std::vector<int32_t> slots;
    for (int32_t r = 0; r < rp.runs; ++r)
      for (int32_t i = 0; i < rp.samples; ++i) slots.push_back(r == 0 ? i % 5 : (2 * i + r) % 23);
    std::vector<float> td = uniform_floats(slots.size(), 0.0f, 3.0f, 12);
    for (int32_t i = 5; i < rp.samples; ++i) td[i] = td[i % 5];
    Twin<int32_t> sl = twin(slots);
    Twin<float> abs_td = twin(td);
    both([&](const Side& s) {
      GFNRL_BACKEND_CALL(s.backend, replay_update_priorities, rp.args(s), rp.samples, s(sl),
                         s(abs_td), 0.6f, huber);
    });
    expect_close(rp.priority, huber ? "priorities (huber)" : "priorities", 23, 1e-6);
    expect_close(rp.max_priority, "max priority", 1, 1e-6);
  }
}

TEST_P(OpEquivalence, PolyakAndFillAreEquivalentToCpu) {
  const std::size_t n = 5000;
  const std::vector<float> src = uniform_floats(n, -3, 3, 13);
  for (float rate : {0.25f, 1.0f}) {
    Twin<float> target = twin(uniform_floats(n, -3, 3, 14)), source = twin(src);
    both([&](const Side& s) { GFNRL_BACKEND_CALL(s.backend, polyak, s(target), s(source), n, rate); });
    expect_close(target, "Polyak target", 1, 1e-6);
  }
  Twin<float> x = twin(src);
  both([&](const Side& s) { GFNRL_BACKEND_CALL(s.backend, fill, s(x), n - 3, -0.5f); });
  expect_close(x, "filled", 0, 0.0);
}

// Adam (dense and lazy) and SGD over a sparse gradient (two thirds of it 0), with per-run rates
// and log Z's own rate; then the same through the touched-entry walk of a batch.
TEST_P(OpEquivalence, OptimizerStepIsEquivalentToCpu) {
  const Dag cpu = make_hypergrid({2, 6, 1e-3, 0.5, 2.0}, Backend::Cpu);
  const TableLayout L = layout_of(cpu);
  const int32_t runs = 3;
  const std::size_t n = std::size_t(runs) * L.stride();
  std::vector<float> g = uniform_floats(n, -1, 1, 15);
  for (std::size_t i = 0; i < n; ++i)
    if (i % 3) g[i] = 0.0f;
  for (int kind = 0; kind < 3; ++kind) {
    SCOPED_TRACE(kind == 0 ? "adam" : kind == 1 ? "lazy adam" : "sgd");
    Twin<float> p = twin(uniform_floats(n, -2, 2, 16)), gr = twin(g);
    Twin<float> m = twin(uniform_floats(n, -0.1f, 0.1f, 17)), v = twin(uniform_floats(n, 0, 0.1f, 18));
    Twin<float> lr = twin<float>({1e-2f, 3e-3f, 5e-2f}), lrz = twin<float>({0.1f, 0.05f, 1.0f});
    both([&](const Side& s) {
      detail::OptimizerArgs a{};
      a.params = s(p);
      a.grad = s(gr);
      a.m = s(m);
      a.v = s(v);
      a.stride = L.stride();
      a.log_z_entry = L.log_z_entry();
      a.runs = runs;
      a.lr = s(lr);
      a.lr_log_z = s(lrz);
      a.adam = kind < 2;
      a.lazy = kind == 1;
      a.beta1 = 0.9f;
      a.beta2 = 0.999f;
      a.eps = 1e-8f;
      a.bias1 = 1 - 0.9f * 0.9f * 0.9f;
      a.bias2 = 1 - 0.999f * 0.999f * 0.999f;
      a.lr_scale = 0.8f;
      GFNRL_BACKEND_CALL(s.backend, optimizer_step, a);
    });
    expect_close(p, "parameters", L.stride(), 1e-6);
    expect_close(gr, "gradient (reset)", 0, 0.0);
    expect_close(m, "first moments", L.stride(), 1e-6);
    expect_close(v, "second moments", L.stride(), 1e-6);
  }
}

// The walk equals the scan when the loss wrote no gradient outside the touched entries (what
// CUDA runs): a gradient non-zero on a random half of the entries the CPU's walk visits (found by
// walking an all-ones gradient once: the visited entries are reset to 0).
std::vector<float> gradient_on_touched_half(std::size_t n, int64_t stride, int32_t runs,
                                            const detail::TouchedEntries& t) {
  std::vector<float> g(n, 1.0f), zero(n, 0.0f), one(runs, 1.0f);
  detail::OptimizerArgs a{};
  a.params = zero.data();
  a.grad = g.data();
  a.stride = stride;
  a.log_z_entry = -1;
  a.runs = runs;
  a.lr = a.lr_log_z = one.data();
  a.lazy = true;
  detail::cpu::optimizer_step_touched(a, t);
  const std::vector<float> values = uniform_floats(n, -1, 1, 21);
  std::mt19937 coin(22);
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < n; ++i) {
    g[i] = g[i] == 0.0f && coin() % 2 ? values[i] : 0.0f;
    nonzero += g[i] != 0.0f;
  }
  EXPECT_GT(nonzero, 0u);
  EXPECT_LT(nonzero, n / 2);
  return g;
}

TEST_P(OpEquivalence, OptimizerStepTouchedIsEquivalentToCpu) {
  const Dag cpu = make_hypergrid({2, 6, 1e-3, 0.5, 2.0}, Backend::Cpu);
  const DagTwin d = dag_twin("grid", cpu);
  const TableLayout L = layout_of(cpu);
  const int32_t runs = 3, samples = 7;
  const Batch bt = sample_batch(cpu, L, uniform_floats(runs * L.stride(), -1, 1, 19), runs, 6, 4);
  for (int walk = 0; walk < 4; ++walk) {
    // 0: a trajectory loss's rows; 1: with the edges in (FM); 2: replayed actions; 3: a trained
    // P_B's logits (rows of E).
    SCOPED_TRACE("walk " + std::to_string(walk));
    const int64_t stride = walk == 3 ? L.num_edges : L.stride();
    const std::size_t n = std::size_t(runs) * stride;
    std::vector<int32_t> acts;
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t i = 0; i < samples; ++i) acts.push_back(bt.actions[(r * bt.batch + i % 6) * bt.max_len]);
    Twin<int32_t> st = twin(bt.states), ac = twin(bt.actions), len = twin(bt.lengths);
    Twin<int32_t> sampled = twin(acts);
    auto touched = [&](const Side& s) {
      detail::TouchedEntries t{};
      t.dag = s.view(d);
      t.layout = L;
      if (walk == 2) {
        t.sample_action = s(sampled);
        t.samples = samples;
      } else {
        t.batch = bt.view(s, st, ac, len);
        t.in_edges = walk == 1;
        t.backward_logits = walk == 3;
      }
      return t;
    };
    const std::vector<float> g =
        gradient_on_touched_half(n, stride, runs, touched(Side{Backend::Cpu, true}));
    Twin<float> lr = twin<float>({1e-2f, 3e-3f, 5e-2f}), lrz = twin<float>({0.1f, 0.05f, 1.0f});
    for (bool adam : {true, false}) {
      SCOPED_TRACE(adam ? "lazy adam" : "sgd");
      Twin<float> p = twin(uniform_floats(n, -2, 2, 20)), gr = twin(g);
      Twin<float> m = twin(uniform_floats(n, -0.1f, 0.1f, 22));
      Twin<float> v = twin(uniform_floats(n, 0, 0.1f, 23));
      both([&](const Side& s) {
        detail::OptimizerArgs a{};
        a.params = s(p);
        a.grad = s(gr);
        a.m = s(m);
        a.v = s(v);
        a.stride = stride;
        a.log_z_entry = walk == 3 ? -1 : L.log_z_entry();
        a.runs = runs;
        a.lr = s(lr);
        a.lr_log_z = s(lrz);
        a.adam = adam;
        a.lazy = true;
        a.beta1 = 0.9f;
        a.beta2 = 0.999f;
        a.eps = 1e-8f;
        a.bias1 = 0.1f;
        a.bias2 = 0.001f;
        GFNRL_BACKEND_CALL(s.backend, optimizer_step_touched, a, touched(s));
      });
      expect_close(p, "parameters", stride, 1e-6);
      expect_close(gr, "gradient", 0, 0.0);
      expect_close(m, "first moments", stride, 1e-6);
      expect_close(v, "second moments", stride, 1e-6);
    }
  }
}

// log P_B as the log-softmax of per-run logits over each state's parents: every edge, and the
// parent edges of a batch's states (the only entries backward_log_probs_visited promises).
TEST_P(OpEquivalence, BackwardLogProbsIsEquivalentToCpu) {
  const std::vector<Dag> dags = equivalence_dags();
  for (std::size_t k = 0; k < dags.size(); ++k) {
    SCOPED_TRACE(kDagNames[k]);
    const DagTwin d = dag_twin(kDagNames[k], dags[k]);
    const TableLayout L = layout_of(dags[k]);
    const int32_t runs = 3, E = L.num_edges;
    Twin<float> theta = twin(uniform_floats(std::size_t(runs) * E, -2, 2, 24));
    Twin<float> dense = filled<float>(std::size_t(runs) * E, 7.0f);
    Twin<float> visited = filled<float>(std::size_t(runs) * E, 7.0f);
    const Batch bt = sample_batch(dags[k], L, uniform_floats(runs * L.stride(), -1, 1, 25), runs, 5, 6);
    Twin<int32_t> st = twin(bt.states), ac = twin(bt.actions), len = twin(bt.lengths);
    both([&](const Side& s) {
      GFNRL_BACKEND_CALL(s.backend, backward_log_probs, s.view(d), s(theta), runs, s(dense));
      GFNRL_BACKEND_CALL(s.backend, backward_log_probs_visited, s.view(d), s(theta), runs,
                         bt.view(s, st, ac, len), s(visited));
    });
    expect_close(dense, "log P_B", E);
    // The visited entries: the parent edges of every state of run r's trajectories.
    const DagArrays h = dags[k].to_host();
    const std::vector<float> va = visited.ref.to_host(), vb = visited.dev.to_host();
    int checked = 0;
    for (int32_t r = 0; r < runs; ++r)
      for (int32_t m = 0; m < bt.batch; ++m) {
        const std::size_t base = (std::size_t(r) * bt.batch + m) * bt.max_len;
        for (int32_t t = 0; t < bt.lengths[r * bt.batch + m]; ++t) {
          const int32_t c = bt.states[base + t];
          for (int64_t j = h.parent_offsets[c]; j < h.parent_offsets[c + 1]; ++j) {
            const std::size_t e = std::size_t(r) * E + h.parent_edge[j];
            ++checked;
            if (bitwise())
              EXPECT_EQ(std::memcmp(&va[e], &vb[e], sizeof(float)), 0) << "visited log P_B " << e;
            else
              EXPECT_NEAR(va[e], vb[e], kAtomicTol * (1 + std::abs(va[e]))) << "visited " << e;
          }
        }
      }
    EXPECT_GT(checked, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, OpEquivalence, ::testing::ValuesIn(equivalence_backends()),
                         backend_param_name);
INSTANTIATE_TEST_SUITE_P(Backends, RolloutEquivalence, ::testing::ValuesIn(equivalence_backends()),
                         backend_param_name);
INSTANTIATE_TEST_SUITE_P(Backends, ReplayEquivalence, ::testing::ValuesIn(equivalence_backends()),
                         backend_param_name);

// The CPU's (run, item) loops visit every pair once, split over three threads: for_each_run_item
// keeps each run's items in order on one thread, for_each_run_item_apart deals pairs out.
TEST(RunItemLoops, VisitEveryPairOnceAndKeepEachRunsOrder) {
  detail::cpu::force_parallel() = true;
  const detail::cpu::OpScope op(detail::cpu::CpuOp::Fill, 1 << 20);
  const int32_t runs = 5, n = 37;
  std::vector<int> seen(runs * n, 0), order(runs * n, -1), next(runs, 0), thread(runs, -1);
  bool one_thread_per_run = true;
  int threads_used = with_threads(3, [&] {
    std::atomic<int> seen_threads{0};  // a bit per thread that started a run
    detail::cpu::for_each_run_item(op, runs, n, [&](int32_t r, int32_t m) {
      order[r * n + m] = next[r]++;  // only run r's thread touches next[r]
      const int t = omp_get_thread_num();
      if (m == 0) {  // wait (at most 2 s) until a second thread has taken a run: the split is
        seen_threads |= 1 << (t & 30);  // then certain, however the threads were scheduled
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (__builtin_popcount(seen_threads.load()) < 2 &&
               std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      if (thread[r] < 0) thread[r] = t;
      if (thread[r] != t) one_thread_per_run = false;
    });
    return *std::max_element(thread.begin(), thread.end()) + 1;
  });
  for (int32_t r = 0; r < runs; ++r)
    for (int32_t m = 0; m < n; ++m) EXPECT_EQ(order[r * n + m], m) << r << " " << m;
  EXPECT_TRUE(one_thread_per_run);
  EXPECT_GT(threads_used, 1) << "the loop never split";
  for (int chunk : {0, 1, 16}) {
    std::fill(seen.begin(), seen.end(), 0);
    with_threads(3, [&] {
      detail::cpu::for_each_run_item_apart(
          op, runs, n, [&](int32_t r, int32_t m) {
#pragma omp atomic
            ++seen[r * n + m];
          },
          chunk);
      return 0;
    });
    for (int v : seen) EXPECT_EQ(v, 1) << "chunk " << chunk;
  }
  detail::cpu::force_parallel() = false;
}

}  // namespace
}  // namespace gfnrl::test
