"""Importance-sampling weights for off-policy policy gradients.

Data τ_i ~ p_θ(τ) come from the old (behaviour) policy π = π_θ; we estimate the
gradient at the new (target) policy π' = π_θ':

    ∇J(θ') ≈ (1/N) Σ_i Σ_t ∇θ' log π'(a_{i,t}|s_{i,t}) · w_{i,t},

i.e. ``gradient_samples(target_policy, batch, w).mean(0)``. Every function here
returns such weights w (N, T), built from the per-step ratios
ρ_{i,t} = π'(a_{i,t}|s_{i,t}) / π(a_{i,t}|s_{i,t}). Products of ratios are formed
as exponentials of cumulative sums of log-ratios (in float64), so long
horizons neither underflow to 0/0 nor overflow unless the weight itself does.
Masked steps have ρ = 1 and weight 0. Taught in
notebooks/08_off_policy_importance_sampling.ipynb.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._validate import check_mask
from .returns import reward_to_go, total_return

__all__ = ["log_ratios", "trajectory_ratio", "trajectory_is_weights", "per_decision_is_weights",
           "notes_causal_is_weights", "first_order_is_weights", "effective_sample_size"]


def _check(rew: Tensor | None, logp_new: Tensor, logp_old: Tensor, mask: Tensor | None) -> Tensor:
    if logp_new.dim() != 2:
        raise ValueError(f"logp_new must have shape (N, T), got {tuple(logp_new.shape)}")
    if logp_old.shape != logp_new.shape:
        raise ValueError(f"logp_old must have the shape of logp_new {tuple(logp_new.shape)}, "
                         f"got {tuple(logp_old.shape)}")
    if rew is not None and rew.shape != logp_new.shape:
        raise ValueError(f"rew must have the shape of logp_new {tuple(logp_new.shape)}, got {tuple(rew.shape)}")
    return check_mask(logp_new, mask)


def _out_dtype(*xs: Tensor) -> torch.dtype:
    dtype = xs[0].dtype
    for x in xs[1:]:
        dtype = torch.promote_types(dtype, x.dtype)
    return dtype if dtype.is_floating_point else torch.get_default_dtype()


def log_ratios(logp_new: Tensor, logp_old: Tensor, mask: Tensor | None = None) -> Tensor:
    """log ρ_{i,t} = log π'(a_{i,t}|s_{i,t}) − log π(a_{i,t}|s_{i,t}), 0 where masked.

    logp_new, logp_old, mask: (N, T); returns (N, T) float64 (detached).
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    mask = _check(None, logp_new, logp_old, mask)
    diff = logp_new.detach().to(torch.float64) - logp_old.detach().to(torch.float64)
    return torch.where(mask, diff, torch.zeros((), dtype=torch.float64))


def _rewards(rew: Tensor, mask: Tensor) -> Tensor:
    rew = rew.detach().to(torch.float64)
    return torch.where(mask, rew, torch.zeros((), dtype=torch.float64))


def _times_exp(r: Tensor, log_w: Tensor) -> Tensor:
    """r · exp(log_w), with 0 · exp(anything) = 0 (no inf · 0 = nan)."""
    return torch.where(r == 0, torch.zeros((), dtype=r.dtype), r * log_w.exp())


def trajectory_ratio(logp_new: Tensor, logp_old: Tensor, mask: Tensor | None = None) -> Tensor:
    """p_θ'(τ_i) / p_θ(τ_i) = Π_t π'(a_{i,t}|s_{i,t}) / π(a_{i,t}|s_{i,t}) = exp Σ_t log ρ_{i,t}.

    logp_new, logp_old, mask: (N, T); returns (N,) (the dynamics cancel).
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    dtype = _out_dtype(logp_new, logp_old)
    return log_ratios(logp_new, logp_old, mask).sum(1).exp().to(dtype)


def trajectory_is_weights(rew: Tensor, logp_new: Tensor, logp_old: Tensor, mask: Tensor | None = None) -> Tensor:
    """w_{i,t} = (Π_{t'} ρ_{i,t'}) · R(τ_i), the same for every step t   (unbiased, high variance).

    rew, logp_new, logp_old, mask: (N, T); returns (N, T), 0 where masked.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    mask = _check(rew, logp_new, logp_old, mask)
    dtype = _out_dtype(rew, logp_new, logp_old)
    rets = total_return(_rewards(rew, mask), mask)
    w = _times_exp(rets, log_ratios(logp_new, logp_old, mask).sum(1))
    return torch.where(mask, w[:, None], torch.zeros((), dtype=w.dtype)).to(dtype)


def per_decision_is_weights(rew: Tensor, logp_new: Tensor, logp_old: Tensor, mask: Tensor | None = None) -> Tensor:
    """w_{i,t} = Σ_{t'≥t} r_{i,t'} Π_{t''≤t'} ρ_{i,t''}   (causal and unbiased).

    = (Π_{t''≤t} ρ_{t''}) · Σ_{t'≥t} r_{t'} Π_{t''=t+1}^{t'} ρ_{t''}: the past ratio
    corrects the distribution of (s_t, a_t), the future one each later reward.
    rew, logp_new, logp_old, mask: (N, T); returns (N, T), 0 where masked.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    mask = _check(rew, logp_new, logp_old, mask)
    dtype = _out_dtype(rew, logp_new, logp_old)
    cum = log_ratios(logp_new, logp_old, mask).cumsum(1)  # log Π_{t''≤t'} ρ
    w = reward_to_go(_times_exp(_rewards(rew, mask), cum), mask)
    return w.to(dtype)


def notes_causal_is_weights(rew: Tensor, logp_new: Tensor, logp_old: Tensor, mask: Tensor | None = None) -> Tensor:
    """w_{i,t} = (Π_{t''=1}^{t} ρ_{t''}) · Σ_{t'≥t} r_{t'} Π_{t''=t}^{t'} ρ_{t''}   (the notes' form: BIASED).

    The reward correction starts at t'' = t instead of t+1, so ρ_t is counted
    twice: this equals ρ_t · per_decision_is_weights (notebook 08). Kept so
    the course can show its bias against the exact gradient.
    rew, logp_new, logp_old, mask: (N, T); returns (N, T), 0 where masked.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    mask = _check(rew, logp_new, logp_old, mask)
    dtype = _out_dtype(rew, logp_new, logp_old)
    log_rho = log_ratios(logp_new, logp_old, mask)
    cum = log_rho.cumsum(1)
    # r_{t'} Π_{t''≤t'} ρ summed from the right, times one more ρ_t
    tail = reward_to_go(_times_exp(_rewards(rew, mask), cum), mask)
    w = torch.where(tail == 0, torch.zeros((), dtype=tail.dtype), tail * log_rho.exp())
    return w.to(dtype)


def first_order_is_weights(rew: Tensor, logp_new: Tensor, logp_old: Tensor, mask: Tensor | None = None) -> Tensor:
    """w_{i,t} = ρ_{i,t} · Q̂_{i,t}   (first-order approximation: BIASED unless π' = π).

    Drops the state-marginal ratio Π_{t''<t} ρ and the future ratios: the
    gradient of the surrogate E_{s~d_π, a~π'}[Q^π(s, a)], close to ∇J(θ') only
    when π' is close to π.
    rew, logp_new, logp_old, mask: (N, T); returns (N, T), 0 where masked.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    mask = _check(rew, logp_new, logp_old, mask)
    dtype = _out_dtype(rew, logp_new, logp_old)
    rtg = reward_to_go(_rewards(rew, mask), mask)
    return _times_exp(rtg, log_ratios(logp_new, logp_old, mask)).to(dtype)


def effective_sample_size(w: Tensor) -> float:
    """N_eff = (Σ_i w_i)² / Σ_i w_i²   (N for equal weights, 1 when one weight dominates).

    w: importance ratios ≥ 0, any shape (usually (N,) from trajectory_ratio);
    returns a float (0.0 if every weight is 0). Computed after dividing by max w.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    w = torch.as_tensor(w).detach().to(torch.float64).reshape(-1)
    if w.numel() == 0:
        raise ValueError("w must contain at least one weight")
    if torch.isnan(w).any() or (w < 0).any():
        raise ValueError("w must hold importance ratios ≥ 0 (no NaN, no negative weight)")
    top = w.max()
    if top == 0:
        return 0.0
    if torch.isinf(top):
        return float((w == top).sum())  # the infinite weights dominate equally
    w = w / top
    return float(w.sum() ** 2 / w.pow(2).sum())
