"""Baselines b subtracted from the returns: a b that does not depend on the action leaves the expected
gradient unchanged, because E[∇θ log π] = 0; one estimated from the same batch adds an O(1/N) bias (notebook 07)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._validate import check_mask
from .policies import mlp

__all__ = ["mean_baseline", "time_mean_baseline", "leave_one_out_mean_baseline",
           "leave_one_out_time_mean_baseline", "SPREAD_TOL", "negligible", "normalise", "ValueBaseline",
           "optimal_baseline", "optimal_scalar_baseline", "optimal_baseline_from_samples", "subtract_baseline"]


def mean_baseline(rets: Tensor) -> Tensor:
    """b = (1/N) Σ_i R(τ_i)   (the notes' average-return baseline).

    rets: (N,); returns a scalar tensor.
    Taught in notebooks/07_baselines.ipynb.
    """
    return rets.mean()


def time_mean_baseline(rtg: Tensor, mask: Tensor | None = None) -> Tensor:
    """b_t = mean over the trajectories still running at t of Q̂_{i,t}.

    rtg, mask: (N, T); returns (T,) (0 where no trajectory is running).
    The mean baseline for reward-to-go weights: one constant per time step. In float32 the mean of
    n equal values need not be that value: Q̂_{i,t} − b_t can hold rounding noise (about 1e-5 for Q̂
    near 500) where every trajectory has the same Q̂_{i,t}. The trainer treats such weights as 0
    (``negligible``); normalising them yourself, pass ``normalise(adv, mask, scale=rtg)``.
    """
    mask = check_mask(rtg, mask)
    count = mask.sum(0)
    total = torch.where(mask, rtg, torch.zeros((), dtype=rtg.dtype)).sum(0)
    return total / count.clamp(min=1)


def leave_one_out_mean_baseline(rets: Tensor) -> Tensor:
    """b_i = (1/(N−1)) Σ_{j≠i} R(τ_j)   (the mean of the *other* trajectories' returns).

    rets: (N,) with N ≥ 2; returns (N,). b_i does not depend on τ_i, so E[g_i (R(τ_i) − b_i)] = ∇J:
    unbiased, unlike ``mean_baseline``, whose E is (1 − 1/N)∇J. Batch by batch,
    R_i − b_i = N/(N−1) · (R_i − mean_j R_j): the same estimate, scaled by N/(N−1).
    Taught in notebooks/03_reinforce.ipynb.
    """
    if rets.dim() != 1 or rets.shape[0] < 2:
        raise ValueError(f"rets must have shape (N,) with N ≥ 2 (one other trajectory at least), "
                         f"got {tuple(rets.shape)}")
    n = rets.shape[0]
    return (rets.sum() - rets) / (n - 1)


def leave_one_out_time_mean_baseline(rtg: Tensor, mask: Tensor | None = None) -> Tensor:
    """b_{i,t} = mean of Q̂_{j,t} over the *other* trajectories j ≠ i still running at t.

    rtg, mask: (N, T); returns (N, T), 0 where trajectory i runs alone at t (or not at all): there
    b_{i,t} = 0, no baseline. Unbiased, unlike ``time_mean_baseline``, which includes Q̂_{i,t} itself and
    scales step t's part of the expected gradient by 1 − 1/n_t (n_t trajectories running at t).
    Step by step, Q̂_{i,t} − b_{i,t} = n_t/(n_t − 1) · (Q̂_{i,t} − b_t) where n_t ≥ 2.
    Taught in notebooks/03_reinforce.ipynb.
    """
    mask = check_mask(rtg, mask)
    inside = torch.where(mask, rtg, torch.zeros((), dtype=rtg.dtype))
    others = (mask.sum(0, keepdim=True) - 1).clamp(min=1)            # n_t − 1, at least 1
    loo = (inside.sum(0, keepdim=True) - inside) / others
    alone = mask.sum(0, keepdim=True) < 2
    return torch.where(mask & ~alone, loo, torch.zeros((), dtype=rtg.dtype))


SPREAD_TOL = 1e-6
"""Relative spread below which weights count as constant (float32 keeps about 7 digits)."""


def negligible(adv: Tensor, scale: Tensor, mask: Tensor | None = None, tol: float = SPREAD_TOL) -> bool:
    """True when every real step's |adv| is within rounding of zero: max |adv| ≤ tol · (1 + mean |scale|).

    adv, scale, mask: (N, T); scale holds the quantities adv was computed from (e.g. Q̂ before the
    baseline), so that Q̂ − b_t = 1e-5 counts as 0 when Q̂ is about 500.
    """
    mask = check_mask(adv, mask)
    if not bool(mask.any()):
        return True
    return float(adv[mask].abs().max()) <= tol * (1.0 + float(scale[mask].abs().mean()))


def normalise(adv: Tensor, mask: Tensor | None = None, eps: float = 1e-8, tol: float = SPREAD_TOL,
              scale: Tensor | None = None) -> Tensor:
    """(A − mean A) / (std A + eps) over the real steps; padding stays 0.

    An explicit option of the trainer (``TrainConfig.normalise``): it rescales
    the step size per batch and removes a constant, i.e. a baseline. When the
    spread is negligible, std A ≤ tol · (1 + mean |A|), the weights are constant up to
    rounding and carry no signal: the result is all zeros (no step), not rounding noise
    scaled up to standard deviation 1.
    scale: what A was computed from, when A is a difference such as Q̂ − b. Subtracting two numbers
    of size 500 leaves float32 noise of size 1e-5, which A alone cannot tell from a signal; with
    ``scale=Q̂`` that noise counts as zero (``negligible``). The trainer always checks this.
    """
    mask = check_mask(adv, mask)
    if scale is not None and negligible(adv, scale, mask, tol):
        return torch.zeros_like(adv)
    valid = adv[mask]
    zeros = torch.zeros((), dtype=adv.dtype)
    if valid.numel() < 2:
        return torch.where(mask, adv - valid.mean() if valid.numel() else adv, zeros)
    std = valid.std()
    if float(std) <= tol * (1.0 + float(valid.abs().mean())):
        return torch.zeros_like(adv)
    out = (adv - valid.mean()) / (std + eps)
    return torch.where(mask, out, zeros)


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
        """``steps`` Adam steps on the mean over real steps of (V_φ(s) − target)²; returns the last loss.

        obs (N, T, obs_dim), targets and mask (N, T): padded steps are left out of the mean.
        """
        obs, targets = obs[mask], targets[mask]          # the real steps only: padding is never computed
        loss = torch.zeros(())
        for _ in range(self.steps):
            loss = (self(obs) - targets).pow(2).sum() / max(len(targets), 1)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return float(loss.detach())


def _check_scores(scores: Tensor, other: Tensor, other_name: str, other_shape: str) -> None:
    if scores.dim() != 2:
        raise ValueError(f"scores must have shape (N, P), got {tuple(scores.shape)}")
    if other.shape[:1] != scores.shape[:1]:
        raise ValueError(f"{other_name} must have shape {other_shape} with N = {scores.shape[0]} like scores, "
                         f"got {tuple(other.shape)}")


def _ratio_or_zero(num: Tensor, den: Tensor) -> Tensor:
    """num / den, and 0 where den = 0 (then every sample's score is 0 and any b gives variance 0)."""
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(num))


def optimal_baseline(scores: Tensor, rets: Tensor) -> Tensor:
    """b_k = E[g_k² R(τ)] / E[g_k²]   (the variance-minimising constant baseline, one per parameter).

    scores: (N, P) trajectory scores g_i = ∇θ log p_θ(τ_i); rets: (N,) R(τ_i).
    Returns (P,) in float64; b_k = 0 where E[g_k²] = 0 (that parameter's samples
    are all 0 whatever b is). Apply with ``subtract_baseline(scores * rets[:, None], scores, b)``.
    Taught in notebooks/07_baselines.ipynb.
    """
    _check_scores(scores, rets, "rets", "(N,)")
    if rets.dim() != 1:
        raise ValueError(f"rets must have shape (N,), got {tuple(rets.shape)}")
    g2 = scores.detach().to(torch.float64).pow(2)
    return _ratio_or_zero((g2 * rets.detach().to(torch.float64)[:, None]).mean(0), g2.mean(0))


def optimal_scalar_baseline(scores: Tensor, rets: Tensor) -> Tensor:
    """b = E[‖g‖² R(τ)] / E[‖g‖²]   (the best single constant: minimises tr Cov).

    scores: (N, P); rets: (N,); returns a float64 scalar (0 if every score is 0).
    Taught in notebooks/07_baselines.ipynb.
    """
    _check_scores(scores, rets, "rets", "(N,)")
    if rets.dim() != 1:
        raise ValueError(f"rets must have shape (N,), got {tuple(rets.shape)}")
    g2 = scores.detach().to(torch.float64).pow(2).sum(1)
    return _ratio_or_zero((g2 * rets.detach().to(torch.float64)).mean(), g2.mean())


def optimal_baseline_from_samples(scores: Tensor, samples: Tensor) -> Tensor:
    """b_k = E[g_k ĝ_k] / E[g_k²]: the constant b_k minimising E[(ĝ_k − b_k g_k)²].

    scores: (N, P) trajectory scores g_i; samples: (N, P) gradient samples ĝ_i
    (e.g. with reward-to-go weights). With ĝ_i = g_i R(τ_i) this is
    ``optimal_baseline``. Returns (P,) float64, 0 where E[g_k²] = 0.
    Taught in notebooks/07_baselines.ipynb.
    """
    _check_scores(scores, samples, "samples", "(N, P)")
    if samples.shape != scores.shape:
        raise ValueError(f"samples must have the shape of scores {tuple(scores.shape)}, got {tuple(samples.shape)}")
    g = scores.detach().to(torch.float64)
    return _ratio_or_zero((g * samples.detach().to(torch.float64)).mean(0), g.pow(2).mean(0))


def subtract_baseline(samples: Tensor, scores: Tensor, b) -> Tensor:
    """Σ_t ∇θ log π_θ(a_t|s_t) (w_t − b) = ĝ_i − b ⊙ g_i   (b constant: a scalar or one per parameter).

    samples, scores: (N, P); b: scalar or (P,); returns (N, P) float64.
    Unbiased for any constant b because E[g_i] = 0.
    Taught in notebooks/07_baselines.ipynb.
    """
    if samples.shape != scores.shape or samples.dim() != 2:
        raise ValueError(f"samples and scores must both have shape (N, P), got {tuple(samples.shape)} "
                         f"and {tuple(scores.shape)}")
    b = torch.as_tensor(b, dtype=torch.float64)
    if b.dim() > 1 or (b.dim() == 1 and b.shape[0] != scores.shape[1]):
        raise ValueError(f"b must be a scalar or have shape (P,) = ({scores.shape[1]},), got {tuple(b.shape)}")
    return samples.detach().to(torch.float64) - scores.detach().to(torch.float64) * b
