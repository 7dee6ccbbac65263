// One source for every name: each enum's table parses back to its value, prints from it, and an
// unknown name is refused with every allowed name in the message.
#include <gtest/gtest.h>

#include <set>

#include "gfnrl/gfnrl.hpp"

using namespace gfnrl;

namespace {
// parse(name_i) == i and name(i) == name_i for every entry; an unknown name lists them all.
template <class Enum, class Parse, class Name>
void expect_round_trip(const std::vector<std::string>& names, std::size_t expected_count,
                       Parse parse, Name name) {
  ASSERT_EQ(names.size(), expected_count);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(parse(names[i])), i) << names[i];
    EXPECT_EQ(std::string(name(static_cast<Enum>(i))), names[i]);
  }
  try {
    parse("no-such-name");
    ADD_FAILURE() << "an unknown name was accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'no-such-name'"), std::string::npos) << msg;
    for (const std::string& n : names) EXPECT_NE(msg.find(n), std::string::npos) << msg;
  }
}
}  // namespace

TEST(Names, EveryEnumRoundTripsThroughItsTable) {
  // The counts are the enums' sizes, written here independently of the tables.
  expect_round_trip<Algo>(algo_names(), std::size_t(Algo::FM) + 1, parse_algo,
                          algo_name);
  expect_round_trip<BackwardMode>(backward_mode_names(), std::size_t(BackwardMode::Guided) + 1,
                                  parse_backward_mode, backward_mode_name);
  expect_round_trip<OptimizerKind>(optimizer_names(), std::size_t(OptimizerKind::LazyAdam) + 1,
                                   parse_optimizer, optimizer_name);
  expect_round_trip<HypergridRegions>(hypergrid_region_names(),
                                      std::size_t(HypergridRegions::Float64) + 1,
                                      parse_hypergrid_regions, hypergrid_regions_name);
  expect_round_trip<Regression>(regression_names(), std::size_t(Regression::ShiftedCosh) + 1,
                                parse_regression, regression_name);
  expect_round_trip<SubTBWeighting>(subtb_weighting_names(), std::size_t(SubTBWeighting::GeometricBatch) + 1,
                                    parse_subtb_weighting, subtb_weighting_name);
  expect_round_trip<ReplayPriority>(replay_priority_names(), std::size_t(ReplayPriority::AbsTd) + 1,
                                    parse_replay_priority, replay_priority_name);
  EXPECT_EQ(algo_name(Algo::Munchausen), "munchausen");
  EXPECT_EQ(optimizer_name(OptimizerKind::LazyAdam), "lazy-adam");
}

TEST(Names, LearnersAreTheAlgorithmsPlusTheirRelativeAndForwardLookingForms) {
  const std::vector<std::string>& l = learner_names();
  ASSERT_EQ(l.size(), algo_names().size() + 4);
  for (std::size_t i = 0; i < algo_names().size(); ++i) {
    const Learner x = parse_learner(algo_names()[i]);
    EXPECT_EQ(static_cast<std::size_t>(x.algo), i);
    EXPECT_FALSE(x.needs_prior);
  }
  const Learner rtb = parse_learner("rtb"), pcl = parse_learner("trust-pcl");
  EXPECT_EQ(rtb.algo, Algo::TB);
  EXPECT_TRUE(rtb.needs_prior);
  EXPECT_EQ(pcl.algo, Algo::SubTB);
  EXPECT_TRUE(pcl.needs_prior);
  EXPECT_EQ(pcl.name, "trust-pcl");
  const Learner fldb = parse_learner("fldb"), flsubtb = parse_learner("flsubtb");
  EXPECT_EQ(fldb.algo, Algo::DB);
  EXPECT_EQ(flsubtb.algo, Algo::SubTB);
  EXPECT_TRUE(fldb.forward_looking && flsubtb.forward_looking);
  EXPECT_FALSE(fldb.needs_prior || rtb.forward_looking || parse_learner("db").forward_looking);
  EXPECT_THROW(parse_learner("ppo"), InputError);
  EXPECT_TRUE(is_policy_gradient(Algo::PolicyGradient) && is_policy_gradient(Algo::ActorCritic));
  EXPECT_FALSE(is_policy_gradient(Algo::TB) || is_policy_gradient(Algo::SoftDQN));
}

TEST(Names, PresetsEnvironmentsAndBackendsParseFromTheirTables) {
  for (const std::string& p : hypergrid_preset_names()) EXPECT_NO_THROW(hypergrid_preset(p));
  EXPECT_EQ(hypergrid_preset("policy-gradient").height, 256);
  EXPECT_EQ(hypergrid_preset("hard").r0, 1e-4);
  const HypergridConfig t = hypergrid_preset("torchgfn");
  EXPECT_EQ(t.ndim, 4);
  EXPECT_EQ(t.height, 8);
  EXPECT_EQ(t.r0, 0.1);
  try {
    hypergrid_preset("easy");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("standard, hard, policy-gradient"), std::string::npos);
  }
  EXPECT_EQ(join_names(environment_names()), "hypergrid, subsets, bitseq, dag-structure, ising, set-addition, binary-tree");
  EXPECT_EQ(parse_backend("cpu"), Backend::Cpu);
  EXPECT_EQ(join_names(backend_names(), "|"), "cpu|cuda|auto");
  try {
    parse_backend("tpu");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cpu, cuda, auto"), std::string::npos);
  }
}

// The fixed backward policies by name: one table, its parser and its maker, read by the CLI
// (--correction, --pb, convert --with-pb) and Python (correction=, pb=).
TEST(Names, CorrectionsHaveOneNameTableParserAndMaker) {
  EXPECT_EQ(join_names(correction_names()), "uniform, maxent, file, none");
  for (Correction c : {Correction::Uniform, Correction::MaxEnt, Correction::File, Correction::None})
    EXPECT_EQ(parse_correction(correction_name(c)), c);
  try {
    parse_correction("max-ent");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'max-ent' (allowed: uniform, maxent, file, none)"),
              std::string::npos) << e.what();
  }
  const Dag dag = make_hypergrid({2, 4}, Backend::Cpu);
  EXPECT_FALSE(make_correction(dag, Correction::None));
  EXPECT_THROW(make_correction(dag, Correction::File), InputError);
  EXPECT_EQ(make_correction(dag, Correction::Uniform)->log_prob.to_host(),
            uniform_backward_policy(dag).log_prob.to_host());
  EXPECT_EQ(make_correction(dag, Correction::MaxEnt)->log_prob.to_host(),
            maxent_backward_policy(dag).log_prob.to_host());
  const BackwardPolicy mine = maxent_backward_policy(dag);
  EXPECT_EQ(make_correction(dag, Correction::File, &mine)->log_prob.to_host(), mine.log_prob.to_host());
}

// The DQN TD loss and replay mode, and the DAG file formats: name tables the CLI checks against.
TEST(Names, TdLossReplayModeAndDagFormatTables) {
  EXPECT_EQ(join_names(td_loss_names()), "huber, mse");
  EXPECT_TRUE(parse_td_loss_is_huber("huber"));
  EXPECT_FALSE(parse_td_loss_is_huber("mse"));
  EXPECT_THROW(parse_td_loss_is_huber("l1"), InputError);
  EXPECT_EQ(join_names(replay_mode_names()), "prioritized, uniform");
  EXPECT_TRUE(parse_replay_mode_is_prioritized("prioritized"));
  EXPECT_FALSE(parse_replay_mode_is_prioritized("uniform"));
  EXPECT_THROW(parse_replay_mode_is_prioritized("rank"), InputError);
  EXPECT_EQ(join_names(dag_format_names()), "text, binary");
  for (DagFormat f : {DagFormat::Text, DagFormat::Binary})
    EXPECT_EQ(parse_dag_format(dag_format_name(f)), f);
  EXPECT_THROW(parse_dag_format("json"), InputError);
}
