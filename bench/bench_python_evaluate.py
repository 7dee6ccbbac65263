#!/usr/bin/env python3
"""gfnrl.evaluate from Python against the same exact computation from C++.

Evaluates the uniform policy of a hypergrid (default 4-D H=20, 160,000 states) `--repeats`
times through gfnrl.evaluate (numpy in, dict out, pb=None: the metrics without the variational
bounds, as compare_to_target computes them) and prints the median time per call, the bytes
the call moves across the boundary (both tables in, P_T out) and the rate; with --cli it also
times the same evaluation from C++ (`gfnrl-bench-exact`'s evaluate_s: the marginals, then
compare_to_target with log Z known) and prints the ratio. The two are measured in alternating
rounds (--rounds) and the medians of the rounds compared, so that a noisy machine slows both alike.
With --torchgfn it times gfnrl.torchgfn.ExactEvaluator.evaluate on torchgfn's HyperGrid of the same
size with an MLP forward estimator (torchgfn's default: 2 hidden layers of --hidden units) and
splits each call into the estimator's module, torchgfn's masks and to_probability_distribution,
and gfnrl's part (the NaN checks, the sweep reading the [N, A] table in place, the metrics and P_T
in torchgfn's order): the overhead gfnrl adds
beyond the estimator's own forward pass, against the C++ evaluate when --cli is given.
Usage: python3 bench/bench_python_evaluate.py [--ndim 4 --height 20 --repeats 20 --cli PATH]
                                              [--torchgfn --hidden 256]
"""

import argparse
import json
import statistics
import subprocess
import time

import numpy as np

import gfnrl


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ndim", type=int, default=4)
    ap.add_argument("--height", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cli", help="gfnrl-bench-exact executable, to time the C++ evaluation")
    ap.add_argument("--torchgfn", action="store_true",
                    help="time gfnrl.torchgfn.ExactEvaluator on torchgfn's HyperGrid instead")
    ap.add_argument("--hidden", type=int, default=256, help="--torchgfn: MLP width (256)")
    a = ap.parse_args()
    if min(a.ndim, a.height, a.repeats, a.rounds, a.hidden) < 1:
        ap.error("--ndim, --height, --repeats, --rounds and --hidden must be >= 1")
    if a.torchgfn:
        return torchgfn_main(a)
    dag = gfnrl.hypergrid(a.ndim, a.height, backend="cpu")
    e, x = gfnrl.policy_from_logits(dag, np.zeros((dag.num_states, dag.exit_action + 1)))
    gfnrl.evaluate(dag, e, x, pb=None)  # warm-up
    py, cpp = [], []
    for _ in range(a.rounds):
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            gfnrl.evaluate(dag, e, x, pb=None)
            times.append(time.perf_counter() - t0)
        py.append(statistics.median(times))
        if a.cli:
            cpp.append(cpp_evaluate_seconds(a))
    t = statistics.median(py)
    moved = e.nbytes + x.nbytes + 8 * dag.num_states  # tables in, float64 P_T out
    print(f"python evaluate {a.ndim}-D H={a.height}: {dag.num_states} states, {dag.num_edges} "
          f"edges; median {t * 1e3:.2f} ms/call ({a.rounds} rounds of {a.repeats}); "
          f"{moved / 1e6:.1f} MB across the boundary ({moved / t / 1e9:.2f} GB/s)")
    bounds = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        gfnrl.evaluate(dag, e, x, pb="uniform")
        bounds.append(time.perf_counter() - t0)
    print(f"with the ELBO/EUBO (pb='uniform'): median "
          f"{statistics.median(bounds) * 1e3:.2f} ms/call")
    if a.cli:
        c = statistics.median(cpp)
        print(f"C++ evaluate (marginals + compare_to_target): median {c * 1e3:.2f} ms/call; "
              f"python / C++ = {t / c:.2f}")


def torchgfn_main(a):
    try:
        import torch
        from gfn.estimators import DiscretePolicyEstimator
        from gfn.gym import HyperGrid
        from gfn.preprocessors import KHotPreprocessor
        from gfn.utils.modules import MLP
    except ImportError as e:
        raise SystemExit(f"--torchgfn needs pip install 'gfnrl[torchgfn]' ({e})")
    from gfnrl.torchgfn import ExactEvaluator

    torch.manual_seed(0)
    env = HyperGrid(ndim=a.ndim, height=a.height, validate_modes=False)
    t0 = time.perf_counter()
    ev = ExactEvaluator(env)
    build = time.perf_counter() - t0
    pre = KHotPreprocessor(a.height, a.ndim)
    pf = DiscretePolicyEstimator(MLP(pre.output_dim, env.n_actions, hidden_dim=a.hidden),
                                 env.n_actions, preprocessor=pre)
    states = [env.states_from_tensor(ev.states[i:i + ev.chunk_size].clone())
              for i in range(0, ev.states.shape[0], ev.chunk_size)]

    def module_only():
        with torch.no_grad():
            for st in states:
                pf(st)

    def log_probs():
        ev._log_probs(pf, False)

    lp = ev._log_probs(pf, False)

    def ours():  # what gfnrl adds: the NaN check, the sweep reading the table in place, the
        ev._exact_from(lp, None)  # metrics and P_T in torchgfn's order

    def whole():
        ev.evaluate(pf, bounds=False)

    def whole_bounds():
        ev.evaluate(pf)

    ev.evaluate(pf)  # warm-up
    m, cpp = timed_rounds(a, (("module", module_only), ("log_probs", log_probs), ("ours", ours),
                              ("whole", whole), ("bounds", whole_bounds)))
    print_torchgfn(a, env, ev, build, torch, m, cpp)


def timed_rounds(a, parts):
    """Medians over --rounds of each part's median of --repeats calls, and (with --cli) the C++
    evaluate's seconds per round, measured between the rounds."""
    med, cpp = {}, []
    for _ in range(a.rounds):
        for name, fn in parts:
            times = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            med.setdefault(name, []).append(statistics.median(times))
        if a.cli:
            cpp.append(cpp_evaluate_seconds(a))
    return {k: statistics.median(v) for k, v in med.items()}, cpp


def print_torchgfn(a, env, ev, build, torch, m, cpp):
    ours = m["ours"]
    n = ev.dag.num_states
    print(f"gfnrl.torchgfn {a.ndim}-D H={a.height}: {n} states, {ev.dag.num_edges} edges, built "
          f"in {build:.2f} s; MLP 2x{a.hidden}, torch {torch.__version__} on "
          f"{torch.get_num_threads()} threads; medians of {a.rounds} rounds of {a.repeats}")
    print(f"  evaluate (no bounds)       {m['whole'] * 1e3:8.2f} ms/call")
    print(f"    estimator's module       {m['module'] * 1e3:8.2f} ms ({m['module'] / m['whole']:.0%})")
    print(f"    torchgfn masks + dist    {(m['log_probs'] - m['module']) * 1e3:8.2f} ms")
    # the table scanned and read by the sweep, the per-slot index, visits/P_T written, P_T out
    moved = 4 * (2 * n * env.n_actions + ev.dag.num_edges + 2 * n) + 8 * n
    print(f"    gfnrl (checks + exact)   {ours * 1e3:8.2f} ms; {moved / 1e6:.1f} MB moved "
          f"(log-probs [N, D+1] read twice, E slot positions, 2N written, P_T out): "
          f"{moved / ours / 1e9:.2f} GB/s")
    print(f"  evaluate (ELBO/EUBO, uniform P_B) {m['bounds'] * 1e3:8.2f} ms/call")
    if a.cli:
        c = statistics.median(cpp)
        print(f"  C++ evaluate {c * 1e3:.2f} ms/call; gfnrl's overhead beyond the forward pass "
              f"/ C++ = {ours / c:.2f}")


def cpp_evaluate_seconds(a):
    out = subprocess.run([a.cli, "--sizes", f"{a.ndim}x{a.height}", "--backend", "cpu", "--json",
                          "--layout", "csr", "--repeats", str(a.repeats)],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return next(r["evaluate_s"] for r in rows if "evaluate_s" in r)


if __name__ == "__main__":
    main()
