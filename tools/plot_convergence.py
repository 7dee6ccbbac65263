#!/usr/bin/env python3
"""Plot exact-TV convergence curves written by `gfnrl train` / `gfnrl study`.

One curve per learner: the mean TV across runs against trajectories sampled per run (x axis
logarithmic beyond the first evaluation, linear from step 0 to it; log y axis), with a shaded
band from the run with the lowest to the run with the highest TV at each evaluation; a learner
that samples none (the exact gradient: trajectories 0 throughout) is plotted against its steps.
The default title says what was run: the learners, runs, steps and trajectories per step from
the CSV, and the environment from the command's --json summary (STEM.json beside the CSV, or
--json FILE) when there is one. Needs matplotlib only.

usage: python3 tools/plot_convergence.py study.csv [-o study.png] [--json study.json]
                                         [--title TEXT] [--linear-y]
"""
import argparse
import csv
import json
import os

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


def environment(summary_path):
    """'hypergrid 2-D H=16' (or the env's name) from a gfnrl --json summary; '' without one."""
    try:
        with open(summary_path) as f:
            j = json.loads(f.readline())
    except (OSError, ValueError):
        return ""
    env = j.get("env", "")
    if env == "hypergrid" and "ndim" in j and "height" in j:
        return f"hypergrid {j['ndim']}-D H={j['height']}"
    sizes = [f"{k.replace('_', ' ')} {j[k]}" for k in
             ("items", "max_items", "length", "word", "nodes", "spins", "depth") if k in j]
    return env + (f" ({', '.join(sizes)})" if sizes else "")


def default_title(path, curves_by_step, summary_path):
    """The learners, runs per learner, steps and trajectories per step, and the environment."""
    steps, runs, traj = 0, 0, 0
    for algo, by_step in curves_by_step.items():
        last = max(by_step)
        steps = max(steps, last)
        runs = max(runs, max(r for r, _ in by_step.values()))
        traj = max(traj, by_step[last][1])
    per_step = f" x {traj // steps} trajectories" if steps and traj else ""
    env = environment(summary_path)
    n = len(curves_by_step)
    what = "curves (learner/P_B)" if any("/" in k for k in curves_by_step) else (
        "learners" if n > 1 else "learner")
    return (f"exact TV: {n} {what}"
            f" x {runs} runs, {steps:,} steps{per_step}" + (f", {env}" if env else "") +
            f"\n({os.path.basename(path)})")


def budget(path):
    """{algo: {last step: (runs, trajectories)}} for the title."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            d = out.setdefault(row["algo"], {})
            step = int(row["step"])
            runs, _ = d.get(step, (0, 0))
            d[step] = (runs + 1, int(row["trajectories"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] + "\n\n" +
                                 __doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", help="CSV from gfnrl train or gfnrl study")
    ap.add_argument("-o", "--out", help="PNG to write (default: the CSV name with .png)")
    ap.add_argument("--json", default=None,
                    help="the command's --json summary, for the environment in the title "
                         "(default: the CSV name with .json, when it exists)")
    ap.add_argument("--title", default=None, help="figure title (default: what was run)")
    ap.add_argument("--linear-y", action="store_true", help="linear TV axis instead of log")
    args = ap.parse_args()
    plt = pyplot("plot_convergence")

    curves = read_curves(args.csv)
    out = args.out or png_beside(args.csv, ".csv")
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    # Labels "learner/pb" (gfnrl study --preset backward): colour by learner, dash by P_B.
    learners = list(dict.fromkeys(k.split("/")[0] for k in curves))
    variants = list(dict.fromkeys(k.split("/")[1] for k in curves if "/" in k))
    dashes = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3))]
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    first = min((x for points in curves.values() for x in points if x > 0), default=1)
    for algo, points in curves.items():
        name, _, variant = algo.partition("/")
        style = dict(color=palette[learners.index(name) % len(palette)],
                     ls=dashes[variants.index(variant) % len(dashes)] if variant else "-")
        xs = sorted(points)  # step 0 included: the x axis is linear below the first evaluation
        mean = [sum(points[x]) / len(points[x]) for x in xs]
        lo = [min(points[x]) for x in xs]
        hi = [max(points[x]) for x in xs]
        runs = max(len(points[x]) for x in xs) if xs else 0
        line, = ax.plot(xs, mean, label=f"{algo} (mean of {runs} runs)", lw=1.8, **style)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xscale("symlog", linthresh=first)
    ax.set_xlim(left=0)
    if not args.linear_y:
        ax.set_yscale("log")
    ax.set_xlabel("trajectories sampled per run (linear up to the first evaluation, log beyond)")
    ax.set_ylabel("exact TV(P_T, R/Z)")
    summary = args.json or png_beside(args.csv, ".csv")[:-len(".png")] + ".json"
    ax.set_title(args.title or default_title(args.csv, budget(args.csv), summary), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    from matplotlib.patches import Patch
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="grey", alpha=0.3, lw=0))
    labels.append("band: lowest to highest run")
    ax.legend(handles, labels, fontsize=7 if len(curves) > 10 else 8,
              ncol=2 if len(curves) > 14 else 1, handlelength=3.5, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.savefig(out, bbox_inches="tight")  # the legend sits outside the axes
    print(f"plot_convergence: wrote {out}")


if __name__ == "__main__":
    main()
