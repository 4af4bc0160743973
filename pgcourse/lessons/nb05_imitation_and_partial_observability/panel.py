"""Panel of notebook 05: behaviour cloning on N expert trajectories vs the policy gradient with N per step.

Each press trains both methods on 5 seeds at once and draws, per method, the median over the
seeds (a line), their interquartile range (a band) and every seed (thin lines).
Taught in notebooks/05_imitation_and_partial_observability.ipynb.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from matplotlib.figure import Figure

from pgcourse.stats import format_k
from pgcourse.ui.panel import Panel, lr_slider, n_slider
from .imitation import curve_array, imitation_vs_pg

__all__ = ["STEPS", "SEEDS", "compute_imitation_vs_pg", "draw_imitation_vs_pg", "imitation_panel"]

STEPS = 15
"""Gradient steps shown by the panel (each method gets the same number)."""
SEEDS = tuple(range(5))
"""The seeds the panel trains at once (≤ 3 s per press at the default controls on 2 cores)."""


def compute_imitation_vs_pg(expert, n_traj: int = 4, lr: float = 0.04, steps: int = STEPS, seeds=SEEDS) -> dict:
    """The panel's compute: pgcourse.lessons.nb05_imitation_and_partial_observability.imitation.imitation_vs_pg with the sliders' N and lr, for every seed."""
    return imitation_vs_pg(expert, n_traj=n_traj, lr=lr, steps=steps, seeds=seeds)


def draw_imitation_vs_pg(fig: Figure, result: dict, earlier: list) -> None:
    """Return vs gradient steps for both methods: median over seeds, IQR band, each seed; the expert dashed."""
    ax = fig.subplots()
    bc, pg = curve_array(result["bc"]), curve_array(result["pg"])
    length = bc.shape[1]
    pg_steps = np.median(curve_array(result["pg"], "env_steps", length)[:, -1])
    expert_steps = np.median([c.env_steps[-1] for c in result["bc"]])
    k = len(result["seeds"])
    for curves, label, color in (
            (bc, f"behaviour cloning ({format_k(expert_steps)} expert steps, once)", "C0"),
            (pg, f"policy gradient ({format_k(pg_steps)} own steps by the end, median)", "C1")):
        steps = np.arange(curves.shape[1])
        q25, med, q75 = np.percentile(curves, [25, 50, 75], axis=0)
        ax.plot(steps, med, "o-", color=color, label=label, markersize=3)
        ax.fill_between(steps, q25, q75, color=color, alpha=0.2, linewidth=0)
        for curve in curves:
            ax.plot(steps, curve, color=color, alpha=0.3, linewidth=0.6)
    ax.axhline(float(np.median(result["expert_return"])), color="grey", linestyle="--", linewidth=1,
               label="expert's data")
    ax.set_xlabel("gradient steps")
    ax.set_ylabel("mean return")
    ax.set_ylim(0, 520)
    ax.set_xticks(np.arange(0, length, 5))
    ax.set_title(f"w = 1 on the expert's data vs w from returns on its own data: {k} seeds, median and IQR")
    ax.legend(loc="upper left", fontsize="small")


def imitation_panel(expert, n_traj: int = 4, lr: float = 0.04, steps: int = STEPS, seeds=SEEDS) -> Panel:
    """Sliders N and α → train fresh policies both ways on every seed for ``steps`` gradient steps; draw the bands."""
    seeds = tuple(int(s) for s in seeds)
    compute = partial(compute_imitation_vs_pg, expert, steps=steps, seeds=seeds)
    return Panel("Behaviour cloning vs policy gradient on CartPole",
                 {"n_traj": n_slider(n_traj, min=1, max=64), "lr": lr_slider(lr, min_exp=-3, max_exp=0)},
                 compute, draw_imitation_vs_pg, button="Train both",
                 help=f"{len(seeds)} seeds at once. BC: N trajectories of the one expert, one full-batch Adam step "
                      "each time. PG: N fresh trajectories of its own per Adam step (pgcourse.train's defaults).")
