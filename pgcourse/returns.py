"""Returns of sampled trajectories: R(τ_i) and the reward-to-go Q̂_{i,t}.

Every function takes a padded batch of rewards ``rew`` of shape (N, T), where
row i is trajectory i and column t its step t, and an optional bool ``mask`` of
the same shape (False where trajectory i had already ended). Masked steps
contribute 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._validate import check_gamma, check_mask

__all__ = ["discounts", "total_return", "reward_to_go"]


def discounts(horizon: int, gamma: float = 1.0, dtype=torch.float32) -> Tensor:
    """γ^t for t = 0 … T-1, shape (T,)."""
    gamma = check_gamma(gamma)
    return torch.tensor(gamma, dtype=torch.float64).pow(torch.arange(horizon, dtype=torch.float64)).to(dtype)


def total_return(rew: Tensor, mask: Tensor | None = None, gamma: float = 1.0) -> Tensor:
    """R(τ_i) = Σ_t γ^t r_{i,t}   (the notes' Σ_t r(s_{i,t}, a_{i,t}) when γ = 1).

    rew, mask: (N, T); returns (N,).
    Example: rew [[1, 2, 3]], gamma 0.5 -> [2.75].
    Taught in notebooks/01_estimating_J.ipynb.
    """
    mask = check_mask(rew, mask)
    rew = torch.where(mask, rew, torch.zeros((), dtype=rew.dtype))
    return (rew * discounts(rew.shape[-1], gamma, rew.dtype)).sum(-1)


def reward_to_go(rew: Tensor, mask: Tensor | None = None, gamma: float = 1.0) -> Tensor:
    """Q̂_{i,t} = Σ_{t'=t}^{T} γ^{t'-t} r_{i,t'}   (the notes' "reward to go").

    rew, mask: (N, T); returns (N, T), zero where mask is False.
    Example: rew [[1, 1, 1]], gamma 0.5 -> [[1.75, 1.5, 1.0]].
    Taught in notebooks/06_causality_reward_to_go.ipynb.
    """
    mask = check_mask(rew, mask)
    rew = torch.where(mask, rew, torch.zeros((), dtype=rew.dtype))
    horizon = rew.shape[-1]
    if check_gamma(gamma) == 1.0:
        rtg = rew.flip(-1).cumsum(-1).flip(-1)
    else:
        # M[t', t] = γ^{t'-t} for t' ≥ t: one matmul instead of a loop over t.
        rtg = rew @ _lag_discounts(horizon, float(gamma), rew.dtype)
    return torch.where(mask, rtg, torch.zeros((), dtype=rew.dtype))


def _lag_discounts(horizon: int, gamma: float, dtype) -> Tensor:
    """The (T, T) matrix M[t', t] = γ^{t'−t} for t' ≥ t, else 0 (built in float64, then cast).

    M depends on t' and t only through the lag, so every M is the top-left block of a larger one:
    one matrix per (γ, dtype) is kept (up to T = 2048) and sliced, instead of T² powers per call.
    """
    if horizon > _LAG_CACHE_MAX:
        return _build_lag_discounts(horizon, gamma, dtype)
    key = (gamma, dtype)
    big = _LAG_CACHE.get(key)
    if big is None or big.shape[0] < horizon:
        size = min(_LAG_CACHE_MAX, max(horizon, 512, 0 if big is None else 2 * big.shape[0]))
        if big is None and len(_LAG_CACHE) >= 8:  # a sweep over many γ: forget the oldest
            _LAG_CACHE.pop(next(iter(_LAG_CACHE)))
        big = _LAG_CACHE[key] = _build_lag_discounts(size, gamma, dtype)
    return big[:horizon, :horizon].contiguous()


_LAG_CACHE: dict = {}
_LAG_CACHE_MAX = 2048


def _build_lag_discounts(horizon: int, gamma: float, dtype) -> Tensor:
    t = torch.arange(horizon)
    lag = t[:, None] - t[None, :]
    m = torch.where(lag >= 0, torch.tensor(gamma, dtype=torch.float64).pow(lag.clamp(min=0)), 0.0)
    return m.to(dtype)
