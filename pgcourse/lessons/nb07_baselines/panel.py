"""Notebook 07's panel: the variance of g(τ)(R(τ) − b) as a function of a constant baseline b.

``baseline_experiment`` (pure, seeded) samples N trajectories of a small problem, measures the
variance of the baselined gradient samples at the chosen b, and returns it with the exact parabola;
``baselines_panel`` wraps it in a Panel with the b and N sliders.
Taught in notebooks/07_baselines.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from pgcourse.tabular import TabularMDP, tabular_gradient_samples
from pgcourse.ui.panel import Panel, choice, float_slider, n_slider
from .measure import Enumeration, baseline_moments, trajectory_table

__all__ = ["PROBLEMS", "make_problem", "BaselineExperiment", "baseline_experiment", "draw_baseline_experiment",
           "baselines_panel"]

PROBLEMS = ("bandit (0.9, 0.1)", "random MDP")


def make_problem(problem: str) -> tuple[TabularMDP, torch.Tensor]:
    """The panel's two problems: (mdp, logits).

    "bandit (0.9, 0.1)": notebook 07's 2-armed bandit, rewards (1, 0), π = (0.9, 0.1).
    "random MDP": TabularMDP.random(3, 2, 4, seed=0) with logits ~ N(0, 1) (seed 1): 1296 trajectories.
    """
    if problem == PROBLEMS[0]:
        return TabularMDP.bandit([1.0, 0.0]), torch.tensor([[math.log(0.9), math.log(0.1)]], dtype=torch.float64)
    if problem == PROBLEMS[1]:
        logits = torch.randn(3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        return TabularMDP.random(3, 2, 4, seed=0), logits
    raise ValueError(f"problem must be one of {', '.join(map(repr, PROBLEMS))}; got {problem!r}")


@lru_cache(maxsize=4)
def _enumeration(problem: str) -> Enumeration:
    mdp, logits = make_problem(problem)
    return trajectory_table(mdp, logits)


@dataclass(frozen=True)
class BaselineExperiment:
    """What the panel draws (floats, numpy arrays).

    b_grid, var_grid: the exact parabola tr Cov(b) = Σ_k (E[g_k²(R − b)²] − (E[g_k R])²).
    var_exact: tr Cov at the chosen b; var_none, var_mean, var_optimal: at b = 0, E[R] and b*.
    mean_baseline = E[R] = J(θ); optimal_baseline = b* = E[‖g‖²R]/E[‖g‖²].
    measured: the sample tr Cov (divide by N − 1) of the N values g_i(R_i − b); measured_se its
    standard error (std_i ‖x_i − x̄‖² / √N). samples0: the N values of parameter 0; exact0 = ∇_0 J.
    """

    problem: str
    b: float
    n_traj: int
    b_grid: np.ndarray
    var_grid: np.ndarray
    var_exact: float
    var_none: float
    var_mean: float
    var_optimal: float
    mean_baseline: float
    optimal_baseline: float
    measured: float
    measured_se: float
    samples0: np.ndarray
    exact0: float


def baseline_experiment(b: float, n_traj: int, problem: str = PROBLEMS[0], seed: int = 0) -> BaselineExperiment:
    """x_i = g(τ_i)(R(τ_i) − b) for N sampled trajectories: measured tr Cov[x] vs the exact parabola.

    g(τ) = Σ_t ∇θ log π_θ(a_t|s_t) (softmax logits), R(τ) the return; exact moments by enumerating
    every trajectory. The same (b, n_traj, problem, seed) gives the same result. n_traj ≥ 2.
    Taught in notebooks/07_baselines.ipynb.
    """
    if n_traj < 2:
        raise ValueError(f"need N ≥ 2 trajectories to measure a variance, got {n_traj}")
    mdp, logits = make_problem(problem)
    e = _enumeration(problem)
    m = baseline_moments(e.scores, e.rets, e.prob)
    b_mean = float(e.prob @ e.rets)
    b_opt = m.optimal_scalar_baseline()
    lo = min(0.0, b_mean, b_opt, b) - 0.3 * (1 + abs(b_mean))
    hi = max(0.0, b_mean, b_opt, b) + 0.3 * (1 + abs(b_mean))
    b_grid = np.linspace(lo, hi, 201)
    var_grid = m.total_variance(torch.as_tensor(b_grid)).clamp(min=0).numpy()

    batch = mdp.sample(logits, n_traj, seed=seed)
    rew = mdp.R[batch.obs, batch.act]
    scores = tabular_gradient_samples(logits, batch.obs, batch.act, torch.ones_like(rew), batch.mask)
    x = scores * (rew.sum(1) - b)[:, None]
    sq = (x - x.mean(0)).pow(2).sum(1)  # ‖x_i − x̄‖²
    measured = float(sq.sum() / (n_traj - 1))
    measured_se = float(sq.std() / math.sqrt(n_traj))

    def var(bb: float) -> float:
        return max(float(m.total_variance(bb)), 0.0)

    return BaselineExperiment(problem=problem, b=float(b), n_traj=int(n_traj), b_grid=b_grid, var_grid=var_grid,
                              var_exact=var(b), var_none=var(0.0), var_mean=var(b_mean), var_optimal=var(b_opt),
                              mean_baseline=b_mean, optimal_baseline=b_opt, measured=measured,
                              measured_se=measured_se, samples0=x[:, 0].numpy(),
                              exact0=float(mdp.gradient(logits).reshape(-1)[0]))


def draw_baseline_experiment(fig, result: BaselineExperiment, earlier=()) -> None:
    """Left: the parabola tr Cov(b) with b = 0, E[R], b* marked, the exact and the measured point.
    Right: the N samples of parameter 0, g_{i,0}(R_i − b), and the exact ∇_0 J."""
    r = result
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1.4, 1])
    ax.plot(r.b_grid, r.var_grid, color="0.3", label="exact tr Cov(b)")
    for value, name, color in ((0.0, "b = 0 (none)", "tab:grey"), (r.mean_baseline, "b = E[R] (mean)", "tab:red"),
                               (r.optimal_baseline, "b* (optimal)", "tab:green")):
        ax.axvline(value, color=color, linestyle="--", linewidth=1, label=f"{name} = {value:.3g}")
    ax.plot([r.b], [r.var_exact], "o", color="black", label=f"exact at b = {r.b:.3g}: {r.var_exact:.3g}")
    ax.errorbar([r.b], [r.measured], yerr=[r.measured_se], fmt="s", color="tab:orange", capsize=4,
                label=f"measured, N = {r.n_traj}: {r.measured:.3g} ± {r.measured_se:.2g}")
    ax.set_xlabel("constant baseline b")
    ax.set_ylabel("tr Cov of one sample g(τ)(R(τ) − b)")
    ax.set_title(f"Variance vs baseline — {r.problem}")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="x-small", loc="best")
    lo, hi = float(np.min(r.samples0)), float(np.max(r.samples0))
    if hi - lo < 1e-9 * (1 + abs(hi)):  # all samples equal (b = b* on the bandit): one visible bar
        lo, hi = lo - 0.05 * (1 + abs(lo)), hi + 0.05 * (1 + abs(hi))
    ax2.hist(r.samples0, bins=30, range=(lo, hi), color="tab:orange", alpha=0.7)
    ax2.axvline(r.exact0, color="black", linestyle="--", label=f"exact ∇₀J = {r.exact0:.3g}")
    ax2.axvline(float(np.mean(r.samples0)), color="tab:orange", label=f"sample mean = {np.mean(r.samples0):.3g}")
    ax2.set_xlabel("g₀(τ_i)(R(τ_i) − b), parameter 0")
    ax2.set_ylabel("trajectories")
    ax2.set_title(f"The N = {r.n_traj} gradient samples")
    ax2.legend(fontsize="x-small")


def baselines_panel(b: float = 0.9, n_traj: int = 64, problem: str = PROBLEMS[0], seed: int = 0) -> Panel:
    """Sliders b and N, a problem choice → the parabola, the exact point at b and the measured one.

    Taught in notebooks/07_baselines.ipynb.
    """
    controls = {"b": float_slider(b, -1.0, 4.0, "baseline b", step=0.05),
                "n_traj": n_slider(n_traj, min=2, max=4096),
                "problem": choice(list(PROBLEMS), problem, "problem")}
    return Panel("Variance of the policy gradient vs a constant baseline b", controls,
                 lambda b, n_traj, problem: baseline_experiment(b, n_traj, problem, seed=seed),
                 draw_baseline_experiment, button="Sample", figsize=(10.0, 3.8),
                 help="The parabola is exact (every trajectory enumerated); the orange point is measured "
                      "from N sampled trajectories.")
