// The forward tables of every run and the optimizer step that moves them.
#include <cmath>
#include <stdexcept>

#include "gfnrl/detail/optimizer_math.hpp"
#include "gfnrl/detail/state_math.hpp"
#include "training/trainer_parts.hpp"

namespace gfnrl::training {

namespace {
detail::TableLayout layout_of(const Dag& dag) {
  detail::TableLayout L;
  L.num_states = dag.num_states();
  L.num_edges = static_cast<int32_t>(dag.num_edges());  // the Trainer refuses E > kMaxIndex
  return L;
}
}  // namespace

Array<float> zeros(Backend b, std::size_t n) {
  Array<float> a(b, n);
  GFNRL_BACKEND_CALL(b, fill, a.data(), n, 0.0f);
  return a;
}

detail::OptimizerArgs optimizer_args(const TrainConfig& c, int64_t t, bool adam, float lr_scale) {
  detail::OptimizerArgs oa{};
  oa.adam = adam;
  oa.lazy = c.optimizer == OptimizerKind::LazyAdam;
  oa.beta1 = c.adam_beta1;
  oa.beta2 = c.adam_beta2;
  oa.eps = c.adam_eps;
  oa.bias1 = static_cast<float>(1.0 - std::pow(double(c.adam_beta1), double(t)));
  oa.bias2 = static_cast<float>(1.0 - std::pow(double(c.adam_beta2), double(t)));
  oa.lr_scale = lr_scale;
  oa.runs = c.runs;
  return oa;
}

// Whether a DQN learner's target is averaged lazily (ForwardTables::lazy_target): on the CPU,
// when each step walks the entries it touched (lazy Adam or SGD, not the scan).
bool lazy_target_of(Backend b, const TrainConfig& c) {
  return b == Backend::Cpu && is_dqn(c.algo) && !c.optimizer_scan && !c.exact_gradient &&
         c.optimizer != OptimizerKind::Adam;
}

// Parameters and gradient; Adam's two moments; the DQN learners' target copy (and, lazily
// averaged, the int64 count of updates each entry holds: two floats' worth).
std::size_t ForwardTables::bytes(const Dag& dag, const TrainConfig& c) {
  const std::size_t tables = 2 + (c.optimizer != OptimizerKind::Sgd ? 2 : 0) +
                             (is_dqn(c.algo) ? 1 : 0) + (lazy_target_of(dag.backend(), c) ? 2 : 0);
  // The layout's stride (E + 2N + 1) in 64 bits: this estimate may be asked for any DAG.
  const auto stride = static_cast<std::size_t>(dag.num_edges()) + 2 * std::size_t(dag.num_states()) + 1;
  return tables * std::size_t(c.runs) * stride * sizeof(float);
}

ForwardTables::ForwardTables(const Dag& dag, const TrainConfig& c) : layout(layout_of(dag)) {
  const Backend b = dag.backend();
  const std::size_t n = entries = std::size_t(c.runs) * layout.stride();
  params = zeros(b, n);  // a uniform policy, log F = log Z = 0
  grad = zeros(b, n);    // the optimizer step re-zeroes every entry it consumes
  if (c.optimizer != OptimizerKind::Sgd) {
    m = zeros(b, n);
    v = zeros(b, n);
  }
  if (is_dqn(c.algo)) target = zeros(b, n);
  lazy_target = lazy_target_of(b, c);
  target_rate = c.target_rate;
  if (lazy_target) target_synced.assign(n, 0);
  loss = zeros(b, c.runs);
  lr = Array<float>::from_host(b, per_run(c.lr, c.runs));
  lr_log_z = Array<float>::from_host(b, per_run(c.lr_log_z, c.runs));
}

detail::TableView<float> ForwardTables::view(const Dag& dag, int32_t runs) {
  detail::TableView<float> t{};
  t.dag = dag.view();
  t.layout = layout;
  t.params = params.data();
  t.grad = grad.data();
  t.loss = loss.data();
  t.runs = runs;
  return t;
}

void ForwardTables::update(Backend b, const TrainConfig& c, const detail::TouchedEntries* touched) {
  ++updates;
  detail::OptimizerArgs oa =
      optimizer_args(c, updates, c.optimizer != OptimizerKind::Sgd, c.lr_factor(updates));
  oa.params = params.data();
  oa.grad = grad.data();
  oa.m = or_null(m);
  oa.v = or_null(v);
  oa.stride = layout.stride();
  oa.log_z_entry = layout.log_z_entry();
  oa.lr = lr.data();
  oa.lr_log_z = lr_log_z.data();
  const bool walk = touched && (oa.lazy || !oa.adam);
  if (lazy_target && !walk)  // lazy_target_of(c) holds exactly when the trainer walks
    throw std::logic_error("gfnrl: internal: the lazy DQN target needs the touched-entry walk");
  if (lazy_target)  // the entries this step changes, brought up to date with their old values
    for (int32_t r = 0; r < c.runs; ++r)
      for (int32_t i = 0; i < touched->samples; ++i)
        catch_up_entry(int64_t(r) * layout.stride() +
                       touched->sample_action[int64_t(r) * touched->samples + i]);
  if (walk)
    GFNRL_BACKEND_CALL(b, optimizer_step_touched, oa, *touched);
  else
    GFNRL_BACKEND_CALL(b, optimizer_step, oa);
  if (is_dqn(c.algo) && updates % c.target_every == 0) {
    if (lazy_target)
      ++polyak_updates;
    else
      GFNRL_BACKEND_CALL(b, polyak, target.data(), params.data(), entries, c.target_rate);
  }
  loss_valid = true;
}

void ForwardTables::catch_up_entry(int64_t i) {
  detail::polyak_catch_up(target.data(), params.data(), target_synced.data(), polyak_updates,
                          target_rate, i);
}

void ForwardTables::catch_up_target(const DagView& d, int32_t r, int32_t s, int64_t act,
                                    bool own_row) {
  const int64_t row = int64_t(r) * layout.stride();
  const auto catch_up_row = [&](int32_t u) {  // action_lse's entries of state u
    for (int64_t e = d.child_offsets[u]; e < d.child_offsets[u + 1]; ++e) catch_up_entry(row + e);
    if (detail::terminates(d, u)) catch_up_entry(row + layout.exit_entry(u));
  };
  if (!layout.is_exit(act)) catch_up_row(d.child_index[act]);
  if (own_row) catch_up_row(s);
}

void ForwardTables::catch_up_target(const detail::RolloutArgs& t, bool own_row) {
  if (!lazy_target) return;
  for (int32_t r = 0; r < t.runs; ++r)
    for (int32_t m = 0; m < t.batch; ++m) {
      const int64_t traj = int64_t(r) * t.batch + m, base = traj * t.max_len;
      for (int32_t k = 0; k < t.lengths[traj]; ++k)
        catch_up_target(t.dag, r, t.states[base + k], t.actions[base + k], own_row);
    }
}

void ForwardTables::catch_up_target(const detail::DqnArgs<float>& a) {
  if (!lazy_target) return;
  for (int32_t r = 0; r < a.runs; ++r)
    for (int32_t i = 0; i < a.samples; ++i) {
      const int64_t k = int64_t(r) * a.samples + i;
      catch_up_target(a.dag, r, a.sample_state[k], a.sample_action[k], a.alpha > 0.0f);
    }
}

}  // namespace gfnrl::training
