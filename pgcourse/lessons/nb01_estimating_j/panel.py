"""Panel of notebooks/01_estimating_J.ipynb: many repeated estimates Ĵ from N trajectories each, against the exact J."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pgcourse.ui.panel import Panel, int_slider, n_slider
from .measure import example_problem, repeated_estimates, return_moments

__all__ = ["EstimatesResult", "estimate_spread", "draw_spread", "estimating_j_panel"]


@dataclass(frozen=True)
class EstimatesResult:
    """M estimates Ĵ_j (each from N trajectories) of the example MDP's J(θ), with the exact answers."""

    n_traj: int
    estimates: np.ndarray  # (M,)
    exact: float           # J(θ)
    sigma: float           # std of one trajectory's return R(τ), exact

    @property
    def predicted_std(self) -> float:
        """σ/√N: the standard deviation of Ĵ that theory predicts."""
        return self.sigma / math.sqrt(self.n_traj)

    @property
    def measured_std(self) -> float:
        return float(np.std(self.estimates, ddof=1))

    @property
    def mean(self) -> float:
        return float(np.mean(self.estimates))


def estimate_spread(n_traj: int = 16, n_repeats: int = 200, seed: int = 0) -> EstimatesResult:
    """Ĵ_j = (1/N) Σ_i R(τ_{j,i}), j = 1 … M, on example_problem(); exact J(θ) and σ = std R(τ).

    One vectorised call samples N·M trajectories and reshapes them to (M, N).
    Taught in notebooks/01_estimating_J.ipynb.
    """
    mdp, logits = example_problem()
    mean, var = return_moments(mdp, logits)
    est = repeated_estimates(mdp, logits, n_traj, n_repeats, seed=seed)
    return EstimatesResult(n_traj=int(n_traj), estimates=est.numpy(), exact=float(mean), sigma=float(var.sqrt()))


def draw_spread(fig, result: EstimatesResult, earlier) -> None:
    """Left: histogram of the Ĵ_j with J(θ) and the normal approximation N(J, σ²/N) (central limit theorem).

    Right: the spread against N, log-log.
    """
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    J, s, est = result.exact, result.predicted_std, result.estimates
    # a fixed window (the spread of one trajectory's return, N = 1) so that the histogram visibly narrows with N
    lo = min(J - 3.5 * result.sigma, est.min())
    hi = max(J + 3.5 * result.sigma, est.max())
    width = s / 3  # about 20 bins across the ±3σ/√N of the estimates, whatever N is
    bins = np.arange(est.min() - width / 2, est.max() + width, width)
    ax.hist(est, bins=bins, density=True, color="#9ecae1", edgecolor="white", linewidth=0.3,
            label=f"{len(est)} estimates Ĵ")
    x = np.linspace(lo, hi, 600)
    ax.plot(x, np.exp(-0.5 * ((x - J) / s) ** 2) / (s * math.sqrt(2 * math.pi)), color="C1",
            label="normal approximation N(J, σ²/N)")
    ax.axvline(J, color="k", linewidth=1.2, label=f"exact J(θ) = {J:.3f}")
    ax.axvspan(J - s, J + s, color="C1", alpha=0.15, label=f"J ± σ/√N = ±{s:.3f}")
    ax.set_xlim(lo, hi)
    ax.set_xlabel(r"estimate $\hat J(\theta) = \frac{1}{N}\sum_i \sum_t r(s_{i,t}, a_{i,t})$")
    ax.set_ylabel("density")
    ax.set_title(f"N = {result.n_traj}: mean of Ĵ {result.mean:.3f}, std {result.measured_std:.3f}")
    ax.legend(fontsize="x-small", loc="upper left")
    runs = [r for _, r in earlier] + [result]
    ns = np.array([r.n_traj for r in runs], dtype=float)
    ax2.loglog(ns, [r.measured_std for r in runs], "o", color="C0", label="measured std of Ĵ")
    ax2.loglog(ns[-1:], [result.measured_std], "o", color="C3", label="this run")
    grid = np.array([1, 2048], dtype=float)
    ax2.loglog(grid, result.sigma / np.sqrt(grid), "--", color="C1", label="σ/√N")
    ax2.set_xlabel("batch size N")
    ax2.set_ylabel("std of Ĵ")
    ax2.set_title("spread against N (this and earlier runs)")
    ax2.legend(fontsize="x-small")


def estimating_j_panel(n_traj: int = 16, n_repeats: int = 200, seed: int = 0) -> Panel:
    """Controls: batch size N, number of repeated estimates M, seed; figure: draw_spread(estimate_spread(…))."""
    controls = {
        "n_traj": n_slider(n_traj, max=1024),
        "n_repeats": int_slider(n_repeats, 50, 1000, "estimates M", step=50),
        "seed": int_slider(seed, 0, 20, "seed"),
    }
    return Panel("Ĵ(θ) from N trajectories, estimated M times", controls, estimate_spread, draw_spread,
                 button="Sample", keep=12, figsize=(10, 3.8),
                 help="Each estimate averages the returns of N fresh trajectories of the example MDP.")
