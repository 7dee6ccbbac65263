// The C ABI (include/gfnrl/gfnrl.h): opaque handles around the C++ objects, every exception
// turned into a status code with its message kept per thread for gfnrl_last_error().
#include "gfnrl/gfnrl.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>

#include "gfnrl/gfnrl.hpp"

struct gfnrl_dag {
  gfnrl::Dag dag;
  std::optional<gfnrl::BackwardPolicy> file_backward;
};

struct gfnrl_trainer {
  std::unique_ptr<gfnrl::BackwardPolicy> correction;  // outlives the trainer that points to it
  std::unique_ptr<gfnrl::Trainer> trainer;
};

namespace {

thread_local std::string last_error;
thread_local std::optional<gfnrl::StreamScope> stream_scope;  // gfnrl_set_stream

gfnrl_status fail(gfnrl_status s, const std::string& message) {
  last_error = message;
  return s;
}

// Runs f, mapping the library's exceptions to status codes.
template <class F>
gfnrl_status guarded(F&& f) {
  try {
    f();
    return GFNRL_OK;
  } catch (const gfnrl::InputError& e) {
    return fail(GFNRL_ERROR_INPUT, e.what());
  } catch (const gfnrl::AllocationError& e) {
    return fail(GFNRL_ERROR_MEMORY, e.what());
  } catch (const std::bad_alloc& e) {
    return fail(GFNRL_ERROR_MEMORY, std::string("out of host memory: ") + e.what());
  } catch (const gfnrl::CudaError& e) {
    return fail(GFNRL_ERROR_CUDA, e.what());
  } catch (const std::exception& e) {
    return fail(GFNRL_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(GFNRL_ERROR_INTERNAL, "unknown error");
  }
}

void require(bool ok, const char* what) {
  if (!ok) throw gfnrl::InputError(what);
}

// Copies a host vector into a caller's array (NULL: skipped) after checking its room.
template <class T>
void copy_out(const std::vector<T>& v, T* out, size_t capacity, const char* what) {
  if (!out) return;
  if (capacity < v.size())
    throw gfnrl::InputError(std::string(what) + ": room for " + std::to_string(capacity) +
                            " entries, " + std::to_string(v.size()) + " needed");
  std::copy(v.begin(), v.end(), out);
}

gfnrl::Backend to_backend(gfnrl_backend b) {
  switch (b) {
    case GFNRL_BACKEND_CPU: return gfnrl::Backend::Cpu;
    case GFNRL_BACKEND_CUDA: return gfnrl::Backend::Cuda;
    case GFNRL_BACKEND_AUTO: return gfnrl::parse_backend("auto");
  }
  throw gfnrl::InputError("backend " + std::to_string(int(b)) + " is out of range [0, 2]");
}

std::unique_ptr<gfnrl::BackwardPolicy> correction_of(const gfnrl_dag* d, gfnrl_correction c) {
  switch (c) {
    case GFNRL_CORRECTION_NONE: return nullptr;
    case GFNRL_CORRECTION_UNIFORM:
      return std::make_unique<gfnrl::BackwardPolicy>(gfnrl::uniform_backward_policy(d->dag));
    case GFNRL_CORRECTION_MAXENT:
      return std::make_unique<gfnrl::BackwardPolicy>(gfnrl::maxent_backward_policy(d->dag));
    case GFNRL_CORRECTION_FILE:
      require(d->file_backward.has_value(),
              "GFNRL_CORRECTION_FILE: this DAG was not loaded from a file carrying P_B values");
      return std::make_unique<gfnrl::BackwardPolicy>(*d->file_backward);
  }
  throw gfnrl::InputError("correction " + std::to_string(int(c)) + " is out of range [0, 3]");
}

gfnrl_metrics to_c(const gfnrl::Metrics& m, double spearman) {
  return {m.log_z, m.tv,   m.kl_target_model, m.kl_model_target, m.jsd, m.expected_length,
          m.elbo,  m.eubo, m.corr, m.mode_mass, m.mode_mass_target, spearman};
}

}  // namespace

extern "C" {

const char* gfnrl_last_error(void) { return last_error.c_str(); }
const char* gfnrl_version(void) { return GFNRL_VERSION; }
int gfnrl_cuda_available(void) { return gfnrl::cuda_available() ? 1 : 0; }

void gfnrl_set_stream(void* cuda_stream) {
  stream_scope.reset();
  if (cuda_stream) stream_scope.emplace(gfnrl::Stream{cuda_stream});
}

gfnrl_status gfnrl_dag_load(const char* path, gfnrl_backend backend, gfnrl_dag** out) {
  return guarded([&] {
    require(path && out, "gfnrl_dag_load: path and out must not be NULL");
    *out = nullptr;
    gfnrl::LoadedDag l = gfnrl::load_dag(path, to_backend(backend));
    *out = std::make_unique<gfnrl_dag>(gfnrl_dag{std::move(l.dag), std::move(l.backward)})
               .release();  // owned by gfnrl_dag_destroy
  });
}

gfnrl_status gfnrl_hypergrid_create(int32_t ndim, int32_t height, double r0, double r1, double r2,
                                    gfnrl_backend backend, gfnrl_dag** out) {
  return gfnrl_hypergrid_create_with_regions(ndim, height, r0, r1, r2, GFNRL_REGIONS_EXACT, backend,
                                             out);
}

gfnrl_status gfnrl_hypergrid_create_with_regions(int32_t ndim, int32_t height, double r0, double r1,
                                                 double r2, gfnrl_hypergrid_regions regions,
                                                 gfnrl_backend backend, gfnrl_dag** out) {
  return guarded([&] {
    require(out != nullptr, "gfnrl_hypergrid_create: out must not be NULL");
    *out = nullptr;
    const int r = static_cast<int>(regions);
    if (r != GFNRL_REGIONS_EXACT && r != GFNRL_REGIONS_FLOAT64)
      throw gfnrl::InputError("gfnrl_hypergrid_create: regions " + std::to_string(r) +
                              " is out of range [0, 1] (0 exact, 1 float64)");
    gfnrl::HypergridConfig c{ndim, height, r0, r1, r2};
    c.regions = static_cast<gfnrl::HypergridRegions>(r);
    gfnrl::Dag dag = gfnrl::make_hypergrid(c, to_backend(backend));
    *out = std::make_unique<gfnrl_dag>(gfnrl_dag{std::move(dag), std::nullopt}).release();
  });
}

void gfnrl_dag_destroy(gfnrl_dag* dag) { std::unique_ptr<gfnrl_dag> owned(dag); }
int32_t gfnrl_dag_num_states(const gfnrl_dag* dag) { return dag ? dag->dag.num_states() : 0; }
int64_t gfnrl_dag_num_edges(const gfnrl_dag* dag) { return dag ? dag->dag.num_edges() : 0; }

gfnrl_status gfnrl_dag_edges(const gfnrl_dag* dag, int32_t* from, int32_t* to, int32_t* action,
                             size_t capacity) {
  return guarded([&] {
    require(dag != nullptr, "gfnrl_dag_edges: dag must not be NULL");
    const gfnrl::DagArrays a = dag->dag.to_host();
    std::vector<int32_t> source(a.child_index.size());
    for (size_t s = 0; s + 1 < a.child_offsets.size(); ++s)
      for (int64_t e = a.child_offsets[s]; e < a.child_offsets[s + 1]; ++e)
        source[e] = static_cast<int32_t>(s);
    copy_out(source, from, capacity, "gfnrl_dag_edges");
    copy_out(a.child_index, to, capacity, "gfnrl_dag_edges");
    copy_out(a.child_action, action, capacity, "gfnrl_dag_edges");
  });
}

gfnrl_status gfnrl_dag_log_rewards(const gfnrl_dag* dag, float* log_reward, size_t capacity) {
  return guarded([&] {
    require(dag && log_reward, "gfnrl_dag_log_rewards: NULL argument");
    copy_out(dag->dag.log_reward().to_host(), log_reward, capacity, "gfnrl_dag_log_rewards");
  });
}

gfnrl_status gfnrl_log_partition(const gfnrl_dag* dag, double* log_z) {
  return guarded([&] {
    require(dag && log_z, "gfnrl_log_partition: dag and log_z must not be NULL");
    *log_z = gfnrl::log_partition(dag->dag);
  });
}

gfnrl_status gfnrl_solve(const gfnrl_dag* dag, gfnrl_correction correction,
                         double* log_z_estimate, gfnrl_metrics* metrics) {
  return guarded([&] {
    require(dag != nullptr, "gfnrl_solve: dag must not be NULL");
    const auto pb = correction_of(dag, correction);
    gfnrl::SoftValueSolver solver(dag->dag, pb.get());
    solver.run();
    if (log_z_estimate) *log_z_estimate = solver.log_z();
    if (metrics) {
      const gfnrl::ForwardPolicy& pf = solver.result().policy;
      const gfnrl::Marginals m = gfnrl::compute_marginals(dag->dag, pf);
      gfnrl::Metrics met = gfnrl::compare_to_target(dag->dag, m);
      const gfnrl::VariationalBounds v = gfnrl::variational_bounds(
          dag->dag, pf, m, pb ? *pb : gfnrl::uniform_backward_policy(dag->dag));
      met.elbo = v.elbo, met.eubo = v.eubo;
      *metrics = to_c(met, gfnrl::spearman_correlation(dag->dag, m));
    }
  });
}

gfnrl_status gfnrl_solve_terminal_distribution(const gfnrl_dag* dag, gfnrl_correction correction,
                                               double* p_terminal, size_t capacity) {
  return guarded([&] {
    require(dag && p_terminal, "gfnrl_solve_terminal_distribution: NULL argument");
    const auto n = static_cast<size_t>(dag->dag.num_states());
    if (capacity < n)
      throw gfnrl::InputError("gfnrl_solve_terminal_distribution: capacity " +
                              std::to_string(capacity) + " < num_states " + std::to_string(n));
    const auto pb = correction_of(dag, correction);
    const gfnrl::SoftValues v = gfnrl::solve_soft_values(dag->dag, pb.get());
    const std::vector<float> lp = gfnrl::terminating_distribution(dag->dag, v.policy).to_host();
    for (size_t s = 0; s < n; ++s) p_terminal[s] = std::exp(static_cast<double>(lp[s]));
  });
}

// The C enumerators are the C++ enums' values; the name tables are the C++ library's.
static_assert(int(GFNRL_ALGO_TB) == int(gfnrl::Algo::TB) &&
              int(GFNRL_ALGO_SOFTDQN) == int(gfnrl::Algo::SoftDQN) &&
              int(GFNRL_ALGO_MDB) == int(gfnrl::Algo::ModifiedDB) &&
              int(GFNRL_ALGO_AC) == int(gfnrl::Algo::ActorCritic) &&
              int(GFNRL_ALGO_ZVAR) == int(gfnrl::Algo::ZVar) &&
              int(GFNRL_ALGO_FM) == int(gfnrl::Algo::FM));
static_assert(int(GFNRL_BACKWARD_FIXED) == int(gfnrl::BackwardMode::Fixed) &&
              int(GFNRL_BACKWARD_TLM) == int(gfnrl::BackwardMode::Tlm) &&
              int(GFNRL_BACKWARD_GUIDED) == int(gfnrl::BackwardMode::Guided));

namespace {
// names[value], or nullptr outside the table.
const char* name_at(const std::vector<std::string>& names, int value) {
  return value >= 0 && value < int(names.size()) ? names[value].c_str() : nullptr;
}

void require_in_table(const std::vector<std::string>& names, int value, const char* what) {
  if (!name_at(names, value))
    throw gfnrl::InputError(std::string(what) + " " + std::to_string(value) +
                            " is out of range [0, " + std::to_string(names.size() - 1) +
                            "] (" + gfnrl::join_names(names) + ")");
}
}  // namespace

const char* gfnrl_algo_name(gfnrl_algo algo) { return name_at(gfnrl::algo_names(), int(algo)); }

const char* gfnrl_backward_mode_name(gfnrl_backward_mode mode) {
  return name_at(gfnrl::backward_mode_names(), int(mode));
}

gfnrl_status gfnrl_parse_algo(const char* name, gfnrl_algo* out) {
  return guarded([&] {
    require(name && out, "gfnrl_parse_algo: NULL argument");
    *out = static_cast<gfnrl_algo>(gfnrl::parse_algo(name));
  });
}

gfnrl_status gfnrl_parse_backward_mode(const char* name, gfnrl_backward_mode* out) {
  return guarded([&] {
    require(name && out, "gfnrl_parse_backward_mode: NULL argument");
    *out = static_cast<gfnrl_backward_mode>(gfnrl::parse_backward_mode(name));
  });
}

void gfnrl_train_config_default(gfnrl_train_config* config) {
  if (!config) return;
  const gfnrl::TrainConfig d;
  *config = {GFNRL_ALGO_TB, d.runs, d.seed, d.batch, 1e-2f, d.epsilon[0], GFNRL_BACKWARD_FIXED, 0,
             nullptr, nullptr, d.regression_param, nullptr, 0};
}

gfnrl_status gfnrl_trainer_create(const gfnrl_dag* dag, gfnrl_correction correction,
                                  const gfnrl_train_config* config, gfnrl_trainer** out) {
  return gfnrl_trainer_create_with_options(dag, correction, config, nullptr, nullptr, 0, out);
}

const char* gfnrl_train_option_name(size_t i) {
  const auto& t = gfnrl::train_options();
  return i < t.size() ? t[i].name : nullptr;
}

gfnrl_status gfnrl_trainer_create_with_options(const gfnrl_dag* dag, gfnrl_correction correction,
                                               const gfnrl_train_config* config,
                                               const char* const* names,
                                               const char* const* values, size_t count,
                                               gfnrl_trainer** out) {
  return guarded([&] {
    require(dag && config && out && (count == 0 || (names && values)),
            "gfnrl_trainer_create: NULL argument");
    *out = nullptr;
    require_in_table(gfnrl::algo_names(), int(config->algo), "algo");
    require_in_table(gfnrl::backward_mode_names(), int(config->backward), "backward mode");
    gfnrl::TrainConfig c;
    c.algo = static_cast<gfnrl::Algo>(config->algo);
    c.runs = config->runs;
    c.seed = config->seed;
    c.batch = config->batch;
    c.lr = {config->learning_rate};
    c.epsilon = {config->epsilon};
    c.backward = static_cast<gfnrl::BackwardMode>(config->backward);
    c.exact_gradient = config->exact_gradient != 0;
    if (config->regression) c.regression = gfnrl::parse_regression(config->regression);
    c.regression_param = config->regression_param;
    if (config->subtb_weighting)
      c.subtb_weighting = gfnrl::parse_subtb_weighting(config->subtb_weighting);
    c.forward_looking = config->forward_looking != 0;
    if (config->prior) {
      const std::string prior = config->prior;
      c.prior = prior == "uniform" ? gfnrl::uniform_forward_policy(dag->dag)
                                   : gfnrl::read_policy_file(prior, dag->dag);
    }
    for (size_t i = 0; i < count; ++i) {
      require(names[i] && values[i], "gfnrl_trainer_create_with_options: NULL option name or value");
      gfnrl::set_train_option(c, names[i], values[i]);
    }
    auto t = std::make_unique<gfnrl_trainer>();
    t->correction = correction_of(dag, correction);
    t->trainer = std::make_unique<gfnrl::Trainer>(dag->dag, t->correction.get(), c);
    *out = t.release();  // owned by gfnrl_trainer_destroy
  });
}

void gfnrl_trainer_destroy(gfnrl_trainer* trainer) { std::unique_ptr<gfnrl_trainer> owned(trainer); }

gfnrl_status gfnrl_trainer_step(gfnrl_trainer* trainer, int64_t steps) {
  return guarded([&] {
    require(trainer != nullptr, "gfnrl_trainer_step: trainer must not be NULL");
    if (steps < 0) throw gfnrl::InputError("gfnrl_trainer_step: steps " + std::to_string(steps) + " must be >= 0");
    for (int64_t i = 0; i < steps; ++i) trainer->trainer->step();
  });
}

gfnrl_status gfnrl_trainer_evaluate(gfnrl_trainer* trainer, gfnrl_metrics* metrics, size_t runs) {
  return guarded([&] {
    require(trainer && metrics, "gfnrl_trainer_evaluate: NULL argument");
    const auto want = static_cast<size_t>(trainer->trainer->config().runs);
    if (runs < want)
      throw gfnrl::InputError("gfnrl_trainer_evaluate: room for " + std::to_string(runs) +
                              " runs, the trainer has " + std::to_string(want));
    const std::vector<gfnrl::RunEvaluation> ev = trainer->trainer->evaluate();
    const std::vector<double> rho = trainer->trainer->spearman();
    for (size_t r = 0; r < want; ++r) metrics[r] = to_c(ev[r].metrics, rho[r]);
  });
}

gfnrl_status gfnrl_trainer_policy(gfnrl_trainer* trainer, int32_t run, float* edge_log_prob,
                                  size_t edge_capacity, float* exit_log_prob,
                                  size_t state_capacity) {
  return guarded([&] {
    require(trainer != nullptr, "gfnrl_trainer_policy: trainer must not be NULL");
    const gfnrl::ForwardPolicy p = trainer->trainer->policy(run);  // checks the run
    copy_out(p.log_prob.to_host(), edge_log_prob, edge_capacity, "gfnrl_trainer_policy edges");
    copy_out(p.exit_log_prob.to_host(), exit_log_prob, state_capacity, "gfnrl_trainer_policy exits");
  });
}

gfnrl_status gfnrl_trainer_backward_policy(gfnrl_trainer* trainer, int32_t run, float* log_prob,
                                           size_t capacity) {
  return guarded([&] {
    require(trainer && log_prob, "gfnrl_trainer_backward_policy: NULL argument");
    copy_out(trainer->trainer->backward_policy(run).log_prob.to_host(), log_prob, capacity,
             "gfnrl_trainer_backward_policy");
  });
}

gfnrl_status gfnrl_trainer_last_loss(gfnrl_trainer* trainer, double* loss, size_t runs) {
  return guarded([&] {
    require(trainer && loss, "gfnrl_trainer_last_loss: NULL argument");
    copy_out(trainer->trainer->last_loss(), loss, runs, "gfnrl_trainer_last_loss");
  });
}

}  // extern "C"
