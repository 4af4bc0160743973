"""Plot helpers: each takes ``ax=None`` and returns the axes; no global style changes."""

from __future__ import annotations

import numpy as np


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
