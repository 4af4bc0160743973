"""Notebook 09's panel: batch size N, learning rate α and optimizer → train CartPole → learning curves.

Each press of Train runs ``train_curve`` (REINFORCE with TrainConfig() defaults and the panel's
N, α, optimizer; stopped at a mean return of 475, after 150 gradient steps or after 75k env
steps) with a tqdm progress bar, and draws its learning curve next to the earlier runs.
Taught in notebooks/09_implementing_policy_gradients.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..implementing_policy_gradients import PANEL_ENV_STEPS, PANEL_TARGET, Run, panel_config, train_panel
from ..train import History, TrainConfig
from . import Panel, choice, lr_slider, n_slider


def train_curve(n_traj: int = 8, lr: float = TrainConfig.lr, optimizer: str = "adam", seed: int = 0,
                progress: bool | None = True) -> Run:
    """Run(config, history) of train(TrainConfig(n_traj=N, lr=α, optimizer=…, seed=seed,
    target_return=475, iterations=150)), stopped after 75k env steps at the latest
    (pgcourse.implementing_policy_gradients.train_panel). progress: tqdm bar.
    """
    return train_panel(panel_config(n_traj, lr, optimizer, seed), progress=progress)


def describe_run(history: History) -> str:
    """'475 in 18.8k steps' or 'not solved (137 after 100k steps)'."""
    steps = history.env_steps[-1] if history.env_steps else 0
    if history.solved:
        return f"475 in {steps / 1000:.1f}k steps"
    return f"not solved ({history.final_return:.0f} after {steps / 1000:.0f}k steps)"


def draw_runs(fig, run: Run, earlier: list, label: Callable[[TrainConfig], str]) -> None:
    """Left: learning curves (mean return per batch against env steps) of the earlier runs, thin,
    and of the newest run, bold. Right: env steps each run used (to reach 475, or hatched: the
    budget spent without reaching it). label(config) names a run in the legend; earlier: [(values, Run), …], oldest first.
    """
    ax, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.3, 1]})
    runs = [r for _, r in earlier] + [run]
    colors = [f"C{k % 10}" for k in range(len(runs))]
    for k, (r, color) in enumerate(zip(runs, colors)):
        newest = k == len(runs) - 1
        h = r.history
        ax.plot(np.asarray(h.env_steps) / 1000, h.mean_return, color=color, linewidth=2.2 if newest else 1.0,
                alpha=1.0 if newest else 0.6, label=f"{k + 1}. {label(r.config)}: {describe_run(h)}")
    ax.axhline(PANEL_TARGET, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("environment steps (thousands)")
    ax.set_ylabel("mean return of the batch")
    ax.set_ylim(0, 600)
    ax.set_title("Learning curves (newest bold)")
    ax.legend(loc="upper right", fontsize="x-small", framealpha=0.85)
    cap = PANEL_ENV_STEPS / 1000
    steps = [r.history.env_steps[-1] / 1000 for r in runs]
    positions = np.arange(len(runs))
    for x, r, v, color in zip(positions, runs, steps, colors):
        solved = r.history.solved
        bars.bar(x, v, color=color if solved else "whitesmoke", edgecolor=color, hatch=None if solved else "//",
                 linewidth=1.0)
        bars.text(x, v, f"{v:.0f}k" if solved else "not\nsolved", ha="center", va="bottom", fontsize="x-small")
    bars.set_xticks(positions, [str(k + 1) for k in positions])
    bars.set_xlim(-0.6, max(len(runs), 5) - 0.4)
    bars.set_xlabel("run")
    bars.set_ylabel("thousands (hatched: no 475)")
    bars.set_ylim(0, max(cap, max(steps)) * 1.3)
    bars.set_title("Env steps used per run")


def label_run(config: TrainConfig) -> str:
    """'N=8, adam α=0.04'."""
    return f"N={config.n_traj}, {config.optimizer} α={config.lr:.2g}"


def implementing_panel(n_traj: int = 8, lr: float = TrainConfig.lr, optimizer: str = "adam", keep: int = 4) -> Panel:
    """Panel: N, α, optimizer → train CartPole-v1 (train_curve) → learning curve beside the last ``keep`` runs."""
    controls = {"n_traj": n_slider(n_traj, min=1, max=256),
                "lr": lr_slider(lr, min_exp=-3, max_exp=0),
                "optimizer": choice(["adam", "sgd"], optimizer, "optimizer")}
    return Panel("REINFORCE on CartPole-v1: batch size, learning rate, optimizer", controls, train_curve,
                 lambda fig, run, earlier: draw_runs(fig, run, earlier, label_run), button="Train", keep=keep,
                 figsize=(10.0, 3.8),
                 help="TrainConfig() defaults otherwise (reward-to-go, mean baseline, normalised weights, "
                      "γ = 0.995), seed 0. A run stops at a mean return of 475, after 150 gradient steps "
                      "or after 75k env steps.")
