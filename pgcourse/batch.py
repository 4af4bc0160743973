"""A batch of N sampled trajectories, padded to a common length T.

Row i of every field is trajectory τ_i and column t its step t, as in the
notes' (1/N) Σ_i Σ_t. ``mask[i, t]`` says that step t of trajectory i really
happened; padded steps carry zeros and are never counted.
"""

from __future__ import annotations

import contextlib

from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from ._validate import check_positive_int, first_line
from .envs import CourseCartPoleVectorEnv, PendulumVectorEnv, vector_spec
from .returns import reward_to_go, total_return

__all__ = ["Batch", "check_env_id", "env_errors", "make_vector_env", "reset_blocks", "rollout", "sample_batch"]


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
    if not isinstance(env_id, str) or env_id not in gym.registry:
        known = ", ".join(k for k in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1") if k in gym.registry)
        raise ValueError(f"unknown environment id {env_id!r}; use a registered gymnasium id such as {known}")
    return env_id


def make_vector_env(env_id: str, n_envs: int, **kwargs) -> gym.vector.VectorEnv:
    """n_envs copies of env_id, stepped together: one sub-environment per trajectory.

    Uses the course's NumPy version for CartPole-v1, Pendulum-v1 and Acrobot-v1 (pgcourse/envs.py), else the
    environment's own ``vector_entry_point`` if it has one, else a synchronous vector env.
    """
    check_env_id(env_id)
    n_envs = check_positive_int("n_traj", n_envs)
    spec = vector_spec(env_id)
    if spec is not None:  # the course's NumPy version (pgcourse/envs.py), which resets in blocks
        return gym.make_vec(spec, num_envs=n_envs, vectorization_mode="vector_entry_point", **kwargs)
    spec = gym.spec(env_id)
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    with env_errors(env_id):
        return gym.make_vec(env_id, num_envs=n_envs, vectorization_mode=mode, **kwargs)


@contextlib.contextmanager
def env_errors(env_id: str):
    """gymnasium's failures to make an environment (a missing extra such as Box2D or MuJoCo) as one ValueError."""
    try:
        yield
    except (gym.error.Error, ImportError) as err:
        first = first_line(err)
        raise ValueError(f"cannot make environment {env_id!r}: {first}") from None


def reset_blocks(env: gym.vector.VectorEnv, seeds, block: int) -> np.ndarray:
    """Reset a vector env of len(seeds)·block sub-environments as len(seeds) independent blocks.

    Block k (sub-environments k·block … (k+1)·block − 1) starts exactly as a vector env of
    ``block`` copies reset with ``seeds[k]`` would, so a block's episodes depend only on its own
    seed, not on how many other blocks share the vector env. Supports synchronous vector envs and
    the course's NumPy vector envs (pgcourse/envs.py), and any vector env when there is one block.
    Returns the observations.
    """
    seeds = [None if s is None else int(s) for s in seeds]
    if len(seeds) * block != env.num_envs:
        raise ValueError(f"{len(seeds)} blocks of {block} need num_envs={len(seeds) * block}, got {env.num_envs}")
    if len(seeds) == 1:
        return np.asarray(env.reset(seed=seeds[0])[0])
    base = env.unwrapped
    if isinstance(base, (CourseCartPoleVectorEnv, PendulumVectorEnv)) or getattr(base, "block_reset", False):
        return np.asarray(env.reset(seed=seeds)[0])
    if isinstance(base, gym.vector.SyncVectorEnv):
        if any(s is None for s in seeds):
            return np.asarray(env.reset()[0])
        # a SyncVectorEnv reset with seed s seeds its sub-environment j with s + j
        return np.asarray(env.reset(seed=[s + j for s in seeds for j in range(block)])[0])
    raise ValueError(f"cannot reset {type(base).__name__} in independent blocks: use vectorization_mode='sync'")


@torch.no_grad()
def rollout(env: gym.vector.VectorEnv, act, seeds, block: int, max_steps: int | None = None) -> list[Batch]:
    """One episode from every sub-environment, returned as len(seeds) batches of ``block`` trajectories.

    act(obs, blocks) maps the observations (len(blocks), block, *obs_shape) of the blocks still
    running (``blocks``: their indices, a NumPy array) to actions (len(blocks), block, ...); block k
    is reset with seeds[k] (``reset_blocks``). Steps after a sub-environment's episode
    ends (gymnasium autoresets it) are masked out and never counted; each batch is cut to its own
    longest episode. Stops when every episode has ended or after max_steps steps.
    """
    n_blocks, n = len(seeds), env.num_envs
    obs_np = reset_blocks(env, seeds, block)
    alive = np.ones(n, dtype=bool)
    terminated = np.zeros(n, dtype=bool)
    truncated = np.zeros(n, dtype=bool)
    obs_l, act_l, rew_l, mask_l = [], [], [], []
    low = high = None
    space = env.single_action_space
    if isinstance(space, gym.spaces.Box):
        low, high = space.low, space.high
    all_blocks = np.arange(n_blocks)
    act_zeros = None
    while alive.any() and (max_steps is None or len(rew_l) < max_steps):
        obs_np = np.asarray(obs_np)
        obs_k = torch.from_numpy(obs_np.reshape(n_blocks, block, *obs_np.shape[1:]))  # (blocks, N, *obs_shape)
        running = alive.reshape(n_blocks, block).any(1)
        blocks = all_blocks if running.all() else all_blocks[running]
        a_k = act(obs_k if len(blocks) == n_blocks else obs_k[torch.from_numpy(blocks)], blocks).numpy()
        if len(blocks) < n_blocks:  # blocks whose episodes have all ended get a placeholder action (masked)
            if act_zeros is None:
                act_zeros = np.zeros((n_blocks, *a_k.shape[1:]), dtype=a_k.dtype)
            full = act_zeros.copy()
            full[blocks] = a_k
            a_k = full
        act_np = a_k.reshape(n, *a_k.shape[2:])
        obs_np, rew_np, term_np, trunc_np, _ = env.step(act_np if low is None else np.clip(act_np, low, high))
        term_np, trunc_np = np.asarray(term_np, dtype=bool), np.asarray(trunc_np, dtype=bool)
        obs_l.append(obs_k)
        act_l.append(act_np)
        rew_l.append(np.asarray(rew_np, dtype=np.float32) * alive)
        mask_l.append(alive.copy())
        terminated |= alive & term_np
        truncated |= alive & trunc_np & ~term_np
        alive &= ~(term_np | trunc_np)
    truncated |= alive  # cut off by max_steps
    mask = torch.from_numpy(np.stack(mask_l, 1))
    obs = torch.stack(obs_l, 2).reshape(n, len(obs_l), *obs_l[0].shape[2:])
    act_t = torch.from_numpy(np.stack(act_l, 1))
    # zero the padding so that nothing after an episode's end leaks into sums
    pad = ~mask
    obs = obs.masked_fill(pad.view(*pad.shape, *([1] * (obs.dim() - 2))), 0)
    act_t = act_t.masked_fill(pad.view(*pad.shape, *([1] * (act_t.dim() - 2))), 0)
    rew = torch.from_numpy(np.stack(rew_l, 1))
    terminated, truncated = torch.from_numpy(terminated), torch.from_numpy(truncated)
    batches = []
    for k in range(n_blocks):
        rows = slice(k * block, (k + 1) * block)
        t_k = max(int(mask[rows].sum(1).max()), 1)
        batches.append(Batch(obs=obs[rows, :t_k], act=act_t[rows, :t_k], rew=rew[rows, :t_k], mask=mask[rows, :t_k],
                             terminated=terminated[rows], truncated=truncated[rows]))
    return batches


@torch.no_grad()
def sample_batch(env, policy, n_traj: int | None = None, seed: int | None = None,
                 max_steps: int | None = None, greedy: bool = False) -> Batch:
    """Sample N trajectories τ_i ~ p_θ(τ): one episode from each sub-environment.

    env: a gymnasium VectorEnv (its num_envs is N) or an env id (a vector env of
    ``n_traj`` copies is made and closed). policy: has ``sample(obs, generator)``
    (and ``mode(obs)`` for ``greedy``). seed: seeds both the environments' reset
    and the action noise, so the same seed gives the same batch (on the same machine).
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

        def act(obs, blocks):
            return (policy.mode(obs[0]) if greedy else policy.sample(obs[0], generator))[None]

        return rollout(env, act, [seed], env.num_envs, max_steps)[0]
    finally:
        if own_env:
            env.close()
