#!/usr/bin/env python3
"""Plot where a policy's mass goes on a hypergrid, from `gfnrl train --snapshot-out` or
`gfnrl eval --out-pt` CSVs.

One PNG per CSV. Each row is a snapshot (step); its three heatmaps are the target R/Z, the policy's
exact terminating distribution P_T, and P_T - R/Z (red: too much mass, blue: too little). R/Z
and P_T share one colour scale across every row and column, the target's (P_T above the target's
largest mass takes the top colour), and so do the differences, so colours compare across
snapshots. Grids with more than two dimensions are shown as the 2-D
marginal over --axes (summing the others). Needs matplotlib only.

usage: python3 tools/plot_distribution.py snapshots.csv [more.csv ...] [--axes 0,1]
                                          [--steps 0,500,20000] [--rows 4] [-o OUT.png]
"""
import argparse
import csv
import os

from plotting import fail, png_beside, pyplot
from collections import defaultdict


def read_snapshots(path):
    """(ndim, {step: {coords: (p_t, target)}}) from a distribution CSV."""
    try:
        f = open(path, newline="")
    except OSError as e:
        fail(f"plot_distribution: cannot read {path}: {e}")
    with f:
        reader = csv.DictReader(f)
        names = reader.fieldnames or []
        axes = [c for c in names if c.startswith("x") and c[1:].isdigit()]
        if not axes or "p_t" not in names or "target" not in names:
            fail(f"plot_distribution: {path} has no x0,x1,... columns or no p_t/target "
                     "(write it for a hypergrid with gfnrl train --snapshot-out or gfnrl eval "
                     "--out-pt)")
        snaps = defaultdict(dict)
        for row in reader:
            step = int(row["step"]) if "step" in row else 0
            snaps[step][tuple(int(row[a]) for a in axes)] = (float(row["p_t"]),
                                                             float(row["target"]))
    if not snaps:
        fail(f"plot_distribution: {path} has no rows")
    return len(axes), dict(sorted(snaps.items()))


def marginal(points, axes, height):
    """The 2-D arrays (P_T, target) summed over every axis but `axes`."""
    pt = [[0.0] * height for _ in range(height)]
    tg = [[0.0] * height for _ in range(height)]
    for x, (p, t) in points.items():
        i, j = x[axes[0]], x[axes[1]]
        pt[i][j] += p
        tg[i][j] += t
    return pt, tg


def pick_steps(steps, wanted, rows):
    if wanted:
        missing = [s for s in wanted if s not in steps]
        if missing:
            fail(f"plot_distribution: no snapshot at step(s) {missing} (have {steps})")
        return wanted
    if len(steps) <= rows:
        return steps
    return [steps[round(k * (len(steps) - 1) / (rows - 1))] for k in range(rows)]


def plot(path, args, plt):
    ndim, snaps = read_snapshots(path)
    axes = [int(a) for a in args.axes.split(",")]
    if len(axes) != 2 or any(a < 0 or a >= ndim for a in axes) or axes[0] == axes[1]:
        fail(f"plot_distribution: --axes {args.axes}: two distinct axes in 0..{ndim - 1}")
    height = 1 + max(max(x) for pts in snaps.values() for x in pts)
    steps = pick_steps(list(snaps), [int(s) for s in args.steps.split(",")] if args.steps else [],
                       args.rows)
    fig, grid = plt.subplots(len(steps), 3, figsize=(9.5, 3.0 * len(steps)), dpi=100,
                             squeeze=False)
    maps = {step: marginal(snaps[step], axes, height) for step in steps}
    diffs = {step: [[pt[i][j] - tg[i][j] for j in range(height)] for i in range(height)]
             for step, (pt, tg) in maps.items()}
    # One scale for every row, the target's: a colour means the same mass in every snapshot, and
    # P_T above the target's largest mass shows in the top colour (the colour bar's arrow).
    top = max(max(max(row) for row in tg) for _, tg in maps.values()) or 1e-12
    over = any(max(max(row) for row in pt) > top for pt, _ in maps.values())
    span = max(abs(v) for d in diffs.values() for row in d for v in row) or 1e-12
    for r, step in enumerate(steps):
        pt, tg = maps[step]
        tv = 0.5 * sum(abs(p - t) for p, t in snaps[step].values())
        panels = [(tg, "target R/Z", "viridis", 0, top), (pt, "P_T", "viridis", 0, top),
                  (diffs[step], f"P_T - R/Z (TV {tv:.4f})", "RdBu_r", -span, span)]
        for c, (data, name, cmap, lo, hi) in enumerate(panels):
            ax = grid[r][c]
            im = ax.imshow(data, origin="lower", cmap=cmap, vmin=lo, vmax=hi)
            ax.set_title(f"step {step}: {name}" if ndim == 2 else
                         f"step {step}: {name}, axes {axes[0]},{axes[1]}", fontsize=8)
            ax.set_xlabel(f"x{axes[1]}", fontsize=7)
            ax.set_ylabel(f"x{axes[0]}", fontsize=7)
            ax.tick_params(labelsize=6)
            extend = "max" if over and c == 1 else "neither"
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                         extend=extend).ax.tick_params(labelsize=6)
    shape = f"{ndim}-D H={height}" + (f", marginal over axes {axes[0]},{axes[1]}" if ndim > 2 else "")
    fig.suptitle(args.title or f"where the mass goes: exact P_T against R/Z on the hypergrid "
                               f"{shape} ({os.path.basename(path)})", fontsize=9)
    fig.tight_layout()
    out = args.out if args.out and len(args.csv) == 1 else png_beside(path, ".csv")
    fig.savefig(out)
    plt.close(fig)
    print(f"plot_distribution: wrote {out}")


def main():
    ap = argparse.ArgumentParser(description="\n\n".join(__doc__.split("\n\n")[:2]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="+", help="CSVs from gfnrl train --snapshot-out / eval --out-pt")
    ap.add_argument("-o", "--out", help="PNG to write (one CSV only; default: the CSV name .png)")
    ap.add_argument("--axes", default="0,1", help="the two grid axes to show (default 0,1)")
    ap.add_argument("--steps", default="", help="comma list of snapshot steps to show")
    ap.add_argument("--rows", type=int, default=4,
                    help="without --steps: this many snapshots, evenly spread (default 4)")
    ap.add_argument("--title", default=None, help="figure title")
    args = ap.parse_args()
    if args.rows < 1:
        fail(f"plot_distribution: --rows {args.rows} must be >= 1")
    plt = pyplot("plot_distribution")
    for path in args.csv:
        plot(path, args, plt)


if __name__ == "__main__":
    main()
