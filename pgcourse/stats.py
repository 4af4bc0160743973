"""How the course reports what training shows: over many seeds, with intervals.

A training run's numbers depend on the seed and, for the same seed, on the CPU (instruction sets
round differently and CartPole magnifies it). So a claim from training is a statistic over seeds:
a median with its interquartile range, a 95 % bootstrap interval, a solve rate with its Wilson
interval, and for a comparison the interval of the difference. Steps-to-target counts every seed:
a run that never reached the target is censored at the budget, never dropped.

Taught in notebooks/03_reinforce.ipynb; used by every notebook that trains.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["wilson_interval", "newcombe_interval", "median_iqr", "bootstrap_interval", "bootstrap_difference",
           "steps_to_target", "Censored", "format_k", "format_rate", "format_median_iqr", "final_returns",
           "seed_curves"]

Z95 = 1.959963984540054
"""The 97.5 % quantile of the standard normal: a 95 % two-sided interval."""


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion k/n (Wilson, 1927): good even for k = 0 or k = n.

    centre ± half-width, centre = (p + z²/2n)/(1 + z²/n), half = z √(p(1−p)/n + z²/4n²)/(1 + z²/n).
    Example: wilson_interval(2, 3) -> (0.208, 0.939).
    """
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 ≤ k ≤ n and n ≥ 1, got k={k!r}, n={n!r}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float]:
    """95 % interval of the difference of two proportions k1/n1 − k2/n2 (Newcombe, 1998, method 10).

    Built from the two Wilson intervals; it excludes 0 when the two solve rates really differ.
    """
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, z)
    l2, u2 = wilson_interval(k2, n2, z)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def median_iqr(values) -> tuple[float, float, float]:
    """(median, 25th percentile, 75th percentile) of the values (NaNs are an error: say what they mean)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0 or np.isnan(x).any():
        raise ValueError(f"median_iqr needs a non-empty list without NaN, got {values!r}")
    q25, med, q75 = np.percentile(x, [25, 50, 75])
    return float(med), float(q25), float(q75)


def _per_row(stat: Callable, x: np.ndarray) -> np.ndarray:
    """stat of every row of x: one vectorised call for NumPy's reductions, else row by row."""
    if stat in (np.median, np.mean):
        return stat(x, axis=1)
    return np.apply_along_axis(stat, 1, x)


def bootstrap_interval(values, stat: Callable = np.median, n_boot: int = 4000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of stat(values): resample the seeds with replacement n_boot times.

    Seeded, so the interval of a given list is the same every time it is computed.
    """
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 values, got {x.size}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    stats = _per_row(stat, x[idx])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_difference(a, b, stat: Callable = np.median, n_boot: int = 4000, level: float = 0.95,
                         seed: int = 0) -> tuple[float, float, float]:
    """stat(a) − stat(b) and its percentile bootstrap interval (a and b resampled independently).

    Returns (difference, low, high); the difference is established when the interval excludes 0.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        raise ValueError("a bootstrap difference needs at least 2 values on each side")
    rng = np.random.default_rng(seed)
    da = _per_row(stat, a[rng.integers(0, a.size, size=(n_boot, a.size))])
    db = _per_row(stat, b[rng.integers(0, b.size, size=(n_boot, b.size))])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(da - db, [alpha, 1 - alpha])
    return float(stat(a) - stat(b)), float(lo), float(hi)


@dataclass
class Censored:
    """Steps-to-target over seeds: ``steps[i]`` env steps to reach the target, or ``budget`` if seed i
    never did (``solved[i]`` False). The median is a lower bound (``> budget``) once half the seeds fail."""

    steps: np.ndarray
    solved: np.ndarray
    budget: int

    @property
    def n(self) -> int:
        return len(self.steps)

    @property
    def k(self) -> int:
        return int(self.solved.sum())

    def median(self) -> float:
        """The median over all seeds, unsolved ones counted at the budget (inf when it is censored)."""
        med = float(np.median(self.steps))
        return math.inf if med >= self.budget else med

    def quartiles(self) -> tuple[float, float]:
        q25, q75 = np.percentile(self.steps, [25, 75])
        return (math.inf if q25 >= self.budget else float(q25), math.inf if q75 >= self.budget else float(q75))

    def interval(self, n_boot: int = 4000, seed: int = 0) -> tuple[float, float]:
        """95 % bootstrap interval of the censored median (an end at the budget means "> budget")."""
        lo, hi = bootstrap_interval(self.steps, n_boot=n_boot, seed=seed)
        return (math.inf if lo >= self.budget else lo, math.inf if hi >= self.budget else hi)


def steps_to_target(histories, budget: int) -> Censored:
    """Env steps each run needed to reach its target (``history.solved``), censored at ``budget``."""
    steps = np.array([h.env_steps[-1] if h.solved else budget for h in histories], dtype=float)
    return Censored(steps=np.minimum(steps, budget), solved=np.array([bool(h.solved) for h in histories]),
                    budget=int(budget))


def final_returns(histories) -> np.ndarray:
    """Each run's mean return over its last max(16, N) finished episodes (``History.final_return``)."""
    return np.array([h.final_return for h in histories], dtype=float)


def format_k(value: float) -> str:
    """Env steps in thousands: 24_600 -> '24.6k'; inf -> '—' (censored)."""
    return "—" if not math.isfinite(value) else f"{value / 1000:.1f}k"


def format_rate(k: int, n: int) -> str:
    """'28/30 [0.79, 0.98]': the count and its 95 % Wilson interval."""
    lo, hi = wilson_interval(k, n)
    return f"{k}/{n} [{lo:.2f}, {hi:.2f}]"


def format_median_iqr(values, fmt: str = "{:.0f}") -> str:
    """'median 386 (IQR 250–470)'."""
    med, q25, q75 = median_iqr(values)
    return f"median {fmt.format(med)} (IQR {fmt.format(q25)}–{fmt.format(q75)})"


def seed_curves(histories, y: str = "mean_return", length: int | None = None) -> np.ndarray:
    """(K, length) array of one History column per seed, by iteration.

    A run that stopped early (it reached its target, or its budget) keeps its last value for the
    remaining iterations: its policy no longer changes. Used for median-and-band plots over seeds.
    """
    length = max(len(h) for h in histories) if length is None else int(length)
    out = np.full((len(histories), length), np.nan)
    for i, h in enumerate(histories):
        col = np.asarray(getattr(h, y), dtype=float)[:length]
        if len(col):
            out[i, :len(col)] = col
            out[i, len(col):] = col[-1]
    return out

