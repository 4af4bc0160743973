"""Panel of notebook 05: behaviour cloning on N expert trajectories vs the policy gradient with N per step.

Taught in notebooks/05_imitation_and_partial_observability.ipynb.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from matplotlib.figure import Figure

from ..imitation import imitation_vs_pg
from . import Panel, lr_slider, n_slider

STEPS = 15
"""Gradient steps shown by the panel (each method gets the same number)."""


def compute_imitation_vs_pg(expert, n_traj: int = 4, lr: float = 0.04, steps: int = STEPS, seed: int = 0) -> dict:
    """The panel's compute: pgcourse.imitation.imitation_vs_pg with the sliders' N and lr (seeded)."""
    return imitation_vs_pg(expert, n_traj=n_traj, lr=lr, steps=steps, seed=seed)


def draw_imitation_vs_pg(fig: Figure, result: dict, earlier: list) -> None:
    """Return vs gradient steps for both methods (± one standard error), the expert's return dashed."""
    ax = fig.subplots()
    bc, pg = result["bc"], result["pg"]
    for curve, label, color in ((bc, f"behaviour cloning (N·T = {int(bc.env_steps[-1])} expert steps, once)", "C0"),
                                (pg, f"policy gradient ({int(pg.env_steps[-1])} own steps so far)", "C1")):
        ax.plot(curve.steps, curve.mean_return, "o-", color=color, label=label, markersize=3)
        ax.fill_between(curve.steps, curve.mean_return - curve.stderr_return, curve.mean_return + curve.stderr_return,
                        color=color, alpha=0.2, linewidth=0)
    ax.axhline(result["expert_return"][0], color="grey", linestyle="--", linewidth=1, label="expert's data")
    ax.set_xlabel("gradient steps")
    ax.set_ylabel("mean return")
    ax.set_ylim(0, 520)
    ax.set_xticks(np.arange(0, len(bc.steps), 5))
    ax.set_title("Same pseudo-loss: w = 1 on the expert's data vs w from returns on its own data")
    ax.legend(loc="upper left", fontsize="small")


def imitation_panel(expert, n_traj: int = 4, lr: float = 0.04, steps: int = STEPS, seed: int = 0) -> Panel:
    """Sliders N and α → train a fresh policy both ways for ``steps`` gradient steps and draw both curves."""
    compute = partial(compute_imitation_vs_pg, expert, steps=steps, seed=seed)
    return Panel("Behaviour cloning vs policy gradient on CartPole",
                 {"n_traj": n_slider(n_traj, min=1, max=64), "lr": lr_slider(lr, min_exp=-3, max_exp=0)},
                 compute, draw_imitation_vs_pg, button="Train both",
                 help="BC: N expert trajectories, one full-batch Adam step each time. "
                      "PG: N fresh trajectories of its own per Adam step (pgcourse.train's defaults).")
