"""Notebook 03's panel: train REINFORCE on CartPole-v1 with batch size N and learning rate α on five
seeds at once, and see the median learning curve and its band beside the earlier settings."""

from __future__ import annotations

import numpy as np

from pgcourse.plots import plot_seed_band
from pgcourse.stats import final_returns
from pgcourse.history import History
from pgcourse.config import TrainConfig
from pgcourse.seeds import train_seeds
from pgcourse.ui.panel import Panel, int_slider, lr_slider, n_slider

__all__ = ["TARGET_RETURN", "DEFAULTS", "N_SEEDS", "BUDGET", "MAX_ITERATIONS", "panel_seeds", "panel_config",
           "train_cartpole", "run_label", "reinforce_panel"]

TARGET_RETURN = 475.0
"""CartPole-v1 counts as solved at a mean return of 475 (the episode is cut at 500)."""

DEFAULTS = TrainConfig()
"""The trainer's defaults: the panel starts from TrainConfig().n_traj and TrainConfig().lr."""

N_SEEDS = 5
"""Seeds trained per press (first_seed … first_seed + 4), all at once by ``train_seeds``."""

BUDGET = 15_000
"""Environment steps per seed at the default setting: a press takes under 3 CPU-seconds (2.5–2.7 s measured
on this 2-core machine while it was loaded; the late, 500-step batches cost the most)."""

MAX_ITERATIONS = 200
"""A cap on gradient steps, for settings whose episodes collapse to a few steps (large α)."""


def panel_seeds(first_seed: int = 0) -> list[int]:
    """The N_SEEDS seeds one press trains: first_seed, first_seed + 1, …"""
    return list(range(int(first_seed), int(first_seed) + N_SEEDS))


def panel_config(n_traj: int = DEFAULTS.n_traj, lr: float = DEFAULTS.lr, budget: int = BUDGET) -> TrainConfig:
    """TrainConfig's defaults with N, α, the target 475 and a budget of ``budget`` env steps per seed."""
    return TrainConfig(n_traj=n_traj, lr=lr, target_return=TARGET_RETURN, iterations=MAX_ITERATIONS,
                       max_env_steps=budget)


def train_cartpole(n_traj: int = DEFAULTS.n_traj, lr: float = DEFAULTS.lr, first_seed: int = 0, budget: int = BUDGET,
                   progress: bool = True) -> list[History]:
    """Histories of train_seeds(panel_config(N, α, budget), panel_seeds(first_seed)): five runs on CartPole-v1.

    Every other setting is TrainConfig's default (reward-to-go, time-dependent mean baseline,
    normalised weights, Adam, γ = 0.995, one hidden layer of 64). A seed stops once the mean return of
    its last max(16, N) episodes reaches 475, or after ``budget`` env steps (or MAX_ITERATIONS).
    On one machine the same settings give the same runs. Taught in notebooks/03_reinforce.ipynb.
    """
    _, histories = train_seeds(panel_config(n_traj, lr, budget), panel_seeds(first_seed), progress=progress)
    return histories


def run_label(values: dict, histories) -> str:
    """'N=8, α=0.04, seeds 0–4: 1/5 solved, median final return 436'."""
    seeds = panel_seeds(values["first_seed"])
    solved = sum(bool(h.solved) for h in histories)
    final = float(np.median(final_returns(histories)))
    return (f"N={values['n_traj']}, α={values['lr']:.2g}, seeds {seeds[0]}–{seeds[-1]}: "
            f"{solved}/{len(histories)} solved, median final return {final:.0f}")


def reinforce_panel(n_traj: int = DEFAULTS.n_traj, lr: float = DEFAULTS.lr, first_seed: int = 0,
                    budget: int = BUDGET, keep: int = 2) -> Panel:
    """N, α, the first of five seeds, the env-step budget → train_seeds on CartPole-v1 → median and band.

    Left: against environment steps; right: against gradient steps. The current setting draws its
    median over the five seeds, the interquartile band and every seed as a thin line; the last ``keep``
    settings stay as fainter medians and bands. N and α start at TrainConfig's defaults.
    Taught in notebooks/03_reinforce.ipynb.
    """
    controls = {"n_traj": n_slider(n_traj, 1, 256), "lr": lr_slider(lr, -3, 0),
                "first_seed": int_slider(first_seed, 0, 95, "first seed", step=5),
                "budget": int_slider(budget, 5_000, 200_000, "env steps / seed", step=5_000)}
    panel: Panel

    def draw(fig, histories, earlier):
        ax_steps, ax_iter = fig.subplots(1, 2, sharey=True)
        first = len(panel.runs) - len(earlier)  # run number of the oldest run drawn: colours stay with runs
        runs = list(earlier) + [(panel.values, histories)]
        for k, (values, hs) in enumerate(runs):
            current = k == len(runs) - 1
            color = f"C{(first + k) % 10}"
            label = ("this setting: " if current else "") + run_label(values, hs)
            for ax, x in ((ax_steps, "env_steps"), (ax_iter, "iteration")):
                n_lines, n_bands = len(ax.lines), len(ax.collections)
                plot_seed_band(hs, ax=ax, x=x, color=color, show_seeds=current,
                               target=TARGET_RETURN if k == 0 else None, label=label if ax is ax_steps else None)
                ax.lines[n_lines].set(linewidth=2.2 if current else 1.2, alpha=1.0 if current else 0.7)
                if not current:
                    ax.collections[n_bands].set_alpha(0.1)
        ax_steps.set_title(f"Median of {N_SEEDS} seeds against environment steps")
        ax_iter.set_title("… and against gradient steps")
        ax_iter.set_ylabel("")
        if ax_steps.get_legend() is not None:
            ax_steps.get_legend().remove()
        fig.legend(*ax_steps.get_legend_handles_labels(), loc="outside lower center", ncol=1, fontsize="small")

    panel = Panel("REINFORCE on CartPole-v1, five seeds at once", controls, train_cartpole, draw, button="Train",
                  keep=keep, figsize=(10.0, 4.0),
                  help=f"Each press trains {N_SEEDS} new policies from scratch (seeds first seed … first seed + 4), "
                       "each until it solves or spends its env-step budget. Line: median over the seeds; band: "
                       "interquartile range; thin lines: single seeds. The medians of the last "
                       f"{keep} settings stay for comparison (dotted line: 475 = solved).")
    return panel
