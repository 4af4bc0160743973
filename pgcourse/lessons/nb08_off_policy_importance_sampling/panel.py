"""Notebook 08's panel: bias and variance of off-policy gradient estimators, and the effective sample size.

``off_policy_comparison`` (pure, seeded) samples N trajectories of a random 5-state MDP with a
behaviour policy θ = θ' + shift · D and scores every off-policy estimator of ∇J(θ') against the exact
gradient; ``off_policy_panel`` wraps it in a Panel with the shift, horizon and N sliders.
Taught in notebooks/08_off_policy_importance_sampling.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.ticker import NullFormatter

from pgcourse.importance import effective_sample_size, trajectory_ratio
from pgcourse.lab import compare_estimators, make_lab
from pgcourse.tabular import TabularMDP
from pgcourse.ui.panel import Panel, float_slider, int_slider, n_slider
from .measure import past_ratio_is_weights, trajectory_ratio_second_moment

__all__ = ["ESTIMATOR_CHOICES", "UNBIASED", "make_off_policy_problem", "OffPolicyComparison",
           "off_policy_comparison", "draw_off_policy_comparison", "off_policy_panel"]

# label -> a compare_estimators weight choice (a built-in name or a function lab -> weights)
ESTIMATOR_CHOICES = {
    "no correction": "reward_to_go",
    "trajectory IS": "trajectory_is",
    "per-decision IS": "per_decision_is",
    "notes' causal form": "notes_causal_is",
    "past ratio only": lambda lab: past_ratio_is_weights(lab.rew, lab.logp, lab.logp_old, lab.batch.mask),
    "first-order": "first_order_is",
}
UNBIASED = ("trajectory IS", "per-decision IS")


def make_off_policy_problem(shift: float, horizon: int = 10):
    """(mdp, target θ', behaviour θ = θ' + shift · D): TabularMDP.random(5, 3, ·, seed=0) with horizon T,
    θ' ~ N(0, 1) (seed 100), D ~ N(0, 1) (seed 300), logits (5, 3) float64."""
    mdp = TabularMDP.random(5, 3, 10, seed=0).with_horizon(horizon)
    target = torch.randn(5, 3, generator=torch.Generator().manual_seed(100), dtype=torch.float64)
    direction = torch.randn(5, 3, generator=torch.Generator().manual_seed(300), dtype=torch.float64)
    return mdp, target, target + shift * direction


@dataclass(frozen=True)
class OffPolicyComparison:
    """max_abs_z, trace_cov, error_norm: {estimator label: float}; ess = (Σc)²/Σc² of the trajectory
    ratios c_i = p_θ'(τ_i)/p_θ(τ_i); ess_fraction = ess / N; ess_limit = 1 / E[c²] (exact, N → ∞)."""

    shift: float
    horizon: int
    n_traj: int
    max_abs_z: dict
    trace_cov: dict
    error_norm: dict
    ess: float
    ess_fraction: float
    ess_limit: float


def off_policy_comparison(shift: float, horizon: int, n_traj: int, seed: int = 0) -> OffPolicyComparison:
    """For each estimator: max_k |z_k|, z_k = (mean_i ĝ_{i,k} − ∇_k J(θ')) / stderr_k, and tr Cov[ĝ_i]; plus the ESS.

    Data from the behaviour policy θ = θ' + shift · D (``make_off_policy_problem``), N = n_traj
    trajectories, seeded. Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    mdp, target, behaviour = make_off_policy_problem(shift, horizon)
    lab = make_lab(mdp, target, n_traj=n_traj, seed=seed, behaviour_logits=behaviour)
    s = compare_estimators(lab, ESTIMATOR_CHOICES)
    ess = effective_sample_size(trajectory_ratio(lab.logp, lab.logp_old, lab.batch.mask))
    return OffPolicyComparison(shift=float(shift), horizon=int(horizon), n_traj=int(n_traj),
                               max_abs_z={k: v.max_abs_z for k, v in s.items()},
                               trace_cov={k: v.trace_cov for k, v in s.items()},
                               error_norm={k: v.error_norm for k, v in s.items()},
                               ess=ess, ess_fraction=ess / n_traj,
                               ess_limit=1.0 / trajectory_ratio_second_moment(mdp, target, behaviour))


def draw_off_policy_comparison(fig, result: OffPolicyComparison, earlier=()) -> None:
    """Bars: max |z| per estimator (log axis), tr Cov per estimator (log axis), and ESS/N."""
    r = result
    names = list(r.max_abs_z)
    colors = ["tab:green" if n in UNBIASED else "tab:red" for n in names]
    ax1, ax2, ax3 = fig.subplots(1, 3, width_ratios=[1.2, 1.2, 0.6])
    y = np.arange(len(names))
    ax1.barh(y, [max(r.max_abs_z[n], 1e-2) for n in names], color=colors)
    ax1.axvline(4, color="black", linestyle=":", linewidth=1)
    ax1.set_xscale("log")
    ax1.set_xlim(0.3, 3 * max(10.0, *r.max_abs_z.values()))
    ax1.xaxis.set_minor_formatter(NullFormatter())
    ax1.set_yticks(y, names)
    ax1.invert_yaxis()
    ax1.set_xlabel("max |z| over the 15 parameters (log)")
    ax1.set_title("a test for bias: |z| against the exact ∇J(θ')")
    for i, n in enumerate(names):
        ax1.text(max(r.max_abs_z[n], 1e-2), i, f" {r.max_abs_z[n]:.1f}", va="center", fontsize="x-small")
    ax2.barh(y, [r.trace_cov[n] for n in names], color=colors)
    ax2.set_xscale("log")
    ax2.xaxis.set_minor_formatter(NullFormatter())
    ax2.set_yticks(y, [])
    ax2.invert_yaxis()
    ax2.set_xlabel("tr Cov of one sample (log)")
    ax2.set_title("Variance")
    ax3.bar(["sampled", "exact limit"], [r.ess_fraction, r.ess_limit], color=["tab:blue", "tab:grey"])
    for i, v in enumerate((r.ess_fraction, r.ess_limit)):
        ax3.text(i, v + 0.02, f"{v:.2g}", ha="center", fontsize="x-small")
    ax3.set_ylim(0, 1.1)
    ax3.set_ylabel("ESS / N of the trajectory ratios")
    ax3.set_title(f"ESS {r.ess:.0f} / N {r.n_traj}")
    fig.suptitle(f"behaviour θ = θ' + {r.shift:.2f}·D, horizon T = {r.horizon} "
                 "(green: unbiased estimators, red: biased; dotted: |z| = 4)", fontsize="small")


def off_policy_panel(shift: float = 0.5, horizon: int = 10, n_traj: int = 4096, seed: int = 0) -> Panel:
    """Sliders: policy shift, horizon T, batch size N → bias (|z|) and variance of each estimator, and the ESS.

    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    controls = {"shift": float_slider(shift, 0.0, 2.0, "policy shift", step=0.05),
                "horizon": int_slider(horizon, 1, 50, "horizon T"),
                "n_traj": n_slider(n_traj, min=16, max=8192)}
    return Panel("Off-policy gradient estimators against the exact ∇J(θ')", controls,
                 lambda shift, horizon, n_traj: off_policy_comparison(shift, horizon, n_traj, seed=seed),
                 draw_off_policy_comparison, button="Sample", figsize=(10.0, 3.8),
                 help="Trajectories come from the behaviour policy θ = θ' + shift·D; every estimator targets "
                      "the gradient at θ'. Same batch for all estimators.")
