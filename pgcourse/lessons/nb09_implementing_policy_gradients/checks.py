"""Checkers for notebook 09's exercises: the pseudo-loss, and the notes' pseudo-code in PyTorch.

Taught in notebooks/09_implementing_policy_gradients.ipynb.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pgcourse.estimators import pg_pseudo_loss
from pgcourse.ui.checks import CheckResult, check_function, check_loss

__all__ = ["pseudo_loss_reference", "check_pseudo_loss", "seed_pg_loss_reference", "check_seed_pg_loss"]


def _pseudo_loss_cases():
    gen = torch.Generator().manual_seed(9)
    cases = []
    for n, t in ((1, 1), (2, 3), (3, 5), (4, 7)):
        logp = (-torch.rand(n, t, generator=gen, dtype=torch.float64) * 2).round(decimals=2)
        weights = (torch.randn(n, t, generator=gen, dtype=torch.float64) * 3).round(decimals=2)
        mask = torch.ones(n, t, dtype=torch.bool)
        if t > 2:  # trajectories of different lengths: padding at the end
            lengths = torch.randint(1, t + 1, (n,), generator=gen)
            lengths[0] = t
            mask = torch.arange(t)[None, :] < lengths[:, None]
            logp = torch.where(mask, logp, torch.full_like(logp, -5.0))     # padding holds junk on purpose
            weights = torch.where(mask, weights, torch.full_like(weights, 7.0))
        for reduction in ("trajectories", "steps"):
            cases.append(((logp, weights, mask), {"reduction": reduction}))
    return cases


def pseudo_loss_reference(logp, weights, mask, reduction="trajectories"):
    """−(1/N) Σ_i Σ_t logp·w ("trajectories", pgcourse) or −(1/Σ_i T_i) Σ_i Σ_t logp·w ("steps", the notes'
    reduce_mean over the real steps), weights detached."""
    loss = pg_pseudo_loss(logp, weights, mask)
    if reduction == "steps":
        loss = loss * logp.shape[0] / mask.sum()
    elif reduction != "trajectories":
        raise ValueError(f"reduction must be 'trajectories' or 'steps', got {reduction!r}")
    return loss


def check_pseudo_loss(fn, verbose: bool = True) -> CheckResult:
    """fn(logp, weights, mask, reduction) = −(1/D) Σ_i Σ_t logp_{i,t} · weights_{i,t} over the real steps,
    weights detached; D = N for reduction="trajectories", D = Σ_i T_i (the number of real steps) for "steps".

    Compares the value and the gradient with respect to logp (−weights/D on real steps, 0 on padding)
    with pseudo_loss_reference, and checks that no gradient flows into the weights (they are constants).
    """
    return check_loss("pseudo_loss", fn, pseudo_loss_reference, _pseudo_loss_cases(), atol=1e-8, rtol=1e-6,
                      verbose=verbose)


def seed_pg_loss_reference(logits, actions, q_values):
    """The notes' pseudo-code: mean over the N·T rows of softmax cross-entropy(logits, actions) · Q̂.

    logits (M, A), actions (M,) int64, q_values (M, 1) as in the notes; returns a scalar.
    """
    negative_likelihoods = F.cross_entropy(logits, actions, reduction="none")     # (M,)
    return (negative_likelihoods * q_values.reshape(-1)).mean()


def _seed_cases():
    gen = torch.Generator().manual_seed(10)
    cases = []
    for m, a in ((1, 2), (3, 2), (6, 3), (10, 4)):
        logits = torch.randn(m, a, generator=gen, dtype=torch.float64).round(decimals=2)
        actions = torch.randint(0, a, (m,), generator=gen)
        q_values = (torch.rand(m, 1, generator=gen, dtype=torch.float64) * 20).round(decimals=1)
        cases.append(((logits, actions, q_values), {}))
    return cases


def check_seed_pg_loss(fn, verbose: bool = True) -> CheckResult:
    """fn(logits (M, A), actions (M,), q_values (M, 1)) = (1/M) Σ_j −log softmax(logits_j)[a_j] · Q̂_j."""
    return check_function("seed_pg_loss", fn, seed_pg_loss_reference, _seed_cases(), atol=1e-8, rtol=1e-6,
                          verbose=verbose)
