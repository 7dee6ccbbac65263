// The forward tables of every run and the optimizer step that moves them.
#include <cmath>

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

// Parameters and gradient; Adam's two moments; the DQN learners' target copy.
std::size_t ForwardTables::bytes(const Dag& dag, const TrainConfig& c) {
  const std::size_t tables =
      2 + (c.optimizer != OptimizerKind::Sgd ? 2 : 0) + (is_dqn(c.algo) ? 1 : 0);
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
  if (touched && (oa.lazy || !oa.adam))
    GFNRL_BACKEND_CALL(b, optimizer_step_touched, oa, *touched);
  else
    GFNRL_BACKEND_CALL(b, optimizer_step, oa);
  if (is_dqn(c.algo) && updates % c.target_every == 0)
    GFNRL_BACKEND_CALL(b, polyak, target.data(), params.data(), entries, c.target_rate);
  loss_valid = true;
}

}  // namespace gfnrl::training
