#!/usr/bin/env python3
"""Plot exact-TV convergence curves written by `gfnrl train` / `gfnrl study`.

One curve per learner: the mean TV across runs against trajectories sampled per run (log x axis,
log y axis), with a band from the minimum to the maximum run; a learner that samples none (the
exact gradient: trajectories 0 throughout) is plotted against its steps. Needs matplotlib only.

usage: python3 tools/plot_convergence.py study.csv [-o study.png] [--title TEXT] [--linear-y]
"""
import argparse
import csv

from plotting import fail, png_beside, pyplot
from collections import defaultdict

REQUIRED = ["algo", "run", "seed", "step", "trajectories", "tv"]


def read_curves(path):
    """{algo: {trajectories (or step, for exact-gradient curves): [tv of each run]}} from the CSV
    contract of gfnrl train."""
    curves = defaultdict(lambda: defaultdict(list))
    by_step = defaultdict(lambda: defaultdict(list))
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            fail(f"plot_convergence: {path} lacks column(s) {', '.join(missing)} "
                     f"(expected the header of gfnrl train: {','.join(REQUIRED)},...)")
        for row in reader:
            curves[row["algo"]][int(row["trajectories"])].append(float(row["tv"]))
            by_step[row["algo"]][int(row["step"])].append(float(row["tv"]))
    if not curves:
        fail(f"plot_convergence: {path} has no rows")
    for algo in list(curves):
        if set(curves[algo]) == {0}:  # nothing sampled: the exact gradient, by step
            curves[algo + " (exact, x = steps)"] = by_step[algo]
            del curves[algo]
    return curves


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", help="CSV from gfnrl train or gfnrl study")
    ap.add_argument("-o", "--out", help="PNG to write (default: the CSV name with .png)")
    ap.add_argument("--title", default=None, help="figure title")
    ap.add_argument("--linear-y", action="store_true", help="linear TV axis instead of log")
    args = ap.parse_args()
    plt = pyplot("plot_convergence")

    curves = read_curves(args.csv)
    out = args.out or png_beside(args.csv, ".csv")
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    # Labels "learner/pb" (gfnrl study --preset backward): colour by learner, dash by P_B.
    learners = list(dict.fromkeys(k.split("/")[0] for k in curves))
    variants = list(dict.fromkeys(k.split("/")[1] for k in curves if "/" in k))
    dashes = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3))]
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for algo, points in curves.items():
        name, _, variant = algo.partition("/")
        style = dict(color=palette[learners.index(name) % len(palette)],
                     ls=dashes[variants.index(variant) % len(dashes)] if variant else "-")
        xs = sorted(x for x in points if x > 0)  # step 0 cannot sit on a log axis
        mean = [sum(points[x]) / len(points[x]) for x in xs]
        lo = [min(points[x]) for x in xs]
        hi = [max(points[x]) for x in xs]
        runs = max(len(points[x]) for x in xs) if xs else 0
        line, = ax.plot(xs, mean, label=f"{algo} ({runs} runs)", lw=1.8, **style)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xscale("log")
    if not args.linear_y:
        ax.set_yscale("log")
    ax.set_xlabel("trajectories sampled per run")
    ax.set_ylabel("exact TV(P_T, R/Z)")
    ax.set_title(args.title or f"exact TV convergence ({args.csv})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7 if len(curves) > 10 else 8, ncol=2 if len(curves) > 10 else 1,
              handlelength=3.5)
    fig.tight_layout()
    fig.savefig(out)
    print(f"plot_convergence: wrote {out}")


if __name__ == "__main__":
    main()
