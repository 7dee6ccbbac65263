#!/usr/bin/env python3
"""Exact TV of a neural GFlowNet sampler, from torch, while it trains.

Trains a small torch MLP forward policy with trajectory balance on the 2-D H=16 hypergrid in the
torchgfn style (one-hot coordinates in, masked logits over the D increments and the exit out,
uniform P_B, a learned log Z; Adam at lr 1e-3, log Z at 1e-1) and every --eval-every steps
reports:
  exact TV     1/2 sum_x |P_T(x) - R(x)/Z|, where P_T is what the network samples, computed by
               gfnrl.evaluate from the network's logits on every state (one forward pass);
  ELBO         E_{P_F}[log R + sum log P_B - sum log P_F] - log Z with the uniform P_B the
               network trains with, exactly (<= 0, 0 at a perfect sampler);
  sampled TV   the same distance as exact TV for the histogram of the last --window terminal
               states sampled during training (the estimate GFlowNet codes report); it cannot
               see below its own sampling noise and lags the policy;
  eval ms      the time of policy_from_logits + gfnrl.evaluate.
Needs torch (CPU is enough). Usage: python3 exact_tv_of_a_torch_policy.py [--steps 3000 ...]
"""

import argparse
import collections
import time

import numpy as np
import torch

import gfnrl


class GridEnv:
    """The DAG's edges as dense tables the sampler indexes: child[s, a] (-1: no such action)."""

    def __init__(self, dag):
        src, dst, action = dag.edges()
        n, a = dag.num_states, dag.exit_action + 1
        self.child = np.full((n, a), -1, dtype=np.int64)
        self.child[src, action] = dst
        log_r = dag.log_rewards()
        self.log_reward = torch.tensor(log_r, dtype=torch.float32)
        valid = self.child >= 0
        valid[:, a - 1] = np.isfinite(log_r)  # the exit, where a state terminates
        self.mask = torch.tensor(valid)
        self.child_t = torch.tensor(self.child)
        # uniform P_B: log 1/(number of parents) of the state reached
        self.log_pb = -torch.log(torch.tensor(np.bincount(dst, minlength=n).clip(1),
                                              dtype=torch.float32))
        coords = torch.tensor(dag.coords(), dtype=torch.int64)  # [N, D]
        height = int(coords.max()) + 1
        self.features = torch.nn.functional.one_hot(coords, height).flatten(1).float()
        self.exit = a - 1


def sample(env, net, batch, gen):
    """Runs `batch` trajectories from s0; returns (sum log P_F, sum log P_B, final states)."""
    state = torch.zeros(batch, dtype=torch.int64)
    done = torch.zeros(batch, dtype=torch.bool)
    log_pf = torch.zeros(batch)
    log_pb = torch.zeros(batch)
    while not bool(done.all()):
        logits = net(env.features[state]).masked_fill(~env.mask[state], -torch.inf)
        dist = torch.distributions.Categorical(logits=logits)
        a = torch.multinomial(dist.probs.detach(), 1, generator=gen).squeeze(1)
        live = ~done
        log_pf = log_pf + torch.where(live, dist.log_prob(a), 0.0)
        exiting = live & (a == env.exit)
        moving = live & ~exiting
        nxt = torch.where(moving, env.child_t[state, a.clamp(max=env.exit - 1)], state)
        log_pb = log_pb + torch.where(moving, env.log_pb[nxt], 0.0)
        state = nxt
        done = done | exiting
    return log_pf, log_pb, state


def exact_tv(dag, env, net):
    with torch.no_grad():
        logits = net(env.features)  # every state at once
    t0 = time.perf_counter()
    e, x = gfnrl.policy_from_logits(dag, logits)
    m = gfnrl.evaluate(dag, e, x, pb="uniform")
    return m["tv"], m["elbo"], time.perf_counter() - t0


def sampled_tv(window, p_target):
    counts = np.bincount(np.fromiter(window, dtype=np.int64), minlength=len(p_target))
    return 0.5 * np.abs(counts / counts.sum() - p_target).sum()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ndim", type=int, default=2)
    ap.add_argument("--height", type=int, default=16)
    ap.add_argument("--r0", type=float, default=0.1, help="torchgfn's tutorials use 0.1")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--window", type=int, default=200000,
                    help="training samples in the sampled estimate (gflownet-rl uses 200,000)")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if min(a.ndim, a.height, a.steps, a.batch, a.eval_every, a.window, a.hidden) < 1:
        ap.error("--ndim, --height, --steps, --batch, --eval-every, --window and --hidden "
                 "must be >= 1")
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    dag = gfnrl.hypergrid(a.ndim, a.height, r0=a.r0, backend="cpu")
    env = GridEnv(dag)
    log_r = dag.log_rewards()
    p_target = np.exp(log_r - dag.log_z())
    net = torch.nn.Sequential(
        torch.nn.Linear(env.features.shape[1], a.hidden), torch.nn.ReLU(),
        torch.nn.Linear(a.hidden, a.hidden), torch.nn.ReLU(),
        torch.nn.Linear(a.hidden, env.exit + 1))
    log_z = torch.nn.Parameter(torch.zeros(()))
    opt = torch.optim.Adam([{"params": net.parameters(), "lr": 1e-3},
                            {"params": [log_z], "lr": 1e-1}])
    window = collections.deque(maxlen=a.window)
    print(f"{a.ndim}-D H={a.height} hypergrid (R0={a.r0}): {dag.num_states} states, "
          f"{dag.num_edges} edges; TB, batch {a.batch}; log Z = {dag.log_z():.4f}")
    print(f"{'step':>6} {'trajectories':>12} {'exact TV':>9} {'ELBO':>8} {'sampled TV':>10} "
          f"{'(window)':>8} {'log Z est':>9} {'eval ms':>8}")
    t_start = time.perf_counter()
    for step in range(a.steps + 1):
        if step % a.eval_every == 0 or step == a.steps:
            tv, elbo, seconds = exact_tv(dag, env, net)
            stv = sampled_tv(window, p_target) if window else float("nan")
            print(f"{step:>6} {step * a.batch:>12} {tv:>9.4f} {elbo:>8.4f} {stv:>10.4f} "
                  f"{len(window):>8} "
                  f"{log_z.item():>9.4f} {seconds * 1e3:>8.2f}", flush=True)
        if step == a.steps:
            break
        log_pf, log_pb, final = sample(env, net, a.batch, gen)
        loss = (log_z + log_pf - env.log_reward[final] - log_pb).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        window.extend(final.tolist())
    print(f"trained {a.steps} steps in {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
