/* gfnrl.h: the C ABI of libgfnrl_cuda, for C, Python (ctypes), Julia, Rust and other FFIs.
 *
 * Opaque handles own C++ objects; every function that can fail returns a gfnrl_status and
 * leaves the message in gfnrl_last_error() (per thread, valid until the thread's next failing
 * call). Handles are freed with their *_destroy function (NULL is accepted). Arrays are
 * caller-allocated host buffers; the library copies results into them.
 *
 *   gfnrl_dag* dag = NULL;
 *   if (gfnrl_dag_load("graph.bin", GFNRL_BACKEND_AUTO, &dag) != GFNRL_OK)
 *     fprintf(stderr, "%s\n", gfnrl_last_error());
 */
#ifndef GFNRL_GFNRL_H
#define GFNRL_GFNRL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* In C++ the enums get a fixed underlying type (int), so that any integer a C caller passes is a
 * valid value of the type and the library can range-check it; without one, an out-of-range value
 * is undefined behaviour in C++ before any check can run. Same size and calling convention. */
#ifdef __cplusplus
#define GFNRL_ENUM_BASE : int
#else
#define GFNRL_ENUM_BASE
#endif

typedef enum gfnrl_status GFNRL_ENUM_BASE {
  GFNRL_OK = 0,
  GFNRL_ERROR_INPUT = 1,    /* invalid argument or input file (the message names it) */
  GFNRL_ERROR_MEMORY = 2,   /* the request does not fit in the backend's memory */
  GFNRL_ERROR_CUDA = 3,     /* a CUDA runtime failure */
  GFNRL_ERROR_INTERNAL = 4  /* anything else */
} gfnrl_status;

typedef enum gfnrl_backend GFNRL_ENUM_BASE {
  GFNRL_BACKEND_CPU = 0,
  GFNRL_BACKEND_CUDA = 1,
  GFNRL_BACKEND_AUTO = 2 /* CUDA when a device exists, else CPU */
} gfnrl_backend;

/* The backward policy whose log-probabilities correct the inner-edge rewards. */
typedef enum gfnrl_correction GFNRL_ENUM_BASE {
  GFNRL_CORRECTION_NONE = 0,    /* uncorrected: targets n(x) R(x) */
  GFNRL_CORRECTION_UNIFORM = 1, /* P_B(s|s') = 1 / #parents(s') */
  GFNRL_CORRECTION_MAXENT = 2,  /* P_B(s|s') = n(s) / n(s') */
  GFNRL_CORRECTION_FILE = 3     /* the P_B stored in the loaded DAG file */
} gfnrl_correction;

typedef enum gfnrl_algo GFNRL_ENUM_BASE {
  GFNRL_ALGO_TB = 0,
  GFNRL_ALGO_DB = 1,
  GFNRL_ALGO_SUBTB = 2,
  GFNRL_ALGO_SOFTDQN = 3,
  GFNRL_ALGO_MUNCHAUSEN = 4,
  GFNRL_ALGO_MDB = 5, /* modified detailed balance: every state must terminate */
  GFNRL_ALGO_PG = 6,  /* policy gradients (REINFORCE; exact_gradient for the exact expectation) */
  GFNRL_ALGO_AC = 7,  /* actor-critic policy gradients */
  GFNRL_ALGO_ZVAR = 8, /* log-partition variance: TB with the batch's own log Z estimate */
  GFNRL_ALGO_FM = 9    /* flow matching: log edge flows, the policy their normalised out-flow */
} gfnrl_algo;

/* Where the losses' backward policy comes from (see gfnrl_trainer_create's correction). */
typedef enum gfnrl_backward_mode GFNRL_ENUM_BASE {
  GFNRL_BACKWARD_FIXED = 0,   /* the correction given to gfnrl_trainer_create */
  GFNRL_BACKWARD_LEARNED = 1, /* trained through the learner's loss (correction must be NONE) */
  GFNRL_BACKWARD_TLM = 2,     /* trajectory likelihood maximisation (correction must be NONE) */
  GFNRL_BACKWARD_COUPLED = 3, /* PG / AC: Niu et al.'s coupled P_B (RL-B; correction NONE) */
  GFNRL_BACKWARD_GUIDED = 4   /* PG / AC: the same toward a guide avoiding low-reward exits (RL-G) */
} gfnrl_backward_mode;

/* How the hypergrid's region indicators are decided (gfnrl_hypergrid_create_with_regions). */
typedef enum gfnrl_hypergrid_regions GFNRL_ENUM_BASE {
  GFNRL_REGIONS_EXACT = 0,  /* rational arithmetic: the definition (the default) */
  GFNRL_REGIONS_FLOAT64 = 1 /* |x/(H-1) - 0.5| in IEEE double, as float64 reference codes do */
} gfnrl_hypergrid_regions;

typedef struct gfnrl_dag gfnrl_dag;
typedef struct gfnrl_trainer gfnrl_trainer;

/* Exact distances of a terminating distribution to R/Z. */
typedef struct gfnrl_metrics {
  double log_z;           /* log sum_x R(x) */
  double tv;              /* total variation */
  double kl;              /* KL(R/Z || P_T) */
  double kl_reverse;      /* KL(P_T || R/Z) */
  double jsd;             /* Jensen-Shannon divergence, nats */
  double expected_length; /* expected actions per trajectory, exit included */
  double elbo;            /* E_{P_F}[log R + sum log P_B - sum log P_F] - log Z (<= 0), exact */
  double eubo;            /* the same under R(x)/Z P_B(tau|x) (>= 0); both with the policy's P_B
                             (gfnrl_solve: the correction's, uniform for NONE); NaN for a prior */
  double corr;             /* Pearson r of log P_T and log R over terminating states */
  double mode_mass;        /* P_T's mass on the modes (R within 1e-6 relative of its maximum) */
  double mode_mass_target; /* R/Z's mass on the same modes */
  double spearman;         /* Spearman's rank correlation of the same pairs (ties averaged) */
} gfnrl_metrics;

/* The message of this thread's last failing call ("" if none). */
const char* gfnrl_last_error(void);
const char* gfnrl_version(void);
/* 1 when a CUDA device is usable, else 0. */
int gfnrl_cuda_available(void);

/* Runs this thread's subsequent library calls on `cuda_stream` (a cudaStream_t; NULL: the
 * library's own stream). Results are ordered on that stream. No effect on the CPU backend. */
void gfnrl_set_stream(void* cuda_stream);

/* ---- DAGs ---- */
gfnrl_status gfnrl_dag_load(const char* path, gfnrl_backend backend, gfnrl_dag** out);
gfnrl_status gfnrl_hypergrid_create(int32_t ndim, int32_t height, double r0, double r1, double r2,
                                    gfnrl_backend backend, gfnrl_dag** out);
/* The same with an explicit region rule (gfnrl_hypergrid_create uses GFNRL_REGIONS_EXACT). */
gfnrl_status gfnrl_hypergrid_create_with_regions(int32_t ndim, int32_t height, double r0, double r1,
                                                 double r2, gfnrl_hypergrid_regions regions,
                                                 gfnrl_backend backend, gfnrl_dag** out);
void gfnrl_dag_destroy(gfnrl_dag* dag);
int32_t gfnrl_dag_num_states(const gfnrl_dag* dag);
/* Edge counts may pass 2^31 (edge ids are 64-bit); state counts may not. */
int64_t gfnrl_dag_num_edges(const gfnrl_dag* dag);
/* log Z = log sum_x R(x). */
gfnrl_status gfnrl_log_partition(const gfnrl_dag* dag, double* log_z);
/* The DAG's structure in the library's order: states are level-sorted (s0 = 0; every edge goes
 * from a lower to a higher state id), edges grouped by their source in increasing state order.
 * Edge e goes from from[e] to to[e] with action id action[e] (any array may be NULL; each needs
 * room for num_edges); log_reward[s] is log R(s), -inf where s does not terminate (room for
 * num_states). Per-edge tables (policies below) use this edge order. */
gfnrl_status gfnrl_dag_edges(const gfnrl_dag* dag, int32_t* from, int32_t* to, int32_t* action,
                             size_t capacity);
gfnrl_status gfnrl_dag_log_rewards(const gfnrl_dag* dag, float* log_reward, size_t capacity);

/* ---- exact solving ---- */
/* Soft value iteration with the correction; *log_z_estimate = V(s0); metrics of the soft-optimal
 * policy's exact terminating distribution (either output may be NULL). */
gfnrl_status gfnrl_solve(const gfnrl_dag* dag, gfnrl_correction correction,
                         double* log_z_estimate, gfnrl_metrics* metrics);
/* The exact terminating distribution P_T(x) of the soft-optimal policy (0 where x does not
 * terminate), one entry per state in the DAG's level-sorted order: `capacity` >= num_states. */
gfnrl_status gfnrl_solve_terminal_distribution(const gfnrl_dag* dag, gfnrl_correction correction,
                                               double* p_terminal, size_t capacity);

/* ---- training ---- */
typedef struct gfnrl_train_config {
  gfnrl_algo algo;
  int32_t runs;         /* independent runs, seeds seed .. seed + runs - 1 */
  uint64_t seed;
  int32_t batch;        /* trajectories per step and run */
  float learning_rate;  /* table learning rate (Adam) */
  float epsilon;        /* uniform exploration probability */
  gfnrl_backward_mode backward;
  int32_t exact_gradient; /* GFNRL_ALGO_PG or _TB: 1 = exact expected gradient (no sampling) */
  /* KL-regularised learning (TB: relative TB, SubTB: Trust-PCL, DB) with a base policy mu:
   * NULL for none, "uniform", or the path of a policy file (gfnrl train --save-policy). The
   * target and the metrics become mu^T(x) R(x) / Z_mu; the correction must be NONE. */
  const char* prior;
  /* The balance losses' shape (tb, db, subtb, mdb, zvar, fm): NULL or "squared", "absolute",
   * "huber", "linex", "shifted-cosh", with regression_param huber's k / linex's a (> 0). */
  const char* regression;
  float regression_param;
  /* SubTB: NULL or "geometric-within" (the default), "geometric", "equal-within", "equal", "tb",
   * "db". */
  const char* subtb_weighting;
  int32_t forward_looking; /* db, subtb: 1 = forward-looking flows (every state terminates) */
} gfnrl_train_config;

/* Names (the library's own tables, as the CLI spells them): the name of an algorithm or backward
 * mode ("tb", "learned", ...), or NULL when the value is out of range; and parsing a name into
 * *out (GFNRL_ERROR_INPUT naming the allowed names otherwise). */
const char* gfnrl_algo_name(gfnrl_algo algo);
const char* gfnrl_backward_mode_name(gfnrl_backward_mode mode);
gfnrl_status gfnrl_parse_algo(const char* name, gfnrl_algo* out);
gfnrl_status gfnrl_parse_backward_mode(const char* name, gfnrl_backward_mode* out);

/* The library's defaults (TB, 1 run, seed 0, batch 16, lr 1e-2, epsilon 0, fixed P_B, sampled
 * gradients, no prior, squared loss with parameter 1, geometric-within SubTB, no forward-looking
 * flows). */
void gfnrl_train_config_default(gfnrl_train_config* config);
gfnrl_status gfnrl_trainer_create(const gfnrl_dag* dag, gfnrl_correction correction,
                                  const gfnrl_train_config* config, gfnrl_trainer** out);
/* The same with any other option of the library's option table (the Python Trainer's keywords;
 * gfnrl_train_option_name lists them), given as text and applied after config's fields:
 * names[i] = values[i] for i < count, e.g. "target_rate" = "0.5", "huber" = "false", "lr" =
 * "0.1,0.2" (one per run), "optimizer" = "sgd". GFNRL_ERROR_INPUT naming an unknown option, text
 * that is not what the option takes, or a value out of its range. */
gfnrl_status gfnrl_trainer_create_with_options(const gfnrl_dag* dag, gfnrl_correction correction,
                                               const gfnrl_train_config* config,
                                               const char* const* names,
                                               const char* const* values, size_t count,
                                               gfnrl_trainer** out);
/* The name of option i of the table, NULL past the last. */
const char* gfnrl_train_option_name(size_t i);
void gfnrl_trainer_destroy(gfnrl_trainer* trainer);
gfnrl_status gfnrl_trainer_step(gfnrl_trainer* trainer, int64_t steps);
/* Exact metrics of every run's current policy against the trainer's target (R/Z, or
 * mu^T R / Z_mu with a prior; log_z is then log Z_mu): `metrics` has room for `runs` entries. */
gfnrl_status gfnrl_trainer_evaluate(gfnrl_trainer* trainer, gfnrl_metrics* metrics, size_t runs);
/* Run `run`'s current forward policy: log P_F of every edge (DAG edge order, `edge_capacity` >=
 * num_edges) and of every state's exit (-inf where a state does not terminate; `state_capacity`
 * >= num_states). Either array may be NULL. */
gfnrl_status gfnrl_trainer_policy(gfnrl_trainer* trainer, int32_t run, float* edge_log_prob,
                                  size_t edge_capacity, float* exit_log_prob,
                                  size_t state_capacity);
/* Run `run`'s backward policy: log P_B(s|s') of every edge s -> s' (the fixed correction, or the
 * learned / TLM / coupled one); `capacity` >= num_edges. */
gfnrl_status gfnrl_trainer_backward_policy(gfnrl_trainer* trainer, int32_t run, float* log_prob,
                                           size_t capacity);
/* Each run's loss at the last step (0 before the first update): `runs` entries. */
gfnrl_status gfnrl_trainer_last_loss(gfnrl_trainer* trainer, double* loss, size_t runs);

#ifdef __cplusplus
}
#endif

#endif /* GFNRL_GFNRL_H */
