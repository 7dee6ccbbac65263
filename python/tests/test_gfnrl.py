"""The Python package against computations written here independently: trajectory enumeration
in plain Python, path counts, the CLI's own numbers."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import gfnrl
import gfnrl.training


def enumerate_terminal(dag, edge_log_pf, exit_log_pf):
    """P_T by walking every trajectory from the source (state 0) in plain Python."""
    src, dst, _ = dag.edges()
    children = {}
    for e, (s, c) in enumerate(zip(src, dst)):
        children.setdefault(int(s), []).append((e, int(c)))
    p_t = np.zeros(dag.num_states)

    def walk(s, p):
        if exit_log_pf[s] > -np.inf:
            p_t[s] += p * math.exp(exit_log_pf[s])
        for e, c in children.get(s, []):
            walk(c, p * math.exp(edge_log_pf[e]))

    walk(0, 1.0)
    return p_t


def target(dag):
    lr = dag.log_rewards()
    w = np.where(np.isfinite(lr), np.exp(lr - lr[np.isfinite(lr)].max()), 0.0)
    return w / w.sum()


def random_dag(rng, n):
    """A random DAG on states 0..n-1 (edges only from lower to higher ids, every state reachable
    from 0), shuffled ids; roughly half the states terminate, every leaf does."""
    perm = rng.permutation(n - 1) + 1
    ids = np.concatenate([[0], perm])  # ids[k]: the caller id of the k-th state in topo order
    src, dst, act = [], [], []
    for k in range(1, n):
        parents = rng.choice(k, size=min(k, 1 + rng.integers(0, 3)), replace=False)
        for p in parents:
            src.append(ids[p])
            dst.append(ids[k])
    # Action ids: distinct per (parent) state.
    count = {}
    for s in src:
        act.append(count.get(s, 0))
        count[s] = count.get(s, 0) + 1
    has_child = set(src)
    log_r = np.full(n, -np.inf)
    for s in range(n):
        if s not in has_child or rng.random() < 0.5:
            log_r[s] = rng.normal()
    return gfnrl.Dag.from_edges(
        np.array(src, np.int32), np.array(dst, np.int32), np.array(act, np.int32), log_r,
        backend="cpu")


def random_logits(rng, dag, runs=None):
    shape = (dag.num_states, dag.exit_action + 1)
    return rng.normal(size=shape if runs is None else (runs,) + shape)


@pytest.mark.parametrize("seed", range(6))
def test_evaluate_equals_enumeration_on_random_dags(seed):
    rng = np.random.default_rng(seed)
    dag = random_dag(rng, 12)
    e, x = gfnrl.policy_from_logits(dag, random_logits(rng, dag))
    got = gfnrl.evaluate(dag, e, x)
    p_t = enumerate_terminal(dag, e, x)
    np.testing.assert_allclose(got["p_t"], p_t, atol=1e-6)
    p = target(dag)
    assert got["tv"] == pytest.approx(0.5 * np.abs(p_t / p_t.sum() - p).sum(), abs=1e-6)
    support = p > 0
    kl = float(np.sum(p[support] * np.log(p[support] / p_t[support])))
    assert got["kl"] == pytest.approx(kl, rel=1e-5, abs=1e-6)
    assert got["model_mass"] == pytest.approx(1.0, abs=1e-6)
    # corr: Pearson's r of log P_T and log R on the support; modes: the largest reward's states
    lr = dag.log_rewards()
    assert got["corr"] == pytest.approx(
        np.corrcoef(np.log(p_t[support]), lr[support])[0, 1], abs=1e-5)
    modes = support & (lr >= lr[support].max() + np.log1p(-1e-6))
    assert got["num_modes"] == modes.sum() >= 1
    assert got["mode_mass"] == pytest.approx(p_t[modes].sum() / p_t.sum(), abs=1e-6)
    assert got["mode_mass_target"] == pytest.approx(p[modes].sum(), abs=1e-9)


def enumerate_bounds(dag, e, x, log_pb):
    """ELBO and EUBO by walking every trajectory: the mean of log R + sum log P_B - sum log P_F
    - log Z under P_F, and under R(x)/Z * P_B(tau|x)."""
    src, dst, _ = dag.edges()
    lr, log_z = dag.log_rewards(), dag.log_z()
    children = {}
    for k, (s, c) in enumerate(zip(src, dst)):
        children.setdefault(int(s), []).append((k, int(c)))
    sums = [0.0, 0.0]

    def walk(s, lpf, lpb):
        if np.isfinite(lr[s]):
            f = lpf + x[s]
            gap = lr[s] + lpb - f - log_z
            sums[0] += math.exp(f) * gap if f > -np.inf else 0.0
            sums[1] += math.exp(lr[s] - log_z + lpb) * gap
        for k, c in children.get(s, []):
            walk(c, lpf + e[k], lpb + log_pb[k])

    walk(0, 0.0, 0.0)
    return sums


@pytest.mark.parametrize("seed", range(4))
def test_elbo_and_eubo_equal_enumeration_and_vanish_at_the_optimum(seed):
    rng = np.random.default_rng(20 + seed)
    dag = random_dag(rng, 10) if seed % 2 else gfnrl.hypergrid(2, 4, r0=0.1, backend="cpu")
    e, x = gfnrl.policy_from_logits(dag, random_logits(rng, dag))
    src, dst, _ = dag.edges()
    # A random P_B: a softmax over each state's parents (edges grouped by dst).
    w = rng.normal(size=dag.num_edges)
    norm = np.zeros(dag.num_states)
    np.add.at(norm, dst, np.exp(w))
    # (a lone parent's log 1 can round to +1e-16: a log-probability is <= 0)
    log_pb = np.minimum(w - np.log(norm[dst]), 0.0).astype(np.float32)
    for pb, table in [("uniform", -np.log(np.bincount(dst, minlength=dag.num_states)[dst])),
                      (log_pb, log_pb)]:
        got = gfnrl.evaluate(dag, e, x, pb=pb)
        elbo, eubo = enumerate_bounds(dag, e, x, table)
        assert got["elbo"] == pytest.approx(elbo, abs=1e-5) and got["elbo"] < 0
        assert got["eubo"] == pytest.approx(eubo, abs=1e-5) and got["eubo"] > 0
    opt = gfnrl.solve(dag)  # the uniform-P_B soft-optimal policy
    best = gfnrl.evaluate(dag, opt["edge_log_pf"], opt["exit_log_pf"])
    assert abs(best["elbo"]) < 1e-5 and abs(best["eubo"]) < 1e-5
    assert "elbo" not in gfnrl.evaluate(dag, e, x, pb=None)
    with pytest.raises(ValueError, match="one entry per edge"):
        gfnrl.evaluate(dag, e, x, pb=log_pb[:-1])
    hostile = log_pb.copy()
    hostile[0] = np.nan
    with pytest.raises(ValueError, match="entry of edge 0 is nan"):
        gfnrl.evaluate(dag, e, x, pb=hostile)
    with pytest.raises(ValueError, match="sums to"):
        gfnrl.evaluate(dag, e, x, pb=log_pb - 0.5)  # not a distribution over parents
    with pytest.raises(ValueError, match="unknown correction"):
        gfnrl.evaluate(dag, e, x, pb="uniformm")


def test_evaluate_on_small_grids_and_in_batches():
    rng = np.random.default_rng(7)
    for ndim, height in [(1, 5), (2, 4), (3, 3)]:
        dag = gfnrl.hypergrid(ndim, height, r0=0.1, backend="cpu")
        e, x = gfnrl.policy_from_logits(dag, random_logits(rng, dag, runs=3))
        batched = gfnrl.evaluate(dag, e, x)
        assert batched["tv"].shape == (3,) and batched["p_t"].shape == (3, dag.num_states)
        for r in range(3):
            p_t = enumerate_terminal(dag, e[r], x[r])
            np.testing.assert_allclose(batched["p_t"][r], p_t, atol=1e-6)
            one = gfnrl.evaluate(dag, e[r], x[r])
            assert one["tv"] == pytest.approx(batched["tv"][r], abs=1e-12)
        assert batched["log_z"] == pytest.approx(dag.log_z(), abs=1e-9)


def test_evaluate_reads_host_tables_in_place_and_converts_others():
    """float32 C-contiguous tables are read in place (and left as they were); a strided view or
    float64 tables holding the same floats are converted first and give the same answer."""
    rng = np.random.default_rng(11)
    dag = gfnrl.hypergrid(2, 5, r0=0.1, backend="cpu")
    e, x = gfnrl.policy_from_logits(dag, random_logits(rng, dag))
    assert e.dtype == np.float32 and e.flags.c_contiguous
    e0, x0 = e.copy(), x.copy()
    want = gfnrl.evaluate(dag, e, x)
    np.testing.assert_array_equal(e, e0)
    np.testing.assert_array_equal(x, x0)
    wide = np.zeros(2 * e.size, np.float32)
    wide[::2] = e
    got = gfnrl.evaluate(dag, wide[::2], x.astype(np.float64))
    assert got["tv"] == want["tv"]
    np.testing.assert_array_equal(got["p_t"], want["p_t"])
    np.testing.assert_allclose(want["p_t"], enumerate_terminal(dag, e, x), atol=1e-6)


def average_ranks(v):
    """1-based ranks, ties at their average, counted pair by pair."""
    v = np.asarray(v)
    return np.array([1 + np.sum(v < a) + (np.sum(v == a) - 1) / 2 for a in v])


def test_spearman_is_pearson_of_average_ranks_over_the_support():
    rng = np.random.default_rng(5)
    dag = gfnrl.hypergrid(2, 6, backend="cpu")  # three reward levels: large ties in R
    e, x = gfnrl.policy_from_logits(dag, random_logits(rng, dag, runs=2))
    res = gfnrl.evaluate(dag, e, x, spearman=True)
    plain = gfnrl.evaluate(dag, e, x)
    assert "spearman" not in plain
    lr = dag.log_rewards()
    for r in range(2):
        q = average_ranks(np.log(res["p_t"][r]).astype(np.float32))
        p = average_ranks(lr)
        assert res["spearman"][r] == pytest.approx(np.corrcoef(q, p)[0, 1], abs=1e-9)
    one = gfnrl.evaluate(dag, e[0], x[0], pb=None, spearman=True)
    assert one["spearman"] == pytest.approx(res["spearman"][0], abs=1e-12)


def test_policy_from_logits_masks_and_normalises():
    dag = gfnrl.hypergrid(2, 3, backend="cpu")
    rng = np.random.default_rng(1)
    z = random_logits(rng, dag)
    e, x = gfnrl.policy_from_logits(dag, z)
    src, _, action = dag.edges()
    for s in range(dag.num_states):
        logits = [z[s, a] for a in action[src == s]] + [z[s, dag.exit_action]]
        ref = np.array(logits) - np.log(np.sum(np.exp(logits)))  # every grid state terminates
        np.testing.assert_allclose(np.concatenate([e[src == s], [x[s]]]), ref, atol=1e-6)


def test_soft_optimal_policy_samples_the_target():
    dag = gfnrl.hypergrid(2, 16, r0=0.1, backend="cpu")
    s = gfnrl.solve(dag)
    assert s["log_z"] == pytest.approx(4.183575695950, abs=1e-5)  # README.md "Concepts": the exact regions
    assert gfnrl.evaluate(dag, s["edge_log_pf"], s["exit_log_pf"])["tv"] < 1e-5


def test_uncorrected_solution_samples_path_counts_times_reward():
    dag = gfnrl.hypergrid(2, 5, r0=0.1, backend="cpu")
    s = gfnrl.solve(dag, correction="none")
    p_t = enumerate_terminal(dag, s["edge_log_pf"], s["exit_log_pf"])
    # n(x) for a grid cell: the multinomial coefficient of its coordinates.
    c = dag.coords()
    n = np.array([math.comb(int(a + b), int(a)) for a, b in c], float)
    w = n * np.exp(dag.log_rewards())
    np.testing.assert_allclose(p_t, w / w.sum(), atol=1e-6)


def test_uniform_policy_tv_equals_the_cli(tmp_path):
    cli = os.environ.get("GFNRL_CLI")
    if not cli:
        pytest.skip("set GFNRL_CLI to the gfnrl executable to compare with the CLI")
    out = subprocess.run(
        [cli, "train", "--algo", "tb", "--steps", "0", "--runs", "1", "--ndim", "4",
         "--height", "8", "--backend", "cpu", "--json", "--quiet", "--out",
         str(tmp_path / "c.csv")], check=True, capture_output=True, text=True)
    cli_tv = json.loads(out.stdout)["final_tv"][0]  # TB's tables start at 0: the uniform policy
    dag = gfnrl.hypergrid(4, 8, backend="cpu")
    e, x = gfnrl.policy_from_logits(dag, np.zeros((dag.num_states, dag.exit_action + 1)))
    assert gfnrl.evaluate(dag, e, x)["tv"] == pytest.approx(cli_tv, abs=1e-7)


def test_from_edges_keeps_the_callers_ids_and_validates():
    # Diamond 0 -> {1, 2} -> 3, 0 -> 3; R(1) = 1, R(3) = e^2.
    src = np.array([0, 0, 1, 2, 0], np.int32)
    dst = np.array([1, 2, 3, 3, 3], np.int32)
    act = np.array([0, 1, 0, 1, 2], np.int32)
    lr = np.array([-np.inf, 0.0, -np.inf, 2.0])
    dag = gfnrl.Dag.from_edges(src, dst, act, lr, backend="cpu")
    assert dag.log_z() == pytest.approx(math.log(1 + math.e ** 2), abs=1e-6)
    labels = dag.labels()
    np.testing.assert_array_equal(dag.log_rewards(), lr[labels].astype(np.float32))
    with pytest.raises(ValueError, match="cycle"):
        gfnrl.Dag.from_edges(np.array([0, 1, 2], np.int32), np.array([1, 2, 1], np.int32),
                             np.array([0, 0, 0], np.int32), np.array([-np.inf, 0.0, 0.0]))
    with pytest.raises(ValueError, match="one per edge"):
        gfnrl.Dag.from_edges(src, dst[:-1], act, lr)


def test_errors_become_the_right_exceptions(monkeypatch):
    with pytest.raises(ValueError, match="height"):
        gfnrl.hypergrid(2, 1)
    with pytest.raises(ValueError, match="unknown backend"):
        gfnrl.hypergrid(2, 4, backend="tpu")
    dag = gfnrl.hypergrid(2, 4, backend="cpu")
    with pytest.raises(ValueError, match="exit_log_pf"):
        gfnrl.evaluate(dag, np.zeros(dag.num_edges), np.zeros(3))
    with pytest.raises(ValueError, match="logits has shape"):
        gfnrl.policy_from_logits(dag, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="coords"):
        gfnrl.subsets(3, backend="cpu").coords()
    with pytest.raises(ValueError, match="correction"):
        gfnrl.solve(dag, correction="file")
    monkeypatch.setenv("GFNRL_MEMORY_LIMIT", "1000")
    with pytest.raises(MemoryError, match="needs an estimated"):
        gfnrl.hypergrid(4, 20, backend="cpu")


def test_dlpack_and_torch_style_inputs():
    dag = gfnrl.hypergrid(2, 4, backend="cpu")
    e, x = gfnrl.policy_from_logits(dag, np.zeros((dag.num_states, dag.exit_action + 1)))

    class DlpackOnly:  # an array that speaks DLPack only (as JAX or CuPy-on-host would)
        def __init__(self, a):
            self._a = a

        def __dlpack__(self, *args, **kwargs):
            return self._a.__dlpack__(*args, **kwargs)

        def __dlpack_device__(self):
            return self._a.__dlpack_device__()

    ref = gfnrl.evaluate(dag, e, x)["tv"]
    assert gfnrl.evaluate(dag, DlpackOnly(e), DlpackOnly(x))["tv"] == ref
    assert gfnrl.evaluate(dag, e.astype(np.float64), x.astype(np.float64))["tv"] == ref
    # A CUDA array cannot feed a CPU DAG (it is read in place only by a CUDA DAG).
    class FakeCuda(DlpackOnly):
        def __dlpack_device__(self):
            return (2, 0)

    with pytest.raises(ValueError, match="CUDA array but the DAG is on the CPU backend"):
        gfnrl.evaluate(dag, FakeCuda(e), FakeCuda(x))
    torch = pytest.importorskip("torch")
    assert gfnrl.evaluate(dag, torch.from_numpy(e), torch.from_numpy(x))["tv"] == ref
    w = torch.from_numpy(e).clone().requires_grad_()  # a tensor with autograd history
    assert gfnrl.evaluate(dag, w, torch.from_numpy(x))["tv"] == ref


@pytest.mark.skipif(not gfnrl.cuda_available(), reason="no CUDA device: compiled, not run")
def test_cuda_tensors_are_read_in_place_on_a_cuda_dag():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    cpu, gpu = gfnrl.hypergrid(3, 6, backend="cpu"), gfnrl.hypergrid(3, 6, backend="cuda")
    rng = np.random.default_rng(4)
    e, x = gfnrl.policy_from_logits(cpu, rng.normal(size=(2, cpu.num_states, cpu.exit_action + 1)))
    want = gfnrl.evaluate(cpu, e, x)
    got = gfnrl.evaluate(gpu, torch.from_numpy(e).cuda(), torch.from_numpy(x).cuda())
    for k in ("tv", "kl", "jsd", "model_mass"):
        np.testing.assert_allclose(got[k], want[k], atol=1e-6)
    np.testing.assert_allclose(got["p_t"], want["p_t"], atol=1e-6)
    bad = torch.from_numpy(x).cuda()
    bad[0, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        gfnrl.evaluate(gpu, torch.from_numpy(e).cuda(), bad)


def test_environments_and_files(tmp_path):
    for dag in [gfnrl.subsets(4, backend="cpu"), gfnrl.bitseq(4, 2, backend="cpu"),
                gfnrl.dag_structure(3, backend="cpu")]:
        s = gfnrl.solve(dag)
        assert gfnrl.evaluate(dag, s["edge_log_pf"], s["exit_log_pf"])["tv"] < 1e-5
    # ising: log Z is the log-sum over the 2^n spin configurations of beta * J0 * s^T J s (ring of 3).
    ring = gfnrl.ising(3, coupling="ring", coupling_constant=0.3, beta=2.0, backend="cpu")
    assert ring.num_states == 27 and ring.kind == "ising"
    configs = [[1 if (x >> i) & 1 else -1 for i in range(3)] for x in range(8)]
    z = sum(math.exp(2.0 * 0.3 * 2 * (c[0] * c[1] + c[1] * c[2] + c[2] * c[0])) for c in configs)
    assert gfnrl.solve(ring)["log_z"] == pytest.approx(math.log(z), abs=1e-5)
    with pytest.raises(ValueError, match="spins = 6 is not a square"):
        gfnrl.ising(6, backend="cpu")
    # set-addition: sets of at most 2 of 4 items; binary-tree: 2^(d+1) - 1 nodes, one path each.
    sa = gfnrl.set_addition(4, 2, backend="cpu")
    assert sa.num_states == 1 + 4 + 6 and sa.kind == "set-addition"
    bge = gfnrl.dag_structure(3, score="bge", backend="cpu")
    bic = gfnrl.dag_structure(3, backend="cpu")
    assert bge.num_states == 25 and not np.allclose(bge.log_rewards(), bic.log_rewards())
    bt = gfnrl.binary_tree(3, backend="cpu")
    assert bt.num_states == 15 and bt.kind == "binary-tree"
    for dag in (sa, bt):
        s = gfnrl.solve(dag)
        assert gfnrl.evaluate(dag, s["edge_log_pf"], s["exit_log_pf"])["tv"] < 1e-5
    t = gfnrl.tree(gfnrl.hypergrid(2, 3, backend="cpu"))
    # One state per path from the source: sum over the cells of C(a + b, a).
    assert t.num_states == sum(math.comb(a + b, a) for a in range(3) for b in range(3))
    path = tmp_path / "d.txt"
    # P_B(0 | 2) = 1/4, P_B(1 | 2) = 3/4.
    path.write_text(f"gfnrl-dag 1\nstates 3\nedge 0 1 0 0\nedge 0 2 1 {math.log(0.25)}\n"
                    f"edge 1 2 0 {math.log(0.75)}\nlog_reward 1 0\nlog_reward 2 1\n")
    dag = gfnrl.load_dag(str(path), backend="cpu")
    assert dag.num_states == 3 and dag.kind == "file"
    s = gfnrl.solve(dag, correction="file")
    assert s["log_z"] == pytest.approx(math.log(1 + math.e), abs=1e-6)
    p_t = enumerate_terminal(dag, s["edge_log_pf"], s["exit_log_pf"])
    np.testing.assert_allclose(p_t, target(dag), atol=1e-6)
    with pytest.raises(ValueError):
        gfnrl.load_dag(str(tmp_path / "missing.txt"))


def test_solve_hypergrid_equals_the_dag_path():
    dag = gfnrl.hypergrid(3, 7)
    s = gfnrl.solve(dag)
    ref = gfnrl.evaluate(dag, s["edge_log_pf"], s["exit_log_pf"], spearman=True)
    imp = gfnrl.solve_hypergrid(3, 7)
    for k in ["tv", "kl", "kl_reverse", "jsd", "expected_length", "mode_mass", "elbo", "eubo",
              "log_z", "spearman"]:
        assert imp[k] == pytest.approx(ref[k], abs=2e-5), k
    assert imp["soft_vi_log_z"] == pytest.approx(s["log_z"], abs=1e-5)
    assert imp["closed_form_log_z"] == pytest.approx(ref["log_z"], abs=1e-6)
    assert imp["num_states"] == dag.num_states and imp["num_edges"] == dag.num_edges
    uni = gfnrl.solve_hypergrid(3, 7, policy="uniform")
    src, _, _ = dag.edges()
    k = np.bincount(src, minlength=dag.num_states) + 1  # moves plus the exit
    e, x = -np.log(k[src]).astype(np.float32), -np.log(k).astype(np.float32)
    ref_uni = gfnrl.evaluate(dag, e, x)
    for key in ["tv", "kl", "expected_length", "elbo", "eubo"]:
        assert uni[key] == pytest.approx(ref_uni[key], abs=2e-5), key
    assert uni["tv"] > 0.05
    assert imp["layout"] == "implicit" and uni["layout"] == "implicit"
    # csr: the DAG and the general sweeps, the same report; auto takes it for maxent.
    csr = gfnrl.solve_hypergrid(3, 7, layout="csr")
    assert csr["layout"] == "csr"
    for k in ["tv", "kl", "elbo", "eubo", "log_z", "soft_vi_log_z", "spearman"]:
        assert csr[k] == pytest.approx(imp[k], abs=2e-5), k
    mx = gfnrl.solve_hypergrid(3, 7, correction="maxent")
    assert mx["layout"] == "csr" and mx["tv"] < 1e-5
    assert mx["soft_vi_log_z"] == pytest.approx(mx["closed_form_log_z"], abs=1e-5)
    for bad, msg in [({"policy": "greedy"}, "optimal or uniform"),
                     ({"correction": "maxent", "layout": "implicit"}, "uniform or none"),
                     ({"layout": "dense"}, "auto, csr, implicit"),
                     ({"regions": "float32"}, "float32")]:
        with pytest.raises(ValueError, match=msg):
            gfnrl.solve_hypergrid(2, 4, **bad)


def test_every_public_name_is_documented():
    for name in gfnrl.__all__:
        assert getattr(gfnrl, name).__doc__, name
    for prop in ["num_states", "num_edges", "num_levels", "exit_action", "backend", "kind"]:
        assert getattr(gfnrl.Dag, prop).__doc__, prop


def cli_or_skip():
    cli = os.environ.get("GFNRL_CLI")
    if not cli:
        pytest.skip("set GFNRL_CLI to the gfnrl executable to compare with the CLI")
    return cli


@pytest.mark.parametrize("algo,pb,extra_cli,extra_py", [
    ("db", "uniform", [], {}),
    ("softdqn", "maxent", ["--learning-starts", "3"], {"learning_starts": 3}),
    ("munchausen", "uniform", ["--priority", "abs-td"], {"priority": "abs-td"}),
    ("subtb", "tlm", ["--lr", "0.03"], {"lr": 0.03}),
    ("rtb", "uniform", [], {}),
    ("db", "uniform", ["--epsilon", "0,0.3", "--lr", "0.02,0.2", "--temperature", "1,2"],
     {"epsilon": [0.0, 0.3], "lr": [0.02, 0.2], "temperature": [1.0, 2.0]}),
    ("pg", "uniform", ["--exact-gradient"], {"exact_gradient": True}),
    ("subtb", "uniform", ["--regression", "linex:0.5"], {"regression": "linex",
                                                        "regression_param": 0.5}),
    ("db", "uniform", ["--regression", "shifted-cosh"], {"regression": "shifted-cosh"}),
    ("subtb", "maxent", ["--subtb-weighting", "equal"], {"subtb_weighting": "equal"}),
    ("zvar", "uniform", ["--regression", "huber:0.5"], {"regression": "huber", "regression_param": 0.5}),
    ("db", "uniform", ["--forward-looking"], {"forward_looking": True}),
    ("fm", "uniform", ["--regression", "linex:0.5"], {"regression": "linex", "regression_param": 0.5}),
    ("flsubtb", "uniform", [], {}),
    # options bound from the library's table alone (fm_alpha was added through it)
    ("fm", "uniform", ["--fm-alpha", "0.25", "--adam-beta1", "0.8"],
     {"fm_alpha": 0.25, "adam_beta1": 0.8}),
    ("tb", "uniform",
     ["--epsilon", "0.2", "--epsilon-end", "0", "--epsilon-decay-steps", "20", "--lr-warmup", "5",
      "--lr-cosine", "30", "--temperature", "2", "--temperature-end", "1",
      "--temperature-decay-steps", "25"],
     {"epsilon": 0.2, "epsilon_end": 0.0, "epsilon_decay_steps": 20, "lr_warmup_steps": 5,
      "lr_cosine_steps": 30, "temperature": 2.0, "temperature_end": 1.0,
      "temperature_decay_steps": 25}),
])
def test_trainer_reproduces_the_cli_csv(tmp_path, algo, pb, extra_cli, extra_py):
    cli = cli_or_skip()
    csv = tmp_path / "c.csv"
    subprocess.run(
        [cli, "train", "--algo", algo, "--pb", pb, "--runs", "2", "--seed", "3", "--steps", "40",
         "--eval-every", "15", "--ndim", "2", "--height", "6", "--backend", "cpu", "--quiet",
         "--out", str(csv)] + extra_cli, check=True, capture_output=True)
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    dag = gfnrl.hypergrid(2, 6, backend="cpu")
    curves = gfnrl.Trainer(dag, algo, runs=2, seed=3, pb=pb, **extra_py).train(40, 15)
    assert list(curves["step"]) == [0, 15, 30, 40]
    assert len(rows) == 2 * len(curves["step"])
    for k, step in enumerate(curves["step"]):
        for r in range(2):
            row = rows[2 * k + r]
            assert int(row["step"]) == step and int(row["run"]) == r
            assert row["tv"] == f"{curves['tv'][k, r]:.9g}"
            assert row["kl"] == f"{curves['kl'][k, r]:.9g}"
            assert row["elbo"] == f"{curves['elbo'][k, r]:.9g}"
            assert row["corr"] == f"{curves['corr'][k, r]:.9g}"
            assert row["modes_found"] == str(curves["modes_found"][k, r])
            assert row["mode_regions_found"] == str(curves["mode_regions_found"][k, r])


def test_trainer_spearman_is_evaluates_of_its_policy():
    dag = gfnrl.hypergrid(2, 6, backend="cpu")
    t = gfnrl.Trainer(dag, "tb", runs=3, seed=2, lr=0.05, epsilon=0.3)
    t.step(20)
    assert "spearman" not in t.evaluate()
    got = t.evaluate(spearman=True)["spearman"]
    for r in range(3):
        want = gfnrl.evaluate(dag, *t.policy(r), spearman=True)["spearman"]
        assert got[r] == pytest.approx(want, abs=1e-12)


def test_a_diverged_run_is_flagged_with_nan_metrics_not_an_error():
    dag = gfnrl.hypergrid(2, 8, backend="cpu")
    t = gfnrl.Trainer(dag, "tb", runs=2, seed=0, lr=0.01, lr_log_z=1e23)
    assert not t.evaluate()["diverged"].any()
    t.step(40)
    ev = t.evaluate()  # compare_to_target would raise "never terminates" for each run
    assert ev["diverged"].tolist() == [1, 1]
    assert np.isnan(ev["tv"]).all()
    healthy = gfnrl.Trainer(dag, "tb", runs=2, seed=0, lr=0.01)
    healthy.step(40)
    assert not healthy.evaluate()["diverged"].any()


def test_trainer_learns_and_exposes_its_tables():
    dag = gfnrl.hypergrid(2, 8, r0=0.1, backend="cpu")
    t = gfnrl.Trainer(dag, "tb", runs=2, seed=0, lr=0.03)
    before = t.evaluate()["tv"]
    t.step(1500)
    after = t.evaluate()
    assert np.all(after["tv"] < 0.05) and np.all(after["tv"] < before)
    e, x = t.policy(1)
    assert gfnrl.evaluate(dag, e, x)["tv"] == pytest.approx(after["tv"][1], abs=1e-6)
    assert t.parameters().shape[0] == 2 and t.steps_done == 1500
    assert t.trajectories_per_run == 1500 * 16
    assert t.last_loss().shape == (2,)
    src, dst, _ = dag.edges()
    pb = np.exp(t.backward_policy(0))  # uniform: 1 / (number of parents)
    parents = np.bincount(dst, minlength=dag.num_states)
    np.testing.assert_allclose(pb, 1.0 / parents[dst], rtol=1e-6)


def test_fm_alpha_weighs_the_reward_matching_term():
    # alpha = 0 leaves only flow matching (the flows need not match R: the exit flows stay where
    # the start put them), alpha = 1 is torchgfn's default; the same seed trains differently.
    dag = gfnrl.hypergrid(2, 6, backend="cpu")
    tv = {}
    for alpha in (0.0, 1.0):
        t = gfnrl.Trainer(dag, "fm", runs=1, seed=2, fm_alpha=alpha)
        t.step(300)
        tv[alpha] = t.evaluate()["tv"][0]
    assert tv[1.0] < tv[0.0]
    assert "fm_alpha" in gfnrl.trainer_options()


def test_trainer_refuses_bad_options():
    dag = gfnrl.hypergrid(2, 4, backend="cpu")
    with pytest.raises(ValueError, match="unknown Trainer option 'lrate'.*lr_log_z"):
        gfnrl.Trainer(dag, lrate=0.1)
    with pytest.raises(ValueError, match="unknown algorithm 'ppo'"):
        gfnrl.Trainer(dag, "ppo")
    with pytest.raises(ValueError, match="unknown pb"):
        gfnrl.Trainer(dag, pb="magic")
    with pytest.raises(ValueError, match="epsilon"):
        gfnrl.Trainer(dag, epsilon=2.0)
    with pytest.raises(ValueError, match=r"Trainer\(optimizer=3\): got int, but optimizer takes "
                                         r"a name \(adam, sgd, lazy-adam\)"):
        gfnrl.Trainer(dag, optimizer=3)
    with pytest.raises(ValueError, match="unknown replay priority 'rank'"):
        gfnrl.Trainer(dag, "softdqn", priority="rank")
    with pytest.raises(ValueError, match="one per run"):
        gfnrl.Trainer(dag, runs=3, lr=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"fm_alpha = -1 is out of range: must be finite and >= 0"):
        gfnrl.Trainer(dag, "fm", fm_alpha=-1.0)
    with pytest.raises(ValueError, match="out of range"):
        gfnrl.Trainer(dag).policy(5)


def test_study_writes_the_cli_csv(tmp_path):
    cli = cli_or_skip()
    args = ["--algos", "tb,softdqn/maxent,pg", "--runs", "2", "--seed", "5", "--steps", "30",
            "--eval-every", "10", "--ndim", "2", "--height", "5", "--backend", "cpu", "--quiet",
            "--spearman"]
    subprocess.run([cli, "study", *args, "--out", str(tmp_path / "cli.csv")], check=True,
                   capture_output=True)
    dag = gfnrl.hypergrid(2, 5, backend="cpu")
    res = gfnrl.study(dag, "tb,softdqn/maxent,pg", runs=2, seed=5, steps=30, eval_every=10,
                      out=str(tmp_path / "py.csv"), spearman=True)
    assert res["tb"]["spearman"].shape == (4, 2)
    assert list(res) == ["tb", "softdqn/maxent", "pg"] and res["pg"]["tv"].shape == (4, 2)
    strip = lambda p: [line.rsplit(",", 1)[0] for line in p.read_text().splitlines()]
    assert strip(tmp_path / "py.csv") == strip(tmp_path / "cli.csv")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".gfnrl-")] == []
    with pytest.raises(ValueError, match="unknown algorithm"):
        gfnrl.study(dag, "tb,ppo", steps=1, out=str(tmp_path / "never.csv"))
    assert not (tmp_path / "never.csv").exists()


def test_cuda_without_a_device_is_refused_in_python_words():
    if gfnrl.cuda_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ValueError, match=r"backend 'cuda': no usable CUDA device.*'cpu' or 'auto'"):
        gfnrl.hypergrid(2, 4, backend="cuda")


def test_study_jobs_side_by_side_equal_one_at_a_time(tmp_path):
    dag = gfnrl.hypergrid(2, 5, backend="cpu")
    kw = dict(runs=2, seed=3, steps=40, eval_every=20, spearman=True)
    gfnrl.study(dag, "tb,softdqn,fm", out=str(tmp_path / "one.csv"), jobs=1, **kw)
    gfnrl.study(dag, "tb,softdqn,fm", out=str(tmp_path / "three.csv"), jobs=3, **kw)
    strip = lambda p: [line.rsplit(",", 1)[0] for line in p.read_text().splitlines()]
    assert strip(tmp_path / "three.csv") == strip(tmp_path / "one.csv")
    assert len(strip(tmp_path / "one.csv")) == 1 + 3 * 3 * 2
    for bad in (0, -1, "two", 2.0, True, 5000):
        with pytest.raises(ValueError, match="jobs"):
            gfnrl.study(dag, "tb", steps=1, jobs=bad)


def test_study_jobs_a_failure_stops_the_others_and_is_what_is_raised():
    dag = gfnrl.hypergrid(2, 4, backend="cpu")
    seen = {"tb": 0, "db": 0, "fm": 0}

    def callback(label, evaluation):
        seen[label] += 1
        if label == "db" and seen[label] == 4:
            raise ValueError("boom")

    # tb, first in plan order, only stops because db failed: db's error is raised, not a stop.
    with pytest.raises(ValueError, match="boom"):
        gfnrl.study(dag, "tb,db,fm", runs=1, steps=20000, eval_every=1, jobs=3,
                    callback=callback)
    # The learners that never fail stopped at their next evaluation, long before their 20,001.
    assert seen["db"] == 4 and 0 < seen["tb"] < 1000 and 0 < seen["fm"] < 1000, seen


def test_study_callback_hears_every_evaluation_of_every_learner():
    dag = gfnrl.hypergrid(2, 4, backend="cpu")
    heard = []
    res = gfnrl.study(dag, "tb,db", runs=2, steps=20, eval_every=10, jobs=2,
                      callback=lambda label, ev: heard.append((label, ev["step"], ev["tv"].shape)))
    assert sorted(heard) == [(lab, s, (2,)) for lab in ("db", "tb") for s in (0, 10, 20)]
    assert list(res["tb"]["step"]) == [0, 10, 20]


def test_study_that_fails_leaves_no_file(tmp_path):
    dag = gfnrl.hypergrid(2, 4, backend="cpu")

    def callback(label, evaluation):
        if label == "db" and evaluation["step"] >= 200:
            raise ValueError("boom")

    out = tmp_path / "study.csv"
    for jobs in (1, 2):
        with pytest.raises(ValueError, match="boom"):
            gfnrl.study(dag, "db,tb", steps=100000, eval_every=100, out=str(out), jobs=jobs,
                        callback=callback)
        assert sorted(os.listdir(tmp_path)) == [], os.listdir(tmp_path)


@pytest.mark.parametrize("jobs", [1, 2])
def test_study_interrupted_by_ctrl_c_stops_and_leaves_no_file(tmp_path, jobs):
    import signal
    import time
    script = ("import gfnrl; dag = gfnrl.hypergrid(2, 8, backend='cpu'); print('go', flush=True); "
              f"gfnrl.study(dag, 'tb,db', steps=10**9, eval_every=100, jobs={jobs}, "
              f"out={str(tmp_path / 'study.csv')!r})")
    # SIGINT as a terminal delivers it, even when these tests run in a background job (which
    # starts with SIGINT ignored, and Python then installs no KeyboardInterrupt handler).
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "go"
    time.sleep(1.0)  # training
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("Ctrl-C did not stop the study within 60 s")
    assert p.returncode != 0 and "KeyboardInterrupt" in err, (p.returncode, err[-500:])
    assert sorted(os.listdir(tmp_path)) == [], os.listdir(tmp_path)


def test_hostile_inputs_are_refused_before_any_work(tmp_path):
    dag = gfnrl.hypergrid(2, 4, backend="cpu")
    e, x = gfnrl.policy_from_logits(dag, np.zeros((dag.num_states, dag.exit_action + 1)))
    for bad in (np.nan, np.inf):
        e2 = e.copy()
        e2[3] = bad
        with pytest.raises(ValueError, match=r"edge_log_pf\[0, 3\]"):
            gfnrl.evaluate(dag, e2, x)
    with pytest.raises(ValueError, match="height = 1000000000000 is out of range"):
        gfnrl.hypergrid(2, 10**12)
    with pytest.raises(ValueError, match="runs = 1000000000000 is out of range"):
        gfnrl.Trainer(dag, runs=10**12)
    with pytest.raises(ValueError, match="replay_batch"):
        gfnrl.Trainer(dag, "softdqn", replay_batch=10**12)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        gfnrl.load_dag(str(fifo))
    # An unwritable output fails before training (10^9 steps would not return).
    with pytest.raises(FileNotFoundError, match="cannot write"):
        gfnrl.study(dag, "tb", steps=10**9, out=str(tmp_path / "missing" / "s.csv"))


def test_a_long_step_call_stops_on_ctrl_c():
    import signal
    import threading

    dag = gfnrl.hypergrid(2, 4, backend="cpu")
    t = gfnrl.Trainer(dag)
    # Python's Ctrl-C handler, also in a background job (started with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            t.step(10**9)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert 0 < t.steps_done < 10**9
    t.step(1)  # the trainer stays usable


def test_the_torch_example_trains_and_reports_exact_tv():
    pytest.importorskip("torch")
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python",
                           "exact_tv_of_a_torch_policy.py")
    out = subprocess.run([sys.executable, example, "--steps", "60", "--eval-every", "30",
                          "--height", "6", "--hidden", "32"],
                         check=True, capture_output=True, text=True).stdout
    rows = [line.split() for line in out.splitlines() if line.split()[0].isdigit()]
    assert [r[0] for r in rows] == ["0", "30", "60"]
    tvs = [float(r[2]) for r in rows]
    assert all(0 <= tv <= 1 for tv in tvs) and tvs[-1] < tvs[0]


def test_the_python_api_refuses_what_is_wrong():
    dag = gfnrl.hypergrid(2, 4)
    src, _, _ = dag.edges()
    k = np.bincount(src, minlength=dag.num_states) + 1
    e, x = -np.log(k[src]).astype(np.float32), -np.log(k).astype(np.float32)
    # Rows that do not sum to 1: all zeros (probability 1 per action), log P_F + 5.
    for bad_e, bad_x in [(np.zeros_like(e, dtype=np.int64), np.zeros_like(x, dtype=np.int64)),
                         (e + 5, x + 5)]:
        with pytest.raises(ValueError, match=r"run 0, state 0: its probabilities .* sum to"):
            gfnrl.evaluate(dag, bad_e, bad_x)
    unchecked = gfnrl.evaluate(dag, e + 5, x + 5, check_rows=False)  # asked for: a leak
    assert unchecked["model_mass"] > 100
    fixed = gfnrl.evaluate(dag, e + 5, x + 5, renormalise=True)
    assert fixed["tv"] == pytest.approx(gfnrl.evaluate(dag, e, x)["tv"], abs=1e-6)
    assert fixed["model_mass"] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="complex"):
        gfnrl.evaluate(dag, e.astype(np.complex64), x)
    # from_edges: int64 ids past 2^31 are not wrapped, float ids not truncated, log R not inf.
    with pytest.raises(ValueError, match=r"src\[1\] = 4294967296"):
        gfnrl.Dag.from_edges(np.array([0, 2**32]), np.array([1, 2]), np.array([0, 0]),
                             np.array([-np.inf, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"dst\[0\] = 1.5"):
        gfnrl.Dag.from_edges([0], [1.5], [0], [-np.inf, 0.0])
    with pytest.raises(ValueError, match=r"log_reward\[1\] = 1e\+39"):
        gfnrl.Dag.from_edges([0], [1], [0], [-np.inf, 1e39])
    ok = gfnrl.Dag.from_edges([0], [1.0], [0], [-np.inf, 0.0])  # whole floats are ids
    assert ok.num_states == 2
    # One rule for fm's backward policy (the library's, as the CLI's).
    with pytest.raises(ValueError, match="fm has no backward policy"):
        gfnrl.Trainer(dag, "fm", pb="maxent")
    gfnrl.Trainer(dag, "fm", pb="none")
    # Python types and argument names in the messages.
    with pytest.raises(ValueError, match=r"Trainer\(lr='0.01'\): got str, but lr takes a float"):
        gfnrl.Trainer(dag, "tb", lr="0.01")
    # policy_from_logits: NaN / +inf logits and all -inf rows are refused by name.
    z = np.zeros((dag.num_states, dag.exit_action + 1))
    z[3, dag.exit_action] = np.nan
    with pytest.raises(ValueError, match=rf"logits\[3, {dag.exit_action}\] = nan"):
        gfnrl.policy_from_logits(dag, z)
    z[3, dag.exit_action] = np.inf
    with pytest.raises(ValueError, match="logits must be finite or -inf"):
        gfnrl.policy_from_logits(dag, z)
    z[3, :] = -np.inf
    with pytest.raises(ValueError, match="state 3: every valid action's logit is -inf"):
        gfnrl.policy_from_logits(dag, z)
    # The CLI's presets.
    t = gfnrl.hypergrid(preset="torchgfn")
    assert (t.num_states, t.exit_action) == (8**4, 4)
    assert t.log_z() == pytest.approx(math.log(0.1 * 8**4 + 0.5 * 4**4 + 2.0 * 2**4), abs=1e-5)
    assert gfnrl.hypergrid(preset="standard", height=5).num_states == 5**4
    assert "torchgfn" in gfnrl.hypergrid_preset_names()
    with pytest.raises(ValueError, match="preset"):
        gfnrl.hypergrid(preset="tiny")


def test_intermediate_log_rewards_let_forward_looking_flows_train_where_states_do_not_terminate():
    # Ising: -E(s) of the spins set so far at the partial states, -inf where log R is read.
    dag = gfnrl.ising(spins=4)
    mid = dag.intermediate_log_rewards()
    lr = dag.log_rewards()
    assert mid is not None and mid.shape == lr.shape
    assert np.all(np.isfinite(mid) == ~np.isfinite(lr))
    # The empty configuration has no interactions: -E = 0.
    assert mid[0] == 0.0
    assert gfnrl.hypergrid(2, 4).intermediate_log_rewards() is None
    t = gfnrl.Trainer(dag, "fldb", runs=2, seed=1)
    t.step(2000)
    assert all(tv < 0.05 for tv in t.evaluate()["tv"])

    # A chain 10 -> 20 -> 30 in the caller's ids, where only 30 terminates.
    src, dst, act = [0, 1, 0], [1, 2, 2], [0, 0, 1]
    log_r = [-np.inf, -np.inf, 0.5]
    plain = gfnrl.Dag.from_edges(src, dst, act, log_r)
    with pytest.raises(ValueError, match="has neither"):
        gfnrl.Trainer(plain, "fldb")
    fl = gfnrl.Dag.from_edges(src, dst, act, log_r, intermediate_log_reward=[0.0, -0.25, -np.inf])
    got = dict(zip(fl.labels().tolist(), fl.intermediate_log_rewards().tolist()))
    assert got == {0: 0.0, 1: -0.25, 2: -np.inf}
    gfnrl.Trainer(fl, "fldb").step(10)
    for bad, msg in (([0.0, np.nan, 0.0], r"intermediate_log_reward\[1\] = nan"),
                     ([0.0, np.inf, 0.0], r"intermediate_log_reward\[1\] = inf"),
                     ([0.0, 1e39, 0.0], r"intermediate_log_reward\[1\] = 1e\+39"),
                     ([0.0, 0.0], "has 2 entries but log_reward 3")):
        with pytest.raises(ValueError, match=msg):
            gfnrl.Dag.from_edges(src, dst, act, log_r, intermediate_log_reward=bad)


def test_an_action_table_evaluates_as_its_edge_tables():
    """_evaluate_action_table (a policy network's [N, actions] output, read in place by the
    sweep, or gathered natively for the bounds) against gfnrl.evaluate on the same policy's
    edge tables, P_T put in a caller's order; a NaN it reads is named by its entry."""
    dag = gfnrl.hypergrid(3, 5, backend="cpu")
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(dag.num_states, dag.exit_action + 2))  # one spare column
    e, x = gfnrl.policy_from_logits(dag, logits[:, :dag.exit_action + 1])
    table = np.full(logits.shape, -np.inf, dtype=np.float32)
    src, _, act = (np.asarray(a) for a in dag.edges())
    table[src, act] = e
    table[:, dag.exit_action] = x
    want = gfnrl.evaluate(dag, e, x, pb="uniform")
    order = np.concatenate([rng.permutation(dag.num_states), [-1]]).astype(np.int64)
    for pb in ((), ("uniform",)):
        got = gfnrl._gfnrl._evaluate_action_table(dag, table, dag.exit_action, order, *pb)
        for k in ("tv", "kl", "kl_reverse", "jsd", "model_mass") + (("elbo", "eubo") if pb else ()):
            assert got[k] == want[k], k
        np.testing.assert_array_equal(got["p_t"][:-1], want["p_t"][order[:-1]])
        assert got["p_t"][-1] == 0.0
    bad = table.copy()
    bad[7, dag.exit_action + 1] = np.nan  # the spare column: never read
    gfnrl._gfnrl._evaluate_action_table(dag, bad, dag.exit_action)
    s = int(src[3])
    bad[s, act[3]] = np.nan
    for pb in ((), ("uniform",)):
        with pytest.raises(ValueError, match=rf"log_probs\[{s}, {act[3]}\] = nan"):
            gfnrl._gfnrl._evaluate_action_table(dag, bad, dag.exit_action, None, *pb)
    with pytest.raises(ValueError, match=r"exit_column = 5 is out of range \[0, 5\)"):
        gfnrl._gfnrl._evaluate_action_table(dag, table, 5)
    with pytest.raises(ValueError, match="the DAG has action id 2 but the table is 2 wide"):
        gfnrl._gfnrl._evaluate_action_table(dag, np.ascontiguousarray(table[:, :2]), 1)
    with pytest.raises(ValueError, match=r"order\[0\] = 125 is not below the number of values, 125"):
        gfnrl._gfnrl._evaluate_action_table(dag, table, dag.exit_action,
                                            np.array([125], dtype=np.int64))


def test_progress_lines_go_to_stderr_only_when_asked(capsys):
    dag = gfnrl.hypergrid(2, 4, backend="cpu")
    gfnrl.Trainer(dag, "db", runs=2, seed=1).train(40, 20)
    assert capsys.readouterr().err == ""
    curves = gfnrl.Trainer(dag, "db", runs=2, seed=1).train(40, 20, progress=True)
    err = capsys.readouterr().err
    final = f"TV mean {curves['tv'][-1].mean():.4f}"
    assert "[gfnrl] db" in err and "step 40/40 (100%)" in err and "ETA" in err, err
    assert final in err.splitlines()[-1], (final, err)
    gfnrl.study(dag, "tb,fm", runs=1, steps=10, eval_every=5, progress=True, jobs=2)
    err = capsys.readouterr().err
    assert "[gfnrl] tb" in err and "[gfnrl] fm" in err and "step 10/10" in err, err
