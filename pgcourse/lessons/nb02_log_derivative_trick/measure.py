"""The score-function (log-derivative) estimator on a multi-armed bandit, with exact answers.

A bandit is a one-state, one-step MDP: J(θ) = Σ_a π_θ(a) r_a with π_θ = softmax(θ).
Everything about its gradient estimator can be computed exactly by summing over
the arms, which makes it the clearest place to see ∇p = p ∇log p at work.

A constant c added to every reward of an episode that ends at a random time T changes the
objective, J_c = J + c·E_θ[T]: ``falling_pole`` is the smallest MDP with that property
(balance or let go; reward 1 + c per step while the pole is up, as in CartPole), and
``reward_shift_ascent`` climbs its exact J_c.
Taught in notebooks/02_log_derivative_trick.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pgcourse._validate import check_lr, check_positive_int
from pgcourse.estimators import GradientSummary
from pgcourse.tabular import TabularMDP

__all__ = ["BANDIT_REWARDS", "BANDIT_LOGITS", "bandit_problem", "bandit_objective", "bandit_gradient",
           "bandit_sample_covariance", "format_summary", "UP", "DOWN", "BALANCE", "LET_GO", "falling_pole",
           "expected_length", "ShiftAscent", "reward_shift_ascent"]

BANDIT_REWARDS = (1.0, 0.5, 0.0)
BANDIT_LOGITS = (0.0, 0.5, 1.0)  # the initial policy prefers the worst arm


def bandit_problem(shift: float = 0.0) -> tuple[TabularMDP, Tensor]:
    """The course's 3-armed bandit: rewards (1, 0.5, 0) + shift, logits θ = (0, 0.5, 1): (mdp, logits (1, 3)).

    Every episode has one step, so a constant shift of every reward shifts J by the same c for every θ:
    ∇J(θ) is unchanged (E[∇ log π] = 0), the estimator's spread is not.
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


def format_summary(summary: GradientSummary) -> str:
    """'max|z| = 1.02, ‖ĝ − ∇J‖ = 0.0729 (√(tr Cov/N) = 0.116), tr Cov = 134.4, N = 10000'.

    ‖ĝ − ∇J‖ is this batch's sampling error, not a bias: for an unbiased estimator its mean square
    is E‖ĝ − ∇J‖² = tr Cov[ĝ_i] / N, whose root is printed beside it for comparison.
    Taught in notebooks/02_log_derivative_trick.ipynb.
    """
    typical = math.sqrt(summary.trace_cov / summary.n)
    return (f"max|z| = {summary.max_abs_z:.2f}, ‖ĝ − ∇J‖ = {summary.error_norm:.3g} (√(tr Cov/N) = {typical:.3g}), "
            f"tr Cov = {summary.trace_cov:.4g}, N = {summary.n}")


UP, DOWN = 0, 1          # the pole's two states; DOWN is absorbing: the episode is over
BALANCE, LET_GO = 0, 1   # the two actions


def falling_pole(c: float = 0.0, hold: float = 0.95, horizon: int = 30) -> TabularMDP:
    """A pole that is up or down: reward 1 + c for every step it is up, then nothing (the episode has ended).

    From UP, BALANCE keeps it up with probability ``hold`` and LET_GO drops it; DOWN is absorbing with
    reward 0, which is how a fixed-horizon TabularMDP ends an episode early. T, the number of steps the
    pole is up, is random (1 … horizon), and J_c(θ) = (1 + c)·E_θ[T], like CartPole's reward of 1 per step
    plus c. c is any finite number, hold in (0, 1], horizon ≥ 1.
    Taught in notebooks/02_log_derivative_trick.ipynb.
    """
    if not math.isfinite(float(c)):
        raise ValueError(f"c must be a finite number, got {c!r}")
    if not 0.0 < float(hold) <= 1.0:
        raise ValueError(f"hold must be a probability in (0, 1], got {hold!r}")
    horizon = check_positive_int("horizon", horizon)
    P = torch.zeros(2, 2, 2, dtype=torch.float64)
    P[UP, BALANCE] = torch.tensor([hold, 1.0 - hold], dtype=torch.float64)
    P[UP, LET_GO, DOWN] = 1.0
    P[DOWN, :, DOWN] = 1.0
    R = torch.tensor([[1.0 + c, 1.0 + c], [0.0, 0.0]], dtype=torch.float64)
    return TabularMDP(P, R, torch.tensor([1.0, 0.0], dtype=torch.float64), horizon)


def expected_length(mdp: TabularMDP, logits) -> Tensor:
    """E_θ[T] = Σ_{t=1}^{T_max} P(s_t = UP): the expected number of steps the pole is up (exact)."""
    return mdp.state_distributions(logits)[:, UP].sum()


@dataclass(frozen=True)
class ShiftAscent:
    """Exact gradient ascent on J_c of ``falling_pole(c)``: E_θ[T] and π_θ(BALANCE|UP) after each step."""

    c: float
    lengths: Tensor     # (steps + 1,) E_θ[T] before the first step and after each
    p_balance: Tensor   # (steps + 1,) π_θ(BALANCE | UP)

    @property
    def change(self) -> int:
        """+1 if the episodes got longer, −1 if shorter, 0 if E[T] did not move (within 1e-9)."""
        delta = float(self.lengths[-1] - self.lengths[0])
        return 0 if abs(delta) <= 1e-9 else (1 if delta > 0 else -1)


def reward_shift_ascent(c: float, steps: int = 100, lr: float = 0.5, hold: float = 0.95,
                        horizon: int = 30) -> ShiftAscent:
    """θ ← θ + α ∇J_c(θ), exactly (no sampling), from the uniform policy θ = 0, on falling_pole(c).

    Deterministic. steps ≥ 1, lr = α > 0. Taught in notebooks/02_log_derivative_trick.ipynb.
    """
    steps, lr = check_positive_int("steps", steps), check_lr(lr)
    mdp, unshifted = falling_pole(c, hold, horizon), falling_pole(0.0, hold, horizon)
    theta = torch.zeros(2, 2, dtype=torch.float64)
    lengths, p_balance = [], []
    for k in range(steps + 1):
        lengths.append(expected_length(unshifted, theta))
        p_balance.append(torch.softmax(theta[UP], -1)[BALANCE])
        if k < steps:
            theta = theta + lr * mdp.gradient(theta)
    return ShiftAscent(c=float(c), lengths=torch.stack(lengths), p_balance=torch.stack(p_balance))
