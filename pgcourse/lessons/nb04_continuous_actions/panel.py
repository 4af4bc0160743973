"""Notebook 04's panel: REINFORCE with a Gaussian policy N(μ, σ²) on the 1-D bandit r(a) = −(a − a*)², over
several seeds at once; watch μ walk to a* and σ shrink (or the runs blow up), as a median with a band."""

from __future__ import annotations

import numpy as np

from pgcourse.ui.panel import Panel, float_slider, int_slider, lr_slider, n_slider
from .measure import BanditRun, bandit_curves, gaussian_bandit_reinforce_seeds

__all__ = ["SEEDS", "bandit_run", "running_band", "divergence_note", "draw_bandit_runs", "continuous_bandit_panel"]

SEEDS = tuple(range(5))
"""The seeds the panel trains at every press (all at once, as NumPy arrays)."""


def bandit_run(n_traj: int = 16, lr: float = 0.05, a_star: float = 2.0, steps: int = 100,
               seeds=SEEDS) -> list[BanditRun]:
    """gaussian_bandit_reinforce_seeds(n_traj, lr, a_star, steps, seeds=seeds) from μ = 0, σ = 1 (the panel's compute).

    Taught in notebooks/04_continuous_actions.ipynb.
    """
    return gaussian_bandit_reinforce_seeds(n_traj=n_traj, lr=lr, a_star=a_star, steps=steps, seeds=seeds)


def running_band(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, 25th and 75th percentile over the seeds (rows) still running at each step (NaN = diverged),
    at the steps where more than half of the seeds are still running (NaN elsewhere: once most seeds
    have diverged there is no median run to show). Returns three (K+1,) arrays."""
    out = np.full((3, curves.shape[1]), np.nan)
    for k in range(curves.shape[1]):
        alive = curves[:, k][np.isfinite(curves[:, k])]
        if 2 * alive.size > curves.shape[0]:
            out[:, k] = np.percentile(alive, [50, 25, 75])
    return out[0], out[1], out[2]


def divergence_note(runs: list[BanditRun]) -> str:
    """'' if no run diverged, else e.g. '4 of 5 seeds diverged (after 4–25 steps)'."""
    after = sorted(len(r.mu) - 1 for r in runs if r.diverged)
    if not after:
        return ""
    when = f"after {after[0]} step{'s' if after[0] != 1 else ''}" if after[0] == after[-1] else \
        f"after {after[0]}–{after[-1]} steps"
    return f"{len(after)} of {len(runs)} seeds diverged ({when})"


def _draw_band(ax, curves: np.ndarray, color: str, label: str, limits: tuple[float, float]) -> None:
    """Thin line per seed, median line and IQR band; the y-range follows the data but stays within limits."""
    k = np.arange(curves.shape[1])
    med, q25, q75 = running_band(curves)
    for curve in curves:
        ax.plot(k, curve, color=color, alpha=0.35, linewidth=0.7)
    ax.fill_between(k, q25, q75, color=color, alpha=0.25, linewidth=0)
    ax.plot(k, med, color=color, linewidth=1.8, label=label)
    seen = curves[np.isfinite(curves)]
    lo, hi = max(limits[0], seen.min()), min(limits[1], seen.max())
    pad = 0.05 * (hi - lo) if ax.get_yscale() == "linear" else 0.0
    ax.set_ylim(lo - pad, hi + pad) if hi > lo else None


def draw_bandit_runs(fig, runs: list[BanditRun], earlier=()) -> None:
    """μ_k, σ_k and −J(θ_k) = (μ_k − a*)² + σ_k² (exact) over the steps: per seed (thin lines), and the
    median with the interquartile range over the seeds still running (a line and a band, drawn while
    more than half of the seeds run)."""
    first = runs[0]
    ax_mu, ax_sigma, ax_j = fig.subplots(1, 3, width_ratios=[3, 2, 2])
    s = len(runs)
    _draw_band(ax_mu, bandit_curves(runs, "mu"), "C0", "μ: median and IQR over the seeds",
               (min(0.0, first.a_star) - 2.0, max(0.0, first.a_star) + 2.0))
    ax_mu.axhline(first.a_star, color="C3", linestyle="--", linewidth=1.2, label="a* (best action)")
    ax_mu.set(xlabel="gradient step k", ylabel="mean action μ", xlim=(0, first.steps))
    ax_mu.legend(loc="best", fontsize="small")
    note = divergence_note(runs)
    ax_mu.set_title(f"N = {first.n_traj}, α = {first.lr:.2g}, {s} seeds" + (f": {note}" if note else ""),
                    fontsize="medium")
    ax_sigma.set_yscale("log")
    _draw_band(ax_sigma, bandit_curves(runs, "sigma"), "C1", "σ", (1e-3, 1e2))
    ax_sigma.set(xlabel="gradient step k", ylabel="σ (log scale)", xlim=(0, first.steps))
    ax_sigma.set_title("spread σ", fontsize="medium")
    minus_j = -bandit_curves(runs, "J")
    ax_j.set_yscale("log")
    _draw_band(ax_j, minus_j, "C2", "−J", (1e-4, 1e4))
    final = running_band(minus_j[:, -1:])[0][0]
    ax_j.set(xlabel="gradient step k", ylabel="−J(θ) = (μ − a*)² + σ²", xlim=(0, first.steps))
    ax_j.set_title(f"−J(θ), exact: final median {final:.2g}" if np.isfinite(final) else "−J(θ), exact",
                   fontsize="medium")


def continuous_bandit_panel(n_traj: int = 16, lr: float = 0.05, a_star: float = 2.0, steps: int = 100) -> Panel:
    """N, α, a*, K → K REINFORCE steps of a Gaussian policy on r(a) = −(a − a*)², for 5 seeds at once →
    μ, σ and J over the steps (median and IQR over the seeds, and each seed).

    Recomputes as soon as a control moves (the 5 runs take milliseconds). Taught in notebooks/04_continuous_actions.ipynb.
    """
    controls = {"n_traj": n_slider(n_traj, 1, 1024), "lr": lr_slider(lr, -3, 0),
                "a_star": float_slider(a_star, -3.0, 3.0, "target a*", step=0.25),
                "steps": int_slider(steps, 10, 500, "steps K", step=10)}
    return Panel("Gaussian policy on the bandit r(a) = −(a − a*)²", controls, bandit_run,
                 lambda fig, runs, earlier: draw_bandit_runs(fig, runs, earlier), auto=True, figsize=(10.8, 3.4),
                 help=f"Each step samples N actions a ~ N(μ, σ²) and takes one gradient-ascent step on μ and log σ, "
                      f"from μ = 0, σ = 1, for seeds {SEEDS[0]}–{SEEDS[-1]} at once: thin lines are the seeds, the "
                      f"thick line and band their median and interquartile range.")
