"""Argument checks shared by the package: clear ValueErrors instead of deep tracebacks."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def check_gamma(gamma: float) -> float:
    """γ must be a real number in [0, 1]."""
    try:
        value = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a number in [0, 1], got {gamma!r}") from None
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    return value


def check_positive_int(name: str, value) -> int:
    """A whole number ≥ 1 (batch sizes, iterations, episodes)."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        isinstance(value, float) and value.is_integer()
    ):
        raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
    if int(value) < 1:
        raise ValueError(f"{name} must be ≥ 1, got {value!r}")
    return int(value)


def check_seed(seed, name: str = "seed") -> int:
    """A random seed is a whole number in [0, 2**63)."""
    if isinstance(seed, bool) or not isinstance(seed, int) and not (hasattr(seed, "__index__")):
        raise ValueError(f"{name} must be a whole number in [0, 2**63), got {seed!r}")
    value = int(seed.__index__())
    if not 0 <= value < 2**63:
        raise ValueError(f"{name} must be in [0, 2**63), got {seed!r}")
    return value


def check_lr(lr) -> float:
    """A learning rate is a finite number > 0."""
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}") from None
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    return value


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
