"""Notebook 10's panel: switch REINFORCE's ingredients on and off, train, compare with earlier runs.

Controls: weights (total return / reward-to-go), baseline (none / mean / value), normalised
weights, optimizer, batch size N and learning rate α. Each press of Train runs
``train_configuration`` (stopped at a mean return of 475, after 150 gradient steps or after 75k
env steps) with a tqdm progress bar and adds its learning curve to the comparison.
Taught in notebooks/10_capstone.ipynb.
"""

from __future__ import annotations

from ..implementing_policy_gradients import Run, panel_config, train_panel
from ..train import TrainConfig
from . import Panel, choice, lr_slider, n_slider, toggle
from .implementing_policy_gradients import draw_runs


def train_configuration(weights: str = "reward_to_go", baseline: str = "mean", normalise: bool = True,
                        optimizer: str = "adam", n_traj: int = 8, lr: float = TrainConfig.lr, seed: int = 0,
                        progress: bool | None = True) -> Run:
    """Run(config, history) of train(TrainConfig(weights, baseline, normalise, optimizer, N, α, seed,
    target_return=475, iterations=150)), stopped after 75k env steps at the latest
    (pgcourse.implementing_policy_gradients.train_panel). progress: tqdm bar.
    """
    config = panel_config(n_traj, lr, optimizer, seed, weights=weights, baseline=baseline, normalise=bool(normalise))
    return train_panel(config, progress=progress)


def label_configuration(config: TrainConfig) -> str:
    """'Q̂ − mean b, normalised, adam α=0.04, N=8'."""
    weights = "R(τ)" if config.weights == "total_return" else "Q̂"
    baseline = {"none": "", "mean": " − mean b", "value": " − V(s)"}[config.baseline]
    norm = ", normalised" if config.normalise else ""
    return f"{weights}{baseline}{norm}, {config.optimizer} α={config.lr:.2g}, N={config.n_traj}"


def capstone_panel(weights: str = "reward_to_go", baseline: str = "mean", normalise: bool = True,
                   optimizer: str = "adam", n_traj: int = 8, lr: float = TrainConfig.lr, keep: int = 5) -> Panel:
    """Panel: ingredients, N, α → train CartPole-v1 (train_configuration) → learning curves of this and
    the last ``keep`` runs."""
    controls = {"weights": choice(["total_return", "reward_to_go"], weights, "weights"),
                "baseline": choice(["none", "mean", "value"], baseline, "baseline"),
                "normalise": toggle(normalise, "normalise the weights"),
                "optimizer": choice(["adam", "sgd"], optimizer, "optimizer"),
                "n_traj": n_slider(n_traj, min=1, max=256),
                "lr": lr_slider(lr, min_exp=-4, max_exp=0)}
    return Panel("Assemble REINFORCE: ingredients, batch size, learning rate", controls, train_configuration,
                 lambda fig, run, earlier: draw_runs(fig, run, earlier, label_configuration), button="Train",
                 keep=keep, figsize=(10.0, 3.8),
                 help="γ = 0.995 and one 64-unit hidden layer (TrainConfig() defaults), seed 0. A run stops at a "
                      "mean return of 475, after 150 gradient steps or after 75k env steps.")
