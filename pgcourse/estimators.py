"""Policy-gradient estimators: the pseudo-loss for autodiff and per-trajectory gradient samples."""

from __future__ import annotations

import torch
from torch import Tensor

from ._validate import check_mask


def pg_pseudo_loss(logp: Tensor, weights: Tensor, mask: Tensor | None = None) -> Tensor:
    """L(θ) = −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) · w_{i,t}   (weights detached).

    logp, weights, mask: (N, T); returns a scalar. Its gradient is minus the
    policy-gradient estimate ĝ = (1/N) Σ_i Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t}) w_{i,t};
    its value is not J(θ) and says nothing about progress.
    Taught in notebooks/09_implementing_policy_gradients.ipynb.
    """
    if logp.dim() != 2:
        raise ValueError(f"logp must have shape (N, T), got {tuple(logp.shape)}")
    if weights.shape != logp.shape:
        raise ValueError(f"weights must have the shape of logp {tuple(logp.shape)}, got {tuple(weights.shape)}")
    mask = check_mask(logp, mask)
    terms = torch.where(mask, logp * weights.detach(), torch.zeros((), dtype=logp.dtype))
    return -terms.sum() / logp.shape[0]
