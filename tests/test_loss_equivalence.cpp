// Op-by-op equivalence of the training losses (issue 12, part 1): the gradient rows of tb, db,
// subtb, mdb, zvar, fm (rtb and trust-pcl: tb and subtb with a base policy), softdqn and
// munchausen (with energy rewards), pg and ac (sampled and exact), TLM, and the coupled P_B's
// backward rollouts and loss, with no P_B, a fixed one and a learned one per run. Every loss
// reads the same batch of trajectories, sampled once on the CPU (tests/op_equivalence.hpp says
// how outputs are compared).
#include <cmath>

#include "op_equivalence.hpp"

namespace gfnrl::test {
namespace {

using detail::LossKind;
using detail::TableLayout;

// What every loss of one DAG reads: 3 runs' tables, a batch of 6 trajectories per run, P_B as one
// row (fixed) and as a row per run (learned), and a base policy mu.
struct LossInputs {
  DagTwin d;
  TableLayout L;
  int32_t runs = 3, N = 0, E = 0;
  Batch bt;
  std::vector<float> params, log_pb_runs;
  Twin<int32_t> states, actions, lengths;
  Twin<float> log_pb, log_pb_row, prior_edge, prior_exit;
  Twin<float> potential;  // forward-looking flows: log R, or an intermediate -E(s) elsewhere
};

class LossEquivalence : public OpEquivalence {
 protected:
  LossInputs inputs(const std::string& name, const Dag& cpu) const {
    LossInputs in;
    in.d = dag_twin(name, cpu);
    in.N = cpu.num_states();
    in.E = static_cast<int32_t>(cpu.num_edges());
    in.L = TableLayout{in.N, in.E};
    in.params = uniform_floats(in.runs * in.L.stride(), -1.5f, 1.5f, 31);
    in.bt = sample_batch(cpu, in.L, in.params, in.runs, 6, 32);
    in.states = twin(in.bt.states);
    in.actions = twin(in.bt.actions);
    in.lengths = twin(in.bt.lengths);
    for (int32_t r = 0; r < in.runs; ++r) {
      const std::vector<float> row = random_backward_policy(cpu, 40 + r).log_prob.to_host();
      in.log_pb_runs.insert(in.log_pb_runs.end(), row.begin(), row.end());
    }
    in.log_pb = twin(in.log_pb_runs);
    in.log_pb_row = twin(random_backward_policy(cpu, 50).log_prob.to_host());
    const ForwardPolicy mu = random_policy(cpu, 51);
    in.prior_edge = twin(mu.log_prob.to_host());
    in.prior_exit = twin(mu.exit_log_prob.to_host());
    std::vector<float> pot = cpu.log_reward().to_host();
    for (std::size_t s = 0; s < pot.size(); ++s)
      if (!std::isfinite(pot[s])) pot[s] = -0.3f * static_cast<float>(s % 5);
    in.potential = twin(pot);
    return in;
  }

  /// The runs' tables a loss reads and accumulates into (TableView's fields).
  template <class A>
  static void set_tables(A& a, const Side& s, LossInputs& in, Twin<float>& params,
                         Twin<float>& grad, Twin<float>& loss) {
    a.dag = s.view(in.d);
    a.layout = in.L;
    a.params = s(params);
    a.grad = s(grad);
    a.loss = s(loss);
    a.runs = in.runs;
  }

  /// The P_B a loss reads: 0 none, 1 one fixed row, 2 a learned row per run (with its gradient).
  template <class A>
  static void set_backward(A& a, const Side& s, LossInputs& in, int pb, Twin<float>& pb_grad) {
    a.log_pb = pb == 0 ? nullptr : pb == 1 ? s(in.log_pb_row) : s(in.log_pb);
    a.log_pb_stride = pb == 2 ? in.E : 0;
    a.pb_grad = pb == 2 ? s(pb_grad) : nullptr;
  }
};

struct LossCase {
  LossKind kind;
  int pb;  // set_backward's mode
  detail::Regression regression = detail::Regression::Squared;
  float regression_param = 1.0f;
  detail::SubTBWeighting weighting = detail::SubTBWeighting::GeometricWithin;
  bool prior = false, forward_looking = false;
  float fm_alpha = 1.0f;  // FM's reward-matching weight
  std::string name() const {
    static const char* kinds[] = {"tb", "db", "subtb", "mdb", "zvar", "fm"};
    return std::string(kinds[int(kind)]) + " pb " + std::to_string(pb) + " regression " +
           std::to_string(int(regression)) + " weighting " + std::to_string(int(weighting)) +
           (prior ? " prior" : "") + (forward_looking ? " forward-looking" : "") +
           " fm_alpha " + std::to_string(fm_alpha);
  }
};

std::vector<LossCase> loss_cases() {
  using detail::Regression;
  std::vector<LossCase> c;
  for (LossKind k : {LossKind::TB, LossKind::DB, LossKind::SubTB, LossKind::ModifiedDB,
                     LossKind::ZVar, LossKind::FM})
    for (int pb = 0; pb < 3; ++pb) c.push_back({k, pb});
  for (LossKind k : {LossKind::TB, LossKind::DB})
    for (auto [g, p] : {std::pair{Regression::Absolute, 1.0f}, {Regression::Huber, 0.5f},
                        {Regression::Linex, 0.7f}, {Regression::ShiftedCosh, 1.0f}})
      c.push_back({k, 1, g, p});
  for (int w = 0; w < 6; ++w)
    c.push_back({LossKind::SubTB, 1, Regression::Squared, 1.0f, detail::SubTBWeighting(w)});
  for (LossKind k : {LossKind::TB, LossKind::SubTB}) {  // rtb, trust-pcl
    LossCase x{k, 0};
    x.prior = true;
    c.push_back(x);
  }
  for (LossKind k : {LossKind::DB, LossKind::SubTB}) {
    LossCase x{k, 1};
    x.forward_looking = true;
    c.push_back(x);
  }
  LossCase fm{LossKind::FM, 0};
  fm.fm_alpha = 0.3f;
  c.push_back(fm);
  return c;
}

TEST_P(LossEquivalence, TrajectoryLossIsEquivalentToCpu) {
  const std::vector<Dag> dags = equivalence_dags();
  for (std::size_t k = 0; k < dags.size(); ++k) {
    LossInputs in = inputs(kDagNames[k], dags[k]);
    const bool energy = all_terminate(dags[k]);
    for (const LossCase& lc : loss_cases()) {
      if (lc.kind == LossKind::ModifiedDB && !energy) continue;  // FL: intermediate -E(s)
      SCOPED_TRACE(std::string(kDagNames[k]) + ": " + lc.name());
      const std::size_t traj = std::size_t(in.runs) * in.bt.batch;
      Twin<float> params = twin(in.params);
      Twin<float> grad = filled<float>(in.params.size(), 0.0f), loss = filled<float>(in.runs, 0.0f);
      Twin<float> pb_grad = filled<float>(std::size_t(in.runs) * in.E, 0.0f);
      Twin<float> scratch =
          filled<float>(traj * detail::kSubTBScratch * (in.bt.max_len + 1), 0.0f);
      both([&](const Side& s) {
        detail::TrajectoryLossArgs<float> a{};
        set_tables(a, s, in, params, grad, loss);
        set_backward(a, s, in, lc.pb, pb_grad);
        static_cast<detail::TrajectoryBatch&>(a) = in.bt.view(s, in.states, in.actions, in.lengths);
        a.prior_edge = lc.prior ? s(in.prior_edge) : nullptr;
        a.prior_exit = lc.prior ? s(in.prior_exit) : nullptr;
        a.lambda = 0.9f;
        a.weighting = lc.weighting;
        a.flow_potential = lc.forward_looking ? s(in.potential) : nullptr;
        a.regression = lc.regression;
        a.regression_param = lc.regression_param;
        a.fm_alpha = lc.fm_alpha;
        a.scratch = s(scratch);
        a.zvar_log_z = s(params);
        GFNRL_BACKEND_CALL(s.backend, trajectory_loss, lc.kind, a);
      });
      expect_close(grad, "gradient", in.L.stride());
      expect_close(loss, "loss", 1);
      expect_close(pb_grad, "P_B gradient", in.E);
      expect_close(params, "tables (ZVar's log Z)", in.L.stride());
    }
  }
}

// The DQN learners' inputs: 10 replayed transitions per run drawn from the batch (exits
// included), a target table, and the step's outputs.
struct DqnCase {
  static constexpr int32_t kSamples = 10;
  bool munchausen, huber, energy;
  int pb;
  Twin<int32_t> sample_state, sample_action;
  Twin<float> target, params, grad, loss, abs_td, unused;
};

class DqnEquivalence : public LossEquivalence {
 protected:
  /// Variant bits: 1 Munchausen, 2 Huber, 4 a fixed P_B correction, 8 energy rewards.
  DqnCase dqn_case(LossInputs& in, int variant) const {
    DqnCase c{bool(variant & 1), bool(variant & 2), bool(variant & 8), (variant & 4) ? 1 : 0};
    std::vector<int32_t> ss, sa;
    std::mt19937 rng(33);
    for (int32_t r = 0; r < in.runs; ++r)
      for (int32_t i = 0; i < DqnCase::kSamples; ++i) {
        const std::size_t traj = std::size_t(r) * in.bt.batch + rng() % in.bt.batch;
        const int32_t t = static_cast<int32_t>(rng() % in.bt.lengths[traj]);
        ss.push_back(in.bt.states[traj * in.bt.max_len + t]);
        sa.push_back(in.bt.actions[traj * in.bt.max_len + t]);
      }
    c.sample_state = twin(ss);
    c.sample_action = twin(sa);
    c.target = twin(uniform_floats(in.params.size(), -1.5f, 1.5f, 34));
    c.params = twin(in.params);
    c.grad = filled<float>(in.params.size(), 0.0f);
    c.loss = filled<float>(in.runs, 0.0f);
    c.abs_td = filled<float>(std::size_t(in.runs) * DqnCase::kSamples, -1.0f);
    c.unused = filled<float>(1, 0.0f);
    return c;
  }

  /// f(inputs, case) for every DAG and every variant it takes (energy rewards need every state
  /// to terminate).
  template <class F>
  void for_each_case(F&& f) const {
    const std::vector<Dag> dags = equivalence_dags();
    for (std::size_t k = 0; k < dags.size(); ++k) {
      LossInputs in = inputs(kDagNames[k], dags[k]);
      for (int variant = 0; variant < 16; ++variant) {
        if ((variant & 8) && !all_terminate(dags[k])) continue;
        SCOPED_TRACE(std::string(kDagNames[k]) + ": variant " + std::to_string(variant));
        DqnCase c = dqn_case(in, variant);
        f(in, c);
      }
    }
  }

  static detail::DqnArgs<float> dqn_args(const Side& s, LossInputs& in, DqnCase& c) {
    detail::DqnArgs<float> a{};
    set_tables(a, s, in, c.params, c.grad, c.loss);
    set_backward(a, s, in, c.pb, c.unused);
    a.target = s(c.target);
    a.abs_td = s(c.abs_td);
    a.samples = DqnCase::kSamples;
    a.sample_state = s(c.sample_state);
    a.sample_action = s(c.sample_action);
    a.tau = c.munchausen ? 1.0f / (1.0f - 0.15f) : 1.0f;
    a.alpha = c.munchausen ? 0.9f : 0.0f;
    a.l0 = -1.0f;
    a.huber = c.huber;
    a.energy_reward = c.energy;
    return a;
  }
};

// SoftDQN and Munchausen TD steps, Huber or squared, with and without a reward correction, with
// energy rewards on the hypergrid.
TEST_P(DqnEquivalence, DqnLossIsEquivalentToCpu) {
  for_each_case([&](LossInputs& in, DqnCase& c) {
    both([&](const Side& s) { GFNRL_BACKEND_CALL(s.backend, dqn_loss, dqn_args(s, in, c)); });
    expect_close(c.grad, "gradient", in.L.stride());
    expect_close(c.loss, "loss", 1);
    expect_close(c.abs_td, "|TD error|", DqnCase::kSamples);
  });
}

// The reference rule: a batch, once inserted (into rings of 40 slots, one wrapping), gets
// priorities from its own TD errors.
TEST_P(DqnEquivalence, ReplayPrioritizeNewIsEquivalentToCpu) {
  for_each_case([&](LossInputs& in, DqnCase& c) {
    Replay rp = replay(true, {0, 30, 77}, 40);  // empty, wrapping with this batch, wrapped
    both([&](const Side& s) {
      const detail::ReplayArgs b = rp.args(s);
      const detail::RolloutArgs t = in.bt.rollout(s, in.states, in.actions, in.lengths);
      GFNRL_BACKEND_CALL(s.backend, replay_insert, b, t);  // the rule reads the batch's slots
      GFNRL_BACKEND_CALL(s.backend, replay_prioritize_new, b, t, dqn_args(s, in, c), 0.6f);
    });
    expect_close(rp.priority, "new priorities", rp.capacity, 1e-5);
    expect_close(rp.max_priority, "max priority", 1, 1e-5);
  });
}

TEST_P(LossEquivalence, TlmLossIsEquivalentToCpu) {
  const std::vector<Dag> dags = equivalence_dags();
  for (std::size_t k = 0; k < dags.size(); ++k) {
    SCOPED_TRACE(kDagNames[k]);
    LossInputs in = inputs(kDagNames[k], dags[k]);
    Twin<float> grad = filled<float>(std::size_t(in.runs) * in.E, 0.0f);
    Twin<float> loss = filled<float>(in.runs, 0.0f);
    both([&](const Side& s) {
      detail::TlmArgs<float> a{};
      static_cast<detail::TrajectoryBatch&>(a) = in.bt.view(s, in.states, in.actions, in.lengths);
      a.dag = s.view(in.d);
      a.layout = in.L;
      a.log_pb = s(in.log_pb);
      a.grad = s(grad);
      a.loss = s(loss);
      a.runs = in.runs;
      GFNRL_BACKEND_CALL(s.backend, tlm_loss, a);
    });
    expect_close(grad, "TLM gradient", in.E);
    expect_close(loss, "TLM loss", 1);
  }
}

// REINFORCE with its leave-one-out baseline and actor-critic with GAE, each with every P_B mode.
TEST_P(LossEquivalence, PgLossIsEquivalentToCpu) {
  const std::vector<Dag> dags = equivalence_dags();
  for (std::size_t k = 0; k < dags.size(); ++k) {
    LossInputs in = inputs(kDagNames[k], dags[k]);
    const std::size_t traj = std::size_t(in.runs) * in.bt.batch;
    for (bool critic : {false, true})
      for (int pb = 0; pb < 3; ++pb) {
        SCOPED_TRACE(std::string(kDagNames[k]) + (critic ? ": ac" : ": pg") + " pb " +
                     std::to_string(pb));
        Twin<float> grad = filled<float>(in.params.size(), 0.0f), loss = filled<float>(in.runs, 0.0f);
        Twin<float> pb_grad = filled<float>(std::size_t(in.runs) * in.E, 0.0f);
        Twin<float> cost = filled<float>(traj, 0.0f);
        Twin<float> advantage = filled<float>(traj * in.bt.max_len, 0.0f);
        Twin<float> params = twin(in.params);
        both([&](const Side& s) {
          detail::PgArgs<float> a{};
          set_tables(a, s, in, params, grad, loss);
          set_backward(a, s, in, pb, pb_grad);
          static_cast<detail::TrajectoryBatch&>(a) = in.bt.view(s, in.states, in.actions, in.lengths);
          a.critic = critic;
          a.gae_lambda = 0.9f;
          a.traj_cost = s(cost);
          a.advantage = critic ? s(advantage) : nullptr;
          GFNRL_BACKEND_CALL(s.backend, pg_loss, a);
        });
        expect_close(grad, "gradient", in.L.stride());
        expect_close(loss, "loss", 1);
        expect_close(pb_grad, "P_B gradient", in.E);
        expect_close(cost, "trajectory costs", in.bt.batch);
        expect_close(advantage, "advantages", in.bt.max_len);
      }
  }
}

// The exact expected gradient of pg and of TB's squared residual, by the value sweeps (and the
// prefix sweep with a learned P_B), from given p(s) and P_F.
TEST_P(LossEquivalence, PgExactIsEquivalentToCpu) {
  const std::vector<Dag> dags = equivalence_dags();
  for (std::size_t k = 0; k < dags.size(); ++k) {
    LossInputs in = inputs(kDagNames[k], dags[k]);
    const std::size_t rn = std::size_t(in.runs) * in.N;
    std::vector<float> log_pf;
    for (int32_t r = 0; r < in.runs; ++r) {
      const std::vector<float> row = random_policy(dags[k], 60 + r).log_prob.to_host();
      log_pf.insert(log_pf.end(), row.begin(), row.end());
    }
    Twin<float> lpf = twin(log_pf), log_visit = twin(uniform_floats(rn, -4.0f, 0.0f, 35));
    for (bool squared : {false, true})
      for (int pb = 0; pb < 3; ++pb) {
        SCOPED_TRACE(std::string(kDagNames[k]) + (squared ? ": tb" : ": pg") + " pb " +
                     std::to_string(pb));
        Twin<float> grad = filled<float>(in.params.size(), 0.0f), loss = filled<float>(in.runs, 0.0f);
        Twin<float> pb_grad = filled<float>(std::size_t(in.runs) * in.E, 0.0f);
        Twin<float> value = filled<float>(rn, 0.0f), value2 = filled<float>(rn, 0.0f);
        Twin<float> prefix = filled<float>(rn, 0.0f), params = twin(in.params);
        both([&](const Side& s) {
          detail::PgArgs<float> a{};
          set_tables(a, s, in, params, grad, loss);
          set_backward(a, s, in, pb, pb_grad);
          a.log_pf = s(lpf);
          a.value = s(value);
          a.value2 = squared ? s(value2) : nullptr;
          a.squared = squared;
          a.prefix = squared && pb == 2 ? s(prefix) : nullptr;
          a.log_visit = s(log_visit);
          GFNRL_BACKEND_CALL(s.backend, pg_exact, s.dag(in.d), a);
        });
        expect_close(value, "V", in.N);
        expect_close(value2, "V2", in.N);
        expect_close(prefix, "A", in.N);
        expect_close(grad, "gradient", in.L.stride());
        expect_close(loss, "loss", 1);
        expect_close(pb_grad, "P_B gradient", in.E);
      }
  }
}

// Backward trajectories of Niu et al.'s coupled P_B, from the batch's terminal states.
struct BackwardBatch {
  Twin<int32_t> states, edges, lengths;
};

class CoupledEquivalence : public LossEquivalence {
 protected:
  static constexpr uint64_t kSeed = 17, kStep = 2;
  BackwardBatch backward_batch(const LossInputs& in) const {
    const std::size_t traj = std::size_t(in.runs) * in.bt.batch;
    return {filled<int32_t>(traj * in.bt.max_len, -7), filled<int32_t>(traj * in.bt.max_len, -7),
            filled<int32_t>(traj, -7)};
  }
  static void backward_rollout(const Side& s, LossInputs& in, BackwardBatch& b) {
    detail::BackwardRolloutArgs a{};
    a.dag = s.view(in.d);
    a.log_pb = s(in.log_pb);
    a.runs = in.runs;
    a.batch = in.bt.batch;
    a.max_len = in.bt.max_len;
    a.seed = kSeed;
    a.step = kStep;
    a.forward_states = s(in.states);
    a.forward_lengths = s(in.lengths);
    a.states = s(b.states);
    a.edges = s(b.edges);
    a.lengths = s(b.lengths);
    GFNRL_BACKEND_CALL(s.backend, backward_rollout, a);
  }
};

// The same parent edges, or a pick on a CDF boundary of P_B.
TEST_P(CoupledEquivalence, BackwardRolloutIsEquivalentToCpu) {
  const std::vector<Dag> dags = equivalence_dags();
  int boundary_draws = 0;
  for (std::size_t k = 0; k < dags.size(); ++k) {
    SCOPED_TRACE(kDagNames[k]);
    LossInputs in = inputs(kDagNames[k], dags[k]);
    BackwardBatch bb = backward_batch(in);
    both([&](const Side& s) { backward_rollout(s, in, bb); });
    const std::vector<int32_t> ea = bb.edges.ref.to_host(), eb = bb.edges.dev.to_host();
    const std::vector<int32_t> sa = bb.states.ref.to_host(), sb = bb.states.dev.to_host();
    const std::vector<int32_t> la = bb.lengths.ref.to_host(), lb = bb.lengths.dev.to_host();
    const DagArrays h = dags[k].to_host();
    const int32_t max_len = in.bt.max_len;
    for (std::size_t t = 0; t < la.size(); ++t) {
      const int32_t i = first_difference(sa, sb, ea, eb, t * max_len, la[t]);
      if (i == la[t] && la[t] == lb[t]) continue;
      SCOPED_TRACE("backward trajectory " + std::to_string(t) + " step " + std::to_string(i));
      ASSERT_LT(i, la[t]) << "equal edges, lengths differ";
      ASSERT_FALSE(bitwise()) << "the CPU twin picked another edge";
      const int32_t r = static_cast<int32_t>(t / in.bt.batch), m = static_cast<int32_t>(t % in.bt.batch);
      const int32_t c = sa[t * max_len + i];
      std::vector<double> p;
      for (int64_t j = h.parent_offsets[c]; j < h.parent_offsets[c + 1]; ++j)
        p.push_back(std::exp(double(in.log_pb_runs[std::size_t(r) * in.E + h.parent_edge[j]])));
      const detail::Philox4 u = detail::draw(kSeed + r, kStep, m, i, detail::kStreamBackwardRollout);
      EXPECT_LT(boundary_distance(detail::uniform01(u.v[0]), p), kBoundaryTol);
      ++boundary_draws;
    }
  }
  std::printf("[ backward rollouts ] %d draw(s) on a CDF boundary picked differently on %s\n",
              boundary_draws, backend_name(dev()));
}

// The backward policy gradient and critic on the same backward trajectories (sampled on the CPU),
// coupled and guided.
TEST_P(CoupledEquivalence, CoupledLossIsEquivalentToCpu) {
  const std::vector<Dag> dags = equivalence_dags();
  for (std::size_t k = 0; k < dags.size(); ++k) {
    LossInputs in = inputs(kDagNames[k], dags[k]);
    BackwardBatch bb = backward_batch(in);
    backward_rollout(Side{Backend::Cpu, true}, in, bb);
    bb.states.dev = bb.states.ref.to(dev());
    bb.edges.dev = bb.edges.ref.to(dev());
    bb.lengths.dev = bb.lengths.ref.to(dev());
    const std::size_t rn = std::size_t(in.runs) * in.N, traj = bb.lengths.ref.size();
    for (bool guided : {false, true}) {
      SCOPED_TRACE(std::string(kDagNames[k]) + (guided ? ": guided" : ": coupled"));
      Twin<float> pb_grad = filled<float>(std::size_t(in.runs) * in.E, 0.0f);
      Twin<float> value = twin(uniform_floats(rn, -2.0f, 2.0f, 36));
      Twin<float> value_grad = filled<float>(rn, 0.0f), loss = filled<float>(in.runs, 0.0f);
      Twin<float> adv_sum = filled<float>(traj, 0.0f), params = twin(in.params);
      both([&](const Side& s) {
        detail::CoupledArgs<float> a{};
        a.dag = s.view(in.d);
        a.layout = in.L;
        a.params = s(params);
        a.log_pb = s(in.log_pb);
        a.pb_grad = s(pb_grad);
        a.value = s(value);
        a.value_grad = s(value_grad);
        a.loss = s(loss);
        a.adv_sum = s(adv_sum);
        a.runs = in.runs;
        a.batch = in.bt.batch;
        a.max_len = in.bt.max_len;
        a.states = s(bb.states);
        a.edges = s(bb.edges);
        a.lengths = s(bb.lengths);
        a.guided = guided;
        a.guide_log_reward = 0.5f;
        GFNRL_BACKEND_CALL(s.backend, coupled_loss, a);
      });
      expect_close(pb_grad, "P_B gradient", in.E);
      expect_close(value_grad, "critic gradient", in.N);
      expect_close(loss, "loss", 1);
      expect_close(adv_sum, "advantage sums", in.bt.batch);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, LossEquivalence, ::testing::ValuesIn(equivalence_backends()),
                         backend_param_name);
INSTANTIATE_TEST_SUITE_P(Backends, DqnEquivalence, ::testing::ValuesIn(equivalence_backends()),
                         backend_param_name);
INSTANTIATE_TEST_SUITE_P(Backends, CoupledEquivalence, ::testing::ValuesIn(equivalence_backends()),
                         backend_param_name);

}  // namespace
}  // namespace gfnrl::test
