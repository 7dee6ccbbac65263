"""gfnrl.torchgfn's walk of a torchgfn environment: its states found through its own forward
masks and ``step``, their exact float64 rewards where known in closed form, and the check that
its backward masks and ``backward_step`` undo the forward ones (internal)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch


def row_keys(t: torch.Tensor) -> list:
    """One hashable key per state (its tensor's bytes, int64)."""
    a = np.ascontiguousarray(t.detach().cpu().reshape(t.shape[0], -1).numpy().astype(np.int64))
    return [r.tobytes() for r in a]


def float64_log_rewards(env, states_tensor: torch.Tensor) -> Optional[np.ndarray]:
    """log R in float64 where the environment's reward is known in closed form, else None.

    HyperGrid's original reward is decided in integer arithmetic (the regions are statements
    about rationals: |x/(H-1) - 1/2| > 1/4 iff |4x - 2(H-1)| > H-1, and 3/10 < |.| < 2/5 iff
    3(H-1) < |10x - 5(H-1)| < 4(H-1)); its other rewards are called on float64 coordinates;
    DiscreteEBM's Ising energy is recomputed with J in float64."""
    from gfn.gym.discrete_ebm import DiscreteEBM, IsingModel
    from gfn.gym.hypergrid import HyperGrid, OriginalReward

    if isinstance(env, HyperGrid):
        if isinstance(env.reward_fn, OriginalReward):
            kw = env.reward_fn.kwargs
            r0, r1, r2 = (float(kw.get(k, d)) for k, d in (("R0", 0.1), ("R1", 0.5), ("R2", 2.0)))
            x = states_tensor.detach().cpu().numpy().astype(np.int64)
            m = env.height - 1
            a4 = np.abs(4 * x - 2 * m)
            a10 = np.abs(10 * x - 5 * m)
            outer = (a4 > m).all(axis=-1)
            band = ((a10 > 3 * m) & (a10 < 4 * m)).all(axis=-1)
            with np.errstate(divide="ignore"):
                return np.log(r0 + r1 * outer + r2 * band)
        with torch.no_grad():
            r = env.reward_fn(states_tensor.to(torch.float64))
        with np.errstate(divide="ignore"):
            return np.log(r.detach().cpu().numpy().astype(np.float64))
    if isinstance(env, DiscreteEBM) and isinstance(env.energy, IsingModel):
        j = env.energy.J.detach().cpu().to(torch.float64)
        s = 2.0 * states_tensor.detach().cpu().to(torch.float64) - 1.0
        energy = -(s * (s @ j.T)).sum(-1)
        return (-float(env.alpha) * energy).numpy()
    return None


def walk_forward(env, max_states: int):
    """Every state reachable from s0 through torchgfn's forward masks and ``step``, ids handed
    out in discovery order: (states tensor [n, ...], may-exit flags [n], edge sources,
    destinations and action ids as int64 arrays). ValueError past ``max_states`` states."""
    n_actions = int(env.n_actions)
    exit_action = n_actions - 1
    s0 = env.reset(batch_shape=(1,)).tensor.detach().clone()
    tensors = [s0]
    ids = {row_keys(s0)[0]: 0}
    src, dst, act = [], [], []
    can_exit = []
    frontier = s0
    first = 0  # id of the frontier's first state: ids are handed out in discovery order
    with torch.no_grad():
        while frontier.shape[0] > 0:
            masks = env.states_from_tensor(frontier.clone()).forward_masks.detach().cpu()
            if masks.shape[-1] != n_actions:
                raise ValueError(f"ExactEvaluator: forward masks have {masks.shape[-1]} "
                                 f"columns, env.n_actions = {n_actions}")
            can_exit.append(masks[:, exit_action].numpy().copy())
            new = []
            for a in range(exit_action):
                rows = torch.nonzero(masks[:, a]).flatten()
                if rows.numel() == 0:
                    continue
                parents = env.states_from_tensor(frontier[rows.to(frontier.device)].clone())
                actions = env.actions_from_tensor(
                    torch.full((rows.numel(), 1), a, dtype=torch.long, device=frontier.device))
                children = env.step(parents, actions).tensor.detach().clone()
                for r, key, child in zip(rows.tolist(), row_keys(children), children):
                    j = ids.get(key)
                    if j is None:
                        j = len(ids)
                        if j >= max_states:
                            raise ValueError(
                                f"ExactEvaluator: {type(env).__name__} has more than "
                                f"max_states = {max_states} states; raise max_states if it "
                                f"fits (about 100 bytes per state)")
                        ids[key] = j
                        new.append(child)
                    src.append(first + r)
                    dst.append(j)
                    act.append(a)
            first += frontier.shape[0]
            frontier = torch.stack(new) if new else frontier[:0]
            if new:
                tensors.append(frontier)
    exits = np.concatenate(can_exit).astype(bool)
    return (torch.cat(tensors), exits, np.asarray(src, dtype=np.int64),
            np.asarray(dst, dtype=np.int64), np.asarray(act, dtype=np.int64))


def check_backward(env, states: torch.Tensor, n_actions: int, lib_src, lib_dst, lib_act) -> None:
    """torchgfn's backward masks must allow exactly the DAG's parents, each by the backward
    action with the forward action's id, and backward_step must lead back to the parent."""
    n = states.shape[0]
    with torch.no_grad():
        bmask = env.states_from_tensor(states.clone()).backward_masks.detach().cpu()
    expected = torch.zeros((n, n_actions - 1), dtype=torch.bool)
    expected[torch.as_tensor(lib_dst), torch.as_tensor(lib_act)] = True
    if bmask.shape != expected.shape or not torch.equal(bmask.bool(), expected):
        bad = (bmask.bool() != expected).any(-1).nonzero().flatten() \
            if bmask.shape == expected.shape else torch.tensor([0])
        s = int(bad[0])
        raise ValueError(f"ExactEvaluator: the backward mask of state "
                         f"{states[s].tolist()} does not match its parents reached by "
                         f"the forward mask (backward action a undoes forward action a); "
                         f"P_B would not be a distribution over the DAG's parents")
    with torch.no_grad():
        for a in np.unique(lib_act).tolist():
            e = np.flatnonzero(lib_act == a)
            children = env.states_from_tensor(states[torch.as_tensor(lib_dst[e])].clone())
            acts = env.actions_from_tensor(torch.full((e.size, 1), a, dtype=torch.long,
                                                      device=states.device))
            back = env.backward_step(children, acts).tensor.cpu()
            want = states[torch.as_tensor(lib_src[e])].cpu()
            wrong = (back != want).reshape(e.size, -1).any(-1).nonzero().flatten().tolist()
            # Some envs' batched backward_step assumes equal lengths (BitSequence's indexes
            # by a length vector): check the disagreeing edges one at a time.
            for i in wrong:
                one = env.states_from_tensor(states[int(lib_dst[e[i]])][None].clone())
                b1 = env.backward_step(one, env.actions_from_tensor(
                    torch.full((1, 1), a, dtype=torch.long, device=states.device)))
                if not torch.equal(b1.tensor[0].cpu(), want[i]):
                    raise ValueError(
                        f"ExactEvaluator: backward action {a} from state "
                        f"{states[int(lib_dst[e[i]])].tolist()} leads to "
                        f"{b1.tensor[0].tolist()}, not to the parent {want[i].tolist()} that "
                        f"forward action {a} came from, in {type(env).__name__}")
