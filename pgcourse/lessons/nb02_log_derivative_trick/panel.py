"""Panel of notebooks/02_log_derivative_trick.ipynb: a cloud of score-function estimates ĝ and one ascent step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pgcourse.tabular import tabular_gradient_samples
from pgcourse.ui.panel import Panel, float_slider, lr_slider, n_slider
from .measure import (BANDIT_LOGITS, BANDIT_REWARDS, bandit_gradient, bandit_objective, bandit_problem,
                      bandit_sample_covariance)

__all__ = ["AXES", "CloudResult", "gradient_cloud", "draw_cloud", "log_derivative_panel"]

AXES = (0, 2)  # the projection: θ_1 (best arm, r = 1) and θ_3 (worst arm, r = 0)


@dataclass(frozen=True)
class CloudResult:
    """M estimates ĝ_j (each from N pulls) of the bandit's ∇J(θ), and one ascent step with each."""

    n_traj: int
    lr: float
    shift: float
    estimates: np.ndarray   # (M, A) the ĝ_j
    exact: np.ndarray       # (A,) ∇J(θ)
    cov: np.ndarray         # (A, A) Cov[ĝ_j] = Cov[one pull] / N, exact
    J_before: float         # J(θ)
    J_after: np.ndarray     # (M,) J(θ + α ĝ_j)
    J_after_exact: float    # J(θ + α ∇J(θ))

    @property
    def improved(self) -> float:
        """Fraction of the M steps θ + α ĝ_j that raised J."""
        return float(np.mean(self.J_after > self.J_before))


def gradient_cloud(n_traj: int = 16, lr: float = 1.0, shift: float = 0.0, seed: int = 0,
                   n_repeats: int = 400) -> CloudResult:
    """ĝ_j = (1/N) Σ_i ∇θ log π_θ(a_{j,i}) (r_{a_{j,i}} + c), j = 1 … M, and J(θ + α ĝ_j) (rewards unshifted).

    The bandit of bandit_problem(shift=c); N·M pulls in one call, closed-form scores.
    J is always measured with the original rewards: the shift changes the estimator, not the goal.
    Taught in notebooks/02_log_derivative_trick.ipynb.
    """
    mdp, logits = bandit_problem(shift)
    base_rewards = mdp.R[0] - float(shift)
    batch = mdp.sample(logits, n_traj * n_repeats, seed=seed)
    rew = mdp.R[batch.obs, batch.act]                                        # (N·M, 1), float64
    samples = tabular_gradient_samples(logits, batch.obs, batch.act, rew)    # (N·M, A)
    est = samples.reshape(n_repeats, n_traj, -1).mean(1)                     # (M, A)
    theta = logits[0]
    exact = bandit_gradient(theta, base_rewards)
    cov = bandit_sample_covariance(theta, mdp.R[0]) / n_traj
    return CloudResult(n_traj=int(n_traj), lr=float(lr), shift=float(shift), estimates=est.numpy(),
                       exact=exact.numpy(), cov=cov.numpy(),
                       J_before=float(bandit_objective(theta, base_rewards)),
                       J_after=bandit_objective(theta[None] + lr * est, base_rewards).numpy(),
                       J_after_exact=float(bandit_objective(theta + lr * exact, base_rewards)))


def _ellipse(ax, mean, cov, k=2.0, **kwargs):
    vals, vecs = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([np.cos(t), np.sin(t)])
    pts = mean[:, None] + vecs @ (k * np.sqrt(np.clip(vals, 0, None))[:, None] * circle)
    ax.plot(pts[0], pts[1], **kwargs)


def draw_cloud(fig, result: CloudResult, earlier) -> None:
    """Left: ĝ_j projected on (θ_1, θ_3) with ∇J and the 2-σ ellipse. Right: histogram of J(θ + α ĝ_j)."""
    ax, ax2 = fig.subplots(1, 2)
    i, j = AXES
    est, exact = result.estimates[:, [i, j]], result.exact[[i, j]]
    cov = result.cov[np.ix_([i, j], [i, j])]
    # a fixed window (that of N = 4 without shift), so that the cloud visibly shrinks as N grows;
    # widened only when the current cloud would not fit (small N, large shift)
    ref = bandit_sample_covariance(torch.tensor(BANDIT_LOGITS), torch.tensor(BANDIT_REWARDS)).numpy() / 4
    half = 3.5 * max(np.sqrt(np.diag(ref)[[i, j]]).max(), np.sqrt(np.diag(cov)).max())
    ax.scatter(est[:, 0], est[:, 1], s=6, alpha=0.35, color="C0", label=f"{len(est)} estimates ĝ (N = {result.n_traj})")
    _ellipse(ax, exact, cov, color="C1", linewidth=1.5, label="2σ ellipse of Cov[ĝ] = Σ/N")
    ax.plot(*exact, marker="*", markersize=14, color="k", linestyle="none", label="exact ∇J(θ)")
    ax.plot(*est.mean(0), marker="+", markersize=12, color="C3", linestyle="none", label="mean of the ĝ")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.axvline(0, color="grey", linewidth=0.5)
    ax.set_xlim(exact[0] - half, exact[0] + half)
    ax.set_ylim(exact[1] - half, exact[1] + half)
    ax.set_xlabel("ĝ component θ₁ (arm 1, r = 1)")
    ax.set_ylabel("ĝ component θ₃ (arm 3, r = 0)")
    ax.set_title(f"gradient estimates, reward shift c = {result.shift:+.2f}")
    ax.legend(fontsize="x-small", loc="lower left")
    lo = min(result.J_after.min(), result.J_before) - 0.02
    hi = max(result.J_after.max(), result.J_after_exact) + 0.02
    ax2.hist(result.J_after, bins=np.linspace(lo, hi, 40), color="#9ecae1", edgecolor="white",
             label="J(θ + α ĝ) for each estimate")
    ax2.axvline(result.J_before, color="k", linewidth=1.5, label=f"J(θ) before = {result.J_before:.3f}")
    ax2.axvline(result.J_after_exact, color="C1", linewidth=1.5, linestyle="--",
                label=f"J(θ + α ∇J) = {result.J_after_exact:.3f}")
    ax2.set_xlabel("J after one step θ ← θ + α ĝ")
    ax2.set_ylabel("number of estimates")
    ax2.set_title(f"α = {result.lr:.3g}: {100 * result.improved:.0f}% of the steps raise J")
    ax2.legend(fontsize="x-small", loc="upper left")


def log_derivative_panel(n_traj: int = 16, lr: float = 1.0, shift: float = 0.0) -> Panel:
    """Controls: batch size N, learning rate α, reward shift c; figure: draw_cloud(gradient_cloud(…))."""
    controls = {
        "n_traj": n_slider(n_traj, max=1024),
        "lr": lr_slider(lr, min_exp=-2, max_exp=1),
        "shift": float_slider(shift, -2.0, 2.0, "reward shift c", step=0.25),
    }
    return Panel("Score-function estimates of ∇J on a 3-armed bandit", controls, gradient_cloud, draw_cloud,
                 button="Sample", figsize=(10, 4.0),
                 help="400 estimates ĝ, each from N pulls; every estimate also takes one step θ ← θ + α ĝ.")
