"""Exact evaluation of torchgfn samplers: TV, KL, JSD, ELBO, EUBO and P_T in one call.

torchgfn (Lahlou et al. 2023) estimates how far a trained sampler is from R/Z with a histogram
of fresh samples (``env.validate``). ``ExactEvaluator`` computes the same quantities exactly: it
enumerates the environment once through torchgfn's own masks and ``step`` (so the DAG is the one
the sampler walks), runs the estimator over every state, applies torchgfn's own masks and
``to_probability_distribution`` (its temperature, epsilon and sf_bias conventions), and hands the
log-probabilities to gfnrl's exact evaluator::

    from gfnrl.torchgfn import ExactEvaluator
    ev = ExactEvaluator(env)                 # HyperGrid, DiscreteEBM, SetAddition,
    m = ev.evaluate(gflownet)                # PerfectBinaryTree, BitSequence (small enough)
    m["tv"], m["kl"], m["elbo"], m["eubo"], m["log_z"], m["p_t"]

Needs torch and torchgfn (``pip install 'gfnrl[torchgfn]'``); ``import gfnrl`` never does.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Optional

import numpy as np

try:
    import torch
    from gfn.env import DiscreteEnv
except ImportError as _e:  # pragma: no cover - exercised only without the extra
    raise ImportError("gfnrl.torchgfn needs torch and torchgfn: pip install 'gfnrl[torchgfn]' "
                      f"({_e})") from _e

import gfnrl

from ._torchgfn_walk import check_backward, float64_log_rewards, row_keys, walk_forward

__all__ = ["ExactEvaluator", "EvaluationCallback"]

# 2^24 states: about a minute of enumeration through torchgfn's step functions on one core.
DEFAULT_MAX_STATES = 1 << 24


class ExactEvaluator:
    """The exact evaluator of torchgfn samplers on one enumerable discrete environment.

    ``env``: a torchgfn ``DiscreteEnv`` whose state space is finite and at most ``max_states``
    states (HyperGrid, DiscreteEBM, SetAddition, PerfectBinaryTree, BitSequence, or your own).
    The DAG is built once, by walking torchgfn's forward masks and ``step`` from ``s0``; the
    backward masks and ``backward_step`` are checked against it (every parent reached by the
    backward action of the same id), so that a uniform or learned P_B means here what it means
    in torchgfn. Log-rewards are float64: exact for HyperGrid's original reward (integer
    arithmetic) and DiscreteEBM's Ising energy, else the environment's own ``log_reward``.
    ``reward``: where the env's own float32 reward disagrees with its definition (torchgfn's
    HyperGrid at H = 11 puts x = 9, |9/10 - 1/2| = 2/5 exactly, inside the band
    3/10 < . < 2/5 by float32 rounding), "env" (default) keeps the env's value, the reward
    the sampler was trained on, and "definition" takes the definition; either way a warning
    names them and ``reward_disagreements`` holds the states.

    ``backend``: gfnrl's backend for the DAG ("auto": CUDA when compiled and a GPU is present,
    "cpu", "cuda"); on a CUDA DAG the estimator's CUDA outputs are read in place (DLPack), on a
    CPU DAG CPU tensors are (CUDA ones are copied to the host once). ``chunk_size``: states per
    forward pass of the estimator.

    Attributes: ``dag`` (the gfnrl DAG), ``states`` (every state's tensor in the DAG's state
    order, on the env's device), ``terminating_states`` (in ``p_t``'s order),
    ``log_rewards`` (float64, per DAG state, -inf where the exit is masked), ``build_seconds``.
    """

    def __init__(self, env, max_states: int = DEFAULT_MAX_STATES, backend: str = "auto",
                 chunk_size: int = 65536, reward: str = "env"):
        if not isinstance(env, DiscreteEnv):
            raise ValueError(f"ExactEvaluator: {type(env).__name__} is not a torchgfn DiscreteEnv; "
                             f"only discrete environments with integer actions can be enumerated")
        if type(env).__name__.startswith("Conditional"):
            raise ValueError(f"ExactEvaluator: {type(env).__name__}'s reward depends on a "
                             f"condition; evaluate one condition's environment instead")
        if reward not in ("env", "definition"):
            raise ValueError(f"reward = {reward!r}: give 'env' or 'definition'")
        if not isinstance(max_states, int) or max_states < 1:
            raise ValueError(f"max_states = {max_states!r}: give a positive integer")
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size = {chunk_size!r}: give a positive integer")
        try:
            declared = int(env.n_states)
        except Exception:  # many environments do not declare it
            declared = None
        if declared is not None and declared > max_states:
            raise ValueError(f"ExactEvaluator: {type(env).__name__} has {declared} states, more "
                             f"than max_states = {max_states}; raise max_states if it fits "
                             f"(about 100 bytes per state plus the estimator's outputs)")
        self.env = env
        self.chunk_size = chunk_size
        start = time.perf_counter()
        self._build(env, max_states, backend, reward)
        self.build_seconds = time.perf_counter() - start

    # -- construction --------------------------------------------------------------------------
    def _build(self, env, max_states: int, backend: str, reward: str) -> None:
        n_actions = int(env.n_actions)
        all_states, exits, src, dst, act = walk_forward(env, max_states)
        n = all_states.shape[0]

        # log R over the states whose exit is allowed: float64 where known, else the env's own.
        term = np.flatnonzero(exits)
        if term.size == 0:
            raise ValueError(f"ExactEvaluator: no state of {type(env).__name__} may exit")
        term_states = env.states_from_tensor(all_states[torch.as_tensor(term)].clone())
        with torch.no_grad():
            own = env.log_reward(term_states).detach().cpu().to(torch.float64).numpy()
        exact = float64_log_rewards(env, term_states.tensor)
        self.reward_disagreements = all_states[:0]
        if exact is not None:
            # Where the env's own (float32) reward and the definition disagree, the sampler was
            # trained on the env's: reward="env" keeps it there (and says so), "definition"
            # takes the definition everywhere. Elsewhere the float64 definition is used.
            both = np.isfinite(own) & np.isfinite(exact)
            same = np.where(both, np.abs(exact - own) <= 1e-4 * np.maximum(1.0, np.abs(own)),
                            own == exact)
            if not same.all():
                self.reward_disagreements = all_states[torch.as_tensor(term[~same])]
                first = int(np.flatnonzero(~same)[0])
                warnings.warn(
                    f"ExactEvaluator: {int((~same).sum())} state(s) where {type(env).__name__}'s "
                    f"own log_reward differs from its definition, e.g. "
                    f"{all_states[term[first]].tolist()}: {own[first]:.7g} against "
                    f"{exact[first]:.7g} (float32 rounding deciding a region boundary); the "
                    f"target takes the {'env' if reward == 'env' else 'definition'}'s value "
                    f"(reward='{reward}'); the states are in .reward_disagreements",
                    stacklevel=3)
            own = exact if reward == "definition" else np.where(same, exact, own)
        if not np.all(np.isfinite(own) | (own == -np.inf)):
            i = int(np.flatnonzero(~(np.isfinite(own) | (own == -np.inf)))[0])
            raise ValueError(f"ExactEvaluator: log R of state {all_states[term[i]].tolist()} is "
                             f"{own[i]!r}")
        log_reward = np.full(n, -np.inf)
        log_reward[term] = own
        # A state that may exit with R = 0 and has no children would be a dead end for gfnrl's
        # validation; torchgfn's masks still allow its exit, whose probability then counts as
        # model mass outside the target's support.
        self.dag = gfnrl.Dag.from_edges(src, dst, act, log_reward, 0, backend)

        # The DAG's state order (level-sorted) and edge order, against ours (discovery order).
        labels = np.asarray(self.dag.labels(), dtype=np.int64)  # library state -> our id
        lib_src, lib_dst, lib_act = (np.asarray(a, dtype=np.int64) for a in self.dag.edges())
        self.states = all_states[torch.as_tensor(labels)].to(env.device)
        self.log_rewards = log_reward[labels]
        self._exits = exits[labels]
        self._n_actions = n_actions
        dev = self.states.device
        self._edge_src = torch.as_tensor(lib_src, device=dev)
        self._edge_dst = torch.as_tensor(lib_dst, device=dev)
        self._edge_act = torch.as_tensor(lib_act, device=dev)
        self._no_exit = torch.as_tensor(~self._exits, device=dev)
        self._flat: dict = {}
        check_backward(env, self.states, n_actions, lib_src, lib_dst, lib_act)
        self._terminating_order(env)

    def _terminating_order(self, env) -> None:
        """p_t's order: env.get_terminating_states_indices where defined, else the order of
        env.terminating_states; states the masks let exit but the env does not list (torchgfn's
        SetAddition lets s0 exit) come after, in the DAG's order."""
        term = np.flatnonzero(self._exits)
        tstates = env.states_from_tensor(self.states[torch.as_tensor(term)].clone())
        index, size, listed = None, None, None
        try:
            index = env.get_terminating_states_indices(tstates).detach().cpu().numpy().astype(np.int64)
            size = int(env.n_terminating_states)
            if index.min() < 0 or index.max() >= size or np.unique(index).size != index.size:
                index = None
        except (NotImplementedError, AttributeError, TypeError):
            index = None
        if index is None:
            try:
                listed = env.terminating_states
            except (NotImplementedError, AttributeError):
                listed = None
            where = {}
            if listed is not None:
                for i, key in enumerate(row_keys(listed.tensor)):
                    where.setdefault(key, i)
            size = len(where)
            index = np.empty(term.size, dtype=np.int64)
            for i, key in enumerate(row_keys(tstates.tensor)):
                j = where.get(key)
                if j is None:
                    j = size
                    size += 1
                index[i] = j
        # p_t position -> DAG state (-1: a state the env lists that the walk never reached)
        self._term_order = np.full(size, -1, dtype=np.int64)
        self._term_order[index] = term
        reached = self._term_order >= 0
        self._all_reached = bool(reached.all())
        ts = torch.zeros((size,) + tuple(self.states.shape[1:]), dtype=self.states.dtype)
        if listed is not None:  # listed states never reached keep the env's own rows
            ts[:listed.tensor.shape[0]] = listed.tensor.detach().cpu().to(ts.dtype)
        ts[torch.as_tensor(reached)] = self.states.cpu()[torch.as_tensor(self._term_order[reached])]
        self.terminating_states = ts

    # -- evaluation ----------------------------------------------------------------------------
    def _log_probs(self, estimator, backward: bool, **kw) -> torch.Tensor:
        """log P(a | s) for every DAG state, [num_states, n_actions(-1)], torchgfn's masks and
        to_probability_distribution applied, under no_grad."""
        if getattr(estimator, "is_backward", backward) != backward:
            which = "backward" if backward else "forward"
            raise ValueError(f"{'pb' if backward else 'pf'}: the estimator's is_backward is "
                             f"{estimator.is_backward}; give a {which} policy estimator")
        n_act = getattr(estimator, "n_actions", None)
        if n_act is not None and int(n_act) != self._n_actions:
            raise ValueError(f"{'pb' if backward else 'pf'}: the estimator has n_actions = "
                             f"{n_act} but the environment {self._n_actions}: it was built for "
                             f"another environment")
        self._check_preprocessor(estimator, "pb" if backward else "pf")
        n = self.states.shape[0]
        out = None
        with torch.no_grad():
            for i in range(0, n, self.chunk_size):
                st = self.env.states_from_tensor(self.states[i:i + self.chunk_size].clone())
                try:
                    raw = estimator(st)
                except (RuntimeError, IndexError) as e:
                    raise ValueError(f"{'pb' if backward else 'pf'}: the estimator failed on "
                                     f"this environment's states ({e}); was it built for "
                                     f"another environment?") from e
                if raw.is_floating_point() and bool(torch.isnan(raw).any()):
                    s = i + int(torch.isnan(raw).any(-1).nonzero()[0])
                    raise ValueError(f"{'pb' if backward else 'pf'}: the estimator's output is "
                                     f"NaN at state {self.states[s].tolist()} (exploding "
                                     f"weights?)")
                lp = estimator.to_probability_distribution(st, raw, **kw).logits
                if out is None:
                    out = torch.empty((n, lp.shape[-1]), dtype=lp.dtype, device=lp.device)
                out[i:i + lp.shape[0]] = lp
        return out

    def _check_preprocessor(self, estimator, name: str) -> None:
        """A KHot / one-hot preprocessor records the grid it was built for: refuse another."""
        pre = getattr(estimator, "preprocessor", None)
        for attr in ("height", "ndim"):
            want = getattr(self.env, attr, None)
            have = getattr(pre, attr, None)
            if want is not None and have is not None and int(want) != int(have):
                raise ValueError(f"{name}: the estimator's preprocessor has {attr} = {have} but "
                                 f"the environment {attr} = {want}: it was built for another "
                                 f"environment")

    def tables(self, pf, **policy_kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """(edge_log_pf [num_edges], exit_log_pf [num_states]) of a forward estimator in the DAG's
        orders (``gfnrl.evaluate``'s input), on the estimator's device and dtype."""
        return self._tables_from(self._log_probs(pf, False, **policy_kwargs))

    def _tables_from(self, lp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The DAG's P_F tables from torchgfn's log-probabilities [num_states, n_actions]."""
        self._refuse_nan(lp, "pf")
        # One flat index_select (0.7 ms on 4-D H=20; lp[src, act] takes 3 ms).
        edge = torch.index_select(lp.reshape(-1), 0, self._edge_flat(lp.device, self._n_actions))
        exit_ = lp[:, self._n_actions - 1].masked_fill(self._no_exit.to(lp.device), -float("inf"))
        return edge, exit_

    def _edge_flat(self, device, width: int, by_child: bool = False) -> torch.Tensor:
        """Flat positions of each DAG edge's entry in a [num_states, width] table: row = the
        edge's source (P_F) or its child (P_B), column = its action."""
        key = (str(device), width, by_child)
        if key not in self._flat:
            rows = self._edge_dst if by_child else self._edge_src
            self._flat[key] = (rows * width + self._edge_act).to(device)
        return self._flat[key]

    def _refuse_nan(self, lp: torch.Tensor, name: str) -> None:
        if not bool(torch.isnan(lp.sum())):  # one reduction; -inf entries (masks) sum to -inf
            return
        bad = torch.isnan(lp).any(-1)
        if bool(bad.any()):
            s = int(bad.nonzero()[0])
            raise ValueError(f"{name}: the estimator's log-probabilities are NaN at state "
                             f"{self.states[s].tolist()} (exploding weights?)")

    def backward_table(self, pb, **policy_kwargs) -> torch.Tensor:
        """log P_B per DAG edge (s -> s' by action a: log P_B(a | s')) of a backward estimator."""
        lp = self._log_probs(pb, True, **policy_kwargs)
        self._refuse_nan(lp[1:], "pb")  # s0's row has no parents: torchgfn fills it freely
        return torch.index_select(lp.reshape(-1), 0,
                                  self._edge_flat(lp.device, self._n_actions - 1, True))

    def evaluate(self, pf, pb: Any = None, spearman: bool = False, bounds: bool = True,
                 **policy_kwargs) -> dict:
        """Exact metrics of a forward estimator (or a GFlowNet with ``.pf``).

        ``pb``: a backward estimator: the ELBO/EUBO of that P_B; ``"uniform"``: the uniform P_B
        over torchgfn's backward mask; None: a GFlowNet's own ``.pb`` when ``pf`` is a GFlowNet
        that has one, else uniform. ``policy_kwargs``: ``temperature``, ``epsilon``,
        ``sf_bias`` as torchgfn's ``to_probability_distribution`` takes them (on-policy by
        default). ``bounds=False`` leaves out ``elbo`` and ``eubo`` (and the P_B pass): about
        half of the exact part's time.

        Returns gfnrl.evaluate's dict (``tv``, ``kl``, ``kl_reverse``, ``jsd``, ``elbo``,
        ``eubo``, ``log_z``, ``model_mass``, ``expected_length``, ``corr``, ``mode_mass``, ...)
        with ``p_t`` a float64 torch tensor over the terminating states in ``p_t``'s order
        (``terminating_states``: env.get_terminating_states_indices where defined), plus
        ``seconds_forward`` (the estimators' passes) and ``seconds_exact`` (the rest)."""
        if pb is None and hasattr(pf, "pf") and getattr(pf, "pb", None) is not None:
            pb = pf.pb
        if hasattr(pf, "pf"):
            pf = pf.pf
        t0 = time.perf_counter()
        lp = self._log_probs(pf, False, **policy_kwargs)
        if isinstance(pb, str) and pb != "uniform":
            raise ValueError(f"pb = {pb!r}: give a backward estimator, 'uniform' or None")
        if not bounds:
            pb_table = None
        elif pb is None or isinstance(pb, str):
            pb_table = "uniform"
        else:
            pb_table = self.backward_table(pb, **policy_kwargs)
        t1 = time.perf_counter()
        m = self._exact_from(lp, pb_table, spearman)
        m["seconds_forward"] = t1 - t0
        m["seconds_exact"] = time.perf_counter() - t1
        return m

    def _exact_from(self, lp: torch.Tensor, pb_table, spearman: bool = False) -> dict:
        """The exact metrics of torchgfn's log-probabilities [num_states, n_actions] (NaN
        refused, naming the state): on the host the library's sweep reads them in place (P_T
        returned in p_t's order); elsewhere through the tables (_tables_from, _exact)."""
        if lp.device.type != "cpu" or self.dag.backend != "cpu":
            edge, exit_ = self._tables_from(lp)
            return self._exact(edge, exit_, pb_table, spearman)
        # The exit column is read as it is: torchgfn's to_probability_distribution gives -inf
        # where its mask forbids the exit (temperature, epsilon and sf_bias keep it), and an
        # estimator that did not would show as P_T mass off the target's support. No torch op
        # runs here: one between the estimator and the library's threads cost ~0.15 ms.
        lp = lp.to(torch.float32).contiguous()
        if pb_table is None:
            pb_args = ()
        elif isinstance(pb_table, str):
            pb_args = (pb_table,)
        else:
            pb_args = ("table", np.ascontiguousarray(pb_table.detach().cpu().numpy(), np.float32))
        try:
            m = gfnrl._gfnrl._evaluate_action_table(self.dag, lp, self._n_actions - 1,
                                                    self._term_order, *pb_args,
                                                    spearman=spearman)
        except ValueError:
            self._refuse_nan(lp, "pf")  # the state's tensor in the message, where it is NaN
            raise
        m["p_t"] = torch.from_numpy(m["p_t"])
        return m

    def _exact(self, edge, exit_, pb_table, spearman: bool = False) -> dict:
        """gfnrl.evaluate on the DAG's tables, P_T mapped to the env's terminating order."""
        # Rows are normalised by construction: torchgfn's log_softmax over its masks, whose
        # allowed actions were checked at build to be exactly the DAG's edges and exit.
        m = gfnrl.evaluate(self.dag, edge, exit_, pb=pb_table, spearman=spearman,
                           check_rows=False)
        p = np.asarray(m["p_t"], dtype=np.float64)
        if self._all_reached:
            m["p_t"] = torch.from_numpy(p[self._term_order])
        else:
            pt = np.zeros(self._term_order.size)
            reached = self._term_order >= 0
            pt[reached] = p[self._term_order[reached]]
            m["p_t"] = torch.from_numpy(pt)
        return m

    def every(self, k: int, **evaluate_kwargs) -> "EvaluationCallback":
        """A callback for training loops: ``cb(iteration, gflownet)`` returns the metrics at
        iterations divisible by ``k`` (and records them in ``cb.history``), else None."""
        return EvaluationCallback(self, k, **evaluate_kwargs)


class EvaluationCallback:
    """``cb(iteration, gflownet_or_pf, pb=None)``: ``ev.evaluate`` every ``k`` iterations.

    ``history``: a list of (iteration, metrics without ``p_t``) for plotting."""

    def __init__(self, evaluator: ExactEvaluator, k: int, **evaluate_kwargs):
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"every: k = {k!r}: give a positive integer")
        self.evaluator = evaluator
        self.k = k
        self.kwargs = evaluate_kwargs
        self.history: list = []

    def __call__(self, iteration: int, pf, pb: Any = None) -> Optional[dict]:
        if iteration % self.k != 0:
            return None
        m = self.evaluator.evaluate(pf, pb=pb, **self.kwargs)
        self.history.append((iteration, {k: v for k, v in m.items() if k != "p_t"}))
        return m
