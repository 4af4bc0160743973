"""Panel of notebook 06: variance of the policy-gradient estimate with R(τ) and with reward-to-go.

Taught in notebooks/06_causality_reward_to_go.ipynb.
"""

from __future__ import annotations

from functools import partial

from matplotlib.figure import Figure

from pgcourse.ui.panel import Panel, int_slider, n_slider
from .measure import variance_by_horizon

__all__ = ["compute_causality_variance", "draw_causality_variance", "causality_panel"]


def compute_causality_variance(n_traj: int = 256, horizon: int = 20, seed: int = 0) -> dict:
    """The panel's compute: pgcourse.lessons.nb06_causality_reward_to_go.measure.variance_by_horizon (a random 5-state, 3-action MDP)."""
    return variance_by_horizon(n_traj=n_traj, horizon=horizon, seed=seed)


def draw_causality_variance(fig: Figure, result: dict, earlier: list) -> None:
    """Left: tr Cov[ĝ] against the horizon for both estimators (log scale). Right: their ratio."""
    ax_var, ax_ratio = fig.subplots(1, 2)
    hs = result["horizons"]
    for values, run in earlier:  # the previous run, faded, to compare settings
        ax_var.plot(run["horizons"], run["var_total"], color="C0", alpha=0.3, linestyle=":")
        ax_var.plot(run["horizons"], run["var_rtg"], color="C1", alpha=0.3, linestyle=":")
        ax_ratio.plot(run["horizons"], run["ratio"], color="C2", alpha=0.3, linestyle=":",
                      label=f"previous: N = {values['n_traj']}")
    ax_var.plot(hs, result["var_total"], color="C0", label="R(τ) weights (the notes, §5.1)")
    ax_var.plot(hs, result["var_rtg"], color="C1", label="reward-to-go Q̂_t (the notes, §5.2)")
    ax_var.plot(hs, result["var_dropped"], color="C7", linestyle="--", label="dropped past-reward terms")
    ax_var.set_yscale("log")
    ax_var.set_xlabel("horizon T")
    ax_var.set_ylabel("tr Cov[ĝ]  (variance of the estimate)")
    ax_var.set_title(f"N = {result['n_traj']} trajectories per estimate")
    ax_var.legend(fontsize="small")
    ax_ratio.plot(hs, result["ratio"], color="C2", label="current")
    ax_ratio.axhline(1.0, color="grey", linewidth=0.8)
    ax_ratio.axhline(3.0, color="grey", linewidth=0.8, linestyle=":")
    ax_ratio.text(hs[0], 3.0, "≈ 3: similar rewards at every step, long T", fontsize="small", color="grey",
                  va="bottom")
    ax_ratio.set_ylim(0.8, max(3.4, max(result["ratio"]) * 1.05))
    ax_ratio.set_xlabel("horizon T")
    ax_ratio.set_ylabel("tr Cov with R(τ) / with Q̂_t")
    ax_ratio.set_title(f"ratio at T = {result['horizon']}: {result['ratio'][-1]:.2f}")
    if earlier:
        ax_ratio.legend(fontsize="small")


def causality_panel(n_traj: int = 256, horizon: int = 20, seed: int = 0) -> Panel:
    """Sliders N and T → both estimators' variance for every horizon up to T, and their ratio."""
    return Panel("Reward-to-go vs total return: variance of ĝ on a random tabular MDP",
                 {"n_traj": n_slider(n_traj, min=2, max=4096), "horizon": int_slider(horizon, 1, 60, "horizon T")},
                 partial(compute_causality_variance, seed=seed),
                 draw_causality_variance, button="Sample", keep=1,
                 help="One batch of N trajectories of length T; its first h steps give the estimates for horizon h.")
