/* The C ABI from C: every entry point, its results against closed forms, and its error
 * reporting (status codes, gfnrl_last_error naming the problem, NULL handles). Exit code 0 when
 * every check passes; each failure prints the line. Argument: a scratch directory. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gfnrl/gfnrl.h>

static int failures = 0;
#define EXPECT(cond)                                                        \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, \
              __LINE__, #cond, gfnrl_last_error());                         \
      ++failures;                                                           \
    }                                                                       \
  } while (0)

/* Diamond 0 -> {1, 2} -> 3, 0 -> 3; R(1) = 1, R(3) = e^2: log Z = log(1 + e^2). */
static const char* kDiamond =
    "gfnrl-dag 1\nstates 4\nedge 0 1 0\nedge 0 2 1\nedge 1 3 0\nedge 2 3 1\nedge 0 3 2\n"
    "log_reward 1 0\nlog_reward 3 2\n";

int main(int argc, char** argv) {
  char path[4096];
  FILE* f;
  gfnrl_dag *dag = NULL, *grid = NULL, *missing = NULL;
  gfnrl_trainer* trainer = NULL;
  gfnrl_train_config cfg;
  gfnrl_metrics m, runs[2];
  double log_z = 0, v0 = 0, p[4], total = 0, e2 = exp(2.0);
  int i;

  snprintf(path, sizeof path, "%s/c_api_diamond.txt", argc > 1 ? argv[1] : ".");
  f = fopen(path, "w");
  if (!f) return 2;
  fputs(kDiamond, f);
  fclose(f);

  EXPECT(strlen(gfnrl_version()) > 0);
  {
    /* Names come from the library's tables, both ways. */
    gfnrl_algo a = GFNRL_ALGO_TB;
    gfnrl_backward_mode b = GFNRL_BACKWARD_FIXED;
    EXPECT(strcmp(gfnrl_algo_name(GFNRL_ALGO_MUNCHAUSEN), "munchausen") == 0);
    EXPECT(strcmp(gfnrl_algo_name(GFNRL_ALGO_AC), "ac") == 0);
    EXPECT(strcmp(gfnrl_algo_name(GFNRL_ALGO_ZVAR), "zvar") == 0);
    EXPECT(strcmp(gfnrl_algo_name(GFNRL_ALGO_FM), "fm") == 0);
    EXPECT(gfnrl_algo_name((gfnrl_algo)10) == NULL && gfnrl_algo_name((gfnrl_algo)-1) == NULL);
    EXPECT(gfnrl_parse_algo("fm", &a) == GFNRL_OK && a == GFNRL_ALGO_FM);
    EXPECT(strcmp(gfnrl_backward_mode_name(GFNRL_BACKWARD_GUIDED), "guided") == 0);
    EXPECT(gfnrl_backward_mode_name((gfnrl_backward_mode)5) == NULL);
    EXPECT(gfnrl_parse_algo("mdb", &a) == GFNRL_OK && a == GFNRL_ALGO_MDB);
    EXPECT(gfnrl_parse_backward_mode("tlm", &b) == GFNRL_OK && b == GFNRL_BACKWARD_TLM);
    EXPECT(gfnrl_parse_algo("ppo", &a) == GFNRL_ERROR_INPUT && a == GFNRL_ALGO_MDB);
    EXPECT(strstr(gfnrl_last_error(), "tb, db, subtb") != NULL);
    EXPECT(gfnrl_parse_backward_mode(NULL, &b) == GFNRL_ERROR_INPUT);
  }
  EXPECT(gfnrl_dag_load(path, GFNRL_BACKEND_CPU, &dag) == GFNRL_OK);
  EXPECT(gfnrl_dag_num_states(dag) == 4 && gfnrl_dag_num_edges(dag) == 5);
  EXPECT(gfnrl_log_partition(dag, &log_z) == GFNRL_OK);
  EXPECT(fabs(log_z - log(1 + e2)) < 1e-6);
  EXPECT(gfnrl_solve(dag, GFNRL_CORRECTION_UNIFORM, &v0, &m) == GFNRL_OK);
  EXPECT(fabs(v0 - log_z) < 1e-5 && m.tv < 1e-6);
  EXPECT(fabs(m.elbo) < 1e-5 && fabs(m.eubo) < 1e-5); /* the bounds close at the optimum */
  EXPECT(fabs(m.corr - 1) < 1e-6 && fabs(m.mode_mass - m.mode_mass_target) < 1e-6);
  EXPECT(m.spearman == 1.0); /* two terminating states, in R's order */
  /* Uncorrected: 3 paths to state 3, so it samples {1, 3 e^2} / (1 + 3 e^2). */
  EXPECT(gfnrl_solve(dag, GFNRL_CORRECTION_NONE, &v0, &m) == GFNRL_OK);
  EXPECT(fabs(v0 - log(1 + 3 * e2)) < 1e-5);
  EXPECT(fabs(m.tv - (3 * e2 / (1 + 3 * e2) - e2 / (1 + e2))) < 1e-5);
  EXPECT(m.elbo < -1e-3 && m.eubo > 1e-3);
  EXPECT(gfnrl_solve_terminal_distribution(dag, GFNRL_CORRECTION_MAXENT, p, 4) == GFNRL_OK);
  for (i = 0; i < 4; ++i) total += p[i];
  EXPECT(fabs(total - 1) < 1e-5);

  EXPECT(gfnrl_hypergrid_create(2, 8, 1e-3, 0.5, 2.0, GFNRL_BACKEND_CPU, &grid) == GFNRL_OK);
  EXPECT(gfnrl_dag_num_states(grid) == 64);
  gfnrl_train_config_default(&cfg);
  EXPECT(cfg.algo == GFNRL_ALGO_TB && cfg.batch == 16 && cfg.runs == 1 && fabs(cfg.learning_rate - 1e-2f) < 1e-9);
  cfg.algo = GFNRL_ALGO_DB;
  cfg.runs = 2;
  cfg.learning_rate = 0.1f;
  EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_UNIFORM, &cfg, &trainer) == GFNRL_OK);
  EXPECT(gfnrl_trainer_evaluate(trainer, runs, 2) == GFNRL_OK);
  EXPECT(runs[0].tv > 0.1); /* the uniform start is far from R/Z */
  EXPECT(runs[0].elbo < -1e-3 && runs[0].eubo > 1e-3);
  EXPECT(runs[0].spearman >= -1 && runs[0].spearman <= 1 && runs[1].spearman == runs[0].spearman);
  EXPECT(gfnrl_trainer_step(trainer, 3000) == GFNRL_OK);
  EXPECT(gfnrl_trainer_evaluate(trainer, runs, 2) == GFNRL_OK);
  EXPECT(runs[0].tv < 0.05 && runs[1].tv < 0.05);
  EXPECT(gfnrl_trainer_evaluate(trainer, runs, 1) == GFNRL_ERROR_INPUT);
  EXPECT(strstr(gfnrl_last_error(), "room for 1 runs") != NULL);
  {
    /* The loss options reach the trainer: the same seed with shifted-cosh SubTB, db weighting and
     * forward-looking flows trains differently from plain SubTB; bad names are refused. */
    gfnrl_train_config sub;
    gfnrl_trainer *plain = NULL, *shaped = NULL;
    gfnrl_metrics a[1], b[1];
    gfnrl_train_config_default(&sub);
    EXPECT(sub.regression == NULL && sub.regression_param == 1.0f && sub.subtb_weighting == NULL &&
           sub.forward_looking == 0);
    sub.algo = GFNRL_ALGO_SUBTB;
    sub.learning_rate = 0.1f;
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_UNIFORM, &sub, &plain) == GFNRL_OK);
    sub.regression = "shifted-cosh";
    sub.subtb_weighting = "db";
    sub.forward_looking = 1;
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_UNIFORM, &sub, &shaped) == GFNRL_OK);
    EXPECT(gfnrl_trainer_step(plain, 20) == GFNRL_OK && gfnrl_trainer_step(shaped, 20) == GFNRL_OK);
    EXPECT(gfnrl_trainer_evaluate(plain, a, 1) == GFNRL_OK && gfnrl_trainer_evaluate(shaped, b, 1) == GFNRL_OK);
    EXPECT(a[0].tv != b[0].tv);
    gfnrl_trainer_destroy(plain);
    gfnrl_trainer_destroy(shaped);
    shaped = NULL;
    sub.regression = "cubic";
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_UNIFORM, &sub, &shaped) == GFNRL_ERROR_INPUT);
    EXPECT(shaped == NULL && strstr(gfnrl_last_error(), "cubic") != NULL);
    sub.regression = NULL;
    sub.algo = GFNRL_ALGO_TB;
    sub.subtb_weighting = NULL;
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_UNIFORM, &sub, &shaped) == GFNRL_ERROR_INPUT);
    EXPECT(strstr(gfnrl_last_error(), "forward-looking flows apply to db and subtb") != NULL);
  }

  {
    /* Every option of the table by name, as text: a DQN learner with the TD loss, replay and
     * target options set trains differently from its defaults; bad names and values are named. */
    gfnrl_train_config dq;
    gfnrl_trainer *plain = NULL, *tuned = NULL;
    gfnrl_metrics a[2], b[2];
    const char* names[] = {"huber", "prioritized", "target_rate", "replay_batch", "lr"};
    const char* values[] = {"false", "false", "1", "32", "0.05,0.2"};
    const char* bad_name[] = {"lrate"};
    const char* bad_value[] = {"fast"};
    const char* target[] = {"target_rate"};
    const char* out_of_range[] = {"1.5"};
    size_t n = 0;
    while (gfnrl_train_option_name(n) != NULL) ++n;
    EXPECT(n > 30 && strcmp(gfnrl_train_option_name(0), "lr") == 0);
    gfnrl_train_config_default(&dq);
    dq.algo = GFNRL_ALGO_SOFTDQN;
    dq.runs = 2;
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_UNIFORM, &dq, &plain) == GFNRL_OK);
    EXPECT(gfnrl_trainer_create_with_options(grid, GFNRL_CORRECTION_UNIFORM, &dq, names, values, 5,
                                             &tuned) == GFNRL_OK);
    EXPECT(gfnrl_trainer_step(plain, 40) == GFNRL_OK && gfnrl_trainer_step(tuned, 40) == GFNRL_OK);
    EXPECT(gfnrl_trainer_evaluate(plain, a, 2) == GFNRL_OK && gfnrl_trainer_evaluate(tuned, b, 2) == GFNRL_OK);
    EXPECT(a[0].tv != b[0].tv && b[0].tv != b[1].tv); /* per-run rates: the runs differ */
    gfnrl_trainer_destroy(plain);
    gfnrl_trainer_destroy(tuned);
    tuned = NULL;
    EXPECT(gfnrl_trainer_create_with_options(grid, GFNRL_CORRECTION_UNIFORM, &dq, bad_name, values, 1,
                                             &tuned) == GFNRL_ERROR_INPUT);
    EXPECT(tuned == NULL && strstr(gfnrl_last_error(), "unknown option 'lrate'") != NULL);
    EXPECT(gfnrl_trainer_create_with_options(grid, GFNRL_CORRECTION_UNIFORM, &dq, target, bad_value, 1,
                                             &tuned) == GFNRL_ERROR_INPUT);
    EXPECT(strstr(gfnrl_last_error(), "target_rate = 'fast': not a float") != NULL);
    EXPECT(gfnrl_trainer_create_with_options(grid, GFNRL_CORRECTION_UNIFORM, &dq, target,
                                             out_of_range, 1, &tuned) == GFNRL_ERROR_INPUT);
    EXPECT(strstr(gfnrl_last_error(), "target_rate = 1.5 is out of range: must be in (0, 1]") != NULL);
  }

  /* Errors: status codes and messages that name the problem. */
  EXPECT(gfnrl_dag_load("/nonexistent/graph.bin", GFNRL_BACKEND_CPU, &missing) == GFNRL_ERROR_INPUT);
  EXPECT(missing == NULL && strstr(gfnrl_last_error(), "/nonexistent/graph.bin") != NULL);
  EXPECT(gfnrl_solve(grid, GFNRL_CORRECTION_FILE, NULL, NULL) == GFNRL_ERROR_INPUT);
  EXPECT(gfnrl_solve(dag, (gfnrl_correction)9, NULL, NULL) == GFNRL_ERROR_INPUT);
  EXPECT(strstr(gfnrl_last_error(), "correction 9 is out of range") != NULL);
  EXPECT(gfnrl_hypergrid_create(0, 8, 1e-3, 0.5, 2, GFNRL_BACKEND_CPU, &missing) == GFNRL_ERROR_INPUT);
  EXPECT(strstr(gfnrl_last_error(), "ndim = 0") != NULL);
  cfg.runs = 0;
  {
    gfnrl_trainer* bad = NULL;
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_NONE, &cfg, &bad) == GFNRL_ERROR_INPUT);
    EXPECT(bad == NULL && strstr(gfnrl_last_error(), "runs") != NULL);
  }
  EXPECT(gfnrl_solve(NULL, GFNRL_CORRECTION_NONE, NULL, NULL) == GFNRL_ERROR_INPUT);
  EXPECT(gfnrl_solve_terminal_distribution(dag, GFNRL_CORRECTION_UNIFORM, p, 3) == GFNRL_ERROR_INPUT);
  /* Out-of-range enum values (as a C caller may pass them) are input errors, not undefined
   * behaviour: the UBSan pass of .ci/run runs this program. */
  EXPECT(gfnrl_solve(dag, (gfnrl_correction)-1, NULL, NULL) == GFNRL_ERROR_INPUT);
  EXPECT(strstr(gfnrl_last_error(), "correction -1 is out of range") != NULL);
  EXPECT(gfnrl_hypergrid_create(2, 8, 1e-3, 0.5, 2, (gfnrl_backend)7, &missing) == GFNRL_ERROR_INPUT);
  EXPECT(missing == NULL && strstr(gfnrl_last_error(), "backend 7 is out of range") != NULL);
  EXPECT(gfnrl_hypergrid_create_with_regions(2, 8, 1e-3, 0.5, 2, (gfnrl_hypergrid_regions)5,
                                             GFNRL_BACKEND_CPU, &missing) == GFNRL_ERROR_INPUT);
  EXPECT(missing == NULL && strstr(gfnrl_last_error(), "regions 5 is out of range") != NULL);
  {
    gfnrl_train_config bad_cfg;
    gfnrl_trainer* bad = NULL;
    gfnrl_train_config_default(&bad_cfg);
    bad_cfg.algo = (gfnrl_algo)12;
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_UNIFORM, &bad_cfg, &bad) == GFNRL_ERROR_INPUT);
    EXPECT(bad == NULL && strstr(gfnrl_last_error(), "algo 12") != NULL);
    gfnrl_train_config_default(&bad_cfg);
    bad_cfg.backward = (gfnrl_backward_mode)-3;
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_NONE, &bad_cfg, &bad) == GFNRL_ERROR_INPUT);
    EXPECT(bad == NULL && strstr(gfnrl_last_error(), "backward mode -3") != NULL);
  }
  /* The 2-D H=16 grid (R0 0.1): the ring is {2,13}^2 exactly, so log Z = log(256*0.1 + 64*0.5 +
   * 4*2) = log 65.6; the float64 rule also puts coordinate 12 (|12/15 - 1/2| = 3/10 exactly) in
   * the ring: {2,12,13}^2, 9 cells, log(25.6 + 32 + 18) = log 75.6. */
  {
    gfnrl_dag* g16 = NULL;
    double lz = 0;
    EXPECT(gfnrl_hypergrid_create(2, 16, 0.1, 0.5, 2, GFNRL_BACKEND_CPU, &g16) == GFNRL_OK);
    EXPECT(gfnrl_log_partition(g16, &lz) == GFNRL_OK && fabs(lz - log(65.6)) < 1e-5);
    gfnrl_dag_destroy(g16);
    g16 = NULL;
    EXPECT(gfnrl_hypergrid_create_with_regions(2, 16, 0.1, 0.5, 2, GFNRL_REGIONS_FLOAT64,
                                               GFNRL_BACKEND_CPU, &g16) == GFNRL_OK);
    EXPECT(gfnrl_log_partition(g16, &lz) == GFNRL_OK && fabs(lz - log(75.6)) < 1e-5);
    gfnrl_dag_destroy(g16);
  }

  /* Policy gradients with the exact expected gradient, and a TLM-trained P_B. */
  gfnrl_trainer_destroy(trainer);
  trainer = NULL;
  gfnrl_train_config_default(&cfg);
  cfg.algo = GFNRL_ALGO_PG;
  cfg.exact_gradient = 1;
  cfg.runs = 2;
  EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_UNIFORM, &cfg, &trainer) == GFNRL_OK);
  EXPECT(gfnrl_trainer_step(trainer, 1500) == GFNRL_OK);
  EXPECT(gfnrl_trainer_evaluate(trainer, runs, 2) == GFNRL_OK);
  EXPECT(runs[0].tv < 0.05 && runs[1].tv < 0.05);
  gfnrl_trainer_destroy(trainer);
  trainer = NULL;
  gfnrl_train_config_default(&cfg);
  cfg.backward = GFNRL_BACKWARD_TLM;
  EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_UNIFORM, &cfg, &trainer) == GFNRL_ERROR_INPUT);
  EXPECT(strstr(gfnrl_last_error(), "give no fixed correction") != NULL);
  EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_NONE, &cfg, &trainer) == GFNRL_OK);
  EXPECT(gfnrl_trainer_step(trainer, 10) == GFNRL_OK);
  cfg.backward = (gfnrl_backward_mode)7;
  {
    gfnrl_trainer* bad2 = NULL;
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_NONE, &cfg, &bad2) == GFNRL_ERROR_INPUT);
    EXPECT(strstr(gfnrl_last_error(), "out of range [0, 4]") != NULL);
    cfg.backward = GFNRL_BACKWARD_COUPLED; /* coupled P_B is the policy-gradient learners' */
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_NONE, &cfg, &bad2) == GFNRL_ERROR_INPUT);
    EXPECT(bad2 == NULL && strstr(gfnrl_last_error(), "applies to pg and ac") != NULL);
  }

  /* Actor-critic with Niu et al.'s guided P_B learns R/Z. */
  gfnrl_trainer_destroy(trainer);
  trainer = NULL;
  gfnrl_train_config_default(&cfg);
  cfg.algo = GFNRL_ALGO_AC;
  cfg.backward = GFNRL_BACKWARD_GUIDED;
  cfg.batch = 64;
  EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_NONE, &cfg, &trainer) == GFNRL_OK);
  EXPECT(gfnrl_trainer_step(trainer, 3000) == GFNRL_OK);
  EXPECT(gfnrl_trainer_evaluate(trainer, runs, 1) == GFNRL_OK);
  EXPECT(runs[0].tv < 0.05);
  {
    /* The trained tables from C: P_T by a forward pass over the level-sorted states, in double,
     * gives the TV that gfnrl_trainer_evaluate reported; every P_B(.|c) sums to 1. */
    enum { N = 64, E = 112 };
    int32_t from[E], to[E], action[E];
    float lp[E], exit_lp[N], lr[N], lpb[E];
    double visit[N] = {0}, pt[N], z = 0, tv = 0, pb_sum[N] = {0}, loss = -1;
    int e, s;
    EXPECT(gfnrl_dag_num_edges(grid) == E);
    EXPECT(gfnrl_dag_edges(grid, from, to, action, E) == GFNRL_OK);
    EXPECT(gfnrl_dag_log_rewards(grid, lr, N) == GFNRL_OK);
    EXPECT(gfnrl_trainer_policy(trainer, 0, lp, E, exit_lp, N) == GFNRL_OK);
    EXPECT(gfnrl_trainer_backward_policy(trainer, 0, lpb, E) == GFNRL_OK);
    EXPECT(gfnrl_trainer_last_loss(trainer, &loss, 1) == GFNRL_OK && loss == loss);
    visit[0] = 1;
    for (e = 0; e < E; ++e) { /* edges are grouped by source in increasing state order */
      EXPECT(from[e] < to[e] && (e == 0 || from[e - 1] <= from[e]));
      visit[to[e]] += visit[from[e]] * exp(lp[e]);
      pb_sum[to[e]] += exp(lpb[e]);
    }
    for (s = 0; s < N; ++s) {
      pt[s] = visit[s] * exp(exit_lp[s]);
      z += exp(lr[s]);
      if (s > 0) EXPECT(fabs(pb_sum[s] - 1) < 1e-5);
    }
    for (s = 0; s < N; ++s) tv += 0.5 * fabs(pt[s] - exp(lr[s]) / z);
    EXPECT(fabs(tv - runs[0].tv) < 1e-4);
    EXPECT(gfnrl_trainer_policy(trainer, 0, lp, E - 1, NULL, 0) == GFNRL_ERROR_INPUT);
    EXPECT(strstr(gfnrl_last_error(), "room for 111 entries, 112 needed") != NULL);
    EXPECT(gfnrl_trainer_backward_policy(trainer, 5, lpb, E) == GFNRL_ERROR_INPUT);
    EXPECT(strstr(gfnrl_last_error(), "run 5 is out of range") != NULL);
  }

  /* Relative TB with a uniform base policy mu: the target becomes mu^T(x) R(x) / Z_mu, whose
   * normaliser differs from log Z; a missing prior file is an input error naming the path. */
  gfnrl_trainer_destroy(trainer);
  trainer = NULL;
  gfnrl_train_config_default(&cfg);
  cfg.prior = "uniform";
  cfg.learning_rate = 3e-2f;
  EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_UNIFORM, &cfg, &trainer) == GFNRL_ERROR_INPUT);
  EXPECT(strstr(gfnrl_last_error(), "base policy replaces the backward policy") != NULL);
  EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_NONE, &cfg, &trainer) == GFNRL_OK);
  EXPECT(gfnrl_trainer_step(trainer, 3000) == GFNRL_OK);
  EXPECT(gfnrl_trainer_evaluate(trainer, runs, 1) == GFNRL_OK);
  EXPECT(runs[0].tv < 0.05);
  EXPECT(gfnrl_log_partition(grid, &v0) == GFNRL_OK && fabs(runs[0].log_z - v0) > 0.5);
  cfg.prior = "/nonexistent/prior.policy";
  {
    gfnrl_trainer* bad3 = NULL;
    EXPECT(gfnrl_trainer_create(grid, GFNRL_CORRECTION_NONE, &cfg, &bad3) == GFNRL_ERROR_INPUT);
    EXPECT(bad3 == NULL && strstr(gfnrl_last_error(), "/nonexistent/prior.policy") != NULL);
  }

  gfnrl_set_stream(NULL); /* back to the library's stream: results unchanged */
  EXPECT(gfnrl_log_partition(dag, &v0) == GFNRL_OK && v0 == log_z);

  gfnrl_trainer_destroy(trainer);
  gfnrl_dag_destroy(grid);
  gfnrl_dag_destroy(dag);
  gfnrl_dag_destroy(NULL);
  if (failures == 0) printf("C ABI: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
