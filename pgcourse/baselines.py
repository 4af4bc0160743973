"""Baselines b subtracted from the returns: unbiased because E[∇θ log π] = 0."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._validate import check_mask
from .policies import mlp


def mean_baseline(rets: Tensor) -> Tensor:
    """b = (1/N) Σ_i R(τ_i)   (the seed's average-return baseline).

    rets: (N,); returns a scalar tensor.
    Taught in notebooks/07_baselines.ipynb.
    """
    return rets.mean()


def time_mean_baseline(rtg: Tensor, mask: Tensor | None = None) -> Tensor:
    """b_t = mean over the trajectories still running at t of Q̂_{i,t}.

    rtg, mask: (N, T); returns (T,) (0 where no trajectory is running).
    The mean baseline for reward-to-go weights: one constant per time step.
    """
    mask = check_mask(rtg, mask)
    count = mask.sum(0)
    total = torch.where(mask, rtg, torch.zeros((), dtype=rtg.dtype)).sum(0)
    return total / count.clamp(min=1)


def normalise(adv: Tensor, mask: Tensor | None = None, eps: float = 1e-8) -> Tensor:
    """(A − mean A) / (std A + eps) over the real steps; padding stays 0.

    An explicit option of the trainer (``TrainConfig.normalise``): it rescales
    the step size per batch and removes a constant, i.e. a baseline.
    """
    mask = check_mask(adv, mask)
    valid = adv[mask]
    if valid.numel() < 2:
        return torch.where(mask, adv - valid.mean() if valid.numel() else adv, torch.zeros((), dtype=adv.dtype))
    out = (adv - valid.mean()) / (valid.std() + eps)
    return torch.where(mask, out, torch.zeros((), dtype=adv.dtype))


class ValueBaseline(nn.Module):
    """A learned state-value baseline V_φ(s) ≈ E[Q̂_t | s_t = s], fitted by regression.

    ``fit(obs, targets, mask)`` takes a few Adam steps on the masked squared error;
    fit after computing the advantages of a batch, so a trajectory's own return
    never enters its baseline. Taught in notebooks/07_baselines.ipynb.
    """

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (32,), lr: float = 1e-2, steps: int = 5):
        super().__init__()
        self.net = mlp([obs_dim, *hidden, 1], "tanh", out_scale=1.0)
        self.steps = int(steps)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs).squeeze(-1)

    def fit(self, obs: Tensor, targets: Tensor, mask: Tensor) -> float:
        """Minimise the mean over real steps of (V_φ(s) − target)²; returns the final loss."""
        x, y = obs[mask], targets[mask]
        loss = torch.zeros(())
        for _ in range(self.steps):
            loss = (self(x) - y).pow(2).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return float(loss)
