"""Partially observed CartPole, and policies on observations of a tabular MDP.

Importing this module registers three gymnasium environments, so that
``TrainConfig(env_id=...)``, ``make_vector_env`` and ``sample_batch`` accept them:

* ``pgcourse/CartPoleNoVelocity-v0``: o_t = (x, θ), the cart position and pole
  angle of CartPole-v1; the two velocities are hidden, so o_t is not a Markov state.
* ``pgcourse/CartPoleFrameStack-v0``: o_t = (x_{t-1}, θ_{t-1}, x_t, θ_t), the last
  two position observations (at reset the first one is repeated), from which the
  velocities can be recovered by differences.
* ``pgcourse/CartPoleFrameDiff-v0``: the same two frames in another basis,
  o_t = (x_t, θ_t, (x_t − x_{t-1})/τ, (θ_t − θ_{t-1})/τ) with τ = 0.02 s, CartPole's
  time step: a fixed invertible linear map of the 2-frame stack (the same information),
  whose last two entries are exactly the previous step's velocities (Euler integration).

Each also has a NumPy vector version, registered with ``pgcourse.envs.register_vector``: the
same observation transform as a vector wrapper around ``pgcourse.envs.CourseCartPoleVectorEnv``,
so ``make_vector_env`` steps all copies in one array operation (and resets them in blocks, one
block per seed, for ``train_seeds``). ``gym.make_vec(env_id, n, vectorization_mode="sync")``
still gives the generic fallback, a synchronous vector env (a Python loop over copies).

Taught in notebooks/05_imitation_and_partial_observability.ipynb.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.vector.utils import batch_space
from torch import Tensor

from .envs import CourseCartPoleVectorEnv, register_vector
from .tabular import TabularMDP, tabular_gradient_samples

NO_VELOCITY_ID = "pgcourse/CartPoleNoVelocity-v0"
FRAME_STACK_ID = "pgcourse/CartPoleFrameStack-v0"
FRAME_DIFF_ID = "pgcourse/CartPoleFrameDiff-v0"
TAU = 0.02
"""CartPole's time step τ in seconds (CartPoleEnv.tau): x_{t+1} = x_t + τ ẋ_t."""
POSITIONS = (0, 2)
"""Indices of CartPole's observation (x, ẋ, θ, θ̇) that are positions: x and θ."""


def hide_velocities(obs):
    """o = (x, θ) from s = (x, ẋ, θ, θ̇): keep CartPole's positions, drop its velocities.

    obs: (..., 4) array or tensor; returns (..., 2) of the same kind.
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    return obs[..., list(POSITIONS)]


def stack_two_frames(obs):
    """o'_t = (o_{t-1}, o_t) with o_0 repeated at t = 0: the last two observations side by side.

    obs: (T, d) observations of one episode; returns (T, 2d).
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    prev = torch.cat([obs[:1], obs[:-1]]) if isinstance(obs, Tensor) else np.concatenate([obs[:1], obs[:-1]])
    return torch.cat([prev, obs], -1) if isinstance(obs, Tensor) else np.concatenate([prev, obs], -1)


class HideVelocities(gym.ObservationWrapper):
    """CartPole's observation (x, ẋ, θ, θ̇) → (x, θ)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(hide_velocities(space.low), hide_velocities(space.high),
                                                dtype=space.dtype)

    def observation(self, observation):
        return hide_velocities(observation)


class StackTwoFrames(gym.Wrapper):
    """o'_t = (o_{t-1}, o_t): the previous and the current observation, concatenated (o_{-1} = o_0)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(np.concatenate([space.low, space.low]),
                                                np.concatenate([space.high, space.high]), dtype=space.dtype)
        self._prev = None

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._prev = obs
        return np.concatenate([obs, obs]), info

    def step(self, action):
        obs, rew, terminated, truncated, info = self.env.step(action)
        stacked = np.concatenate([self._prev, obs])
        self._prev = obs
        return stacked, rew, terminated, truncated, info


def frame_difference(stacked, tau: float = TAU):
    """(o_{t-1}, o_t) -> (o_t, (o_t − o_{t-1})/τ): the 2-frame stack as positions and finite-difference velocities.

    stacked: (..., 2d) array or tensor; returns (..., 2d) of the same kind. Invertible and linear.
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    d = stacked.shape[-1] // 2
    prev, cur = stacked[..., :d], stacked[..., d:]
    diff = (cur - prev) / tau
    return torch.cat([cur, diff], -1) if isinstance(stacked, Tensor) else np.concatenate([cur, diff], -1)


class FrameDifference(gym.ObservationWrapper):
    """A 2-frame stack (o_{t-1}, o_t) → (o_t, (o_t − o_{t-1})/τ)."""

    def __init__(self, env: gym.Env, tau: float = TAU):
        super().__init__(env)
        self.tau = float(tau)
        d = env.observation_space.shape[0] // 2
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2 * d,), dtype=env.observation_space.dtype)

    def observation(self, observation):
        return frame_difference(observation, self.tau).astype(self.observation_space.dtype)


def make_cartpole_no_velocity(**kwargs) -> gym.Env:
    """CartPole with the velocities hidden (gymnasium entry point of pgcourse/CartPoleNoVelocity-v0)."""
    return HideVelocities(CartPoleEnv(**kwargs))


def make_cartpole_frame_stack(**kwargs) -> gym.Env:
    """CartPole positions of the last two steps (entry point of pgcourse/CartPoleFrameStack-v0)."""
    return StackTwoFrames(HideVelocities(CartPoleEnv(**kwargs)))


def make_cartpole_frame_diff(**kwargs) -> gym.Env:
    """CartPole positions and their finite differences (entry point of pgcourse/CartPoleFrameDiff-v0)."""
    env = CartPoleEnv(**kwargs)
    return FrameDifference(StackTwoFrames(HideVelocities(env)), env.tau)


ENV_IDS = {"positions only": NO_VELOCITY_ID, "2-frame stack": FRAME_STACK_ID, "2-frame stack, differenced": FRAME_DIFF_ID}


# --- the same observations for a NumPy vector CartPole: all copies in one array operation ----------

class HideVelocitiesVector(gym.vector.VectorObservationWrapper):
    """Vector version of HideVelocities: observations (n, 4) → (n, 2)."""

    def __init__(self, env: gym.vector.VectorEnv):
        super().__init__(env)
        space = env.single_observation_space
        self.single_observation_space = gym.spaces.Box(hide_velocities(space.low), hide_velocities(space.high),
                                                       dtype=space.dtype)
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)

    def observations(self, observations):
        return hide_velocities(observations)


class StackTwoFramesVector(gym.vector.VectorWrapper):
    """Vector version of StackTwoFrames: (n, d) → (n, 2d) = (o_{t-1}, o_t), the first frame repeated.

    ``reset(seed=...)`` passes the seed (an int or a list of block seeds) through. With gymnasium's
    next-step autoreset, the step after a sub-environment's episode ended returns its new first
    observation: that row restarts as (o_0, o_0), as a fresh reset would.
    """

    def __init__(self, env: gym.vector.VectorEnv):
        super().__init__(env)
        space = env.single_observation_space
        self.single_observation_space = gym.spaces.Box(np.concatenate([space.low, space.low]),
                                                       np.concatenate([space.high, space.high]), dtype=space.dtype)
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)
        self._prev = None
        self._done = np.zeros(env.num_envs, dtype=bool)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._prev = obs
        self._done = np.zeros(self.num_envs, dtype=bool)
        return np.concatenate([obs, obs], -1), info

    def step(self, actions):
        obs, rew, terminated, truncated, info = self.env.step(actions)
        prev = np.where(self._done[:, None], obs, self._prev)  # autoreset rows start again from o_0
        self._prev = obs
        self._done = np.logical_or(terminated, truncated)
        return np.concatenate([prev, obs], -1), rew, terminated, truncated, info


class FrameDifferenceVector(gym.vector.VectorObservationWrapper):
    """Vector version of FrameDifference: (n, 2d) stacks → (n, 2d) = (o_t, (o_t − o_{t-1})/τ)."""

    def __init__(self, env: gym.vector.VectorEnv, tau: float = TAU):
        super().__init__(env)
        self.tau = float(tau)
        d = env.single_observation_space.shape[0] // 2
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2 * d,),
                                                       dtype=env.single_observation_space.dtype)
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)

    def observations(self, observations):
        return frame_difference(observations, self.tau).astype(self.single_observation_space.dtype)


def make_cartpole_no_velocity_vector(num_envs: int = 1, **kwargs) -> gym.vector.VectorEnv:
    """num_envs copies of pgcourse/CartPoleNoVelocity-v0 as one NumPy vector env (its vector entry point)."""
    return HideVelocitiesVector(CourseCartPoleVectorEnv(num_envs=num_envs, **kwargs))


def make_cartpole_frame_stack_vector(num_envs: int = 1, **kwargs) -> gym.vector.VectorEnv:
    """num_envs copies of pgcourse/CartPoleFrameStack-v0 as one NumPy vector env."""
    return StackTwoFramesVector(make_cartpole_no_velocity_vector(num_envs, **kwargs))


def make_cartpole_frame_diff_vector(num_envs: int = 1, **kwargs) -> gym.vector.VectorEnv:
    """num_envs copies of pgcourse/CartPoleFrameDiff-v0 as one NumPy vector env."""
    env = CourseCartPoleVectorEnv(num_envs=num_envs, **kwargs)
    return FrameDifferenceVector(StackTwoFramesVector(HideVelocitiesVector(env)), env.tau)


def register() -> None:
    """Register the three environments with gymnasium and their NumPy vector versions with
    ``pgcourse.envs.register_vector`` (idempotent; done on import)."""
    for env_id, entry_point, vector_entry_point in (
            (NO_VELOCITY_ID, make_cartpole_no_velocity, "make_cartpole_no_velocity_vector"),
            (FRAME_STACK_ID, make_cartpole_frame_stack, "make_cartpole_frame_stack_vector"),
            (FRAME_DIFF_ID, make_cartpole_frame_diff, "make_cartpole_frame_diff_vector")):
        if env_id not in gym.registry:
            # the same time limit and reward threshold as CartPole-v1
            gym.register(id=env_id, entry_point=entry_point, max_episode_steps=500, reward_threshold=475.0)
        register_vector(env_id, f"{__name__}:{vector_entry_point}")


register()


# --- a partially observed tabular MDP: the policy sees o = obs_of_state[s], not s -----------------

def observation_logits(obs_of_state: Tensor, logits: Tensor) -> Tensor:
    """θ_s = θ_{o(s)}: a policy on observations π_θ(a|o(s)) as a tied policy on states.

    obs_of_state: (S,) int64 observation ids; logits: (O, A); returns (S, A), differentiable.
    """
    return logits[torch.as_tensor(obs_of_state, dtype=torch.int64)]


def observed_gradient(mdp: TabularMDP, obs_of_state: Tensor, logits: Tensor) -> Tensor:
    """∇_θ J(θ) for π_θ(a|o) = softmax(θ[o])_a, o = obs_of_state[s]   (exact, by autograd through J).

    logits: (O, A); returns (O, A) in the logits' dtype.
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    logits = torch.as_tensor(logits).detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(mdp.objective(observation_logits(obs_of_state, logits)), logits)
    return grad


def observed_gradient_samples(mdp: TabularMDP, obs_of_state: Tensor, logits: Tensor, n_traj: int,
                              seed: int = 0) -> Tensor:
    """ĝ_i = (Σ_t ∇_θ log π_θ(a_{i,t}|o_{i,t})) R(τ_i), o_{i,t} = obs_of_state[s_{i,t}]   (REINFORCE on observations).

    logits: (O, A); returns (N, O·A) float64: one sample per trajectory, sampled with the
    policy that sees only observations. The same seed gives the same samples.
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    obs_of_state = torch.as_tensor(obs_of_state, dtype=torch.int64)
    logits = torch.as_tensor(logits).detach().to(torch.float64)
    batch = mdp.sample(observation_logits(obs_of_state, logits), n_traj, seed=seed)
    rets = mdp.R[batch.obs, batch.act].sum(1)
    obs = obs_of_state[batch.obs]  # what the policy saw
    weights = rets[:, None].expand_as(batch.rew)
    return tabular_gradient_samples(logits, obs, batch.act, weights, batch.mask)


# --- learning curves and the cost of a synchronous vector env -------------------------------------

def learning_curves(env_ids, seeds=range(10), iterations: int = 30, **config) -> dict:
    """{env_id: [History per seed]}: ``pgcourse.train_seeds`` with the same TrainConfig on each environment.

    All seeds of one environment train at once (one vector env of len(seeds)·N copies). Stops a
    seed early when it reaches a mean return of 475 (CartPole's "solved"), so a seed's history may
    be shorter than ``iterations``. config: more TrainConfig fields.
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    from .train import TrainConfig, train_seeds

    config = {"target_return": 475.0, **config}
    return {env_id: train_seeds(TrainConfig(env_id=env_id, iterations=iterations, **config), seeds=seeds,
                                progress=False)[1]
            for env_id in env_ids}


def stepping_cost(env_id: str, n_envs: int = 8, n_steps: int = 100, repeats: int = 3, seed: int = 0,
                  vectorization: str = "course") -> dict:
    """Wall-clock microseconds per environment step of a vector env's ``step`` (random actions).

    vectorization: "course" (``make_vector_env``: the course's NumPy version where it has one) or
    "sync" (gymnasium's generic fallback, a SyncVectorEnv: one Python env per copy, stepped in a loop).
    The environments alone, no policy: the best of ``repeats`` runs of ``n_steps`` vector steps
    (ended episodes are reset automatically). Returns {"vectorization": the vector env's class
    name, "us_per_step": float}. A timing, not a seeded number: it depends on the machine and its load.
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    import time

    from .batch import make_vector_env

    if vectorization not in ("course", "sync"):
        raise ValueError(f"vectorization must be 'course' or 'sync', got {vectorization!r}")
    envs = (make_vector_env(env_id, n_envs) if vectorization == "course"
            else gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="sync"))
    try:
        envs.reset(seed=seed)
        envs.action_space.seed(seed)
        actions = [envs.action_space.sample() for _ in range(n_steps)]
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for act in actions:
                envs.step(act)
            best = min(best, time.perf_counter() - start)
        name = type(envs).__name__ if vectorization == "course" else type(envs.unwrapped).__name__
        return {"vectorization": name, "us_per_step": 1e6 * best / (n_steps * n_envs)}
    finally:
        envs.close()
