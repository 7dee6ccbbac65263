#!/usr/bin/env python3
"""torchgfn's TB hypergrid training loop, with gfnrl's exact TV beside torchgfn's sampled one.

The shape of torchgfn's own tutorial (train_hypergrid_simple): a HyperGrid, a KHot
preprocessor, MLP forward and backward estimators sharing a trunk, TBGFlowNet, Adam with a
separate log Z learning rate. Every --every iterations it prints torchgfn's `env.validate`
figure (a histogram of fresh samples; its "l1_dist" is 2 TV) and gfnrl's exact TV, KL, ELBO and
EUBO of the same sampler (gfnrl.torchgfn.ExactEvaluator), with the seconds each took.

Needs `pip install 'gfnrl[torchgfn]'`. Usage:
    python3 examples/python/torchgfn_tb_exact_tv.py [--ndim 2 --height 8 --iterations 1000
        --every 100 --batch 16 --validation-samples 20000 --seed 0 --json FILE]
"""

import argparse
import json
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ndim", type=int, default=2, help="grid dimension D (default 2)")
    ap.add_argument("--height", type=int, default=8, help="grid height H (default 8)")
    ap.add_argument("--iterations", type=int, default=1000, help="training iterations (1000)")
    ap.add_argument("--every", type=int, default=100, help="evaluate every k iterations (100)")
    ap.add_argument("--batch", type=int, default=16, help="trajectories per iteration (16)")
    ap.add_argument("--validation-samples", type=int, default=20000,
                    help="samples of torchgfn's validate (20000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    a = ap.parse_args()
    for name in ("ndim", "height", "iterations", "every", "batch", "validation_samples"):
        if getattr(a, name) < 1:
            ap.error(f"--{name.replace('_', '-')} = {getattr(a, name)}: give a positive integer")
    if a.height < 2:
        ap.error(f"--height = {a.height}: give at least 2")

    try:
        import torch
        from gfn.estimators import DiscretePolicyEstimator
        from gfn.gflownet import TBGFlowNet
        from gfn.gym import HyperGrid
        from gfn.preprocessors import KHotPreprocessor
        from gfn.samplers import Sampler
        from gfn.utils.modules import MLP
    except ImportError as e:
        print(f"this example needs torch and torchgfn: pip install 'gfnrl[torchgfn]' ({e})",
              file=sys.stderr)
        return 2
    from gfnrl.torchgfn import ExactEvaluator

    torch.manual_seed(a.seed)
    env = HyperGrid(ndim=a.ndim, height=a.height, store_all_states=True, validate_modes=False)
    pre = KHotPreprocessor(env.height, env.ndim)
    module_pf = MLP(input_dim=pre.output_dim, output_dim=env.n_actions)
    module_pb = MLP(input_dim=pre.output_dim, output_dim=env.n_actions - 1, trunk=module_pf.trunk)
    pf = DiscretePolicyEstimator(module_pf, env.n_actions, preprocessor=pre)
    pb = DiscretePolicyEstimator(module_pb, env.n_actions, preprocessor=pre, is_backward=True)
    gflownet = TBGFlowNet(pf=pf, pb=pb, logZ=0.0)
    sampler = Sampler(estimator=pf)
    optimizer = torch.optim.Adam(gflownet.pf_pb_parameters(), lr=1e-3)
    optimizer.add_param_group({"params": gflownet.logz_parameters(), "lr": 1e-1})

    ev = ExactEvaluator(env)
    every = ev.every(a.every)
    print(f"HyperGrid D={a.ndim} H={a.height}: {ev.dag.num_states} states, "
          f"{ev.dag.num_edges} edges; evaluator built in {ev.build_seconds:.2f} s")
    print(f"{'iter':>6} {'exact TV':>9} {'sampled TV':>10} {'KL':>9} {'ELBO':>9} {'EUBO':>9} "
          f"{'exact s':>8} {'sampled s':>9}")
    rows = []
    for it in range(a.iterations + 1):
        m = every(it, gflownet)  # the exact metrics every k iterations (its own P_B)
        if m is not None:
            t = time.perf_counter()
            val, _ = env.validate(gflownet, n_validation_samples=a.validation_samples,
                                  check_sample_sufficiency=False)
            sampled_s = time.perf_counter() - t
            exact_s = m["seconds_forward"] + m["seconds_exact"]
            row = {"iteration": it, "tv": m["tv"], "sampled_tv": val["l1_dist"] / 2,
                   "kl": m["kl"], "elbo": m["elbo"], "eubo": m["eubo"],
                   "exact_seconds": exact_s, "sampled_seconds": sampled_s}
            rows.append(row)
            print(f"{it:6d} {m['tv']:9.4f} {row['sampled_tv']:10.4f} {m['kl']:9.4f} "
                  f"{m['elbo']:9.4f} {m['eubo']:9.4f} {exact_s:8.4f} {sampled_s:9.4f}",
                  flush=True)
        if it == a.iterations:
            break
        trajectories = sampler.sample_trajectories(env, n=a.batch, save_logprobs=True)
        optimizer.zero_grad()
        loss = gflownet.loss(env, trajectories)
        loss.backward()
        optimizer.step()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
