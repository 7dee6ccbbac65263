"""gfnrl's learners from Python: ``Trainer`` (one learner, many seeds, batched in lockstep) and
``study`` (several learners side by side, the CLI's CSV)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from . import _gfnrl
from ._gfnrl import Dag


class Trainer:
    """Batched tabular training: ``runs`` independent runs of one learner on one DAG, stored as
    one table and advanced together, with every run's exact P_T available at any step.

    ``algo``: tb, db, subtb, softdqn, munchausen, mdb, zvar, fm, pg, ac, rtb / trust-pcl (TB / SubTB
    with a base policy, uniform unless ``prior`` names a policy file), or fldb / flsubtb (DB /
    SubTB with forward-looking flows). Run r draws with
    ``seed + r``. ``pb``: the backward policy, fixed ("uniform", "maxent", "file": the DAG file's,
    "none") or trained ("learned", "tlm", "coupled", "guided"). ``options``: any TrainConfig
    field by name (``trainer_options()`` lists them: lr, lr_log_z, optimizer, epsilon,
    temperature, subtb_lambda, exact_gradient, ...); ``lr``, ``lr_log_z``, ``epsilon``,
    ``epsilon_end``, ``temperature`` and ``temperature_end`` may be one value or one per run. Options not given take the learner's
    recommended configuration: the lr and epsilon ``gfnrl tune`` chose on the 2-D H=8 reference
    grid (docs/RESULTS.md "Tuning"; epsilon 0 with ``exact_gradient``). ``evaluate()`` also reports
    ``modes_found`` (and on hypergrids ``mode_regions_found``, else -1) per run.
    The same seed and options give the CLI's numbers (``gfnrl train``) bit for bit.
    """

    def __init__(self, dag: Dag, algo: str = "tb", runs: int = 1, seed: int = 0,
                 batch: int = 16, pb: str = "uniform", prior: str | None = None, **options):
        self.dag = dag
        self._t = _gfnrl._Trainer(dag, algo, runs, seed, batch, pb, prior or "", options)

    def step(self, n: int = 1) -> None:
        """Advances every run by ``n`` training steps."""
        self._t.step(n)

    def evaluate(self, spearman: bool = False) -> dict:
        """Every run's exact evaluation: ``tv``, ``kl``, ``kl_reverse``, ``jsd``,
        ``model_mass``, ``expected_length``, ``log_z_estimate``, ``corr``, ``mode_mass``,
        ``elbo`` and ``eubo`` (with each run's own P_B; NaN for a base-policy target) (float64
        arrays [runs]), and ``step``, ``trajectories`` (per run so far), ``log_z`` (the
        target's), ``mode_mass_target``, and ``diverged`` (uint8 [runs]: 1 where a run's tables
        are no longer finite, a rate far too large; its metrics are then NaN). With
        ``spearman=True`` also ``spearman``: each run's Spearman rank correlation of P_T with
        the target (a host sort per run)."""
        return self._t.evaluate(spearman)

    def train(self, steps: int, eval_every: int = 100, callback=None,
              spearman: bool = False, progress: bool = False) -> dict:
        """Runs ``steps`` steps, evaluating before the first, every ``eval_every`` steps and
        after the last (the CLI's schedule). ``callback(evaluation)`` is called after each
        evaluation. Returns the curves: ``step`` and ``trajectories`` [K], and every metric of
        ``evaluate`` (``evaluate(spearman)``) as [K, runs]. ``progress=True`` writes the CLI's
        progress line (step, TV mean and range over runs, ETA) to stderr every 2 s and at the
        end."""
        if steps < 0 or eval_every < 1:
            raise ValueError(f"train: steps = {steps} must be >= 0 and eval_every = "
                             f"{eval_every} >= 1")
        # The library's loop (the CLI's): steps and evaluations in C++, the GIL released.
        return _stack(self._t.train(steps, eval_every, spearman, callback, progress))

    def policy(self, run: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Run ``run``'s current forward policy: (edge_log_pf, exit_log_pf), as evaluate takes."""
        return self._t.policy(run)

    def backward_policy(self, run: int = 0) -> np.ndarray:
        """log P_B per edge that run ``run`` uses (fixed, or its current trained one)."""
        return self._t.backward_policy(run)

    def last_loss(self) -> np.ndarray:
        """Each run's mean loss at the last step (0 before the first update)."""
        return self._t.last_loss()

    def parameters(self) -> np.ndarray:
        """Every run's table, float32 [runs, entries] (row layout: detail/table_layout.hpp)."""
        return self._t.parameters()

    @property
    def steps_done(self) -> int:
        """Training steps taken so far."""
        return self._t.steps_done

    @property
    def trajectories_per_run(self) -> int:
        """Trajectories sampled per run so far (0 with the exact gradient)."""
        return self._t.trajectories_per_run

    @property
    def runs(self) -> int:
        """Number of runs."""
        return self._t.runs

    @property
    def target_log_z(self) -> float:
        """log of the target's normaliser (log sum R, or log sum mu^T R with a base policy)."""
        return self._t.target_log_z


def _stack(evaluations):
    """Curves from a loop's evaluations: ``step`` and ``trajectories`` [K], every array [K, runs]."""
    keys = [k for k in evaluations[0] if isinstance(evaluations[0][k], np.ndarray)]
    curves = {k: np.stack([e[k] for e in evaluations]) for k in keys}
    curves["step"] = np.array([e["step"] for e in evaluations])
    curves["trajectories"] = np.array([e["trajectories"] for e in evaluations])
    return curves


def study(dag: Dag, algos=("tb", "db", "subtb", "softdqn", "munchausen"), runs: int = 4,
          seed: int = 0, steps: int = 20000, batch: int = 16, eval_every: int = 500,
          pb: str = "uniform", out: str | None = None, spearman: bool = False,
          jobs: int | str = "auto", callback=None, progress: bool = False, **options) -> dict:
    """Every learner in ``algos`` with ``runs`` seeds on one DAG, as ``gfnrl study`` runs it (the
    same C++ loop and thread pool).

    ``jobs``: learners trained side by side, each on its share of the cores (``"auto"``: one per
    core, at most one per learner; the CLI's ``--jobs``). Results do not depend on it.

    An entry of ``algos`` is a learner name, or ``"learner/pb"`` to give that learner its own
    backward policy (labelled so). Every configuration is checked before any training.
    ``callback(label, evaluation)``, when given, hears every evaluation of every learner (the
    dict of ``Trainer.evaluate``; from the learners' threads, one call at a time); an exception
    it raises stops the study and is raised, as is the first failure of any learner (the others
    stop at their next evaluation). ``progress=True`` writes each learner's progress line (with
    an ETA) to stderr, as the CLI does. Returns ``{label: curves}`` with the curves of
    ``Trainer.train``. With ``out``, also writes the CLI's CSV (``algo,run,seed,step,
    trajectories,tv,kl,jsd,log_z_error,elbo,eubo,corr,spearman,mode_mass,modes_found,
    mode_regions_found,seconds``; every column but ``seconds`` equal to the CLI's for the same
    arguments; ``spearman`` filled with ``spearman=True``, as the CLI's ``--spearman``), which
    appears under its name only when complete.
    """
    if isinstance(algos, str):
        algos = algos.split(",")
    if jobs == "auto":
        jobs = min(len(algos), os.cpu_count() or 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= 1024:
        raise ValueError(f"study: jobs = {jobs!r} must be 'auto' or an integer in [1, 1024]")
    if steps < 0 or eval_every < 1:
        raise ValueError(f"study: steps = {steps} must be >= 0 and eval_every = "
                         f"{eval_every} >= 1")
    labels, trainers = [], []
    for entry in algos:
        name, _, own_pb = entry.partition("/")
        labels.append(entry if own_pb else name)
        trainers.append(Trainer(dag, name, runs, seed, batch, own_pb or pb, **options))
    # The output's temporary exists before any training, so an unwritable place fails first;
    # it is renamed over `out` only when complete, and removed on any error or Ctrl-C.
    tmp = None
    if out is not None:
        try:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(out)),
                                       prefix=".gfnrl-", suffix=".csv")
        except OSError as e:
            raise type(e)(e.errno, f"study: cannot write out={out!r}: {e.strerror}") from None
        os.close(fd)
    try:
        evaluations, lines = _gfnrl._study([t._t for t in trainers], labels, steps, eval_every,
                                           spearman, jobs, callback, progress)
        if tmp is not None:
            with open(tmp, "w") as f:
                f.write("\n".join(lines) + "\n")
            os.replace(tmp, out)
            tmp = None
    finally:
        if tmp is not None:
            os.unlink(tmp)
    return {label: _stack(e) for label, e in zip(labels, evaluations)}
