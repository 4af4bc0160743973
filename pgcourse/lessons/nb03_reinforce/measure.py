"""Notebook 03: the notes' three-trajectory example, and how to read training runs over many seeds.

Which probabilities does one REINFORCE step raise (§2.6.2)? A tiny tabular policy π_θ(a|s) = softmax(θ[s])_a and three sampled trajectories with returns
R = (10, 5, 15). One gradient-ascent step θ ← θ + α ĝ with ĝ = (1/N) Σ_i ∇θ log π_θ(τ_i) · w_i
changes the probability of each trajectory's actions, π_θ(τ_i) = Π_t π_θ(a_{i,t}|s_{i,t}); the
functions here compute that change exactly.

For training runs (``pgcourse.train_seeds``): ``gradient_steps`` counts the steps each run took and
``format_steps`` prints steps-to-target over seeds, a run that never reached the target censored at
the budget. Taught in notebooks/03_reinforce.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pgcourse._validate import check_lr
from pgcourse.stats import Censored, format_k
from pgcourse.tabular import tabular_gradient_samples

__all__ = ["SEED_RETURNS", "trajectory_log_prob", "TrajectoryStep", "reinforce_step", "three_trajectories",
           "gradient_steps", "format_steps"]

SEED_RETURNS = (10.0, 5.0, 15.0)
"""R(τ_1), R(τ_2), R(τ_3) in the notes' example (§2.6.2)."""


def trajectory_log_prob(logits: Tensor, obs: Tensor, act: Tensor) -> Tensor:
    """log π_θ(τ_i) = Σ_t log π_θ(a_{i,t}|s_{i,t}) = Σ_t log softmax(θ[s_{i,t}])_{a_{i,t}}.

    logits (S, A); obs, act (N, T) int64; returns (N,) in the logits' dtype.
    The dynamics' factors p(s_{t+1}|s_t, a_t) do not depend on θ and are left out.
    Taught in notebooks/03_reinforce.ipynb.
    """
    return torch.log_softmax(logits, -1)[obs.long(), act.long()].sum(-1)


@dataclass(frozen=True)
class TrajectoryStep:
    """One step θ' = θ + α ĝ and what it does to each sampled trajectory (all float64).

    weights (N,): w_i; grad (S, A): ĝ; logits_before/after (S, A);
    prob_before/after (N,): π_θ(τ_i) = Π_t π_θ(a_{i,t}|s_{i,t}) before and after the step;
    own_push (N,): (α/N) w_i ‖∇θ log π_θ(τ_i)‖², the first-order change of log π_θ(τ_i) due to
    trajectory i's own term of ĝ alone.
    """

    weights: Tensor
    grad: Tensor
    logits_before: Tensor
    logits_after: Tensor
    prob_before: Tensor
    prob_after: Tensor
    own_push: Tensor

    @property
    def ratio(self) -> Tensor:
        """π_θ'(τ_i) / π_θ(τ_i), (N,): above 1 means the step made τ_i's actions more likely."""
        return self.prob_after / self.prob_before

    @property
    def log_change(self) -> Tensor:
        """log π_θ'(τ_i) − log π_θ(τ_i), (N,)."""
        return self.ratio.log()


def reinforce_step(logits, obs, act, weights, lr: float) -> TrajectoryStep:
    """θ' = θ + α ĝ,  ĝ = (1/N) Σ_i (Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t})) w_i   (one REINFORCE step, exact).

    logits (S, A); obs, act (N, T) int64; weights (N,) (e.g. the returns R(τ_i), or R(τ_i) − b);
    lr = α > 0. Deterministic: no sampling. Returns a TrajectoryStep.
    Taught in notebooks/03_reinforce.ipynb (the notes' example, §2.6.2).
    """
    lr = check_lr(lr)
    logits = torch.as_tensor(logits, dtype=torch.float64)
    obs, act = torch.as_tensor(obs).long(), torch.as_tensor(act).long()
    weights = torch.as_tensor(weights, dtype=torch.float64)
    if obs.dim() != 2 or act.shape != obs.shape:
        raise ValueError(f"obs and act must both have shape (N, T), got {tuple(obs.shape)} and {tuple(act.shape)}")
    if weights.shape != obs.shape[:1]:
        raise ValueError(f"weights must have shape (N,) = ({obs.shape[0]},), got {tuple(weights.shape)}")
    n = obs.shape[0]
    scores = tabular_gradient_samples(logits, obs, act, torch.ones(obs.shape, dtype=torch.float64))  # (N, S·A)
    grad = (scores * weights[:, None]).mean(0).reshape(logits.shape)
    after = logits + lr * grad
    return TrajectoryStep(weights=weights, grad=grad, logits_before=logits, logits_after=after,
                          prob_before=trajectory_log_prob(logits, obs, act).exp(),
                          prob_after=trajectory_log_prob(after, obs, act).exp(),
                          own_push=lr / n * weights * scores.pow(2).sum(1))


def three_trajectories() -> tuple[Tensor, Tensor, Tensor]:
    """The notes' example as a tabular problem: (obs, act, rets).

    A robot takes T = 3 left (0) / right (1) decisions; the three sampled trajectories happen to
    pass through different states (τ_1: s0, s1, s2; τ_2: s3, s4, s5; τ_3: s6, s7, s8), so S = 9,
    A = 2. obs, act (3, 3) int64; rets (3,) = (10, 5, 15) float64.
    Taught in notebooks/03_reinforce.ipynb.
    """
    obs = torch.arange(9).reshape(3, 3)
    act = torch.tensor([[1, 1, 0], [0, 0, 1], [1, 1, 1]])
    return obs, act, torch.tensor(SEED_RETURNS, dtype=torch.float64)


def gradient_steps(histories) -> np.ndarray:
    """(K,) int: the gradient steps each run took, the batches with a finite, non-zero gradient norm.

    The batch that reaches the target takes no step (its norm is NaN), nor does a batch whose weights
    are all zero (0.0). histories: one ``History`` per seed, e.g. from ``train_seeds``.
    Taught in notebooks/03_reinforce.ipynb.
    """
    return np.array([int(np.sum(np.isfinite(norm) & (norm != 0)))
                     for norm in (np.asarray(h.grad_norm, dtype=float) for h in histories)], dtype=int)


def format_steps(steps: Censored) -> str:
    """'median 25.5k (IQR 21.9k – 33.7k) [95 % 20.9k, 35.2k]': steps-to-target over seeds, censored at the budget.

    A value at the budget means "not reached within it" and prints as '> 80.0k'; the bracket is the
    bootstrap interval of the median (``Censored.interval``). When more than half the runs never reached
    the target, only that is known: 'median > 80.0k (9 of 10 runs unsolved at the budget)'.
    Taught in notebooks/03_reinforce.ipynb.
    """
    def show(value: float) -> str:
        return f"> {format_k(steps.budget)}" if value >= steps.budget else format_k(value)

    q25, med, q75 = np.percentile(steps.steps, [25, 50, 75])
    if med >= steps.budget:
        return f"median {show(med)} ({steps.n - steps.k} of {steps.n} runs unsolved at the budget)"
    lo, hi = steps.interval()
    return f"median {show(med)} (IQR {show(q25)} – {show(q75)}) [95 % {show(lo)}, {show(hi)}]"
