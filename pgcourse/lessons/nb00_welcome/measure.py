"""Two hand-written CartPole agents for the welcome notebook: a uniformly random one and a balancing controller.

Both have the policy interface that ``sample_batch`` and ``render.animate`` use
(``sample(obs, generator)`` and ``mode(obs)``), but no parameters: they are
fixed policies, useful to see an episode end by termination (the pole falls)
and by truncation (the 500-step time limit).
``final_states`` recovers the state s_{T+1} after each trajectory's last action,
which a ``Batch`` does not store (τ ends with a_T).
Taught in notebooks/00_welcome.ipynb.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from pgcourse.batch import Batch, make_vector_env

__all__ = ["UniformRandomPolicy", "LeanController", "final_states"]


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


def final_states(env_id: str, batch: Batch, seed: int) -> Tensor:
    """s_{T_i+1} for each trajectory of a batch: the state its last action a_{T_i} led to, (N, *obs_shape).

    A Batch stores s_1 … s_T and a_1 … a_T; the state after the last action is the one that
    decides how the episode ended (a terminal state, or the state at the time limit). This
    replays the batch: a vector env of N copies of env_id, reset with the batch's seed as
    ``sample_batch`` does, stepped with the batch's recorded actions. The environment must be
    deterministic given its reset (CartPole is); ValueError if the replay does not reproduce
    the batch's states.
    Taught in notebooks/00_welcome.ipynb.
    """
    n, lengths = batch.n_traj, batch.lengths.numpy()
    env = make_vector_env(env_id, n)
    try:
        obs = np.asarray(env.reset(seed=int(seed))[0])
        final = np.zeros_like(obs)
        for t in range(batch.horizon):
            alive = batch.mask[:, t].numpy()
            if not np.array_equal(obs[alive], batch.obs[:, t].numpy()[alive]):
                raise ValueError(f"replaying {env_id} with seed={seed} does not reproduce the batch's states at "
                                 f"step {t + 1}: pass the seed the batch was sampled with")
            obs = np.asarray(env.step(batch.act[:, t].numpy())[0])
            ends = lengths == t + 1                                  # trajectories whose last action this was
            final[ends] = obs[ends]
        return torch.as_tensor(final)
    finally:
        env.close()
