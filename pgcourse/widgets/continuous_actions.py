"""Notebook 04's panel: REINFORCE with a Gaussian policy N(μ, σ²) on the 1-D bandit r(a) = −(a − a*)²;
watch μ walk to a* and σ shrink (or the run blow up)."""

from __future__ import annotations

import numpy as np

from ..continuous_actions import BanditRun, gaussian_bandit_reinforce
from . import Panel, float_slider, int_slider, lr_slider, n_slider


def bandit_run(n_traj: int = 16, lr: float = 0.05, a_star: float = 2.0, steps: int = 100, seed: int = 0) -> BanditRun:
    """gaussian_bandit_reinforce(n_traj, lr, a_star, steps, seed=seed) from μ = 0, σ = 1 (the panel's compute).

    Taught in notebooks/04_continuous_actions.ipynb.
    """
    return gaussian_bandit_reinforce(n_traj=n_traj, lr=lr, a_star=a_star, steps=steps, seed=seed)


def draw_bandit_run(fig, run: BanditRun, earlier=()) -> None:
    """Left: μ_k ± σ_k over the steps and the target a*; right: −J(θ_k) = (μ_k − a*)² + σ_k² (exact, log scale)."""
    ax_mu, ax_j = fig.subplots(1, 2, width_ratios=[3, 2])
    k = np.arange(len(run.mu))
    ax_mu.fill_between(k, run.mu - run.sigma, run.mu + run.sigma, alpha=0.25, color="C0", linewidth=0,
                       label="μ ± σ")
    ax_mu.plot(k, run.mu, color="C0", label="μ (mean action)")
    ax_mu.axhline(run.a_star, color="C3", linestyle="--", linewidth=1.2, label="a* (best action)")
    ax_mu.set_xlabel("gradient step k")
    ax_mu.set_ylabel("action a")
    ax_mu.set_xlim(0, run.steps)
    ax_mu.legend(loc="best", fontsize="small")
    status = f" — diverged after {len(run.mu) - 1} steps" if run.diverged else ""
    ax_mu.set_title(f"N = {run.n_traj}, α = {run.lr:.2g}: μ and σ{status}")
    ax_j.semilogy(k, -run.J, color="C2")
    ax_j.set_xlim(0, run.steps)
    ax_j.set_xlabel("gradient step k")
    ax_j.set_ylabel("−J(θ) = (μ − a*)² + σ²")
    ax_j.set_title(f"−J(θ), exact: final {-run.J[-1]:.3g}")


def continuous_bandit_panel(n_traj: int = 16, lr: float = 0.05, a_star: float = 2.0, steps: int = 100) -> Panel:
    """N, α, a*, K → K REINFORCE steps of a Gaussian policy on r(a) = −(a − a*)² → μ ± σ and J over the steps.

    Recomputes as soon as a control moves (a run takes milliseconds). Taught in notebooks/04_continuous_actions.ipynb.
    """
    controls = {"n_traj": n_slider(n_traj, 1, 1024), "lr": lr_slider(lr, -3, 0),
                "a_star": float_slider(a_star, -3.0, 3.0, "target a*", step=0.25),
                "steps": int_slider(steps, 10, 500, "steps K", step=10)}
    return Panel("Gaussian policy on the bandit r(a) = −(a − a*)²", controls, bandit_run,
                 lambda fig, run, earlier: draw_bandit_run(fig, run, earlier), auto=True, figsize=(10.0, 3.6),
                 help="Each step samples N actions a ~ N(μ, σ²) and takes one gradient-ascent step on μ and log σ "
                      "(seed 0, from μ = 0, σ = 1).")
