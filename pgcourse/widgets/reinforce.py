"""Notebook 03's panel: train REINFORCE on CartPole-v1 with batch size N and learning rate α,
and see the learning curve beside the earlier runs."""

from __future__ import annotations

from ..plots import plot_learning_curve
from ..train import History, TrainConfig, train
from . import Panel, int_slider, lr_slider, n_slider

TARGET_RETURN = 475.0
"""CartPole-v1 counts as solved at a mean return of 475 (the episode is cut at 500)."""

DEFAULTS = TrainConfig()
"""The trainer's defaults: the panel starts from TrainConfig().n_traj and TrainConfig().lr."""


def train_cartpole(n_traj: int = DEFAULTS.n_traj, lr: float = DEFAULTS.lr, seed: int = 0, iterations: int = 60,
                   progress: bool = True) -> History:
    """History of train(TrainConfig(n_traj=N, lr=α, seed, target_return=475, iterations)) on CartPole-v1.

    Every other setting is TrainConfig's default (reward-to-go, time-dependent mean baseline,
    normalised weights, Adam, γ = 0.995, one hidden layer of 64). Deterministic for a given seed.
    Stops early once the mean return of the last max(16, N) episodes reaches 475.
    Taught in notebooks/03_reinforce.ipynb.
    """
    config = TrainConfig(n_traj=n_traj, lr=lr, seed=seed, target_return=TARGET_RETURN, iterations=iterations)
    _, history = train(config, progress=progress)
    return history


def run_label(values: dict, history: History) -> str:
    """'N=8, α=0.04, seed 0: 475 after 29,387 steps' (or the final return when not solved)."""
    head = f"N={values['n_traj']}, α={values['lr']:.2g}, seed {values['seed']}"
    if history.solved:
        return f"{head}: 475 after {history.env_steps[-1]:,} steps"
    return f"{head}: {history.final_return:.0f} after {len(history)} it."


def reinforce_panel(n_traj: int = DEFAULTS.n_traj, lr: float = DEFAULTS.lr, seed: int = 0, iterations: int = 60,
                    keep: int = 3) -> Panel:
    """N, α, seed, iteration cap → train on CartPole-v1 → learning curves of this and the last ``keep`` runs.

    N and α start at TrainConfig's defaults.
    Taught in notebooks/03_reinforce.ipynb.
    """
    controls = {"n_traj": n_slider(n_traj, 1, 256), "lr": lr_slider(lr, -3, 0),
                "seed": int_slider(seed, 0, 9, "seed"),
                "iterations": int_slider(iterations, 10, 300, "max iterations", step=10)}
    panel: Panel

    def draw(fig, history, earlier):
        ax_steps, ax_iter = fig.subplots(1, 2, sharey=True)
        runs = list(earlier) + [(panel.values, history)]
        for k, (values, h) in enumerate(runs):
            current = k == len(runs) - 1
            label = run_label(values, h) + (" (this run)" if current else "")
            for ax, x in ((ax_steps, "env_steps"), (ax_iter, "iteration")):
                first = len(ax.lines)
                plot_learning_curve(h, ax=ax, x=x, target=TARGET_RETURN if k == 0 else None,
                                    label=label if ax is ax_steps else None)
                ax.lines[first].set(linewidth=2.2 if current else 1.0, alpha=1.0 if current else 0.6)
        ax_steps.set_title("Return against environment steps")
        ax_iter.set_title("… and against gradient steps")
        ax_iter.set_ylabel("")
        if ax_steps.get_legend() is not None:
            ax_steps.get_legend().remove()
        fig.legend(*ax_steps.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize="small")

    panel = Panel("REINFORCE on CartPole-v1", controls, train_cartpole, draw, button="Train", keep=keep,
                  figsize=(10.0, 3.8), help="Each press trains a new policy from scratch; the curves of the last "
                                            f"{keep} runs stay for comparison (dotted line: 475 = solved).")
    return panel
