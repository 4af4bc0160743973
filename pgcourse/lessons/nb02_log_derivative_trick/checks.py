"""Checkers for notebooks/02_log_derivative_trick.ipynb: the softmax score, a bandit's exact gradient, ĝ, and a
prediction of what a constant added to every reward does when episodes end at random times."""

from __future__ import annotations

import torch

from pgcourse.ui.checks import CheckResult, check_function

__all__ = ["softmax_score_reference", "check_softmax_score", "bandit_gradient_reference", "check_bandit_gradient",
           "reinforce_estimate_reference", "check_reinforce_estimate", "SHIFTS", "length_change_reference",
           "check_length_change"]


def softmax_score_reference(logits, a):
    """∇_θ log softmax(θ)_a = e_a − softmax(θ), (A,) (by autograd)."""
    theta = torch.as_tensor(logits, dtype=torch.float64).detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.log_softmax(theta, -1)[a], theta)
    return grad


def check_softmax_score(softmax_score, verbose: bool = True) -> CheckResult:
    """softmax_score(logits (A,), a) -> ∇_θ log π_θ(a), (A,), against autograd on five cases."""
    g = torch.Generator().manual_seed(5)
    cases = [((torch.zeros(2, dtype=torch.float64), 0), {}),
             ((torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), 2), {})]
    for A in (3, 4, 6):
        logits = torch.randn(A, generator=g, dtype=torch.float64) * 2
        cases.append(((logits, int(torch.randint(A, (1,), generator=g))), {}))
    return check_function("softmax_score", softmax_score, softmax_score_reference, cases, verbose=verbose)


def bandit_gradient_reference(logits, rewards):
    """∇_θ J(θ) for J = Σ_a softmax(θ)_a r_a (by autograd); equals π ⊙ (r − J)."""
    theta = torch.as_tensor(logits, dtype=torch.float64).detach().clone().requires_grad_(True)
    J = (torch.softmax(theta, -1) * torch.as_tensor(rewards, dtype=torch.float64)).sum()
    (grad,) = torch.autograd.grad(J, theta)
    return grad


def check_bandit_gradient(bandit_gradient_exact, verbose: bool = True) -> CheckResult:
    """bandit_gradient_exact(logits (A,), rewards (A,)) -> ∇J (A,), exact, on five bandits."""
    g = torch.Generator().manual_seed(6)
    cases = [((torch.zeros(2, dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)), {}),
             ((torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)), {})]
    for A in (3, 5, 8):
        cases.append(((torch.randn(A, generator=g, dtype=torch.float64),
                       torch.randn(A, generator=g, dtype=torch.float64) + 2.0), {}))
    return check_function("bandit_gradient_exact", bandit_gradient_exact, bandit_gradient_reference, cases, verbose=verbose)


def reinforce_estimate_reference(scores, rets):
    """ĝ = (1/N) Σ_i g_i R(τ_i): scores (N, P), rets (N,) -> (P,)."""
    return (scores * rets[:, None]).mean(0)


def check_reinforce_estimate(reinforce_estimate, verbose: bool = True) -> CheckResult:
    """reinforce_estimate(scores (N, P), rets (N,)) -> ĝ (P,), on four random cases."""
    g = torch.Generator().manual_seed(7)
    cases = [((torch.tensor([[1.0, -1.0], [0.5, 0.5]], dtype=torch.float64),
               torch.tensor([2.0, 4.0], dtype=torch.float64)), {})]
    for n, p in ((3, 4), (10, 6), (50, 15)):
        cases.append(((torch.randn(n, p, generator=g, dtype=torch.float64),
                       torch.rand(n, generator=g, dtype=torch.float64) * 5 + 1), {}))
    return check_function("reinforce_estimate", reinforce_estimate, reinforce_estimate_reference, cases,
                          verbose=verbose)


SHIFTS = (-3.0, -2.0, -1.5, -1.0, -0.5, -0.25, 0.0, 0.5, 1.0, 5.0)
"""The constants c at which check_length_change asks for the prediction."""


def length_change_reference(c):
    """sign(1 + c): J_c = (1 + c)·E_θ[T], so gradient ascent on J_c lengthens episodes when c > −1,
    shortens them when c < −1, and at c = −1 every reward is 0 and nothing moves."""
    return 0 if c == -1 else (1 if c > -1 else -1)


def check_length_change(length_change, verbose: bool = True) -> CheckResult:
    """length_change(c) -> +1 (episodes get longer), −1 (shorter) or 0 (unchanged) under gradient ascent on J_c,
    for rewards 1 + c per step as in CartPole; asked at the ten constants of SHIFTS."""
    cases = [((c,), {}) for c in SHIFTS]
    return check_function("length_change", length_change, length_change_reference, cases, verbose=verbose,
                          hint="with 1 + c per step, an episode of T steps returns (1 + c)·T: is a longer episode "
                               "worth more, less or the same when 1 + c is positive, zero or negative?")
