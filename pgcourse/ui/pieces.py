"""Your pieces train: Δ_k = F_k(your pieces) − F_k(pgcourse's), the paired difference of final returns per seed k.

``train_with_pieces(config, seeds, rtg_fn=…, baseline_fn=…, loss_fn=…, check=…)`` trains CartPole (or any
``config``) twice on the same seeds and budget with ``pgcourse.seeds.train_seeds``: once with pgcourse's
reward-to-go, per-step mean baseline and pseudo-loss, once with the reader's own pieces plugged into the
loop's extension point (``weighting=PieceWeights(config, …)``, pgcourse/weights.py). It returns a
``PieceRun``: both runs' histories, their final returns F_k (``stats.final_returns``), the median of the
paired differences Δ_k with a 95 % percentile bootstrap interval over the seeds, a figure of both seed
bands (``run.plot()``) and a one-line reading (``run.summary()``)::

    run = train_with_pieces(TrainConfig(target_return=475, max_env_steps=20_000), range(10),
                            rtg_fn=reward_to_go_loop, check=check_reward_to_go_loop)
    run.plot(); plt.show()
    print(run.summary())

The pieces and their signatures (pgcourse's piece is used for any left at None):

* ``rtg_fn(rew, mask, gamma) -> (N, T)``: Q̂_{i,t}, pgcourse's ``returns.reward_to_go`` (notebook 06);
* ``baseline_fn(rtg, mask) -> (T,)``: the per-step mean b_t, pgcourse's ``baselines.time_mean_baseline`` (07);
* ``loss_fn(logp, weights, mask) -> scalar``: the pseudo-loss, pgcourse's ``estimators.pg_pseudo_loss`` (09).

(``baseline_fn`` is used when ``config.baseline == "mean"`` and ``config.weights == "reward_to_go"``,
TrainConfig's defaults.) Before training, each piece is called once on a small case: a stub that
raises ``NotImplementedError`` (the student edition) is replaced by pgcourse's piece with a one-line
note, so the cell still runs; when every piece is a stub only pgcourse's run is trained. ``check``
(the piece's checker, or a dict {keyword: checker} for several pieces) is run quietly first; if it
fails, one line names the piece and the run goes ahead with it, so the reader sees what the mistake
does to learning. The reader's functions get copies of their inputs, so one that writes into them
cannot corrupt the batch. If a piece raises during training, one line says so and there is no run to
compare (``run.reader`` is None).

When the reader's pieces compute exactly what pgcourse's compute, bit for bit, the two runs are the
same run seed for seed (``run.same``): same seeds, same arithmetic, one machine. The summary says so
instead of printing the degenerate interval [0, 0]. A piece that is correct but rounds differently
(a Python loop instead of a matrix product) gives runs that agree at first and may drift apart later,
as CartPole magnifies rounding (notebook 00); the interval of Δ says whether the difference matters.

Used by notebooks/06_causality_reward_to_go.ipynb, 07_baselines.ipynb, 09_implementing_policy_gradients.ipynb
and 10_capstone.ipynb.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from pgcourse.baselines import time_mean_baseline
from pgcourse.config import TrainConfig
from pgcourse.estimators import pg_pseudo_loss
from pgcourse.history import History
from pgcourse.returns import reward_to_go
from pgcourse.seeds import train_seeds
from pgcourse.seeds.processes import auto_processes
from pgcourse.stats import bootstrap_interval, final_returns, median_iqr
from pgcourse.ui.checks import on_copies
from pgcourse.weights import PieceWeights

__all__ = ["PIECES", "PieceRun", "train_with_pieces", "same_run", "same_episodes", "piece_name"]

PIECES = {"rtg_fn": reward_to_go, "baseline_fn": time_mean_baseline, "loss_fn": pg_pseudo_loss}
"""PieceWeights' keywords and pgcourse's piece for each."""


def _probe_args(keyword: str) -> tuple:
    """A small case to call a piece on once: rew/rtg/logp (2, 3) with the second trajectory one step short."""
    mask = torch.tensor([[True, True, True], [True, True, False]])
    rew = torch.where(mask, torch.ones(2, 3), torch.zeros(()))
    if keyword == "rtg_fn":
        return rew, mask, 0.9
    if keyword == "baseline_fn":
        return reward_to_go(rew, mask, 0.9), mask
    logp = torch.full((2, 3), -0.7, requires_grad=True)
    return logp, torch.tensor([[1.0, -0.5, 0.25], [0.5, -1.0, 0.0]]), mask


def piece_name(fn: Callable) -> str:
    """The name the reader gave a piece: its function's name (through functools.partial), else its type."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__name__", type(fn).__name__)


def _run_check(check: Callable, fn: Callable):
    """The checker's CheckResult on fn, printing nothing (verbose=False where the checker takes it)."""
    try:
        takes_verbose = "verbose" in inspect.signature(check).parameters
    except (TypeError, ValueError):
        takes_verbose = False
    if takes_verbose:
        return check(fn, verbose=False)
    with contextlib.redirect_stdout(io.StringIO()):
        return check(fn)


def same_run(a: Sequence[History], b: Sequence[History], policies_a=None, policies_b=None) -> bool:
    """True when two multi-seed runs are the same run: every History row equal (NaN = NaN, wall time
    aside), the same outcomes, and (if given) the same final policy parameters, seed for seed."""
    if len(a) != len(b):
        return False
    for ha, hb in zip(a, b):
        if (ha.solved, ha.diverged, len(ha)) != (hb.solved, hb.diverged, len(hb)):
            return False
        for column in ("mean_return", "stderr_return", "recent_return", "env_steps", "loss", "grad_norm", "entropy"):
            if not np.array_equal(np.asarray(getattr(ha, column), dtype=float),
                                  np.asarray(getattr(hb, column), dtype=float), equal_nan=True):
                return False
    if policies_a is not None and policies_b is not None:
        for pa, pb in zip(policies_a, policies_b):
            sa, sb = pa.state_dict(), pb.state_dict()
            if sa.keys() != sb.keys() or not all(torch.equal(sa[k], sb[k]) for k in sa):
                return False
    return True


def same_episodes(a: History, b: History) -> bool:
    """True when two runs of one seed sampled the same episodes: equal returns and env steps, batch for batch."""
    return all(np.array_equal(np.asarray(getattr(a, c), dtype=float), np.asarray(getattr(b, c), dtype=float))
               for c in ("mean_return", "recent_return", "env_steps"))


def _median_interval(values) -> tuple[float, float, float]:
    """(median, low, high): the median and its 95 % percentile bootstrap interval over the seeds."""
    values = np.asarray(values, dtype=float)
    lo, hi = bootstrap_interval(values)
    return float(np.median(values)), lo, hi


@dataclass
class PieceRun:
    """Two runs on the same seeds and budget: pgcourse's pieces (``reference``) and the reader's (``reader``).

    final_reference, final_reader: (K,) final returns F_k (``stats.final_returns``: the mean return of each
    seed's last max(16, N) episodes). difference: (median, low, high) of Δ_k = F_k(reader) − F_k(reference)
    over the K seeds, paired by seed, with its 95 % percentile bootstrap interval (seeds resampled, 4000
    times, seeded). gain: the same for G_k = F_k(reader) − (mean return of seed k's first batch): the
    reader's run learns when the interval of its median lies above 0. same: the two runs are the same
    run, seed for seed. fallback: every reader's piece was a stub, so only pgcourse's run was trained
    (reader is reference). reader is None when a reader's piece raised during training (``failure``).
    """

    label: str
    config: TrainConfig
    seeds: list[int]
    reference: list[History]
    reader: list[History] | None
    same: bool = False
    same_episodes: list[bool] = field(default_factory=list)
    fallback: bool = False
    failure: str | None = None
    notes: list[str] = field(default_factory=list)
    reference_policies: list[nn.Module] | None = None
    reader_policies: list[nn.Module] | None = None

    @property
    def final_reference(self) -> np.ndarray:
        """F_k with pgcourse's pieces, (K,)."""
        return final_returns(self.reference)

    @property
    def final_reader(self) -> np.ndarray | None:
        """F_k with the reader's pieces, (K,); None when there is no run."""
        return None if self.reader is None else final_returns(self.reader)

    @property
    def difference(self) -> tuple[float, float, float] | None:
        """Median of F_k(reader) − F_k(reference) over the seeds and its 95 % bootstrap interval."""
        if self.reader is None:
            return None
        return _median_interval(self.final_reader - self.final_reference)

    @property
    def gain(self) -> tuple[float, float, float] | None:
        """Median over the seeds of the reader's final return minus its first batch's mean return, and its interval."""
        if self.reader is None:
            return None
        first = np.array([h.mean_return[0] for h in self.reader], dtype=float)
        return _median_interval(self.final_reader - first)

    def verdict(self) -> str:
        """'the same run', 'does not learn', 'learns worse', 'learns better' or 'no difference detected'."""
        if self.reader is None:
            return "no run"
        if self.same:
            return "the same run"
        if self.gain[1] <= 0:
            return "does not learn"
        _, lo, hi = self.difference
        if hi < 0:
            return "learns worse"
        if lo > 0:
            return "learns better"
        return "no difference detected"

    def _budget(self) -> str:
        k = len(self.seeds)
        budget = self.config.max_env_steps
        limits = [f"at most {self.config.iterations} iterations"]
        if budget is not None:
            limits.append(f"{budget / 1000:g}k env steps")
        return f"{k} seeds × " + " and ".join(limits)

    def summary(self) -> str:
        """One line: both runs' final returns over the seeds and what the paired difference says."""
        ref = "median {:.0f} (IQR {:.0f}–{:.0f})".format(*median_iqr(self.final_reference))
        if self.fallback:
            return f"pgcourse's run only ({self.label} is not written yet), {self._budget()}: final return {ref}"
        if self.reader is None:
            return f"{self.label}: no run ({self.failure}); pgcourse's, {self._budget()}: final return {ref}"
        if self.same:
            return (f"{self.label}: the same run as pgcourse's, seed for seed ({self._budget()}; final return "
                    f"{ref})")
        yours = "median {:.0f} (IQR {:.0f}–{:.0f})".format(*median_iqr(self.final_reader))
        diff, lo, hi = self.difference
        change = "below" if self.gain[2] < 0 else "no higher than"
        reading = {"does not learn": (f"yours does not learn: its final return is {change} its first batch's (median "
                                      "change {:+.0f}, 95 % interval [{:+.0f}, {:+.0f}])").format(*self.gain),
                   "learns worse": "yours learns worse",
                   "learns better": "yours learns better",
                   "no difference detected": "no difference detected on these seeds"}[self.verdict()]
        same = sum(self.same_episodes)
        shared = f", {same} of which sampled exactly pgcourse's episodes" if same else ""
        if np.all(np.asarray(self.final_reader) == np.asarray(self.final_reference)):
            return (f"{self.label}: final return {yours} against pgcourse's {ref}, {self._budget()}{shared}; "
                    "yours − pgcourse's is 0 on every seed (not bit for bit the same run, but the same final returns)")
        return (f"{self.label}: final return {yours} against pgcourse's {ref}, {self._budget()}{shared}; yours − "
                f"pgcourse's per seed: median {diff:+.0f}, 95 % interval [{lo:+.0f}, {hi:+.0f}]: {reading}")

    def plot(self, ax=None, x: str = "env_steps", show_seeds: bool = False):
        """Both runs' median learning curves over the seeds with their interquartile bands; returns the axes."""
        from pgcourse.plots import plot_seed_band

        target = self.config.target_return
        ax = plot_seed_band(self.reference, ax=ax, label="pgcourse's pieces", x=x, color="C0",
                            show_seeds=show_seeds, target=target)
        if self.reader is not None and not self.fallback:
            lines = len(ax.lines)
            plot_seed_band(self.reader, ax=ax, label=self.label, x=x, color="C1", show_seeds=show_seeds)
            ax.lines[lines].set_linestyle("--")      # the reader's median, dashed: visible on top of an equal one
            ax.legend(loc="lower right", fontsize="small")
        title = f"{self.label[:1].upper()}{self.label[1:]} and pgcourse's pieces, {self._budget()}"
        if self.same:
            title += ": the same run"
        elif self.fallback:
            title = f"pgcourse's pieces only, {self._budget()}"
        ax.set_title(title, fontsize="medium")
        return ax


def _unused_pieces(config: TrainConfig, given) -> dict[str, str]:
    """The pieces that PieceWeights would not call under ``config``, each with the reason (so that a run is
    never labelled with a piece it did not use)."""
    unused = {}
    if "rtg_fn" in given and config.weights != "reward_to_go":
        unused["rtg_fn"] = f"weights={config.weights!r} uses R(τ), not the reward-to-go; use weights='reward_to_go'"
    if "baseline_fn" in given and (config.baseline != "mean" or config.weights != "reward_to_go"):
        unused["baseline_fn"] = ("the per-step mean b_t is used with baseline='mean' and weights='reward_to_go' only "
                                 f"(got baseline={config.baseline!r}, weights={config.weights!r})")
    if config.steps_per_batch > 1:
        for key in given:
            unused.setdefault(key, f"steps_per_batch={config.steps_per_batch} reuses batches with importance weights, "
                                   "which PieceWeights does not do; use steps_per_batch=1")
    return unused


def train_with_pieces(config: TrainConfig, seeds, *, rtg_fn: Callable | None = None,
                      baseline_fn: Callable | None = None, loss_fn: Callable | None = None,
                      check: Callable | Mapping[str, Callable] | None = None, verbose: bool = True) -> PieceRun:
    """Δ_k = F_k(your pieces) − F_k(pgcourse's) on seeds k, both trained by ``train_seeds`` with the same budget.

    config: a TrainConfig (e.g. ``TrainConfig(target_return=475, max_env_steps=20_000)``); seeds: K ≥ 2
    seeds (≥ 10 for a claim). rtg_fn(rew, mask, gamma) -> (N, T), baseline_fn(rtg, mask) -> (T,),
    loss_fn(logp, weights, mask) -> scalar: the reader's pieces (see the module docstring); None keeps
    pgcourse's. check: the piece's checker (e.g. ``check_reward_to_go_loop``), called on the piece as
    given, or {keyword: checker}. verbose: print the note or the failing check's line (one line each).
    Returns a PieceRun (``.summary()``, ``.plot()``, ``.difference``). Taught in notebooks 06, 07, 09, 10.
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2:
        raise ValueError(f"train_with_pieces compares runs over seeds: give at least 2 (10 for a claim), got {len(seeds)}")
    given = {k: fn for k, fn in (("rtg_fn", rtg_fn), ("baseline_fn", baseline_fn), ("loss_fn", loss_fn))
             if fn is not None}
    if not given:
        raise ValueError("give at least one of your pieces: rtg_fn, baseline_fn or loss_fn")
    unused = _unused_pieces(config, given)
    if unused:
        key, why = next(iter(unused.items()))
        raise ValueError(f"this config would not use your {key}: {why}")
    if check is not None and not isinstance(check, Mapping):
        if len(given) != 1:
            raise ValueError("with several pieces, pass check as a dict {keyword: checker}, e.g. {'rtg_fn': ...}")
        check = {next(iter(given)): check}
    checks = dict(check or {})
    unknown = set(checks) - set(given)
    if unknown:
        raise ValueError(f"check names pieces that were not given {sorted(unknown)}; given: {sorted(given)}")

    notes, pieces, failure = [], {}, None
    for keyword, fn in given.items():
        name = piece_name(fn)
        try:
            fn(*_probe_args(keyword))
        except NotImplementedError:
            notes.append(f"your {name} is not written yet (it raises NotImplementedError): this cell trains "
                         f"with pgcourse's {PIECES[keyword].__name__} in its place")
            continue
        except Exception as err:  # the reader's code may fail in any way: report it, don't crash
            failure = f"your {name} raised {type(err).__name__}: {err}"
            notes.append(f"{failure}; there is no run with it to compare")
            continue
        if keyword in checks:
            result = _run_check(checks[keyword], fn)
            if not result:
                notes.append(f"your {name} fails its check: {result.message}; this run uses it anyway — watch "
                             "what it does to learning")
        pieces[keyword] = on_copies(fn)
    if verbose:
        for note in notes:
            print(note)

    used = {k: given[k] for k in pieces} or given   # the label names the pieces that train (all, if all are stubs)
    label = "your " + " + ".join(piece_name(fn) for fn in used.values())
    # both runs in the same groups of seeds (pgcourse/seeds/processes.py), so equal pieces give equal runs on any CPU
    processes = auto_processes(len(seeds))
    ref_policies, reference = train_seeds(config, seeds, progress=False, processes=processes)
    run = PieceRun(label, config, seeds, reference, None, notes=notes, reference_policies=ref_policies)
    if failure is not None:
        run.failure = failure
        return run
    if not pieces:  # every piece is a stub: pgcourse's run is the reader's
        run.reader, run.reader_policies, run.fallback, run.same = reference, ref_policies, True, True
        run.same_episodes = [True] * len(seeds)
        return run
    try:
        run.reader_policies, run.reader = train_seeds(config, seeds, progress=False, processes=processes,
                                                      weighting=PieceWeights(config, **pieces))
    except Exception as err:  # noqa: BLE001 — the reader's piece failed on a real batch
        run.failure = f"{label} raised {type(err).__name__} during training: {err}"
        if verbose:
            print(f"{run.failure}; there is no run with it to compare")
        return run
    run.same = same_run(reference, run.reader, ref_policies, run.reader_policies)
    run.same_episodes = [same_episodes(a, b) for a, b in zip(reference, run.reader)]
    return run
