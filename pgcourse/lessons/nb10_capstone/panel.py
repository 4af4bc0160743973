"""Notebook 10's panel: switch REINFORCE's ingredients on and off, train five seeds, compare with earlier runs.

Controls: weights (total return / reward-to-go), baseline (none / mean / value), normalised
weights, optimizer, batch size N and learning rate α. Each press of Train runs
``train_configuration``: one ``train_seeds`` call over the panel's five seeds, each stopped at a
mean return of 475, after PANEL_ITERATIONS gradient steps or after PANEL_ENV_STEPS env steps. The
figure shows the median learning curve with its interquartile band (and every seed, thin) beside
the medians of the earlier runs, and each run's steps to 475 over its seeds.
Taught in notebooks/10_capstone.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pgcourse import stats
from pgcourse.plots import plot_seed_band
from pgcourse.history import History
from pgcourse.config import TrainConfig
from pgcourse.seeds import train_seeds
from pgcourse.ui.panel import Panel, choice, lr_slider, n_slider, toggle

__all__ = ["PANEL_SEEDS", "PANEL_TARGET", "PANEL_ITERATIONS", "PANEL_ENV_STEPS", "SeedRuns", "panel_config",
           "train_configuration", "label_configuration", "describe_runs", "draw_seed_runs", "capstone_panel"]

PANEL_SEEDS = tuple(range(5))
"""The seeds every press trains, all at once."""
PANEL_TARGET = 475.0
PANEL_ITERATIONS = 60
PANEL_ENV_STEPS = 50_000
"""A run stops at PANEL_TARGET, after PANEL_ITERATIONS gradient steps or after PANEL_ENV_STEPS env steps."""


@dataclass
class SeedRuns:
    """One press of the panel: the config (its ``seed`` field is unused) and one History per seed."""

    config: TrainConfig
    seeds: tuple
    histories: list[History]

    @property
    def solved(self) -> int:
        return sum(1 for h in self.histories if h.solved and not h.diverged)

    @property
    def diverged(self) -> int:
        return sum(1 for h in self.histories if h.diverged)

    def steps(self) -> stats.Censored:
        """Env steps to 475 over all seeds, a seed that did not reach it counted at the panel's budget."""
        return stats.steps_to_target([h for h in self.histories], PANEL_ENV_STEPS)

    def final_returns(self) -> np.ndarray:
        return stats.final_returns(self.histories)


def panel_config(weights: str = "reward_to_go", baseline: str = "mean", normalise: bool = True,
                 optimizer: str = "adam", n_traj: int = 8, lr: float = TrainConfig.lr) -> TrainConfig:
    """TrainConfig() defaults with the panel's ingredients, N, α, target 475 and its two budgets."""
    return TrainConfig(weights=weights, baseline=baseline, normalise=bool(normalise), optimizer=optimizer,
                       n_traj=int(n_traj), lr=float(lr), target_return=PANEL_TARGET, iterations=PANEL_ITERATIONS,
                       max_env_steps=PANEL_ENV_STEPS)


def train_configuration(weights: str = "reward_to_go", baseline: str = "mean", normalise: bool = True,
                        optimizer: str = "adam", n_traj: int = 8, lr: float = TrainConfig.lr,
                        seeds=PANEL_SEEDS, progress: bool | None = True) -> SeedRuns:
    """SeedRuns of ONE train_seeds(panel_config(...), seeds) call. A seed whose loss diverges stops
    (history.diverged) and counts as not solved. progress: tqdm bar."""
    config = panel_config(weights, baseline, normalise, optimizer, n_traj, lr)
    _, histories = train_seeds(config, seeds, progress=progress)
    return SeedRuns(config, tuple(int(s) for s in seeds), histories)


def label_configuration(config: TrainConfig) -> str:
    """'Q̂ − mean b, normalised, adam α=0.04, N=8'."""
    weights = "R(τ)" if config.weights == "total_return" else "Q̂"
    baseline = {"none": "", "mean": " − mean b", "value": " − V(s)"}[config.baseline]
    norm = ", normalised" if config.normalise else ""
    return f"{weights}{baseline}{norm}, {config.optimizer} α={config.lr:.2g}, N={config.n_traj}"


def describe_runs(runs: SeedRuns) -> str:
    """'5/5 solved, median 25.5k steps' or '0/5 solved, median final return 12' (+ ', 1 diverged')."""
    n = len(runs.histories)
    steps = runs.steps()
    if np.isfinite(steps.median()):
        text = f"{runs.solved}/{n} solved, median {stats.format_k(steps.median())} steps"
    else:
        text = f"{runs.solved}/{n} solved, median final return {np.median(runs.final_returns()):.0f}"
    return text + (f", {runs.diverged} diverged" if runs.diverged else "")


def _median_curve(histories: list[History], grid: np.ndarray) -> np.ndarray:
    curves = [np.interp(grid, np.asarray(h.env_steps, dtype=float), np.asarray(h.mean_return, dtype=float))
              for h in histories]
    return np.median(curves, axis=0)


def draw_seed_runs(fig, runs: SeedRuns, earlier: list) -> None:
    """Left: the newest run's median learning curve over its seeds with the interquartile band and
    every seed (thin), beside the median curves of the earlier runs (dashed). Right: each run's
    median env steps to 475 over its seeds (bar; unsolved seeds counted at the budget, hatched when
    the median is censored) with the interquartile range (line)."""
    ax, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.3, 1]})
    all_runs = [r for _, r in earlier] + [runs]
    colors = [f"C{k % 10}" for k in range(len(all_runs))]
    for k, (r, color) in enumerate(zip(all_runs[:-1], colors)):
        grid = np.linspace(0, max(h.env_steps[-1] for h in r.histories), 200)
        ax.plot(grid / 1000, _median_curve(r.histories, grid), color=color, linewidth=1.0, linestyle="--",
                alpha=0.8, label=f"{k + 1}. {label_configuration(r.config)}: {describe_runs(r)}")
    newest = len(all_runs)
    scaled = [_thousands(h) for h in runs.histories]
    before = len(ax.lines)
    plot_seed_band(scaled, ax=ax, x="env_steps", color=colors[-1], show_seeds=True,
                   label=f"{newest}. {label_configuration(runs.config)}: {describe_runs(runs)}")
    ax.lines[before].set_linewidth(2.2)                   # the median line (drawn before the seeds)
    ax.axhline(PANEL_TARGET, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("environment steps (thousands)")
    ax.set_ylabel("mean return of the batch")
    ax.set_ylim(0, 600)
    ax.set_title(f"Median over {len(runs.histories)} seeds, interquartile band (newest)")
    ax.legend(loc="upper right", fontsize="x-small", framealpha=0.85)
    cap = PANEL_ENV_STEPS / 1000
    positions = np.arange(len(all_runs))
    for x, r, color in zip(positions, all_runs, colors):
        steps = r.steps()
        med = min(float(np.median(steps.steps)), PANEL_ENV_STEPS) / 1000
        q25, q75 = (np.percentile(steps.steps, [25, 75]) / 1000).tolist()
        censored = not np.isfinite(steps.median())
        bars.bar(x, med, color="whitesmoke" if censored else color, edgecolor=color, hatch="//" if censored else None,
                 linewidth=1.0)
        bars.plot([x, x], [q25, q75], color="black", linewidth=1.2)
        bars.text(x, max(med, q75), f">{cap:.0f}k" if censored else f"{med:.0f}k", ha="center", va="bottom",
                  fontsize="x-small")
    bars.set_xticks(positions, [str(k + 1) for k in positions])
    bars.set_xlim(-0.6, max(len(all_runs), 5) - 0.4)
    bars.set_xlabel("run")
    bars.set_ylabel("thousands (hatched: median > budget)")
    bars.set_ylim(0, cap * 1.3)
    bars.set_title("Env steps to 475: median, IQR")


def _thousands(h: History) -> History:
    """A copy of h's env_steps and mean_return with env steps in thousands (for the plot's x axis)."""
    out = History()
    out.env_steps = [s / 1000 for s in h.env_steps]
    out.mean_return = list(h.mean_return)
    out.iteration = list(h.iteration)
    return out


def capstone_panel(weights: str = "reward_to_go", baseline: str = "mean", normalise: bool = True,
                   optimizer: str = "adam", n_traj: int = 8, lr: float = TrainConfig.lr, keep: int = 4) -> Panel:
    """Panel: ingredients, N, α → train CartPole-v1 on five seeds (train_configuration) → median learning
    curve and band, beside the medians of the last ``keep`` runs."""
    controls = {"weights": choice(["total_return", "reward_to_go"], weights, "weights"),
                "baseline": choice(["none", "mean", "value"], baseline, "baseline"),
                "normalise": toggle(normalise, "normalise the weights"),
                "optimizer": choice(["adam", "sgd"], optimizer, "optimizer"),
                "n_traj": n_slider(n_traj, min=1, max=256),
                "lr": lr_slider(lr, min_exp=-4, max_exp=0)}
    return Panel("Assemble REINFORCE: ingredients, batch size, learning rate", controls, train_configuration,
                 draw_seed_runs, button="Train", keep=keep, figsize=(10.0, 3.8),
                 help=f"γ = 0.995 and one 64-unit hidden layer (TrainConfig() defaults), seeds "
                      f"{PANEL_SEEDS[0]}–{PANEL_SEEDS[-1]} trained at once. Each seed stops at a mean return of "
                      f"475, after {PANEL_ITERATIONS} gradient steps or after {PANEL_ENV_STEPS // 1000}k env steps.")
