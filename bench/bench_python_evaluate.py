#!/usr/bin/env python3
"""gfnrl.evaluate from Python against the same exact computation from C++.

Evaluates the uniform policy of a hypergrid (default 4-D H=20, 160,000 states) `--repeats`
times through gfnrl.evaluate (numpy in, dict out, pb=None: the metrics without the variational
bounds, as compare_to_target computes them) and prints the median time per call, the bytes
the call moves across the boundary (both tables in, P_T out) and the rate; with --cli it also
times the same evaluation from C++ (`gfnrl-bench-exact`'s evaluate_s: the marginals, then
compare_to_target with log Z known) and prints the ratio. The two are measured in alternating
rounds (--rounds) and the medians of the rounds compared, so that a noisy machine slows both alike.
Usage: python3 bench/bench_python_evaluate.py [--ndim 4 --height 20 --repeats 20 --cli PATH]
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
    a = ap.parse_args()
    if min(a.ndim, a.height, a.repeats, a.rounds) < 1:
        ap.error("--ndim, --height, --repeats and --rounds must be >= 1")
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


def cpp_evaluate_seconds(a):
    out = subprocess.run([a.cli, "--sizes", f"{a.ndim}x{a.height}", "--backend", "cpu", "--json",
                          "--repeats", str(a.repeats)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])["evaluate_s"]


if __name__ == "__main__":
    main()
