#!/usr/bin/env python3
"""Cross-check gfnrl's environments against torchgfn's, exactly.

On every environment both libraries define (hypergrid, DiscreteEBM = ising, PerfectBinaryTree =
binary-tree, SetAddition = set-addition), this script enumerates torchgfn's own environment
through its masks and its step function, computes the exact terminating distribution of the
uniform policy (uniform over the actions its forward mask allows, exit included) by pushing
probability mass level by level, and compares it with `gfnrl eval --policy uniform --out-pt` on
the same environment: the number of terminating states, the largest difference of P_T and their
total variation. Where torchgfn defines the reward (hypergrid, DiscreteEBM) it also compares R/Z.

It needs torch and torchgfn (pip install torchgfn) and is not part of CI. Usage:

    python3 tools/crosscheck_torchgfn.py [--gfnrl build-cpu/bin/gfnrl] [--out table.md]

Exit status: 0 when every row agrees to --tolerance, 1 when one does not or torchgfn is missing,
2 for usage errors.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile


def gfnrl_uniform_pt(cli: str, env_args: list[str]) -> list[dict]:
    """Rows of gfnrl's --out-pt CSV for the uniform policy (state, label, [x0..], p_t, target)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "pt.csv")
        subprocess.run([cli, "eval", "--policy", "uniform", "--backend", "cpu", "--quiet",
                        "--out-pt", out] + env_args, check=True, stdout=subprocess.DEVNULL)
        with open(out, newline="") as f:
            return list(csv.DictReader(f))


def torchgfn_uniform_pt(env, key_of):
    """Exact P_T of the uniform policy on a torchgfn DiscreteEnv, by its masks and steps.

    Returns ({key: probability}, {key: the state's tensor as a list}) over the states where the
    exit was taken, keyed by key_of(that list). Every torchgfn environment used here is graded (each step moves
    one level down), so mass is pushed level by level."""
    import torch

    level = {None: (env.reset(batch_shape=(1,)), 1.0)}
    terminal: dict = {}
    tensors: dict = {}
    exit_action = env.n_actions - 1
    while level:
        nxt: dict = {}
        for states, mass in level.values():
            allowed = [a for a in range(env.n_actions) if bool(states.forward_masks[0, a])]
            share = mass / len(allowed)
            for a in allowed:
                if a == exit_action:
                    x = states.tensor[0].tolist()
                    k = key_of(x)
                    terminal[k] = terminal.get(k, 0.0) + share
                    tensors[k] = x
                    continue
                actions = env.actions_from_tensor(torch.tensor([[a]], dtype=torch.long))
                child = env._step(states, actions)
                ck = tuple(child.tensor[0].flatten().tolist())
                if ck in nxt:
                    nxt[ck] = (nxt[ck][0], nxt[ck][1] + share)
                else:
                    nxt[ck] = (child, share)
        level = nxt
    return terminal, tensors


def torchgfn_target(env, keys_and_states):
    """R/Z over the given terminating states from torchgfn's own log_reward."""
    import torch

    tensors = torch.stack([torch.tensor(s) for _, s in keys_and_states])
    states = env.states_from_tensor(tensors)
    log_r = env.log_reward(states).double()
    w = torch.exp(log_r - log_r.max())
    w = w / w.sum()
    return {k: float(p) for (k, _), p in zip(keys_and_states, w)}


def torchgfn_ising_torus(side):
    """torchgfn's Ising example's coupling pattern (tutorials/examples/train_ising.py, make_J):
    right and down neighbours of a side x side grid, then the wraps of every row and column."""
    import torch

    n = side * side
    j = torch.zeros(n, n)
    for k in range(n):
        for m in range(k):
            (x1, y1), (x2, y2) = divmod(k, side), divmod(m, side)
            if (x1 == x2 and abs(y2 - y1) == 1) or (y1 == y2 and abs(x2 - x1) == 1):
                j[k, m] = j[m, k] = 1
    for k in range(side):
        j[k * side, (k + 1) * side - 1] = j[(k + 1) * side - 1, k * side] = 1
        j[k, k + n - side] = j[k + n - side, k] = 1
    return j


def torchgfn_hypergrid(ndim, height, r0, r1, r2):
    from gfn.gym import HyperGrid
    try:  # torchgfn >= 2: reward functions by name
        return HyperGrid(ndim=ndim, height=height, reward_fn_str="original",
                         reward_fn_kwargs={"R0": r0, "R1": r1, "R2": r2})
    except TypeError:
        return HyperGrid(ndim=ndim, height=height, R0=r0, R1=r1, R2=r2)


def coords_row(ndim):
    """A gfnrl row's key on a hypergrid: its coordinates."""
    return lambda row: tuple(int(row[f"x{d}"]) for d in range(ndim))


def ternary(x):
    """torchgfn's DiscreteEBM index, gfnrl's ising label."""
    v = 0
    for xi in x:
        v = 3 * v + int(xi) + 1
    return v


def binary(x):
    """torchgfn's SetAddition index, gfnrl's set-addition label."""
    v = 0
    for xi in x:
        v = 2 * v + int(xi)
    return v


def make_cases(gfn):
    """(name, torchgfn env, gfnrl flags, key of a torchgfn state, key of a gfnrl row, rewards?)"""
    from gfn.gym import DiscreteEBM
    from gfn.gym.discrete_ebm import IsingModel
    from gfn.gym.perfect_tree import PerfectBinaryTree
    from gfn.gym.set_addition import SetAddition
    import torch

    hypergrid = torchgfn_hypergrid
    label = lambda row: int(row["label"])  # noqa: E731
    ones = lambda s: torch.ones(s.shape[0])  # noqa: E731  (P_T of uniform ignores R)
    ring_j = torch.zeros(5, 5)
    for i in range(5):
        ring_j[i, (i + 1) % 5] = ring_j[(i + 1) % 5, i] = 1
    torus = torchgfn_ising_torus

    cases = [
        ("hypergrid D=2 H=8", hypergrid(2, 8, 0.1, 0.5, 2.0),
         ["--ndim", "2", "--height", "8", "--r0", "0.1"], lambda x: tuple(int(v) for v in x),
         coords_row(2), True),
        ("hypergrid D=3 H=8", hypergrid(3, 8, 0.1, 0.5, 2.0),
         ["--ndim", "3", "--height", "8", "--r0", "0.1"], lambda x: tuple(int(v) for v in x),
         coords_row(3), True),
        ("DiscreteEBM n=4 (J = ones)", DiscreteEBM(4),
         ["--env", "ising", "--spins", "4", "--coupling", "all", "--coupling-constant", "1"],
         ternary, label, True),
        ("DiscreteEBM ring n=5, J 0.44, alpha 0.5",
         DiscreteEBM(5, energy=IsingModel(0.44 * ring_j), alpha=0.5),
         ["--env", "ising", "--spins", "5", "--coupling", "ring", "--coupling-constant", "0.44",
          "--beta", "0.5"], ternary, label, True),
        ("DiscreteEBM 3 x 3 torus, J 0.44 (the Ising example)",
         DiscreteEBM(9, energy=IsingModel(0.44 * torus(3)), alpha=1.0),
         ["--env", "ising", "--spins", "9", "--coupling", "lattice", "--coupling-constant", "0.44"],
         ternary, label, True),
        ("PerfectBinaryTree depth 4", PerfectBinaryTree(reward_fn=ones, depth=4),
         ["--env", "binary-tree", "--depth", "4"], lambda x: int(x[0]), label, False),
        ("SetAddition 6 items, at most 3", SetAddition(6, 3, reward_fn=ones),
         ["--env", "set-addition", "--items", "6", "--max-items", "3"], binary, label, False),
        ("SetAddition 5 items, 2, fixed length",
         SetAddition(5, 2, reward_fn=ones, fixed_length=True),
         ["--env", "set-addition", "--items", "5", "--max-items", "2", "--fixed-length"],
         binary, label, False),
    ]
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gfnrl", default=shutil.which("gfnrl") or "build-cpu/bin/gfnrl",
                        help="the gfnrl CLI (default: on PATH, else build-cpu/bin/gfnrl)")
    parser.add_argument("--tolerance", type=float, default=1e-6,
                        help="largest |P_T difference| counted as agreement (float32 sweeps)")
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args()
    if not os.path.exists(args.gfnrl) and shutil.which(args.gfnrl) is None:
        print(f"crosscheck: --gfnrl {args.gfnrl}: no such program", file=sys.stderr)
        return 2
    try:
        import gfn  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print(f"crosscheck: torchgfn is not installed ({e}); pip install torchgfn", file=sys.stderr)
        return 1
    import gfn

    rows = ["| environment (torchgfn) | gfnrl flags | terminating states (torchgfn / gfnrl) | "
            "max \\|ΔP_T\\| uniform | TV uniform | TV of R/Z |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]
    ok = True
    for name, env, flags, key_of, row_key, rewards in make_cases(gfn):
        theirs, tensors = torchgfn_uniform_pt(env, key_of)
        ours_rows = gfnrl_uniform_pt(args.gfnrl, flags)
        ours = {row_key(r): float(r["p_t"]) for r in ours_rows}
        keys = set(theirs) | set(ours)
        diff = max(abs(theirs.get(k, 0.0) - ours.get(k, 0.0)) for k in keys)
        tv = 0.5 * sum(abs(theirs.get(k, 0.0) - ours.get(k, 0.0)) for k in keys)
        tv_target = "— (user reward)"
        if rewards:
            by_key = {}
            for r in ours_rows:
                by_key[row_key(r)] = float(r["target"])
            # torchgfn's reward on the tensors of its own terminating states.
            want = torchgfn_target(env, list(tensors.items()))
            tv_r = 0.5 * sum(abs(want[k] - by_key.get(k, 0.0)) for k in set(want) | set(by_key))
            tv_target = f"{tv_r:.1e}"
            ok &= tv_r < 1e-5
        agree = len(theirs) == len(ours) and diff <= args.tolerance
        ok &= agree
        rows.append(f"| {name} | `{' '.join(flags)}` | {len(theirs)} / {len(ours)} | "
                    f"{diff:.1e} | {tv:.1e} | {tv_target} |")
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    print(f"\ntorchgfn {getattr(gfn, '__version__', '?')}\n{table}")
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
