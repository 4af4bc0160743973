"""Checkers for notebooks/03_reinforce.ipynb: the REINFORCE weights, the pseudo-loss, and a prediction about
the leave-one-out baseline."""

from __future__ import annotations

import torch

from pgcourse.ui.checks import CheckResult, check_function, check_loss

__all__ = ["reference_reinforce_weights", "check_reinforce_weights", "reference_pseudo_loss", "check_pseudo_loss",
           "reference_leave_one_out_factor", "check_leave_one_out_factor"]


def _padded_batch(n: int, horizon: int, seed: int):
    """rew (N, T) and a mask whose rows are real for a random number of leading steps (≥ 1)."""
    g = torch.Generator().manual_seed(seed)
    rew = torch.randn(n, horizon, generator=g)
    lengths = torch.randint(1, horizon + 1, (n,), generator=g)
    lengths[0] = horizon  # at least one full-length trajectory
    mask = torch.arange(horizon)[None, :] < lengths[:, None]
    return rew, mask


def reference_reinforce_weights(rew, mask):
    """w_{i,t} = R(τ_i) = Σ_{t'} r_{i,t'} for every real step t of trajectory i, 0 on padding. (N, T)."""
    rew = torch.where(mask, rew, torch.zeros(()))
    return torch.where(mask, rew.sum(1, keepdim=True).expand_as(rew), torch.zeros(()))


def check_reinforce_weights(fn, verbose: bool = True) -> CheckResult:
    """fn(rew, mask) -> (N, T): the notes' REINFORCE weights, the total return broadcast over t."""
    cases = [((torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[True, True, True]])), {}),
             ((torch.tensor([[1.0, 1.0, 0.0], [2.0, 0.0, 0.0]]), torch.tensor([[True, True, False], [True, False, False]])), {}),
             (_padded_batch(4, 6, seed=0), {}),
             (_padded_batch(8, 10, seed=1), {})]
    # padding holds garbage (not zeros) in the last case: a masked step must never count
    rew, mask = _padded_batch(5, 7, seed=2)
    cases.append(((torch.where(mask, rew, torch.full((), 9.0)), mask), {}))
    return check_function("reinforce_weights", fn, reference_reinforce_weights, cases, verbose=verbose)


def reference_pseudo_loss(logp, weights, mask):
    """L(θ) = −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) · w_{i,t}, masked steps left out, weights detached."""
    terms = torch.where(mask, logp * weights.detach(), torch.zeros((), dtype=logp.dtype))
    return -terms.sum() / logp.shape[0]


def _loss_cases():
    cases = []
    for seed, (n, horizon) in enumerate([(1, 3), (3, 4), (8, 12)]):
        g = torch.Generator().manual_seed(100 + seed)
        logp = -torch.rand(n, horizon, generator=g) * 2.0
        weights = torch.randn(n, horizon, generator=g) * 5.0
        _, mask = _padded_batch(n, horizon, seed=200 + seed)
        cases.append(((logp, weights, mask), {}))
    return cases


def check_pseudo_loss(fn, verbose: bool = True) -> CheckResult:
    """fn(logp, weights, mask) -> scalar L with ∇_logp L = −w/N on real steps and no gradient into the weights."""
    return check_loss("pseudo_loss", fn, reference_pseudo_loss, _loss_cases(), verbose=verbose)


def reference_leave_one_out_factor(n):
    """c_N = N/(N − 1): R_i − (1/(N−1)) Σ_{j≠i} R_j = N/(N−1) · (R_i − (1/N) Σ_j R_j), so ĝ_LOO = c_N ĝ_mean."""
    return n / (n - 1)


def check_leave_one_out_factor(fn, verbose: bool = True) -> CheckResult:
    """fn(n) -> the number c with ĝ_LOO = c · ĝ_mean for every batch of n ≥ 2 trajectories, for six n."""
    cases = [((n,), {}) for n in (2, 3, 4, 8, 10, 100)]
    return check_function("leave_one_out_factor", fn, reference_leave_one_out_factor, cases, atol=1e-9, rtol=1e-9,
                          verbose=verbose)
