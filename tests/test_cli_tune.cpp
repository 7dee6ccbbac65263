// `gfnrl tune` and `gfnrl study --tuned` as a user runs them. Every score is recomputed here from
// `gfnrl train` runs of each setting alone (its own seeds, one learning rate, one epsilon): the
// trapezoidal mean of log10 TV over the budget, averaged over seeds; the best is their argmin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.hpp"

namespace {

const char* kGrid = "--ndim 2 --height 6 --backend cpu --quiet";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  nlohmann::json j;
  in >> j;
  return j;
}

// Per run of a curve CSV (rows step-major): the trapezoidal mean of log10 TV over trajectories.
std::map<std::string, double> mean_log10_tv(const std::vector<std::vector<std::string>>& rows) {
  std::map<std::string, std::vector<std::pair<double, double>>> curve;  // run -> (traj, log TV)
  for (std::size_t i = 1; i < rows.size(); ++i)
    curve[rows[i][2]].push_back(
        {std::stod(rows[i][4]), std::log10(std::max(std::stod(rows[i][5]), 1e-12))});
  std::map<std::string, double> out;
  for (const auto& [seed, pts] : curve) {
    double area = 0;
    for (std::size_t k = 1; k < pts.size(); ++k)
      area += 0.5 * (pts[k].second + pts[k - 1].second) * (pts[k].first - pts[k - 1].first);
    out[seed] = area / pts.back().first;
  }
  return out;
}

std::string number(const nlohmann::json& v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v.get<double>());
  return buf;
}

TEST(CliTune, ScoresEachSettingAsItsOwnTrainRunsAndPicksTheLowest) {
  const std::string csv = temp_path("tune.csv"), best = temp_path("tune.json");
  const std::string common = std::string(" --steps 40 --eval-every 10 --batch 8 ") + kGrid;
  const Result r = run("tune --algos tb,db --lr 0.02,0.2 --epsilon 0,0.3 --seeds 2 --seed 50"
                       " --out " + csv + " --best " + best + common);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = read_json(best);
  EXPECT_EQ(j["command"], "tune");
  EXPECT_EQ(j["seeds"], nlohmann::json({50, 57}));
  const auto tune_rows = read_csv(csv);
  ASSERT_EQ(tune_rows.size(), 1u + 2 * 8 * 5);  // 2 learners x 8 runs x 5 evaluations
  EXPECT_EQ(tune_rows[0].back(), "temperature");
  EXPECT_EQ(tune_rows[0][tune_rows[0].size() - 3], "epsilon");
  for (const nlohmann::json& l : j["learners"]) {
    const std::string algo = l["algo"];
    ASSERT_EQ(l["settings"].size(), 4u) << algo;  // 2 lr x 2 epsilon (db has no log Z rate)
    double lowest = INFINITY;
    nlohmann::json lowest_setting;
    int setting = 0;
    for (const nlohmann::json& s : l["settings"]) {
      const int first_seed = 50 + 2 * setting++;
      EXPECT_EQ(s["seeds"], nlohmann::json({first_seed, first_seed + 1}));
      EXPECT_EQ(s["lr_log_z"].is_null(), algo == "db");
      const std::string alone = temp_path("alone.csv");
      const Result t = run("train --algo " + algo + " --runs 2 --seed " +
                           std::to_string(first_seed) + " --lr " + number(s["lr"]) +
                           " --epsilon " + number(s["epsilon"]) + " --out " + alone + common);
      ASSERT_EQ(t.code, 0) << t.err;
      const auto rows = read_csv(alone);
      double score = 0;
      for (const auto& [seed, v] : mean_log10_tv(rows)) score += v / 2;
      EXPECT_NEAR(s["score"].get<double>(), score, 1e-7) << algo << " " << s;
      // The same curves, bit for bit, in tune's CSV (its rows carry the setting).
      for (std::size_t i = 1; i < rows.size(); ++i) {
        const auto match = std::find_if(tune_rows.begin(), tune_rows.end(), [&](const auto& tr) {
          return tr[0] == algo && tr[2] == rows[i][2] && tr[3] == rows[i][3];
        });
        ASSERT_NE(match, tune_rows.end());
        EXPECT_EQ((*match)[5], rows[i][5]) << "TV of seed " << rows[i][2];
      }
      if (score < lowest) lowest = score, lowest_setting = s;
    }
    EXPECT_EQ(l["best"], lowest_setting) << algo;
    EXPECT_EQ(j["best"][algo], lowest_setting) << algo;
  }
}

TEST(CliTune, GridSpecsAreLogSpacedForRatesAndEvenForEpsilon) {
  const std::string best = temp_path("spec.json");
  const Result r = run("tune --algos tb --lr 1e-3:1e-1:3 --lr-log-z 0.1:0.4:2 --epsilon 0:0.2:3"
                       " --seeds 1 --steps 2 --eval-every 1 --out /dev/null --best " + best +
                       " " + kGrid);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json s = read_json(best)["learners"][0]["settings"];
  ASSERT_EQ(s.size(), 3u * 2 * 3);
  std::vector<double> lr, z, eps;
  for (const auto& x : s) lr.push_back(x["lr"]), z.push_back(x["lr_log_z"]), eps.push_back(x["epsilon"]);
  // Setting (lr i, lr_log_z k, epsilon m) is entry (i * 2 + k) * 3 + m.
  EXPECT_DOUBLE_EQ(lr[0], 1e-3);
  EXPECT_DOUBLE_EQ(lr[6], 1e-2);
  EXPECT_DOUBLE_EQ(lr[17], 1e-1);
  EXPECT_DOUBLE_EQ(z[0], 0.1);
  EXPECT_DOUBLE_EQ(z[3], 0.4);
  EXPECT_DOUBLE_EQ(eps[0], 0);
  EXPECT_DOUBLE_EQ(eps[1], 0.1);
  EXPECT_DOUBLE_EQ(eps[2], 0.2);
}

TEST(CliTune, StudyTunedRunsEachLearnerAtItsBestSetting) {
  const std::string best = temp_path("for_study.json"), study = temp_path("tuned_study.csv");
  const std::string common = std::string(" --steps 30 --eval-every 10 --batch 8 ") + kGrid;
  ASSERT_EQ(run("tune --algos tb,softdqn --lr 0.03,0.3 --epsilon 0,0.2 --seeds 1 --out /dev/null"
                " --best " + best + common).code, 0);
  const nlohmann::json tuned = read_json(best);
  const Result r = run("study --algos tb,softdqn --runs 2 --tuned " + best + " --json --out " +
                       study + common);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tuned"]["seeds_disjoint"], true);
  const auto rows = read_csv(study);
  for (const std::string algo : {"tb", "softdqn"}) {
    const nlohmann::json& s = tuned["best"][algo];
    const std::string alone = temp_path("tuned_alone.csv");
    std::string args = "train --algo " + algo + " --runs 2 --lr " + number(s["lr"]) +
                       " --epsilon " + number(s["epsilon"]) + " --out " + alone + common;
    if (!s["lr_log_z"].is_null()) args += " --lr-log-z " + number(s["lr_log_z"]);
    ASSERT_EQ(run(args).code, 0);
    std::vector<std::string> want, got;
    for (const auto& row : read_csv(alone)) if (row[0] == algo) want.push_back(row[5]);
    for (const auto& row : rows) if (row[0] == algo) got.push_back(row[5]);
    EXPECT_EQ(got, want) << algo;
  }
  // Seeds the tune saw are flagged.
  const Result overlap = run("study --algos tb --runs 2 --seed 1000 --tuned " + best +
                             " --out /dev/null" + common);
  EXPECT_EQ(overlap.code, 0);
  EXPECT_NE(overlap.err.find("OVERLAPPING"), std::string::npos) << overlap.err;
  // A learner the file does not have, and a flag that the file sets, are refused.
  const Result missing = run("study --algos db --tuned " + best + " --out /dev/null" + common);
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("no setting for db (it has: softdqn, tb)"), std::string::npos)
      << missing.err;
  EXPECT_EQ(run("study --algos tb --lr 0.1 --tuned " + best + " --out /dev/null" + common).code, 2);
  EXPECT_EQ(run("study --algos tb --temperature 2 --tuned " + best + " --out /dev/null" + common).code, 2);
  // Whole numbers exactly: 2^64 - 1 is not -1, 9.3e18 and 2.5 are not integers, nothing may
  // follow the JSON, seeds are two unsigned numbers in order.
  const std::string edited = temp_path("edited.json");
  const auto study_with = [&](const nlohmann::json& j, const std::string& tail = "") {
    std::ofstream(edited) << j.dump() << tail;
    return run("study --algos tb --runs 1 --tuned " + edited + " --out /dev/null" + common);
  };
  for (const char* bad : {"18446744073709551615", "9.3e18", "2.5", "-1", "\"20\""}) {
    nlohmann::json j = tuned;
    j["best"]["tb"]["epsilon_decay_steps"] = nlohmann::json::parse(bad);
    const Result r = study_with(j);
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.err;
    EXPECT_NE(r.err.find("tb's epsilon_decay_steps = "), std::string::npos) << bad << "\n" << r.err;
  }
  for (const char* bad : {"[5, 1]", "[-1, 3]", "[1.5, 3]", "7"}) {
    nlohmann::json j = tuned;
    j["seeds"] = nlohmann::json::parse(bad);
    const Result r = study_with(j);
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.err;
    EXPECT_NE(r.err.find("seeds = "), std::string::npos) << bad << "\n" << r.err;
  }
  nlohmann::json steps = tuned;
  steps["steps"] = 2.5;
  EXPECT_EQ(study_with(steps).code, 2);
  const Result garbage = study_with(tuned, "\n{\"more\": 1}");
  EXPECT_EQ(garbage.code, 2) << garbage.err;
  EXPECT_NE(garbage.err.find("not JSON"), std::string::npos) << garbage.err;
  EXPECT_EQ(study_with(tuned, "\n  \n").code, 0) << "trailing blanks are fine";
  for (const std::string& f : {edited, best, study, temp_path("tuned_alone.csv")}) std::remove(f.c_str());
}

// The exploration schedule is tuned too: --epsilon-end (with decay steps) and --temperature are
// grid dimensions; each setting's score is that of train with the same schedule alone, and
// study --tuned trains with the whole schedule of the best.
TEST(CliTune, ExplorationScheduleAndTemperatureAreTunedAndApplied) {
  const std::string best = temp_path("schedule.json"), csv = temp_path("schedule.csv");
  const std::string common = std::string(" --steps 30 --eval-every 10 --batch 8 ") + kGrid;
  const std::string schedule = " --epsilon-decay-steps 20 --temperature-end 1.5 --temperature-decay-steps 25";
  const Result r = run("tune --algos tb --lr 0.05 --epsilon 0.3 --epsilon-end 0,0.1 "
                       "--temperature 1,2 --seeds 2 --seed 70 --out " + csv + " --best " + best +
                       schedule + common);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = read_json(best);
  const nlohmann::json& settings = j["learners"][0]["settings"];
  ASSERT_EQ(settings.size(), 4u);  // epsilon-end x temperature; temperature innermost
  const double ends[] = {0, 0, 0.1, 0.1}, temps[] = {1, 2, 1, 2};
  double lowest = INFINITY;
  for (std::size_t k = 0; k < 4; ++k) {
    const nlohmann::json& s = settings[k];
    EXPECT_DOUBLE_EQ(s["epsilon_end"].get<double>(), ends[k]);
    EXPECT_DOUBLE_EQ(s["temperature"].get<double>(), temps[k]);
    EXPECT_EQ(s["epsilon_decay_steps"], 20);
    EXPECT_EQ(s["temperature_decay_steps"], 25);
    EXPECT_DOUBLE_EQ(s["temperature_end"].get<double>(), 1.5);
    const std::string alone = temp_path("schedule_alone.csv");
    const Result t = run("train --algo tb --runs 2 --seed " + std::to_string(70 + 2 * k) +
                         " --lr 0.05 --epsilon 0.3 --epsilon-end " + number(s["epsilon_end"]) +
                         " --temperature " + number(s["temperature"]) + " --out " + alone +
                         schedule + common);
    ASSERT_EQ(t.code, 0) << t.err;
    double score = 0;
    for (const auto& [seed, v] : mean_log10_tv(read_csv(alone))) score += v / 2;
    EXPECT_NEAR(s["score"].get<double>(), score, 1e-7) << s;
    lowest = std::min(lowest, score);
  }
  EXPECT_NEAR(j["best"]["tb"]["score"].get<double>(), lowest, 1e-7);
  // study --tuned: the best setting's whole schedule (no schedule flags given here).
  const nlohmann::json& b = j["best"]["tb"];
  const std::string study = temp_path("schedule_study.csv"), alone = temp_path("schedule_best.csv");
  ASSERT_EQ(run("study --algos tb --runs 2 --tuned " + best + " --out " + study + common).code, 0);
  ASSERT_EQ(run("train --algo tb --runs 2 --lr 0.05 --epsilon 0.3 --epsilon-end " +
                number(b["epsilon_end"]) + " --temperature " + number(b["temperature"]) +
                " --out " + alone + schedule + common).code, 0);
  std::vector<std::string> want, got;
  for (const auto& row : read_csv(alone)) want.push_back(row[5]);
  for (const auto& row : read_csv(study)) got.push_back(row[5]);
  EXPECT_EQ(got, want);
  // Several ends of a constant epsilon would be one run repeated: refused.
  const Result constant = run("tune --algos tb --epsilon-end 0,0.1 --seeds 1 --steps 2 --out " +
                              csv + ".x --best " + best + ".x " + kGrid);
  EXPECT_EQ(constant.code, 2);
  EXPECT_NE(constant.err.find("--epsilon-decay-steps is 0"), std::string::npos) << constant.err;
}

// study --tune = gfnrl tune on the study's own environment and budget, --runs seeds per setting
// from seed + 1000, files beside --out; then study --tuned with that file.
TEST(CliTune, StudyTuneIsTuneThenStudyTuned) {
  const std::string stem = temp_path("self_tuned");
  const std::string common = std::string(" --algos tb,db --runs 2 --seed 3 --steps 30 "
                                         "--eval-every 10 --batch 8 ") + kGrid;
  const Result r = run("study --tune --tune-lr 0.03,0.3 --tune-epsilon 0,0.2 --json --out " +
                       stem + ".csv" + common);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tuned"]["file"], stem + "-tune.json");
  EXPECT_EQ(j["tuned"]["seeds_disjoint"], true);
  nlohmann::json self = read_json(stem + "-tune.json");
  EXPECT_EQ(self["seeds"], nlohmann::json({1003, 1010}));
  EXPECT_EQ(read_csv(stem + "-tune.csv").size(), 1u + 2 * 8 * 4);

  const std::string best = temp_path("by_hand.json");
  ASSERT_EQ(run("tune --lr 0.03,0.3 --epsilon 0,0.2 --seeds 2 --seed 1003 --out /dev/null --best " +
                best + " --algos tb,db --steps 30 --eval-every 10 --batch 8 " + kGrid).code, 0);
  nlohmann::json by_hand = read_json(best);
  for (nlohmann::json* t : {&self, &by_hand}) t->erase("out");
  EXPECT_EQ(self, by_hand);
  const std::string study = temp_path("by_hand_study.csv");
  ASSERT_EQ(run("study --tuned " + best + " --out " + study + common).code, 0);
  EXPECT_EQ(read_csv(study).size(), read_csv(stem + ".csv").size());
  auto tv = [](const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::string> v;
    for (const auto& row : rows) v.push_back(row[0] + row[2] + row[3] + row[5]);
    return v;
  };
  EXPECT_EQ(tv(read_csv(study)), tv(read_csv(stem + ".csv")));
}

// Learners side by side (--jobs) write the same files as one after another: the CSV in learner
// order, every cell but seconds equal, and the same JSON.
TEST(CliTune, LearnersSideBySideGiveTheSameFiles) {
  auto without_seconds = [](std::vector<std::vector<std::string>> rows) {
    const auto col = std::find(rows[0].begin(), rows[0].end(), "seconds") - rows[0].begin();
    for (auto& row : rows) row.erase(row.begin() + col);
    return rows;
  };
  const std::string common = std::string(" --steps 30 --eval-every 10 --batch 8 --seeds 2 ") +
                             "--algos tb,db,softdqn,subtb --lr 0.03,0.3 --epsilon 0.1 " + kGrid;
  std::vector<std::vector<std::vector<std::string>>> csvs;
  std::vector<nlohmann::json> jsons;
  for (const char* jobs : {"1", "3"}) {
    const std::string csv = temp_path(std::string("jobs") + jobs + ".csv");
    const std::string best = temp_path(std::string("jobs") + jobs + ".json");
    const Result r = run("tune --jobs " + std::string(jobs) + " --out " + csv + " --best " +
                         best + common);
    ASSERT_EQ(r.code, 0) << r.err;
    csvs.push_back(without_seconds(read_csv(csv)));
    nlohmann::json j = read_json(best);
    j.erase("out");
    jsons.push_back(j);
  }
  EXPECT_EQ(csvs[0].size(), 1u + 4 * 4 * 4);  // 4 learners x 4 runs x 4 evaluations
  EXPECT_EQ(csvs[0], csvs[1]);
  EXPECT_EQ(jsons[0], jsons[1]);
  // study: the same, and --jobs beyond the learners is fine.
  const std::string study = std::string(" --algos tb,db,softdqn --runs 2 --steps 30 --eval-every 10 ") + kGrid;
  std::vector<std::vector<std::vector<std::string>>> studies;
  for (const char* jobs : {"1", "8"}) {
    const std::string csv = temp_path(std::string("study_jobs") + jobs + ".csv");
    ASSERT_EQ(run("study --jobs " + std::string(jobs) + " --out " + csv + study).code, 0);
    studies.push_back(without_seconds(read_csv(csv)));
  }
  EXPECT_EQ(studies[0], studies[1]);
  EXPECT_EQ(run("study --jobs -1 --out /dev/null" + study).code, 2);
}

TEST(CliTune, BadGridsExitTwoWithOneLineAndNoFile) {
  const std::string out = temp_path("bad_tune.csv"), best = temp_path("bad_tune.json");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--lr 1e-3:1e-1:0", "N = '0' must be a whole number in [1, 1000]"},
      {"--lr 0:1e-1:3", "FROM and TO must be > 0"},
      {"--lr 0.1,abc", "'abc' is not a finite number"},
      {"--lr 1:2:3:4", "give a comma list or FROM:TO:N"},
      {"--epsilon 0,1.5", "epsilon = 1.5 is out of range"},
      {"--preset backward", "backward not in"},
      {"--runs 4", "--runs"},
      {"--lr 1e-3:1:1000 --epsilon 0:1:1000 --lr-log-z 0.1:1:2", "the grid has 2000000 runs"},
  };
  for (const auto& [flag, fragment] : cases) {
    const Result r = run("tune --algos tb --seeds 1 --steps 2 " + flag + " --out " + out +
                         " --best " + best + " " + kGrid);
    EXPECT_EQ(r.code, 2) << flag << "\n" << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << flag << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(any_file_with_prefix(out)) << flag;
    EXPECT_FALSE(any_file_with_prefix(best)) << flag;
  }
  const Result same = run("tune --out " + out + " --best " + out + " " + kGrid);
  EXPECT_EQ(same.code, 2);
  EXPECT_NE(same.err.find("is the same file as --out"), std::string::npos) << same.err;
}

}  // namespace
