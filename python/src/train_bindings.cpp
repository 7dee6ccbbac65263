// gfnrl.Trainer: batched tabular training of one learner (many runs in one table), with every
// TrainConfig field reachable by name and exact evaluation of every run.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <atomic>
#include <chrono>
#include <functional>
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

// One evaluation of every run as arrays [runs] (the GIL held): Trainer::evaluate's runs, the modes
// (and, on a hypergrid, mode regions; -1 elsewhere) their samples have exited from, and with
// `rho` (not empty) each run's Spearman correlation.
nb::dict evaluation_dict(const PyTrainer& t, const std::vector<RunEvaluation>& ev,
                         std::vector<int64_t> found, std::vector<int64_t> regions,
                         const std::vector<double>& rho) {
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
  if (t.modes.region.empty()) regions.assign(R, -1);
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
  if (!rho.empty()) out["spearman"] = to_numpy(std::vector<double>(rho), {R});
  out["modes_found"] = to_numpy(std::move(found), {R});
  out["mode_regions_found"] = to_numpy(std::move(regions), {R});
  out["num_modes"] = t.modes.states.size();
  if (!ev.empty()) out["mode_mass_target"] = ev[0].metrics.mode_mass_target;
  out["log_z"] = t.trainer->target_log_z();
  return out;
}

nb::dict evaluate(PyTrainer& t, bool spearman) {
  std::vector<RunEvaluation> ev;
  std::vector<double> rho;
  std::vector<int64_t> found, regions;
  {
    nb::gil_scoped_release unlocked;  // other Python threads run meanwhile
    ev = t.trainer->evaluate();
    if (spearman) rho = t.trainer->spearman();
    found = t.trainer->reached_groups(t.modes.states);
    if (!t.modes.region.empty()) regions = t.trainer->reached_groups(t.modes.states, t.modes.region);
  }
  return evaluation_dict(t, ev, std::move(found), std::move(regions), rho);
}

// Ctrl-C while the loop runs with the GIL released: checked after a step at most every 0.1 s
// (PyErr_CheckSignals is a no-op off the main thread). Throws nb::python_error.
class SignalCheck {
 public:
  void operator()() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    nb::gil_scoped_acquire locked;
    if (PyErr_CheckSignals() != 0) throw nb::python_error();
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Hears each evaluation's dict, the GIL held.
using DictCallback = std::function<void(const nb::dict&)>;

// The library's train_loop on trainer `t` (the front ends' loop: training_loop.hpp), called with
// the GIL released: each evaluation's dict appended to `evaluations` and given to `on_dict` with the GIL
// held; its CSV rows into `rows`. Python errors (the callback's, Ctrl-C) end it.
void loop_in_python(PyTrainer& t, const std::string& label, int64_t steps, int64_t eval_every,
                    bool spearman, bool progress, nb::list& evaluations,
                    const DictCallback& on_dict, const RowSink& rows,
                    const std::atomic<bool>* stop) {
  LoopOptions o;
  o.steps = steps, o.eval_every = eval_every, o.label = label;
  o.modes = &t.modes, o.spearman = spearman, o.stop = stop;
  SignalCheck signals;
  o.after_step = [&signals](const Trainer&) { signals(); };
  auto last_line = std::chrono::steady_clock::now() - std::chrono::seconds(10);
  o.on_evaluation = [&](const LoopEvaluation& e) {
    nb::gil_scoped_acquire locked;
    // The CLI's progress line (with an ETA) on sys.stderr, at most every 2 s and at the end.
    const auto now = std::chrono::steady_clock::now();
    if (progress && (e.final || now - last_line > std::chrono::seconds(2))) {
      last_line = now;
      const std::string line = "[gfnrl] " + progress_line(o.label.empty() ? algo_name(
                                   t.trainer->config().algo) : o.label, e) + "\n";
      PySys_WriteStderr("%s", line.c_str());
    }
    const nb::dict d = evaluation_dict(t, e.runs, e.modes_found, e.mode_regions_found, e.spearman);
    evaluations.append(d);
    on_dict(d);
    if (PyErr_CheckSignals() != 0) throw nb::python_error();
  };
  train_loop(*t.trainer, t.trainer->target_log_z(), o, rows);
}

// Trainer.train: every evaluation's dict, in order; `callback` (None: none) hears each.
nb::list train(PyTrainer& t, int64_t steps, int64_t eval_every, bool spearman,
               const nb::object& callback, bool progress) {
  nb::list evaluations;
  {
    nb::gil_scoped_release unlocked;
    loop_in_python(t, "", steps, eval_every, spearman, progress, evaluations,
                   [&callback](const nb::dict& d) {
                     if (!callback.is_none()) callback(d);
                   },
                   {}, nullptr);
  }
  return evaluations;
}

// gfnrl.study's jobs: every trainer's loop, `jobs` side by side, rows in job order. Returns each
// job's evaluations (a list of dicts) and the CSV rows (header first). `callback(label, dict)`
// (None: none) hears every evaluation of every job.
nb::tuple study(const std::vector<PyTrainer*>& trainers, const std::vector<std::string>& labels,
                int64_t steps, int64_t eval_every, bool spearman, int32_t jobs,
                const nb::object& callback, bool progress) {
  if (trainers.size() != labels.size())
    throw InputError("study: " + std::to_string(trainers.size()) + " trainers but " +
                     std::to_string(labels.size()) + " labels");
  std::vector<nb::list> evaluations(trainers.size());
  std::vector<std::string> rows{kTrainingCurveHeader};
  const SideBySideJob job = [&](std::size_t i, const RowSink& job_rows,
                                const std::atomic<bool>& stop) {
    const DictCallback on_dict = [&callback, &labels, i](const nb::dict& d) {
      if (!callback.is_none()) callback(labels[i], d);
    };
    loop_in_python(*trainers[i], labels[i], steps, eval_every, spearman, progress, evaluations[i],
                   on_dict, job_rows, &stop);
  };
  bool completed;
  {
    nb::gil_scoped_release unlocked;
    // run_side_by_side gives `rows` one job's rows at a time, in job order.
    completed = run_side_by_side(
        trainers.size(), jobs, job, [&rows](const std::string& row) { rows.push_back(row); },
        [] {
          nb::gil_scoped_acquire locked;
          return PyErr_CheckSignals() != 0;
        });
  }
  if (!completed) throw nb::python_error();  // Ctrl-C: its KeyboardInterrupt
  nb::list per_job;
  for (nb::list& e : evaluations) per_job.append(e);
  return nb::make_tuple(per_job, rows);
}
}  // namespace

void bind_train(nb::module_& m) {
  m.def("trainer_options", &train_option_names, "the option names Trainer(**options) accepts");
  m.def("_study", &study, nb::arg("trainers"), nb::arg("labels"), nb::arg("steps"),
        nb::arg("eval_every"), nb::arg("spearman"), nb::arg("jobs"), nb::arg("callback").none(), nb::arg("progress"),
        "gfnrl.study's jobs side by side: (each job's evaluations, the CSV rows)");
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
      .def("train", &train, nb::arg("steps"), nb::arg("eval_every"), nb::arg("spearman"),
           nb::arg("callback").none(), nb::arg("progress"))
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
