"""A batch of N sampled trajectories, padded to a common length T.

Row i of every field is trajectory τ_i and column t its step t, as in the
seed's (1/N) Σ_i Σ_t. ``mask[i, t]`` says that step t of trajectory i really
happened; padded steps carry zeros and are never counted.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from ._validate import check_positive_int
from .returns import reward_to_go, total_return


@dataclass
class Batch:
    """N trajectories, padded: obs (N, T, *obs_shape), act (N, T[, act_dim]), rew/mask (N, T).

    ``terminated[i]``: τ_i ended in a terminal state (the MDP says it is over).
    ``truncated[i]``: τ_i was cut off by a time limit (it could have gone on).
    The two are kept apart: only a terminated trajectory has a true value of 0
    after its last step.
    """

    obs: Tensor
    act: Tensor
    rew: Tensor
    mask: Tensor
    terminated: Tensor
    truncated: Tensor

    @property
    def n_traj(self) -> int:
        """N, the number of trajectories."""
        return self.rew.shape[0]

    @property
    def horizon(self) -> int:
        """T, the padded length."""
        return self.rew.shape[1]

    @property
    def lengths(self) -> Tensor:
        """Number of real steps of each trajectory, (N,)."""
        return self.mask.sum(1)

    @property
    def n_steps(self) -> int:
        """Number of real environment steps in the batch."""
        return int(self.mask.sum())

    def returns(self, gamma: float = 1.0) -> Tensor:
        """R(τ_i), (N,)."""
        return total_return(self.rew, self.mask, gamma)

    def reward_to_go(self, gamma: float = 1.0) -> Tensor:
        """Q̂_{i,t}, (N, T)."""
        return reward_to_go(self.rew, self.mask, gamma)

    def __getitem__(self, index) -> "Batch":
        """A sub-batch of trajectories, e.g. ``batch[:8]``."""
        return Batch(*(getattr(self, f.name)[index] for f in fields(self)))


def check_env_id(env_id: str) -> str:
    """A registered gymnasium id, or a ValueError that lists a few valid ones."""
    if isinstance(env_id, str) and env_id.startswith("pgcourse/"):
        from . import partial_observability  # noqa: F401  registers the course's own environments
    if not isinstance(env_id, str) or env_id not in gym.registry:
        known = ", ".join(k for k in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1") if k in gym.registry)
        raise ValueError(f"unknown environment id {env_id!r}; use a registered gymnasium id such as {known}")
    return env_id


def make_vector_env(env_id: str, n_envs: int, **kwargs) -> gym.vector.VectorEnv:
    """n_envs copies of env_id, stepped together: one sub-environment per trajectory.

    Uses the environment's own vectorised implementation (``vector_entry_point``,
    e.g. CartPole's NumPy version) when it has one, else a synchronous vector env.
    """
    check_env_id(env_id)
    n_envs = check_positive_int("n_traj", n_envs)
    spec = gym.spec(env_id)
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    return gym.make_vec(env_id, num_envs=n_envs, vectorization_mode=mode, **kwargs)


@torch.no_grad()
def sample_batch(env, policy, n_traj: int | None = None, seed: int | None = None,
                 max_steps: int | None = None, greedy: bool = False) -> Batch:
    """Sample N trajectories τ_i ~ p_θ(τ): one episode from each sub-environment.

    env: a gymnasium VectorEnv (its num_envs is N) or an env id (a vector env of
    ``n_traj`` copies is made and closed). policy: has ``sample(obs, generator)``
    (and ``mode(obs)`` for ``greedy``). seed: seeds both the environments' reset
    and the action noise, so the same seed gives the same batch.
    Steps after a sub-environment's episode ends (gymnasium autoresets it) are
    masked out and never counted. Runs under ``torch.no_grad()``; the loss
    recomputes log-probabilities with gradients.
    Taught in notebooks/01_estimating_J.ipynb.
    """
    own_env = isinstance(env, str)
    if own_env:
        if n_traj is None:
            raise ValueError("n_traj is required when env is an environment id")
        env = make_vector_env(env, n_traj)
    elif n_traj is not None and n_traj != env.num_envs:
        raise ValueError(f"n_traj={n_traj} but the vector env has num_envs={env.num_envs}")
    try:
        generator = torch.Generator()
        if seed is not None:
            generator.manual_seed(int(seed))
        else:
            generator.seed()
        obs_np, _ = env.reset(seed=None if seed is None else int(seed))
        n = env.num_envs
        alive = np.ones(n, dtype=bool)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        obs_l, act_l, rew_l, mask_l = [], [], [], []
        low = high = None
        space = env.single_action_space
        if isinstance(space, gym.spaces.Box):
            low, high = space.low, space.high
        while alive.any() and (max_steps is None or len(rew_l) < max_steps):
            obs = torch.as_tensor(np.asarray(obs_np))
            act = policy.mode(obs) if greedy else policy.sample(obs, generator)
            act_np = act.numpy()
            obs_np, rew_np, term_np, trunc_np, _ = env.step(act_np if low is None else np.clip(act_np, low, high))
            term_np, trunc_np = np.asarray(term_np, dtype=bool), np.asarray(trunc_np, dtype=bool)
            obs_l.append(obs)
            act_l.append(act)
            rew_l.append(np.asarray(rew_np, dtype=np.float32) * alive)
            mask_l.append(alive.copy())
            terminated |= alive & term_np
            truncated |= alive & trunc_np & ~term_np
            alive &= ~(term_np | trunc_np)
        truncated |= alive  # cut off by max_steps
        mask = torch.from_numpy(np.stack(mask_l, 1))
        obs = torch.stack(obs_l, 1)
        act = torch.stack(act_l, 1)
        # zero the padding so that nothing after an episode's end leaks into sums
        pad = ~mask
        obs = obs.masked_fill(pad.view(*pad.shape, *([1] * (obs.dim() - 2))), 0)
        act = act.masked_fill(pad.view(*pad.shape, *([1] * (act.dim() - 2))), 0)
        return Batch(obs=obs, act=act, rew=torch.from_numpy(np.stack(rew_l, 1)), mask=mask,
                     terminated=torch.from_numpy(terminated), truncated=torch.from_numpy(truncated))
    finally:
        if own_env:
            env.close()
