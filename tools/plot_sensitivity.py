#!/usr/bin/env python3
"""Plot learning-rate sensitivity from a `gfnrl tune` result (its --best JSON).

Two panels against the table learning rate (log x), one line per learner: the tune's score (the
mean over seeds of the mean log10 exact TV over the budget, with its standard error) and the
final exact TV (mean over seeds). At each learning rate the line takes the learner's best setting
of the other tuned options (epsilon, TB's log Z rate); the learner's chosen setting is circled.
Needs matplotlib only.

usage: python3 tools/plot_sensitivity.py tune.json [-o tune.png] [--title TEXT]
"""
import argparse
import json

from plotting import fail, png_beside, pyplot


def best_per_lr(settings):
    """{lr: the setting with the lowest score at that lr}."""
    by_lr = {}
    for s in settings:
        if s["score"] is None:
            continue
        if s["lr"] not in by_lr or s["score"] < by_lr[s["lr"]]["score"]:
            by_lr[s["lr"]] = s
    return dict(sorted(by_lr.items()))


def read_tune(path):
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        fail(f"plot_sensitivity: cannot read {path}: {e}")
    if j.get("command") != "tune" or "learners" not in j:
        fail(f"plot_sensitivity: {path} is not a gfnrl tune result (gfnrl tune --best FILE)")
    return j


def main():
    ap = argparse.ArgumentParser(description="\n\n".join(__doc__.split("\n\n")[:2]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", help="JSON from gfnrl tune --best")
    ap.add_argument("-o", "--out", help="PNG to write (default: the JSON name with .png)")
    ap.add_argument("--title", default=None, help="figure title")
    args = ap.parse_args()
    plt = pyplot("plot_sensitivity")

    j = read_tune(args.json)
    out = args.out or png_beside(args.json, ".json")
    fig, (ax_score, ax_tv) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for k, learner in enumerate(j["learners"]):
        colour = f"C{k % 10}"
        line = best_per_lr(learner["settings"])
        lrs = list(line)
        ax_score.errorbar(lrs, [line[x]["score"] for x in lrs],
                          yerr=[line[x]["score_sem"] for x in lrs], color=colour, marker="o",
                          ms=3, capsize=2, label=learner["algo"])
        ax_tv.plot(lrs, [line[x]["final_tv_mean"] for x in lrs], color=colour, marker="o", ms=3,
                   label=learner["algo"])
        best = learner["best"]
        ax_score.plot([best["lr"]], [best["score"]], "o", ms=10, mfc="none", color=colour)
        ax_tv.plot([best["lr"]], [best["final_tv_mean"]], "o", ms=10, mfc="none", color=colour)
    for ax in (ax_score, ax_tv):
        ax.set_xscale("log")
        ax.set_xlabel("table learning rate")
        ax.grid(True, which="both", alpha=0.3)
    ax_tv.set_yscale("log")
    ax_score.set_ylabel("mean log10 exact TV over the budget (lower: better)")
    ax_tv.set_ylabel("final exact TV (mean over seeds)")
    ax_tv.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                 title="learner (error bars:\n1 s.e. over seeds)", title_fontsize=7)
    grid = f"{j.get('ndim', '?')}-D H={j.get('height', '?')}" if "height" in j else j.get("env", "")
    title = args.title or (f"{grid}: {j['steps']} steps x {j['batch']} trajectories, "
                           f"{j['seeds_per_setting']} seeds per setting (best of the other options "
                           f"at each rate; circled: chosen)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, bbox_inches="tight")  # the legend sits outside the axes
    print(f"plot_sensitivity: wrote {out}")


if __name__ == "__main__":
    main()
