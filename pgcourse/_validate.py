"""Argument checks shared by the package: clear ValueErrors instead of deep tracebacks."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


MAX_BATCH = 65_536
"""The largest batch (n_traj, episodes) the course accepts: far above what a laptop trains on."""
MAX_LR = 1e3
"""The largest learning rate accepted: larger steps overflow float32 (Adam's step is about lr per weight)."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, or its type's name if the message is empty."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _is_real(value) -> bool:
    """int, float or a NumPy/torch number, but not bool and not str (which float() would accept)."""
    if isinstance(value, (bool, str, bytes)) or isinstance(value, np.bool_):
        return False
    if isinstance(value, Tensor):
        return value.numel() == 1 and not value.dtype.is_complex and value.dtype != torch.bool
    return isinstance(value, (int, float, np.integer, np.floating))


def check_real(name: str, value, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite real number in [low, high] (not a string, not a bool)."""
    if not _is_real(value) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number in [{low:g}, {high:g}], got {value!r}")
    if not low <= float(value) <= high:
        raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def check_gamma(gamma: float) -> float:
    """γ must be a real number in [0, 1]."""
    return check_real("gamma", gamma, 0.0, 1.0)


def check_bool(name: str, value) -> bool:
    """True or False (not "no", not 0)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_positive_int(name: str, value, maximum: int | None = None) -> int:
    """A whole number ≥ 1 (batch sizes, iterations, episodes), at most ``maximum`` if given."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) and not (
        isinstance(value, float) and value.is_integer()
    ):
        raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
    if int(value) < 1:
        raise ValueError(f"{name} must be ≥ 1, got {value!r}")
    if maximum is not None and int(value) > maximum:
        raise ValueError(f"{name} must be at most {maximum:,}, got {int(value):,}")
    return int(value)


def check_hidden(hidden) -> tuple[int, ...]:
    """Hidden layer sizes: a sequence of whole numbers ≥ 1 (a string or a bare number is not one)."""
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
        raise ValueError(f"hidden must be a sequence of whole numbers ≥ 1 such as (64,) or (64, 64), got {hidden!r}")
    sizes = tuple(hidden)
    for h in sizes:
        if isinstance(h, (bool, np.bool_)) or not isinstance(h, (int, np.integer)) or int(h) < 1:
            raise ValueError(f"hidden must be a sequence of whole numbers ≥ 1 such as (64,) or (64, 64), "
                             f"got {hidden!r}")
    return tuple(int(h) for h in sizes)


def check_seed(seed, name: str = "seed") -> int:
    """A random seed is a whole number in [0, 2**63)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, int) and not (hasattr(seed, "__index__")):
        raise ValueError(f"{name} must be a whole number in [0, 2**63), got {seed!r}")
    value = int(seed.__index__())
    if not 0 <= value < 2**63:
        raise ValueError(f"{name} must be in [0, 2**63), got {seed!r}")
    return value


def check_lr(lr, name: str = "lr") -> float:
    """A learning rate is a finite number in (0, MAX_LR]."""
    if not _is_real(lr) or not math.isfinite(float(lr)) or not 0.0 < float(lr) <= MAX_LR:
        raise ValueError(f"{name} must be a finite number in (0, {MAX_LR:g}], got {lr!r}")
    return float(lr)


def check_choice(name: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def check_mask(rew: Tensor, mask: Tensor | None) -> Tensor:
    """Return a bool mask shaped like rew (all True when mask is None)."""
    if rew.dim() < 1:
        raise ValueError("rew must have shape (N, T) or (T,), got a scalar")
    if mask is None:
        return torch.ones_like(rew, dtype=torch.bool)
    if mask.shape != rew.shape:
        raise ValueError(f"mask must have the shape of rew {tuple(rew.shape)}, got {tuple(mask.shape)}")
    return mask.bool()
