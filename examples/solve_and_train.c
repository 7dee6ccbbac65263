/* Loads a DAG file through the C ABI, solves it exactly, trains TB runs, prints their TV.
 *   example_c FILE [steps] */
#include <stdio.h>
#include <stdlib.h>

#include <gfnrl/gfnrl.h>

#define CHECK(call)                                                      \
  do {                                                                   \
    if ((call) != GFNRL_OK) {                                            \
      fprintf(stderr, "%s failed: %s\n", #call, gfnrl_last_error());     \
      return 1;                                                          \
    }                                                                    \
  } while (0)

int main(int argc, char** argv) {
  gfnrl_dag* dag = NULL;
  gfnrl_trainer* trainer = NULL;
  gfnrl_train_config cfg;
  gfnrl_metrics best, runs[4];
  double log_z = 0, mean = 0;
  long steps = argc > 2 ? atol(argv[2]) : 2000;
  int r;
  if (argc < 2) {
    fprintf(stderr, "usage: %s DAG_FILE [steps]\n", argv[0]);
    return 2;
  }
  CHECK(gfnrl_dag_load(argv[1], GFNRL_BACKEND_AUTO, &dag));
  CHECK(gfnrl_solve(dag, GFNRL_CORRECTION_UNIFORM, &log_z, &best));
  printf("%d states, log Z = %.6f (V(s0) = %.6f), soft-optimal TV = %.2e\n",
         gfnrl_dag_num_states(dag), best.log_z, log_z, best.tv);

  gfnrl_train_config_default(&cfg);
  cfg.algo = GFNRL_ALGO_TB;
  cfg.runs = 4;
  cfg.learning_rate = 3e-2f;
  CHECK(gfnrl_trainer_create(dag, GFNRL_CORRECTION_UNIFORM, &cfg, &trainer));
  CHECK(gfnrl_trainer_step(trainer, steps));
  CHECK(gfnrl_trainer_evaluate(trainer, runs, 4));
  for (r = 0; r < 4; ++r) mean += runs[r].tv / 4;
  printf("after %ld steps: mean TV over 4 runs = %.4f\n", steps, mean);
  gfnrl_trainer_destroy(trainer);
  gfnrl_dag_destroy(dag);
  return mean < 0.05 ? 0 : 1;
}
