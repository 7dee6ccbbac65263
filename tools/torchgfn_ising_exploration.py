#!/usr/bin/env python3
"""Does torchgfn's MLP collapse onto one ground state of the 3x3 Ising torus, as tabular TB does?

Trains torchgfn's TBGFlowNet (MLP 2 x 256 on the raw state, Adam lr 1e-3, log Z lr 0.1, 16
trajectories per step, epsilon-uniform exploration) on torchgfn's DiscreteEBM with the Ising
energy of its train_ising example (3x3 torus, J 0.44, alpha 1), one run per seed, and prints each
run's final exact TV (gfnrl.torchgfn.ExactEvaluator), for comparison with `gfnrl train --algo tb
--env ising --spins 9 --coupling lattice` at the same budget (docs/ALGORITHMS.md, "The 3x3 Ising
torus"). Needs `pip install '.[torchgfn]'`.

Usage: python3 tools/torchgfn_ising_exploration.py [--steps 3000 --epsilon 0.1 --seeds 8
                                                     --json FILE]
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crosscheck_torchgfn import torchgfn_ising_torus  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--epsilon", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--json", help="write the runs' TVs to this file")
    a = ap.parse_args()
    if a.steps < 1 or a.seeds < 1:
        ap.error(f"--steps {a.steps} and --seeds {a.seeds} must be >= 1")
    if not 0.0 <= a.epsilon <= 1.0:
        ap.error(f"--epsilon = {a.epsilon}: give a value in [0, 1]")
    try:
        import torch
        from gfn.estimators import DiscretePolicyEstimator
        from gfn.gflownet import TBGFlowNet
        from gfn.gym import DiscreteEBM
        from gfn.gym.discrete_ebm import IsingModel
        from gfn.preprocessors import IdentityPreprocessor
        from gfn.utils.modules import MLP
    except ImportError as e:
        print(f"needs torch and torchgfn: pip install '.[torchgfn]' ({e})", file=sys.stderr)
        return 2
    from gfnrl.torchgfn import ExactEvaluator

    env = DiscreteEBM(ndim=9, energy=IsingModel(0.44 * torchgfn_ising_torus(3)), alpha=1.0)
    ev = ExactEvaluator(env)
    tvs = []
    start = time.perf_counter()
    for seed in range(a.seeds):
        torch.manual_seed(seed)
        pre = IdentityPreprocessor(output_dim=9)
        pf = DiscretePolicyEstimator(MLP(9, env.n_actions), env.n_actions, preprocessor=pre)
        pb = DiscretePolicyEstimator(MLP(9, env.n_actions - 1), env.n_actions, preprocessor=pre,
                                     is_backward=True)
        g = TBGFlowNet(pf=pf, pb=pb, logZ=0.0)
        opt = torch.optim.Adam(g.pf_pb_parameters(), lr=1e-3)
        opt.add_param_group({"params": g.logz_parameters(), "lr": 1e-1})
        for _ in range(a.steps):
            traj = g.sample_trajectories(env, n=16, save_logprobs=False, epsilon=a.epsilon)
            loss = g.loss(env, traj, recalculate_all_logprobs=True)
            opt.zero_grad()
            loss.backward()
            opt.step()
        tv = ev.evaluate(g, pb="uniform", bounds=False)["tv"]
        tvs.append(tv)
        print(f"seed {seed}: exact TV {tv:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"torchgfn TB MLP, epsilon {a.epsilon}, {a.steps} steps: TV "
          f"{', '.join(f'{t:.3f}' for t in sorted(tvs))}; mean {statistics.mean(tvs):.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"epsilon": a.epsilon, "steps": a.steps, "tv": tvs}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
