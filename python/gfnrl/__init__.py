"""gfnrl: exact answers for tabular soft RL and GFlowNets on explicitly enumerated DAGs.

Build a DAG (``hypergrid``, ``subsets``, ``bitseq``, ``dag_structure``, ``ising``,
``set_addition``, ``binary_tree``, ``tree``, ``load_dag``, ``Dag.from_edges``), then ask exactly
what a policy samples (``evaluate``) or what the soft-optimal policy is (``solve``). Arrays come back as numpy arrays; inputs may be numpy arrays
or anything numpy can read (torch CPU tensors, DLPack-capable arrays). The library's errors
arrive as ``ValueError`` (bad input), ``MemoryError`` (a size the backend cannot hold) and
``RuntimeError`` (CUDA failures), with the library's messages.
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt
from typing import TypedDict, Union

# libgomp spins ~300,000 times at every barrier by default: beside another busy program (a second
# study, torch's own thread pool) every barrier then waits a time slice and the sweeps run 7-60x
# slower. A short spin keeps idle-machine speed (docs/PERF_NOTES.md). libgomp reads it once, when
# loaded: this takes effect only if no module loaded it before gfnrl, and never overrides a
# choice the user made.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "1000"

from ._gfnrl import (
    Dag,
    algo_names,
    backend_names,
    binary_tree,
    bitseq,
    cuda_available,
    cuda_compiled,
    dag_structure,
    environment_names,
    hypergrid_preset_names,
    ising,
    load_dag,
    set_addition,
    subsets,
    trainer_options,
    tree,
)
from . import _gfnrl

from .training import Trainer, study

_native_from_edges = Dag.from_edges  # Dag.from_edges becomes the checked _from_edges below

__version__ = "0.1.0"

__all__ = [
    "Dag",
    "algo_names",
    "backend_names",
    "binary_tree",
    "bitseq",
    "cuda_available",
    "cuda_compiled",
    "dag_structure",
    "environment_names",
    "evaluate",
    "Evaluation",
    "hypergrid",
    "hypergrid_preset_names",
    "ising",
    "load_dag",
    "policy_from_logits",
    "solve",
    "solve_hypergrid",
    "set_addition",
    "study",
    "subsets",
    "Trainer",
    "trainer_options",
    "tree",
]


def hypergrid(ndim: int | None = None, height: int | None = None, r0: float | None = None,
              r1: float | None = None, r2: float | None = None, backend: str = "auto",
              regions: str = "exact", preset: str | None = None) -> Dag:
    """The hypergrid {0..height-1}^ndim: R(x) = r0 + r1 prod_d [1/4 < |x_d/(H-1) - 1/2|]
    + r2 prod_d [3/10 < |x_d/(H-1) - 1/2| < 2/5], every state terminates.

    Action d (0 <= d < ndim) is +1 on coordinate d; the exit is action ``ndim``
    (``dag.exit_action``). ``dag.labels()`` holds each state's code x_0 + H x_1 + H^2 x_2 + ...
    (torchgfn's ``get_states_indices`` orders the coordinates the other way round);
    ``dag.coords()`` its coordinates. ``regions``: "exact" decides the regions in rational
    arithmetic (the definition; torchgfn agrees), "float64" as float64 reference codes do.
    ``preset``: one of ``hypergrid_preset_names()`` (standard, hard: 4-D H=20; policy-gradient:
    2-D H=256; torchgfn: 4-D H=8 with r0 0.1), the CLI's presets; explicit arguments override
    it. Without a preset: ndim 2, height 8, r0 1e-3, r1 0.5, r2 2.
    """
    base = _gfnrl._hypergrid_preset(preset) if preset is not None else (2, 8, 1e-3, 0.5, 2.0)
    given = (ndim, height, r0, r1, r2)
    d, h, a0, a1, a2 = (g if g is not None else b for g, b in zip(given, base))
    return _gfnrl.hypergrid(d, h, a0, a1, a2, backend=backend, regions=regions)


def _state_ids(x, name: str, lo: int = 0) -> np.ndarray:
    """int32 ids from any integer array, or a float array holding whole numbers; ValueError
    naming the first entry that is not a whole number in [lo, 2^31 - 1] (numpy would wrap int64
    ids past 2^31 and truncate floats)."""
    a = np.asarray(x)
    if a.dtype == object or np.iscomplexobj(a) or not (np.issubdtype(a.dtype, np.integer) or
                                                       np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name} must be an array of integers, not {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, not of shape {a.shape}")
    bad = ~((a >= lo) & (a <= 2**31 - 1))
    if np.issubdtype(a.dtype, np.floating):
        bad |= ~np.isfinite(a) | (a != np.floor(np.where(np.isfinite(a), a, 0)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] = {a[i].item()!r}: ids must be whole numbers in "
                         f"[{lo}, 2^31-1]")
    return np.ascontiguousarray(a, dtype=np.int32)


def _log_values(x, name: str, none_means: str) -> np.ndarray:
    """float64 1-D from a real array; ValueError naming the first entry that is neither finite
    within float32's range nor -inf."""
    a = np.asarray(x)
    if a.dtype == object or np.iscomplexobj(a) or not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name} must be a real array, not {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, not of shape {a.shape}")
    bad = ~((np.abs(a) <= np.finfo(np.float32).max) | (a == -np.inf))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] = {a[i].item()!r}: give a finite value within float32's "
                         f"range (|v| <= 3.4e38), or -inf {none_means}")
    return a


def _from_edges(src, dst, action, log_reward, source: int = 0, backend: str = "auto",
                intermediate_log_reward=None) -> Dag:
    """A DAG from an edge list in your own state ids (0..len(log_reward)-1); log_reward[s] = -inf
    where s does not terminate. Ids must be whole numbers in [0, 2^31 - 1] (int64 ids are not
    wrapped, floats not truncated); a log-reward must be finite and within float32's range, or
    -inf. ``intermediate_log_reward`` (optional, one per state): -E(s), which forward-looking
    flows (``Trainer(dag, "fldb")``) read where log R is -inf; -inf where none. Validated by
    the library as DAG files are: cycles, duplicate edges, unreachable states and dead ends
    raise ValueError."""
    lr = _log_values(log_reward, "log_reward", "where the state does not terminate")
    mid = None
    if intermediate_log_reward is not None:
        mid = _log_values(intermediate_log_reward, "intermediate_log_reward", "where none")
        if mid.shape != lr.shape:
            raise ValueError(f"intermediate_log_reward has {mid.shape[0]} entries but "
                             f"log_reward {lr.shape[0]}: give one per state")
    return _native_from_edges(_state_ids(src, "src"), _state_ids(dst, "dst"),
                              _state_ids(action, "action"), lr, source, backend, mid)


def _host_array(x, dtype, name):
    """A C-contiguous host numpy array of `dtype` from numpy, a torch CPU tensor, or DLPack."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch: no autograd history, on the host
        x = x.detach().cpu()
    elif _on_cuda(x):
        raise ValueError(f"{name} is a CUDA array but the DAG is on the CPU backend: build it "
                         f"with backend='cuda', or pass host arrays")
    if not isinstance(x, np.ndarray) and hasattr(x, "__dlpack__"):
        a = np.from_dlpack(x)  # torch, JAX, CuPy host arrays: no copy when dtype matches
    else:
        a = np.asarray(x)
    if a.dtype == object:
        raise ValueError(f"{name} is not a numeric array")
    if np.iscomplexobj(a):
        raise ValueError(f"{name} is a complex array ({a.dtype}): give real values")
    return np.ascontiguousarray(a, dtype=dtype)


class Evaluation(TypedDict, total=False):
    """What ``evaluate`` returns: floats for one run, float64 arrays [runs] for batched input
    (``p_t``: [num_states] or [runs, num_states]); ``elbo``/``eubo`` only with a ``pb``,
    ``spearman`` only when asked for."""
    tv: Union[float, np.ndarray]
    kl: Union[float, np.ndarray]
    kl_reverse: Union[float, np.ndarray]
    jsd: Union[float, np.ndarray]
    model_mass: Union[float, np.ndarray]
    expected_length: Union[float, np.ndarray]
    corr: Union[float, np.ndarray]
    mode_mass: Union[float, np.ndarray]
    elbo: Union[float, np.ndarray]
    eubo: Union[float, np.ndarray]
    spearman: Union[float, np.ndarray]
    mode_mass_target: float
    num_modes: int
    log_z: float
    p_t: np.ndarray


def evaluate(dag: Dag, edge_log_pf: npt.ArrayLike, exit_log_pf: npt.ArrayLike,
             pb: Union[str, npt.ArrayLike, None] = "uniform", spearman: bool = False,
             renormalise: bool = False, check_rows: bool = True) -> Evaluation:
    """The exact terminating distribution P_T of a tabular forward policy, against R/Z.

    ``edge_log_pf``: log P_F of every edge in the library's edge order (``dag.edges()``),
    shape [num_edges] or [runs, num_edges]; ``exit_log_pf``: log P_F(exit | s) per state
    (-inf where s does not terminate), [num_states] or [runs, num_states]. Host arrays (numpy,
    torch CPU tensors, DLPack) are read in place on a CPU DAG, with no copy (float32, C-contiguous;
    other arrays are converted first), and copied to the device on a CUDA DAG; on a CUDA DAG,
    torch CUDA tensors (and other CUDA DLPack arrays) are read in place on the device, with no
    host copy.

    ``pb``: the backward policy of the variational bounds: "uniform", "maxent", "file" (a DAG
    file's own P_B), a float array of log P_B per edge, or None for no bounds (about a third of
    the call's time on large DAGs).

    Returns a dict: ``tv``, ``kl`` (KL(R/Z || P_T)), ``kl_reverse`` (KL(P_T || R/Z)), ``jsd``,
    ``model_mass`` (sum of P_T, 1 for a normalised policy), ``expected_length``, ``corr``
    (Pearson's r of the exact log P_T and log R over the target's support, every state weighted
    equally; not gfnx's importance-sampled ``corr``), ``mode_mass`` (P_T's mass on the
    modes: R within 1e-6 relative of its maximum), with a ``pb`` also ``elbo`` =
    E_{P_F}[log R + sum log P_B - sum log P_F] - log Z (<= 0) and ``eubo`` (the same expectation
    under the target's backward process, >= 0), exactly (floats, or float64 arrays [runs] for
    batched input); ``log_z`` (log sum R), ``num_modes``,
    ``mode_mass_target`` (R/Z's mass on the modes) and ``p_t`` (float64 [num_states] or
    [runs, num_states]). With ``spearman=True`` also ``spearman``: Spearman's rank correlation
    of log P_T and log R over terminating states, ties at their average rank (exact ranks: float
    rounding splits the ties of equal rewards, so large ties keep it below 1 even at the optimum;
    it sorts every run's P_T on the host, N log N).

    Every state's row (its edges and its exit) must sum to 1 within 1e-4 (host tables; ValueError
    naming the run, the state and its sum); ``renormalise=True`` normalises each row first (a
    copy); ``check_rows=False`` skips the check (about 2 ms of a 6 ms call on 4-D H=20) for
    tables known to be normalised, such as the library's own. Complex arrays are refused.
    """
    if dag.backend == "cuda" and _on_cuda(edge_log_pf) and _on_cuda(exit_log_pf):
        e = _device_table(edge_log_pf)
        x = _device_table(exit_log_pf)
    else:
        e = _host_array(edge_log_pf, np.float32, "edge_log_pf")
        x = _host_array(exit_log_pf, np.float32, "exit_log_pf")
        if renormalise:
            e, x = _gfnrl._normalise_rows(dag, e, x)
    if pb is None:
        return _gfnrl._evaluate(dag, e, x, spearman=spearman, check_rows=check_rows)
    if isinstance(pb, str):
        if pb == "table":
            raise ValueError("pb: give a backward policy name or a table of log P_B")
        return _gfnrl._evaluate(dag, e, x, pb, spearman=spearman, check_rows=check_rows)
    return _gfnrl._evaluate(dag, e, x, "table", _host_array(pb, np.float32, "pb"),
                            spearman=spearman, check_rows=check_rows)


def solve(dag: Dag, correction: str = "uniform") -> dict:
    """The soft-optimal policy by exact soft value iteration.

    ``correction``: the backward policy whose log-probabilities are the inner rewards:
    "uniform" or "maxent" (the policy then samples R/Z exactly and ``log_z`` = V(s0) = log Z),
    "file" (the P_B a DAG file carries) or "none" (samples n(x) R(x)).

    Returns a dict of numpy arrays: ``edge_log_pf`` [num_edges], ``exit_log_pf`` [num_states],
    ``value`` (V), ``q`` (Q per edge), ``exit_q`` (log R), and ``log_z`` = V(s0).
    """
    return _gfnrl._solve(dag, correction)


def solve_hypergrid(ndim: int, height: int, r0: float = 1e-3, r1: float = 0.5, r2: float = 2.0,
                    regions: str = "exact", policy: str = "optimal", correction: str = "uniform",
                    backend: str = "cpu", layout: str = "auto") -> dict:
    """Exact metrics of a hypergrid's soft-optimal (or uniform) policy, by default without
    building its DAG.

    ``layout``: "implicit" (``gfnrl solve --layout implicit``): children, parents and rewards come
    from each state's coordinates, so only a few floats per state are stored and grids past 2^31
    states fit (6-D H=32, 1.07e9 states, in about 13 GB); "csr": the DAG built and the general
    sweeps run (the reference); "auto" (default): implicit on the CPU backend whenever it holds
    the request (correction "uniform" or "none"), else csr. ``policy``: "optimal" (the
    soft-optimal policy of ``correction``: "uniform", which samples R/Z, "none", which samples
    n(x) R(x), or, on the csr layout, "maxent") or "uniform". ``backend``: "cpu", or "cuda"
    (the implicit kernels compiled, not yet run on a GPU; auto takes csr there).

    Returns a dict of floats: ``tv``, ``kl``, ``kl_reverse``, ``jsd``, ``model_mass``,
    ``expected_length``, ``corr``, ``mode_mass``, ``mode_mass_target``, ``elbo``, ``eubo`` (with
    the uniform P_B), ``log_z`` (summed over the states), ``closed_form_log_z`` (log(R0 H^D +
    R1 a^D + R2 b^D)), ``soft_vi_log_z`` (V(s0); NaN for the uniform policy), ``spearman`` (NaN
    past 2^26 states), the seconds of each phase, and ``num_modes``, ``num_states``,
    ``num_edges``, ``num_levels`` and ``layout`` (the one that solved it). For per-state arrays,
    build the DAG (``hypergrid``) and use ``solve`` and ``evaluate``.
    """
    return _gfnrl._solve_hypergrid(ndim, height, r0, r1, r2, regions, policy, correction, backend,
                                   layout)


def _on_cuda(x) -> bool:
    """Whether `x` is a DLPack array on a CUDA device (DLPack device type 2)."""
    dev = getattr(x, "__dlpack_device__", None)
    return dev is not None and not isinstance(x, np.ndarray) and dev()[0] == 2


def _device_table(x):
    """A CUDA tensor as the binding reads it in place: float32, C-contiguous, its producer's work
    finished (the library reads it on its own stream)."""
    if hasattr(x, "detach") and hasattr(x, "contiguous"):  # torch
        import torch

        x = x.detach().to(torch.float32).contiguous()
        torch.cuda.synchronize(x.device)
    return x


def policy_from_logits(dag: Dag, logits: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Policy tables from per-state logits over the action ids plus the exit.

    ``logits``: [num_states, dag.exit_action + 1] (or [runs, num_states, exit_action + 1]);
    column a < exit_action is the logit of the edge with action id a, the last column the exit's.
    Invalid actions (no such edge at that state, or the exit of a non-terminating state) are
    masked out before the softmax, as a GFlowNet's masked policy head does.

    Returns ``(edge_log_pf, exit_log_pf)`` in the shapes ``evaluate`` takes (float32). NaN and
    +inf logits, and a state whose valid logits are all -inf, raise ValueError naming them.
    """
    return _gfnrl._policy_from_logits(dag, _host_array(logits, np.float64, "logits"))


Dag.from_edges = staticmethod(_from_edges)
