"""Two hand-written CartPole agents for the welcome notebook: a uniformly random one and a balancing controller.

Both have the policy interface that ``sample_batch`` and ``render.animate`` use
(``sample(obs, generator)`` and ``mode(obs)``), but no parameters: they are
fixed policies, useful to see an episode end by termination (the pole falls)
and by truncation (the 500-step time limit).
Taught in notebooks/00_welcome.ipynb.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["UniformRandomPolicy", "LeanController"]


class UniformRandomPolicy:
    """π(a|s) = 1/A for every state: each action equally likely.

    obs (..., obs_dim) float; returns actions (...) int64 in {0, …, A-1}.
    Taught in notebooks/00_welcome.ipynb.
    """

    def __init__(self, n_actions: int = 2):
        if int(n_actions) < 1:
            raise ValueError(f"n_actions must be ≥ 1, got {n_actions!r}")
        self.n_actions = int(n_actions)

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.randint(self.n_actions, tuple(obs.shape[:-1]), generator=generator)

    def mode(self, obs: Tensor) -> Tensor:
        """All actions are modes of the uniform distribution; returns action 0."""
        return torch.zeros(tuple(obs.shape[:-1]), dtype=torch.int64)


class LeanController:
    """a = 1 (push right) if θ_pole + k·ω_pole > 0 else 0 (push left): push the cart under the falling pole.

    CartPole's observation is (x, ẋ, θ_pole, ω_pole); k = 0.5 by default. Deterministic:
    ``sample`` ignores the generator. With k = 0.5 it keeps the pole up for the whole
    500-step limit from every start state tried in the course (the episode is truncated).
    Taught in notebooks/00_welcome.ipynb.
    """

    def __init__(self, k: float = 0.5):
        self.k = float(k)

    def mode(self, obs: Tensor) -> Tensor:
        obs = torch.as_tensor(obs)
        return (obs[..., 2] + self.k * obs[..., 3] > 0).long()

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.mode(obs)

    def __call__(self, obs) -> int:
        """The action for one observation, as a Python int (for a plain ``env.step`` loop)."""
        return int(self.mode(torch.as_tensor(obs)))
