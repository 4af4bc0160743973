"""Plot helpers: each takes ``ax=None`` and returns the axes; no global style changes."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_learning_curve", "plot_seed_band", "save_learning_curve"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.5))
    return ax


def plot_learning_curve(history, ax=None, label=None, x="env_steps", target=None):
    """Mean return per batch ± one standard error against env steps (or "iteration", "wall_s")."""
    ax = _axes(ax)
    xs = np.asarray(getattr(history, x), dtype=float)
    mean = np.asarray(history.mean_return, dtype=float)
    err = np.asarray(history.stderr_return, dtype=float)
    (line,) = ax.plot(xs, mean, label=label)
    ax.fill_between(xs, mean - err, mean + err, color=line.get_color(), alpha=0.2, linewidth=0)
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel({"env_steps": "environment steps", "iteration": "iteration (gradient steps)",
                   "wall_s": "wall time (s)"}.get(x, x))
    ax.set_ylabel("mean return of the batch")
    ax.set_title("Learning curve")
    if label is not None:
        ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_seed_band(histories, ax=None, label=None, x="iteration", y="mean_return", target=None, color=None,
                   show_seeds=True):
    """Median over seeds of one History column (a line) and its interquartile range (a band).

    histories: one History per seed (``pgcourse.seeds.train_seeds``). x: "iteration" or "env_steps" (each seed's
    curve is interpolated onto a common grid of env steps). A seed that stopped early keeps its last
    value (``stats.seed_curves``). show_seeds: also draw every seed as a thin line. Returns the axes.
    """
    from .stats import seed_curves

    ax = _axes(ax)
    k = len(histories)
    if x == "iteration":
        grid = np.arange(max(len(h) for h in histories))
        curves = seed_curves(histories, y)
    elif x == "env_steps":
        grid = np.linspace(0, max(h.env_steps[-1] for h in histories), 200)
        curves = np.stack([np.interp(grid, np.asarray(h.env_steps, dtype=float), np.asarray(getattr(h, y), dtype=float))
                           for h in histories])
    else:
        raise ValueError(f"x must be 'iteration' or 'env_steps', got {x!r}")
    q25, med, q75 = np.nanpercentile(curves, [25, 50, 75], axis=0)
    (line,) = ax.plot(grid, med, color=color, label=None if label is None else f"{label} (median of {k} seeds)")
    ax.fill_between(grid, q25, q75, color=line.get_color(), alpha=0.25, linewidth=0)
    if show_seeds:
        for curve in curves:
            ax.plot(grid, curve, color=line.get_color(), alpha=0.25, linewidth=0.6)
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel({"env_steps": "environment steps", "iteration": "iteration (gradient steps)"}[x])
    ax.set_ylabel({"mean_return": "mean return of the batch"}.get(y, y.replace("_", " ")))
    ax.set_title(f"Learning curves over {k} seeds: median and interquartile range")
    if label is not None:
        ax.legend(loc="lower right", fontsize="small")
    return ax


def save_learning_curve(history, path, title=None, target=None, dpi=100):
    """Write a learning-curve PNG without touching pyplot's global state (usable from the CLI)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), dpi=dpi)
    ax = fig.subplots()
    plot_learning_curve(history, ax=ax, target=target)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path
