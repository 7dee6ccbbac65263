#!/usr/bin/env python3
"""gfnrl.evaluate from Python against the same exact computation from C++.

Evaluates the uniform policy of a hypergrid (default 4-D H=20, 160,000 states) `--repeats`
times through gfnrl.evaluate (numpy in, dict out) and prints the median time per call, the bytes
the call moves across the boundary (both tables in, P_T out) and the rate; with --cli it also
times `gfnrl-bench-exact`'s marginals on the same grid (the C++ call) for the ratio.
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
    ap.add_argument("--cli", help="gfnrl-bench-exact executable, to time the C++ marginals")
    a = ap.parse_args()
    dag = gfnrl.hypergrid(a.ndim, a.height, backend="cpu")
    e, x = gfnrl.policy_from_logits(dag, np.zeros((dag.num_states, dag.exit_action + 1)))
    gfnrl.evaluate(dag, e, x)  # warm-up
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        gfnrl.evaluate(dag, e, x)
        times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    moved = e.nbytes + x.nbytes + 8 * dag.num_states  # tables in, float64 P_T out
    print(f"python evaluate {a.ndim}-D H={a.height}: {dag.num_states} states, {dag.num_edges} "
          f"edges; median {t * 1e3:.2f} ms/call over {a.repeats}; {moved / 1e6:.1f} MB across "
          f"the boundary ({moved / t / 1e9:.2f} GB/s)")
    if a.cli:
        out = subprocess.run([a.cli, "--sizes", f"{a.ndim}x{a.height}", "--backend", "cpu",
                              "--json", "--repeats", str(a.repeats)],
                             check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            j = json.loads(line)
            if "marginal" in json.dumps(j):
                print("C++:", line)


if __name__ == "__main__":
    main()
