// gfnrl.Trainer: batched tabular training of one learner (many runs in one table), with every
// TrainConfig field reachable by name and exact evaluation of every run.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <functional>
#include <type_traits>
#include <map>

#include "gfnrl/gfnrl.hpp"
#include "py_dag.hpp"

namespace gfnrl::python {

namespace {
// An option's setter and what it takes, in Python's words (for the message on a wrong type).
struct Setter {
  std::function<void(TrainConfig&, nb::handle)> set;
  const char* takes;
};

template <class T>
constexpr const char* python_kind() {
  if constexpr (std::is_same_v<T, bool>) return "a bool";
  else if constexpr (std::is_integral_v<T>) return "an int";
  else return "a float";
}

template <class T, class Field>
Setter field(Field TrainConfig::*member) {
  return {[member](TrainConfig& c, nb::handle v) { c.*member = nb::cast<T>(v); },
          python_kind<T>()};
}

// A per-run option (a rate, epsilon): one value, or one per run.
Setter rates(std::vector<float> TrainConfig::*member) {
  return {[member](TrainConfig& c, nb::handle v) {
            c.*member = nb::isinstance<nb::float_>(v) || nb::isinstance<nb::int_>(v)
                            ? std::vector<float>{nb::cast<float>(v)}
                            : nb::cast<std::vector<float>>(v);
          },
          "a float, or a list of floats (one per run)"};
}

// An option given by name (parsed by the library, which names the allowed ones).
template <class Apply>
Setter named(Apply apply) {
  return {[apply](TrainConfig& c, nb::handle v) { apply(c, nb::cast<std::string>(v)); },
          "a name (str)"};
}

// Every option by its TrainConfig name (train.hpp documents each and its range).
const std::map<std::string, Setter>& option_setters() {
  static const std::map<std::string, Setter> s = {
      {"epsilon", rates(&TrainConfig::epsilon)},
      {"temperature", rates(&TrainConfig::temperature)},
      {"epsilon_end", rates(&TrainConfig::epsilon_end)},
      {"epsilon_decay_steps", field<int64_t>(&TrainConfig::epsilon_decay_steps)},
      {"temperature_end", rates(&TrainConfig::temperature_end)},
      {"temperature_decay_steps", field<int64_t>(&TrainConfig::temperature_decay_steps)},
      {"lr_warmup_steps", field<int64_t>(&TrainConfig::lr_warmup_steps)},
      {"lr_cosine_steps", field<int64_t>(&TrainConfig::lr_cosine_steps)},
      {"optimizer", named([](TrainConfig& c, const std::string& v) {
         c.optimizer = parse_optimizer(v);
       })},
      {"lr", rates(&TrainConfig::lr)},
      {"lr_log_z", rates(&TrainConfig::lr_log_z)},
      {"adam_beta1", field<float>(&TrainConfig::adam_beta1)},
      {"adam_beta2", field<float>(&TrainConfig::adam_beta2)},
      {"adam_eps", field<float>(&TrainConfig::adam_eps)},
      {"lr_backward", field<float>(&TrainConfig::lr_backward)},
      {"tlm_lr_decay", field<float>(&TrainConfig::tlm_lr_decay)},
      {"tlm_target_rate", field<float>(&TrainConfig::tlm_target_rate)},
      {"guide_log_reward", {[](TrainConfig& c, nb::handle v) {
         c.guide_log_reward = nb::cast<float>(v);
       }, "a float"}},
      {"subtb_lambda", field<float>(&TrainConfig::subtb_lambda)},
      {"huber", field<bool>(&TrainConfig::huber)},
      {"target_rate", field<float>(&TrainConfig::target_rate)},
      {"target_every", field<int32_t>(&TrainConfig::target_every)},
      {"replay_capacity", field<int32_t>(&TrainConfig::replay_capacity)},
      {"replay_batch", field<int32_t>(&TrainConfig::replay_batch)},
      {"prioritized", field<bool>(&TrainConfig::prioritized)},
      {"priority_exponent", field<float>(&TrainConfig::priority_exponent)},
      {"priority", named([](TrainConfig& c, const std::string& v) {
         c.priority = parse_replay_priority(v);
       })},
      {"learning_starts", field<int32_t>(&TrainConfig::learning_starts)},
      {"munchausen_alpha", field<float>(&TrainConfig::munchausen_alpha)},
      {"munchausen_l0", field<float>(&TrainConfig::munchausen_l0)},
      {"energy_reward", field<bool>(&TrainConfig::energy_reward)},
      {"regression", named([](TrainConfig& c, const std::string& v) {
         c.regression = parse_regression(v);
       })},
      {"regression_param", field<float>(&TrainConfig::regression_param)},
      {"forward_looking", field<bool>(&TrainConfig::forward_looking)},
      {"subtb_weighting", named([](TrainConfig& c, const std::string& v) {
         c.subtb_weighting = parse_subtb_weighting(v);
       })},
      {"exact_gradient", field<bool>(&TrainConfig::exact_gradient)},
      {"gae_lambda", field<float>(&TrainConfig::gae_lambda)},
  };
  return s;
}

std::vector<std::string> option_names() {
  std::vector<std::string> n;
  for (const auto& [k, v] : option_setters()) n.push_back(k);
  return n;
}

struct PyTrainer {
  PyDag dag;
  std::unique_ptr<Trainer> trainer;
  RewardModes modes;  // the reward's modes: modes_found, mode_regions_found
};

PyTrainer make_trainer(const PyDag& d, const std::string& algo, int64_t runs, uint64_t seed,
                       int64_t batch, const std::string& pb, const std::string& prior,
                       const nb::dict& options) {
  const Learner learner = parse_learner(algo);
  TrainConfig c = recommended_config(learner);
  c.runs = checked_int32(runs, "runs", 1);
  c.seed = seed;
  c.batch = checked_int32(batch, "batch", 1);
  for (const auto& [key, value] : options) {
    const std::string k = nb::cast<std::string>(key);
    const auto it = option_setters().find(k);
    if (it == option_setters().end())
      throw InputError("unknown Trainer option '" + k + "' (allowed: " +
                       join_names(option_names()) + ")");
    try {
      it->second.set(c, value);
    } catch (const nb::cast_error&) {
      throw InputError("Trainer(" + k + "=" + nb::cast<std::string>(nb::repr(value)) +
                       "): got " + nb::cast<std::string>(nb::str(nb::type_name(value.type()))) +
                       ", but " + k + " takes " + it->second.takes);
    }
  }
  // forward_looking=True on db or subtb: fldb's / flsubtb's rates where none were given, as
  // the CLI's --forward-looking takes them.
  if (c.forward_looking && !learner.forward_looking) {
    Learner fl = learner;
    fl.forward_looking = true;
    const TrainConfig rec = recommended_config(fl);
    if (!options.contains("lr")) c.lr = rec.lr;
    if (!options.contains("epsilon")) c.epsilon = rec.epsilon;
  }
  // As the CLI's epsilon 'auto': the exact gradient samples nothing, so it explores with 0.
  if (c.exact_gradient && !options.contains("epsilon")) c.epsilon = {0.0f};
  // pb: a trained mode (learned, tlm, coupled, guided) or a fixed correction by name.
  const std::vector<std::string>& modes = backward_mode_names();
  const bool trained = pb != "fixed" && std::find(modes.begin(), modes.end(), pb) != modes.end();
  std::optional<BackwardPolicy> correction;
  if (trained) {
    c.backward = parse_backward_mode(pb);
  } else if (const auto& fixed = correction_names();
             std::find(fixed.begin(), fixed.end(), pb) != fixed.end()) {
    correction = correction_named(d, pb);
  } else {
    std::vector<std::string> allowed = correction_names();
    for (const std::string& m : modes)
      if (m != backward_mode_name(BackwardMode::Fixed)) allowed.push_back(m);
    throw InputError("unknown pb '" + pb + "' (allowed: " + join_names(allowed) + ")");
  }
  const std::string mu = !prior.empty() ? prior : learner.needs_prior ? "uniform" : "";
  if (!mu.empty()) {
    c.prior = mu == "uniform" ? uniform_forward_policy(d.dag) : read_policy_file(mu, d.dag);
    correction.reset();  // mu takes the place of P_B
  }
  return PyTrainer{d, std::make_unique<Trainer>(d.dag, correction ? &*correction : nullptr, c),
                   reward_modes(d.dag, d.grid ? &*d.grid : nullptr)};
}

// Every run's evaluation as arrays [runs].
nb::dict evaluate(PyTrainer& t, bool spearman) {
  std::vector<RunEvaluation> ev;
  std::vector<double> rank_corr;
  std::vector<int64_t> found, regions;
  {
    nb::gil_scoped_release unlocked;  // study(jobs=...) evaluates trainers side by side
    ev = t.trainer->evaluate();
    if (spearman) rank_corr = t.trainer->spearman();
    // The modes of R each run's samples have exited from so far (as the CLI's modes_found),
    // and on a hypergrid the mode regions (-1 elsewhere).
    found = t.trainer->reached_groups(t.modes.states);
    regions = t.modes.region.empty()
                  ? std::vector<int64_t>(ev.size(), -1)
                  : t.trainer->reached_groups(t.modes.states, t.modes.region);
  }
  const std::size_t R = ev.size();
  std::vector<double> tv(R), kl(R), kl_rev(R), jsd(R), mass(R), len(R), lz(R), elbo(R), eubo(R);
  std::vector<double> corr(R), mode_mass(R);
  std::vector<uint8_t> diverged(R);
  for (std::size_t r = 0; r < R; ++r) {
    diverged[r] = ev[r].diverged ? 1 : 0;
    const Metrics& m = ev[r].metrics;
    tv[r] = m.tv, kl[r] = m.kl_target_model, kl_rev[r] = m.kl_model_target, jsd[r] = m.jsd;
    mass[r] = m.model_mass, len[r] = m.expected_length, lz[r] = ev[r].log_z_estimate;
    elbo[r] = m.elbo, eubo[r] = m.eubo, corr[r] = m.corr, mode_mass[r] = m.mode_mass;
  }
  nb::dict out;
  out["step"] = t.trainer->steps_done();
  out["trajectories"] = t.trainer->trajectories_per_run();
  out["tv"] = to_numpy(std::move(tv), {R});
  out["kl"] = to_numpy(std::move(kl), {R});
  out["kl_reverse"] = to_numpy(std::move(kl_rev), {R});
  out["jsd"] = to_numpy(std::move(jsd), {R});
  out["model_mass"] = to_numpy(std::move(mass), {R});
  out["expected_length"] = to_numpy(std::move(len), {R});
  out["log_z_estimate"] = to_numpy(std::move(lz), {R});
  out["elbo"] = to_numpy(std::move(elbo), {R});
  out["eubo"] = to_numpy(std::move(eubo), {R});
  out["corr"] = to_numpy(std::move(corr), {R});
  out["mode_mass"] = to_numpy(std::move(mode_mass), {R});
  out["diverged"] = to_numpy(std::move(diverged), {R});  // uint8: 1 where the tables went non-finite
  if (spearman) out["spearman"] = to_numpy(std::move(rank_corr), {R});
  out["modes_found"] = to_numpy(std::move(found), {R});
  out["mode_regions_found"] = to_numpy(std::move(regions), {R});
  out["num_modes"] = t.modes.states.size();
  if (!ev.empty()) out["mode_mass_target"] = ev[0].metrics.mode_mass_target;
  out["log_z"] = t.trainer->target_log_z();
  return out;
}
}  // namespace

void bind_train(nb::module_& m) {
  m.def("trainer_options", &option_names, "the option names Trainer(**options) accepts");
  nb::class_<PyTrainer>(m, "_Trainer")
      .def("__init__",
           [](PyTrainer* self, const PyDag& d, const std::string& algo, int64_t runs,
              uint64_t seed, int64_t batch, const std::string& pb, const std::string& prior,
              const nb::dict& options) {
             new (self) PyTrainer(make_trainer(d, algo, runs, seed, batch, pb, prior, options));
           },
           nb::arg("dag"), nb::arg("algo"), nb::arg("runs"), nb::arg("seed"), nb::arg("batch"),
           nb::arg("pb"), nb::arg("prior"), nb::arg("options"))
      .def("step",
           [](PyTrainer& t, int64_t n) {
             if (n < 0) throw InputError("step: n = " + std::to_string(n) + " must be >= 0");
             for (int64_t i = 0; i < n; ++i) {
               {
                 nb::gil_scoped_release unlocked;  // other Python threads run meanwhile
                 t.trainer->step();
               }
               if (PyErr_CheckSignals() != 0) throw nb::python_error();  // Ctrl-C mid-run
             }
           },
           nb::arg("n") = 1)
      .def("evaluate", &evaluate, nb::arg("spearman") = false)
      .def("policy",
           [](PyTrainer& t, int32_t run) {
             const ForwardPolicy p = t.trainer->policy(run);
             return nb::make_tuple(to_numpy<float>(p.log_prob, {p.log_prob.size()}),
                                   to_numpy<float>(p.exit_log_prob, {p.exit_log_prob.size()}));
           },
           nb::arg("run") = 0)
      .def("backward_policy",
           [](PyTrainer& t, int32_t run) {
             const BackwardPolicy p = t.trainer->backward_policy(run);
             return to_numpy<float>(p.log_prob, {p.log_prob.size()});
           },
           nb::arg("run") = 0)
      .def("last_loss",
           [](PyTrainer& t) {
             std::vector<double> l = t.trainer->last_loss();
             const std::size_t n = l.size();
             return to_numpy(std::move(l), {n});
           })
      .def("parameters",
           [](PyTrainer& t) {
             std::vector<float> p = t.trainer->parameters();
             const std::size_t R = t.trainer->config().runs, n = p.size();
             return to_numpy(std::move(p), {R, n / R});
           })
      .def_prop_ro("steps_done", [](PyTrainer& t) { return t.trainer->steps_done(); })
      .def_prop_ro("trajectories_per_run",
                   [](PyTrainer& t) { return t.trainer->trajectories_per_run(); })
      .def_prop_ro("runs", [](PyTrainer& t) { return t.trainer->config().runs; })
      .def_prop_ro("algo", [](PyTrainer& t) { return algo_name(t.trainer->config().algo); })
      .def_prop_ro("target_log_z", [](PyTrainer& t) { return t.trainer->target_log_z(); });
}

}  // namespace gfnrl::python
