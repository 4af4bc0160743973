"""The score-function (log-derivative) estimator on a multi-armed bandit, with exact answers.

A bandit is a one-state, one-step MDP: J(θ) = Σ_a π_θ(a) r_a with π_θ = softmax(θ).
Everything about its gradient estimator can be computed exactly by summing over
the arms, which makes it the clearest place to see ∇p = p ∇log p at work.
Taught in notebooks/02_log_derivative_trick.ipynb.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pgcourse.tabular import TabularMDP

__all__ = ["BANDIT_REWARDS", "BANDIT_LOGITS", "bandit_problem", "bandit_objective", "bandit_gradient",
           "bandit_sample_covariance"]

BANDIT_REWARDS = (1.0, 0.5, 0.0)
BANDIT_LOGITS = (0.0, 0.5, 1.0)  # the initial policy prefers the worst arm


def bandit_problem(shift: float = 0.0) -> tuple[TabularMDP, Tensor]:
    """The course's 3-armed bandit: rewards (1, 0.5, 0) + shift, logits θ = (0, 0.5, 1): (mdp, logits (1, 3)).

    A constant shift of every reward leaves ∇J(θ) unchanged (E[∇ log π] = 0) but not the estimator's spread.
    Taught in notebooks/02_log_derivative_trick.ipynb.
    """
    rewards = torch.tensor(BANDIT_REWARDS, dtype=torch.float64) + float(shift)
    return TabularMDP.bandit(rewards), torch.tensor([BANDIT_LOGITS], dtype=torch.float64)


def bandit_objective(logits: Tensor, rewards: Tensor) -> Tensor:
    """J(θ) = Σ_a softmax(θ)_a r_a; logits (..., A), rewards (A,) -> (...)."""
    return (torch.softmax(logits, -1) * rewards.to(logits.dtype)).sum(-1)


def bandit_gradient(logits: Tensor, rewards: Tensor) -> Tensor:
    """∇_θ J(θ) = Σ_a π(a) ∇log π(a) r_a = π ⊙ (r − J), (A,) (the log-derivative trick, summed exactly).

    Taught in notebooks/02_log_derivative_trick.ipynb.
    """
    pi = torch.softmax(logits, -1)
    rewards = rewards.to(pi.dtype)
    return pi * (rewards - (pi * rewards).sum(-1, keepdim=True))


def bandit_sample_covariance(logits: Tensor, rewards: Tensor) -> Tensor:
    """Cov[ĝ_1] = Σ_a π(a) g_a g_aᵀ − ∇J ∇Jᵀ, g_a = (e_a − π) r_a: one pull's gradient sample, (A, A).

    The estimate from N pulls has covariance Cov[ĝ_1] / N.
    Taught in notebooks/02_log_derivative_trick.ipynb.
    """
    logits = torch.as_tensor(logits, dtype=torch.float64).reshape(-1)
    rewards = torch.as_tensor(rewards, dtype=torch.float64).reshape(-1)
    pi = torch.softmax(logits, -1)
    g = (torch.eye(len(pi), dtype=torch.float64) - pi[None, :]) * rewards[:, None]  # row a = g_a
    second = torch.einsum("a,ai,aj->ij", pi, g, g)
    mean = pi @ g
    return second - torch.outer(mean, mean)
