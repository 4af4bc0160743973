"""History: what a training run records, one row per iteration (a batch and its update)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HISTORY_COLUMNS", "History"]

HISTORY_COLUMNS = ("iteration", "mean_return", "stderr_return", "recent_return", "env_steps", "wall_s",
                   "loss", "grad_norm", "entropy")


@dataclass
class History:
    """One row per iteration: the batch's mean return ± standard error, the mean return of the
    last max(16, N) finished episodes (the stopping rule's statistic), cumulative env steps and
    wall seconds, the pseudo-loss, the gradient norm (NaN when no step was taken because the
    target was reached, or, in ``pgcourse.seeds.train_seeds``, the loss diverged; 0.0 when the weights
    were all zero, so the batch carried no signal and no step was taken) and the policy's mean entropy."""

    iteration: list[int] = field(default_factory=list)
    mean_return: list[float] = field(default_factory=list)
    stderr_return: list[float] = field(default_factory=list)
    recent_return: list[float] = field(default_factory=list)
    env_steps: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    solved: bool = False
    """True when target_return was reached."""
    diverged: str | None = None
    """Why training stopped early because the loss or gradient became NaN/inf (None: it did not). Set by
    ``pgcourse.seeds.train_seeds``, whose other seeds go on; ``pgcourse.train`` raises the ValueError instead."""
    interrupted: bool = False
    """True when Ctrl-C (SIGINT) or SIGTERM stopped training early; the policy is the one after the last
    finished iteration, and ``interrupt_signal`` names the signal."""
    interrupt_signal: str | None = None

    def append(self, **row):
        for key in HISTORY_COLUMNS:
            getattr(self, key).append(row[key])

    def __len__(self) -> int:
        return len(self.iteration)

    @property
    def final_return(self) -> float:
        """Mean return of the last max(16, N) finished episodes at the end of training."""
        return self.recent_return[-1] if self.recent_return else float("nan")

    def rows(self):
        return [dict(zip(HISTORY_COLUMNS, values)) for values in zip(*(getattr(self, k) for k in HISTORY_COLUMNS))]

    def to_csv(self, path) -> Path:
        path = Path(path)
        with path.open("wb") as f:
            self.write_csv(f)
        return path

    def write_csv(self, f) -> None:
        """The rows as CSV into a binary file object."""
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows())
        f.write(text.getvalue().encode())

    def summary(self) -> dict:
        """The CLI's final JSON line."""
        return {"solved": bool(self.solved), "iterations": len(self),
                "env_steps": int(self.env_steps[-1]) if self.env_steps else 0,
                "wall_s": round(float(self.wall_s[-1]), 3) if self.wall_s else 0.0,
                "final_return": float(self.final_return), "interrupted": bool(self.interrupted)}
