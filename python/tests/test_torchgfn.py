"""gfnrl.torchgfn.ExactEvaluator against an independent float64 walk of torchgfn's own masks and
_step, on every supported environment, for random and briefly trained MLPs.

Skipped (visibly) when torch or torchgfn is not importable; tools/test_python installs both."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
gfn = pytest.importorskip("gfn")

from gfn.estimators import DiscretePolicyEstimator, ScalarEstimator  # noqa: E402
from gfn.gflownet import TBGFlowNet  # noqa: E402
from gfn.gym import DiscreteEBM, HyperGrid  # noqa: E402
from gfn.gym.bitSequence import BitSequence  # noqa: E402
from gfn.gym.perfect_tree import PerfectBinaryTree  # noqa: E402
from gfn.gym.set_addition import SetAddition  # noqa: E402
from gfn.preprocessors import IdentityPreprocessor, KHotPreprocessor, OneHotPreprocessor  # noqa: E402
from gfn.utils.modules import MLP  # noqa: E402

import gfnrl  # noqa: E402
from gfnrl.torchgfn import ExactEvaluator  # noqa: E402


def _set_reward(x):
    # A reward with ties and several scales: 1 + (sum of item weights)^2 / 4.
    w = torch.arange(1, x.shape[-1] + 1, dtype=torch.float32, device=x.device)
    return 1.0 + (x.float() * w).sum(-1) ** 2 / 4.0


def _tree_reward(x):
    return (x.float().squeeze(-1) % 5) + 0.5


def make_env(name):
    """(env, preprocessor) for each supported environment, small enough for the walk."""
    if name == "hypergrid":
        env = HyperGrid(ndim=2, height=6, validate_modes=False)
        return env, KHotPreprocessor(height=6, ndim=2)
    if name == "ebm":
        env = DiscreteEBM(ndim=4, alpha=0.7)
        return env, IdentityPreprocessor(output_dim=4)
    if name == "set_addition":
        env = SetAddition(n_items=5, max_items=3, reward_fn=_set_reward)
        return env, IdentityPreprocessor(output_dim=5)
    if name == "set_addition_fixed":
        env = SetAddition(n_items=5, max_items=3, reward_fn=_set_reward, fixed_length=True)
        return env, IdentityPreprocessor(output_dim=5)
    if name == "tree":
        env = PerfectBinaryTree(reward_fn=_tree_reward, depth=3)
        return env, OneHotPreprocessor(n_states=env.n_nodes,
                                       get_states_indices=env.get_states_indices)
    if name == "bitseq":
        h = torch.tensor([[0, 0, 1, 1], [1, 0, 1, 0], [1, 1, 1, 1]])  # modes built from 4-bit rows
        env = BitSequence(word_size=1, seq_size=4, n_modes=2, H=h, seed=0)
        return env, IdentityPreprocessor(output_dim=env.words_per_seq)
    raise KeyError(name)


ENVS = ["hypergrid", "ebm", "set_addition", "set_addition_fixed", "tree", "bitseq"]


def make_gflownet(env, pre, seed):
    torch.manual_seed(seed)
    pf = DiscretePolicyEstimator(MLP(pre.output_dim, env.n_actions, hidden_dim=32),
                                 env.n_actions, preprocessor=pre)
    pb = DiscretePolicyEstimator(MLP(pre.output_dim, env.n_actions - 1, hidden_dim=32),
                                 env.n_actions, preprocessor=pre, is_backward=True)
    return TBGFlowNet(pf=pf, pb=pb)


def train_briefly(gfn_, env, steps=30):
    opt = torch.optim.Adam(gfn_.parameters(), lr=1e-2)
    for _ in range(steps):
        traj = gfn_.sample_trajectories(env, n=16, save_logprobs=True)
        loss = gfn_.loss(env, traj, recalculate_all_logprobs=False)
        opt.zero_grad()
        loss.backward()
        opt.step()


def walk(env, pf, pb=None):
    """Independent float64 reference: P_T by pushing mass level by level through torchgfn's
    forward masks and _step (every supported env is graded), R/Z from env.log_reward, and with
    a backward estimator the ELBO/EUBO by enumerating every complete trajectory."""
    exit_a = env.n_actions - 1
    s0 = env.reset(batch_shape=(1,))
    # Each item: (state key, states object, mass, list of (log pf, log pb) paths' sums)
    level = {tuple(s0.tensor[0].tolist()): (s0, 1.0, [(0.0, 0.0)])}
    pt, paths = {}, {}
    while level:
        keys = list(level)
        batch = env.states_from_tensor(torch.stack([level[k][0].tensor[0] for k in keys]))
        with torch.no_grad():
            lp = pf.to_probability_distribution(batch, pf(batch)).logits.double()
        nxt = {}
        for i, k in enumerate(keys):
            st, mass, trajs = level[k]
            for a in range(env.n_actions):
                if not bool(batch.forward_masks[i, a]):
                    continue
                lpa = float(lp[i, a])
                share = mass * math.exp(lpa)
                if a == exit_a:
                    pt[k] = pt.get(k, 0.0) + share
                    paths.setdefault(k, []).extend((f + lpa, b) for f, b in trajs)
                    continue
                child = env._step(env.states_from_tensor(st.tensor.clone()),
                                  env.actions_from_tensor(torch.tensor([[a]])))
                ck = tuple(child.tensor[0].tolist())
                if pb is not None:
                    with torch.no_grad():
                        lb = float(pb.to_probability_distribution(child, pb(child)).logits[0, a])
                else:
                    lb = -math.log(int(child.backward_masks[0].sum()))
                ext = [(f + lpa, b + lb) for f, b in trajs]
                if ck in nxt:
                    nxt[ck] = (nxt[ck][0], nxt[ck][1] + share, nxt[ck][2] + ext)
                else:
                    nxt[ck] = (child, share, ext)
        level = nxt
    keys = list(pt)
    states = env.states_from_tensor(torch.tensor(keys))
    with torch.no_grad():
        log_r = env.log_reward(states).double().numpy()
    log_z = float(np.logaddexp.reduce(log_r))
    target = np.exp(log_r - log_z)
    p = np.array([pt[k] for k in keys])
    out = {"tv": 0.5 * float(np.abs(p - target).sum()), "log_z": log_z,
           "pt": dict(zip(keys, p))}
    # ELBO = E_{tau ~ P_F}[log R + log P_B(tau) - log P_F(tau)] - log Z; EUBO the same under
    # the target's backward process (weights R(x)/Z * P_B(tau | x)).
    elbo = eubo = 0.0
    for k, lr in zip(keys, log_r):
        for f, b in paths[k]:
            w = lr + b - f
            elbo += math.exp(f) * w
            eubo += math.exp(lr - log_z + b) * w
    out["elbo"] = elbo - log_z
    out["eubo"] = eubo - log_z
    return out


@pytest.mark.parametrize("name", ENVS)
@pytest.mark.parametrize("trained", [False, True])
def test_pt_and_tv_equal_a_walk_of_torchgfn(name, trained):
    env, pre = make_env(name)
    g = make_gflownet(env, pre, seed=3)
    if trained:
        train_briefly(g, env)
    ev = ExactEvaluator(env)
    m = ev.evaluate(g, pb="uniform")
    ref = walk(env, g.pf)
    # p_t in the env's terminating-state order: compare state by state.
    got = {tuple(ev.terminating_states[i].tolist()): float(m["p_t"][i])
           for i in range(len(m["p_t"]))}
    for k, p in ref["pt"].items():
        assert abs(got.get(k, 0.0) - p) <= 1e-6, (k, got.get(k), p)
    assert abs(sum(got.values()) - 1.0) <= 1e-6
    assert abs(m["tv"] - ref["tv"]) <= 1e-6
    assert abs(m["log_z"] - ref["log_z"]) <= 1e-5
    assert m["elbo"] <= 1e-6 and m["eubo"] >= -1e-6
    assert abs(m["elbo"] - ref["elbo"]) <= 1e-4 and abs(m["eubo"] - ref["eubo"]) <= 1e-4
    # Without bounds the sweep reads torchgfn's table in place: the same numbers, bit for bit.
    m0 = ev.evaluate(g, bounds=False)
    assert torch.equal(m0["p_t"], m["p_t"]) and m0["tv"] == m["tv"] and m0["kl"] == m["kl"]


@pytest.mark.parametrize("name", ["hypergrid", "ebm", "tree"])
def test_learned_pb_gives_the_bounds_of_that_pb(name):
    env, pre = make_env(name)
    g = make_gflownet(env, pre, seed=5)
    train_briefly(g, env, steps=20)
    ev = ExactEvaluator(env)
    m = ev.evaluate(g)  # a GFlowNet's own .pb
    ref = walk(env, g.pf, g.pb)
    assert abs(m["elbo"] - ref["elbo"]) <= 1e-4
    assert abs(m["eubo"] - ref["eubo"]) <= 1e-4
    assert m["elbo"] <= 1e-6 <= m["eubo"] + 2e-6
    u = ev.evaluate(g, pb="uniform")
    assert u["tv"] == pytest.approx(m["tv"], abs=1e-12)  # P_B changes the bounds only


def test_hypergrid_p_t_is_in_torchgfns_index_order():
    env, pre = make_env("hypergrid")
    ev = ExactEvaluator(env)
    idx = env.get_terminating_states_indices(env.states_from_tensor(ev.terminating_states.clone()))
    assert torch.equal(idx, torch.arange(env.n_terminating_states))


def test_temperature_and_epsilon_are_torchgfns():
    env, pre = make_env("hypergrid")
    g = make_gflownet(env, pre, seed=1)
    ev = ExactEvaluator(env)
    base = ev.evaluate(g.pf, pb="uniform")
    hot = ev.evaluate(g.pf, pb="uniform", temperature=1e6)
    eps = ev.evaluate(g.pf, pb="uniform", epsilon=1.0)
    # Both limits are the uniform policy over torchgfn's masks.
    u = gfnrl.evaluate(ev.dag, *_uniform_tables(ev.dag), pb=None)
    assert hot["tv"] == pytest.approx(u["tv"], abs=1e-5)
    assert eps["tv"] == pytest.approx(u["tv"], abs=1e-6)
    assert base["tv"] != pytest.approx(u["tv"], abs=1e-4)


def _uniform_tables(dag):
    src, _, _ = dag.edges()
    deg = np.bincount(src, minlength=dag.num_states) + np.isfinite(dag.log_rewards())
    edge = -np.log(deg[src]).astype(np.float32)
    ex = np.where(np.isfinite(dag.log_rewards()), -np.log(deg), -np.inf).astype(np.float32)
    return edge, ex


def test_hypergrid_dag_equals_gfnrls_own_hypergrid():
    env, _ = make_env("hypergrid")
    ev = ExactEvaluator(env)
    own = gfnrl.hypergrid(2, 6, r0=0.1, r1=0.5, r2=2.0)
    assert ev.dag.num_states == own.num_states and ev.dag.num_edges == own.num_edges
    assert ev.dag.log_z() == pytest.approx(own.log_z(), abs=1e-12)


def test_every_returns_metrics_every_k_iterations():
    env, pre = make_env("ebm")
    g = make_gflownet(env, pre, seed=2)
    cb = ExactEvaluator(env).every(3)
    got = [cb(i, g) is not None for i in range(7)]
    assert got == [True, False, False, True, False, False, True]
    assert [i for i, _ in cb.history] == [0, 3, 6]
    assert "tv" in cb.history[0][1] and "p_t" not in cb.history[0][1]
    with pytest.raises(ValueError, match="k = 0"):
        ExactEvaluator(env).every(0)


def test_an_estimator_for_another_environment_is_refused():
    env, pre = make_env("hypergrid")
    ev = ExactEvaluator(env)
    other = HyperGrid(ndim=2, height=8, validate_modes=False)
    g = make_gflownet(other, KHotPreprocessor(height=8, ndim=2), seed=0)
    with pytest.raises(ValueError, match="height = 8 but the environment height = 6"):
        ev.evaluate(g)
    wider = HyperGrid(ndim=3, height=6, validate_modes=False)
    g3 = make_gflownet(wider, KHotPreprocessor(height=6, ndim=3), seed=0)
    with pytest.raises(ValueError, match="n_actions = 4 but the environment 3"):
        ev.evaluate(g3)
    with pytest.raises(ValueError, match="is_backward"):
        ev.evaluate(make_gflownet(env, pre, 0).pb)


def test_environments_it_cannot_enumerate_are_refused():
    with pytest.raises(ValueError, match="more than max_states = 10"):
        ExactEvaluator(DiscreteEBM(ndim=3), max_states=10)
    with pytest.raises(ValueError, match="has 1296 states, more than max_states = 100"):
        ExactEvaluator(HyperGrid(ndim=4, height=6, validate_modes=False), max_states=100)
    with pytest.raises(ValueError, match="not a torchgfn DiscreteEnv"):
        ExactEvaluator(object())


def test_a_reward_that_disagrees_with_its_definition_is_named():
    env, _ = make_env("hypergrid")
    original = env.log_reward
    env.log_reward = lambda states: original(states) + 0.5  # not the env's stated reward
    with pytest.warns(UserWarning, match="36 state"):
        ev = ExactEvaluator(env)
    assert ev.reward_disagreements.shape[0] == 36
    with torch.no_grad():
        want = original(env.states_from_tensor(ev.states.clone())).double().numpy() + 0.5
    assert np.allclose(ev.log_rewards, want, atol=1e-6)  # reward="env": what it trains on
    with pytest.warns(UserWarning):
        exact = ExactEvaluator(env, reward="definition")
    own = gfnrl.hypergrid(2, 6, r0=0.1, r1=0.5, r2=2.0)
    assert exact.dag.log_z() == pytest.approx(own.log_z(), abs=1e-6)


@pytest.mark.parametrize("height", [9, 11])
def test_hypergrid_region_boundaries_are_decided_exactly(height):
    # H=9: |x/8 - 1/2| = 1/4 at x = 2, 6 (outside the outer region: strict); H=11: 3/10 and 2/5
    # are hit exactly (x = 1, 2, 8, 9: outside the band: strict). torchgfn agrees through its
    # 1e-12 guards; a float64 comparison of x/(H-1) - 1/2 would not decide these by definition.
    # torchgfn's float32 reward disagrees at H=11: x = 9 (|9/10 - 1/2| = 2/5) lands inside
    # the band because 9/10 - 1/2 rounds to 0.39999998; the evaluator names those states.
    env = HyperGrid(ndim=2, height=height, validate_modes=False)
    if height == 11:
        with pytest.warns(UserWarning, match=r"state\(s\) where HyperGrid's own"):
            ev = ExactEvaluator(env, reward="definition")
        bad = {tuple(r) for r in ev.reward_disagreements.tolist()}
        assert bad == {(9, 9)}  # x = 1 (|1/10 - 1/2| = 2/5 too) rounds the other way
    else:
        ev = ExactEvaluator(env, reward="definition")
        assert ev.reward_disagreements.shape[0] == 0
    own = gfnrl.hypergrid(2, height, r0=0.1, r1=0.5, r2=2.0)
    got = dict(zip(map(tuple, ev.states.tolist()), ev.log_rewards))
    want = dict(zip(map(tuple, own.coords().tolist()), own.log_rewards()))
    assert got.keys() == want.keys()
    for k in got:  # the library stores log R in float32
        assert got[k] == pytest.approx(want[k], abs=1e-6), k


@pytest.mark.parametrize("name", ENVS)
def test_p_t_order_is_the_envs(name):
    env, _ = make_env(name)
    ev = ExactEvaluator(env)
    ts = env.states_from_tensor(ev.terminating_states.clone())
    try:
        idx = env.get_terminating_states_indices(ts)
    except NotImplementedError:
        listed = env.terminating_states.tensor
        n = listed.shape[0]
        # The env's list first, in its order; states its masks let exit but it omits after.
        assert torch.equal(ev.terminating_states[:n].to(listed.dtype), listed)
        assert ev.terminating_states.shape[0] >= n
        return
    assert torch.equal(idx.long(), torch.arange(len(idx)))


def test_nan_outputs_are_refused_naming_the_state():
    env, pre = make_env("hypergrid")
    g = make_gflownet(env, pre, seed=0)
    with torch.no_grad():
        for p in g.pf.module.parameters():
            p.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN at state"):
        ExactEvaluator(env).evaluate(g, pb="uniform")


def test_the_tb_example_runs_and_reports_exact_beside_sampled(tmp_path):
    import json
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "..", "..", "examples", "python", "torchgfn_tb_exact_tv.py")
    out = tmp_path / "rows.json"
    r = subprocess.run([sys.executable, script, "--iterations", "20", "--every", "10",
                        "--validation-samples", "500", "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [row["iteration"] for row in rows] == [0, 10, 20]
    for row in rows:
        assert 0 <= row["tv"] <= 1 and row["elbo"] <= 1e-6 <= row["eubo"] + 2e-6
    bad = subprocess.run([sys.executable, script, "--every", "0"], capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "--every = 0" in bad.stderr


def test_cuda_estimators_on_a_cuda_dag_equal_the_cpu_evaluation():
    if not (gfnrl.cuda_compiled() and gfnrl.cuda_available() and torch.cuda.is_available()):
        pytest.skip("no CUDA device (or gfnrl built without CUDA): compiled, not run")
    cpu_env, pre = make_env("hypergrid")
    g = make_gflownet(cpu_env, pre, seed=4)
    want = ExactEvaluator(cpu_env, backend="cpu").evaluate(g)
    env = HyperGrid(ndim=2, height=6, validate_modes=False, device="cuda")
    g.to("cuda")
    ev = ExactEvaluator(env, backend="cuda")
    got = ev.evaluate(g)  # the estimator's CUDA log-probabilities read in place (DLPack)
    for k in ("tv", "kl", "elbo", "eubo", "log_z"):
        assert got[k] == pytest.approx(want[k], abs=1e-5), k
    assert torch.allclose(got["p_t"], want["p_t"], atol=1e-6)
