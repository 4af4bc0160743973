"""Notebook 09's panel: batch size N, learning rate α and optimizer → train CartPole on 5 seeds → curves.

Each press of Train runs ``train_curves`` (REINFORCE with TrainConfig() defaults and the panel's
N, α, optimizer, seeds 0–4 at once with train_seeds; each seed stopped at a mean return of 475,
after 60 gradient steps or after 15k env steps) with a tqdm progress bar, and draws the median
learning curve with its interquartile band next to the earlier settings' medians, and the return
each setting reached.
Taught in notebooks/09_implementing_policy_gradients.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.ticker import FuncFormatter

from pgcourse.plots import plot_seed_band
from pgcourse.stats import median_iqr
from pgcourse.config import TrainConfig
from pgcourse.ui.panel import Panel, choice, lr_slider, n_slider
from .measure import (PANEL_SEEDS, PANEL_TARGET, SEEDS_PANEL_ENV_STEPS, SEEDS_PANEL_ITERATIONS, SeedRuns,
                      seeds_panel_config, train_seeds_panel)

__all__ = ["train_curves", "median_curve", "draw_seed_runs", "label_run",
           "implementing_panel"]


def train_curves(n_traj: int = 8, lr: float = TrainConfig.lr, optimizer: str = "adam",
                 progress: bool | None = True, seeds=PANEL_SEEDS) -> SeedRuns:
    """SeedRuns of train_seeds(TrainConfig(n_traj=N, lr=α, optimizer=…, target_return=475,
    iterations=60, max_env_steps=15k), seeds 0–4) (pgcourse.lessons.nb09_implementing_policy_gradients.measure.train_seeds_panel).
    progress: tqdm bar. seeds: the panel's 0–4 unless given (the notebook's claims use more, all at once).
    """
    return train_seeds_panel(seeds_panel_config(n_traj, lr, optimizer), seeds, progress=progress)


def median_curve(histories, grid: np.ndarray) -> np.ndarray:
    """Median over seeds of the batch's mean return against env steps, on ``grid`` (a seed that
    stopped keeps its last value, as in plot_seed_band)."""
    curves = [np.interp(grid, np.asarray(h.env_steps, dtype=float), np.asarray(h.mean_return, dtype=float))
              for h in histories]
    return np.median(np.stack(curves), axis=0)


def draw_seed_runs(fig, runs: SeedRuns, earlier: list, label: Callable[[TrainConfig], str]) -> None:
    """Left: the newest setting's median learning curve over its seeds with the interquartile band
    (and each seed thin), beside the earlier settings' medians (dashed). Right: per setting, the
    median over the seeds of the return when they stopped (475 reached, or the budget spent), with
    its interquartile range, and how many seeds reached 475. earlier: [(values, SeedRuns), …], oldest first.
    """
    ax, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.3, 1]})
    settings = [r for _, r in earlier] + [runs]
    colors = [f"C{k % 10}" for k in range(len(settings))]
    for k, (r, color) in enumerate(zip(settings[:-1], colors)):
        grid = np.linspace(0, max(h.env_steps[-1] for h in r.histories), 200)
        ax.plot(grid, median_curve(r.histories, grid), color=color, linestyle="--", linewidth=1.0, alpha=0.8,
                label=f"{k + 1}. {label(r.config)}: {r.describe()}")
    first = len(ax.lines)   # plot_seed_band draws the median first, then the seeds and the target line
    plot_seed_band(runs.histories, ax=ax, x="env_steps", color=colors[-1], target=PANEL_TARGET)
    ax.lines[first].set_label(f"{len(settings)}. {label(runs.config)}: {runs.describe()}")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
    ax.set_ylim(0, 600)
    ax.set_title(f"Newest: median of {len(runs.histories)} seeds and interquartile band; earlier: dashed",
                 fontsize="medium")
    ax.legend(loc="upper left", fontsize="x-small", framealpha=0.85)
    positions = np.arange(len(settings))
    for x, r, color in zip(positions, settings, colors):
        med, q25, q75 = median_iqr(r.final_returns)
        bars.bar(x, med, color=color, alpha=0.8)
        bars.errorbar(x, med, yerr=[[med - q25], [q75 - med]], color="black", capsize=3, linewidth=1)
        bars.text(x, q75 + 12, f"{r.solved}/{len(r.histories)}", ha="center", va="bottom", fontsize="x-small")
    bars.axhline(PANEL_TARGET, color="grey", linestyle=":", linewidth=1)
    bars.set_xticks(positions, [str(k + 1) for k in positions])
    bars.set_xlim(-0.6, max(len(settings), 5) - 0.4)
    bars.set_xlabel(f"setting (k/{len(runs.histories)}: seeds that reached 475)")
    bars.set_ylabel("return when the seeds stopped")
    bars.set_ylim(0, 600)
    bars.set_title(f"Return within {runs.budget // 1000}k env steps", fontsize="medium")


def label_run(config: TrainConfig) -> str:
    """'N=8, adam α=0.04'."""
    return f"N={config.n_traj}, {config.optimizer} α={config.lr:.2g}"


def implementing_panel(n_traj: int = 8, lr: float = TrainConfig.lr, optimizer: str = "adam", keep: int = 4) -> Panel:
    """Panel: N, α, optimizer → train CartPole-v1 on seeds 0–4 (train_curves) → median curve and band
    beside the last ``keep`` settings, and the return each setting reached."""
    controls = {"n_traj": n_slider(n_traj, min=1, max=256),
                "lr": lr_slider(lr, min_exp=-3, max_exp=0),
                "optimizer": choice(["adam", "sgd"], optimizer, "optimizer")}
    n = len(PANEL_SEEDS)
    return Panel("REINFORCE on CartPole-v1: batch size, learning rate, optimizer", controls, train_curves,
                 lambda fig, runs, earlier: draw_seed_runs(fig, runs, earlier, label_run), button="Train",
                 keep=keep, figsize=(10.0, 3.8),
                 help=f"TrainConfig() defaults otherwise (reward-to-go, mean baseline, normalised weights, "
                      f"γ = 0.995), {n} seeds ({PANEL_SEEDS[0]}–{PANEL_SEEDS[-1]}) trained at once. Each seed "
                      f"stops at a mean return of 475, after {SEEDS_PANEL_ITERATIONS} gradient steps or after "
                      f"{SEEDS_PANEL_ENV_STEPS // 1000}k env steps.")
