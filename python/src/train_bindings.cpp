// gfnrl.Trainer: batched tabular training of one learner (many runs in one table), with every
// TrainConfig field reachable by name and exact evaluation of every run.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <variant>

#include "gfnrl/gfnrl.hpp"
#include "py_dag.hpp"

namespace gfnrl::python {

namespace {
// Option `o` of the library's table (train_options.hpp) from its Python value: numbers and bools
// as themselves, a per-run list as one number or a sequence, a name as a str.
void set_option(TrainConfig& c, const TrainOption& o, nb::handle v) {
  struct Set {
    TrainConfig& c;
    nb::handle v;
    void operator()(float TrainConfig::*m) const { c.*m = nb::cast<float>(v); }
    void operator()(int32_t TrainConfig::*m) const { c.*m = nb::cast<int32_t>(v); }
    void operator()(int64_t TrainConfig::*m) const { c.*m = nb::cast<int64_t>(v); }
    void operator()(bool TrainConfig::*m) const { c.*m = nb::cast<bool>(v); }
    void operator()(std::optional<float> TrainConfig::*m) const { c.*m = nb::cast<float>(v); }
    void operator()(std::vector<float> TrainConfig::*m) const {
      c.*m = nb::isinstance<nb::float_>(v) || nb::isinstance<nb::int_>(v)
                 ? std::vector<float>{nb::cast<float>(v)}
                 : nb::cast<std::vector<float>>(v);
    }
    void operator()(const NamedField& f) const { f.set(c, nb::cast<std::string>(v)); }
  };
  std::visit(Set{c, v}, o.field);
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
    const TrainOption* o = find_train_option(k);
    if (!o)
      throw InputError("unknown Trainer option '" + k + "' (allowed: " +
                       join_names(train_option_names()) + ")");
    try {
      set_option(c, *o, value);
    } catch (const nb::cast_error&) {
      throw InputError("Trainer(" + k + "=" + nb::cast<std::string>(nb::repr(value)) +
                       "): got " + nb::cast<std::string>(nb::str(nb::type_name(value.type()))) +
                       ", but " + k + " takes " + o->takes());
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
  m.def("trainer_options", &train_option_names, "the option names Trainer(**options) accepts");
  m.attr("_CURVE_HEADER") = kTrainingCurveHeader;
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
