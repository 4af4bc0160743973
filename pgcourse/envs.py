"""The course's vector environments: many episodes stepped as one NumPy array operation.

Training many seeds at once steps K·N sub-environments together, and a batch of seed k must not
depend on the other seeds. So these vector environments reset in *blocks*: ``reset(seed=[s_0, …,
s_{K−1}])`` starts block k (sub-environments k·N … (k+1)·N − 1) exactly as a vector env of N copies
reset with ``seed=s_k``. With an int seed they behave as usual.

* ``CartPole-v1``: gymnasium's own NumPy CartPole (``CartPoleVectorEnv``), with block resets.
* ``Pendulum-v1``: gymnasium's pendulum dynamics, written for arrays (gymnasium steps Pendulum one
  Python object per sub-environment, 30x slower for 160 copies). tests/test_envs.py checks it step for
  step against ``gymnasium.envs.classic_control.pendulum.PendulumEnv``.
* ``Acrobot-v1``: gymnasium's acrobot (Sutton and Barto's "book" dynamics, one RK4 step of 0.2 s),
  written for arrays in the same way (notebook 10's own task); tests/test_envs.py checks it step for
  step against ``gymnasium.envs.classic_control.acrobot.AcrobotEnv``.

``make_vector_env`` (pgcourse/batch.py) uses these for their ids; other ids step a synchronous
vector env (one Python env per trajectory). ``register_vector(env_id, entry_point)`` adds one.

Importing this module also registers three partially observed CartPoles (taught in notebook 05,
``pgcourse/lessons/nb05_imitation_and_partial_observability/partial_observability.py``), each with a NumPy vector version:
``pgcourse/CartPoleNoVelocity-v0`` (o = (x, θ)), ``pgcourse/CartPoleFrameStack-v0`` (the last two
such observations) and ``pgcourse/CartPoleFrameDiff-v0`` (the same two frames as positions and
finite-difference velocities).
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv, CartPoleVectorEnv
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space
from torch import Tensor

__all__ = ["VECTOR_ENVS", "register_vector", "vector_spec", "CourseCartPoleVectorEnv", "PendulumVectorEnv",
           "AcrobotVectorEnv",
           "block_size", "NO_VELOCITY_ID", "FRAME_STACK_ID", "FRAME_DIFF_ID", "ENV_IDS", "hide_velocities",
           "stack_two_frames", "frame_difference", "register"]

VECTOR_ENVS: dict[str, str] = {
    "CartPole-v1": "pgcourse.envs:CourseCartPoleVectorEnv",
    "Pendulum-v1": "pgcourse.envs:PendulumVectorEnv",
    "Acrobot-v1": "pgcourse.envs:AcrobotVectorEnv",
}
"""env id -> entry point of a vector env whose reset accepts a list of block seeds."""


def register_vector(env_id: str, entry_point: str) -> None:
    """Step ``env_id`` with the vector env at ``entry_point`` ("module:Class"; its reset takes block seeds)."""
    VECTOR_ENVS[env_id] = entry_point


def vector_spec(env_id: str) -> gym.envs.registration.EnvSpec | None:
    """The env's gymnasium spec with the course's vector entry point, or None if the course has none."""
    if env_id not in VECTOR_ENVS:
        return None
    return dataclasses.replace(gym.spec(env_id), vector_entry_point=VECTOR_ENVS[env_id])


def block_size(num_envs: int, seeds) -> int:
    """N, the sub-environments per block, when num_envs copies are reset with len(seeds) block seeds."""
    if len(seeds) < 1 or num_envs % len(seeds):
        raise ValueError(f"{len(seeds)} block seeds do not divide num_envs={num_envs} into equal blocks")
    return num_envs // len(seeds)


def _block_uniform(seeds, n: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(d, n) uniform draws, block k from its own generator seeded with seeds[k] (as a fresh reset would)."""
    size = block_size(n, seeds)
    out = np.empty((len(low), n))
    for k, s in enumerate(seeds):
        rng = seeding.np_random(None if s is None else int(s))[0]
        out[:, k * size:(k + 1) * size] = rng.uniform(low=low[:, None], high=high[:, None], size=(len(low), size))
    return out


class _BinaryActions(gym.spaces.MultiDiscrete):
    """CartPole's batched action space, with a NumPy-speed ``contains`` (CartPole asserts it every step).

    MultiDiscrete.contains costs as much as the physics of 160 carts; this checks the same thing
    (an integer array of the right shape with every entry 0 or 1) in one vectorised pass.
    """

    def contains(self, x) -> bool:
        return (isinstance(x, np.ndarray) and x.shape == self.shape and x.dtype.kind in "iu"
                and bool(((x == 0) | (x == 1)).all()))


class CourseCartPoleVectorEnv(CartPoleVectorEnv):
    """gymnasium's NumPy CartPole; ``reset(seed=[s_0, …])`` resets block k as ``reset(seed=s_k)`` would."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.action_space = _BinaryActions(self.action_space.nvec, dtype=self.action_space.dtype)

    def reset(self, *, seed=None, options=None):
        if not isinstance(seed, (list, tuple)):
            return super().reset(seed=seed, options=options)
        super().reset(seed=seed[0], options=options)
        self.state = _block_uniform(seed, self.num_envs, np.full(4, self.low), np.full(4, self.high))
        return self.state.T.astype(np.float32), {}

    def step(self, action):
        """gymnasium's ``CartPoleVectorEnv.step``, the same float operations in the same order, with less
        overhead per call: the action check is one vectorised pass, the state is written into one new array
        (not ``np.stack``ed), and the next-step autoreset draws only when an episode ended on the last step
        (a draw of size 0 leaves the generator as it was). tests/test_envs.py holds it equal to gymnasium's."""
        if not self.action_space.contains(action):
            raise AssertionError(f"{action!r} ({type(action)}) invalid")
        if self.state is None:
            raise AssertionError("Call reset before using step method.")
        x, x_dot, theta, theta_dot = self.state
        force = np.sign(action - 0.5) * self.force_mag
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        state = np.empty_like(self.state)
        if self.kinematics_integrator == "euler":
            state[0] = x + self.tau * x_dot
            state[1] = x_dot + self.tau * xacc
            state[2] = theta + self.tau * theta_dot
            state[3] = theta_dot + self.tau * thetaacc
        else:  # semi-implicit euler
            state[1] = x_dot + self.tau * xacc
            state[0] = x + self.tau * state[1]
            state[3] = theta_dot + self.tau * thetaacc
            state[2] = theta + self.tau * state[3]
        self.state = x, _, theta, _ = state
        terminated = ((x < -self.x_threshold) | (x > self.x_threshold)
                      | (theta < -self.theta_threshold_radians) | (theta > self.theta_threshold_radians))
        self.steps += 1
        truncated = self.steps >= self.max_episode_steps
        if self._sutton_barto_reward:
            reward = -np.array(terminated, dtype=np.float32)
        else:
            reward = np.ones(self.num_envs, dtype=np.float32)
        done = self.prev_done
        if done.any():  # reset the sub-environments whose episode ended on the last step
            self.state[:, done] = self.np_random.uniform(low=self.low, high=self.high, size=(4, done.sum()))
            self.steps[done] = 0
            reward[done] = 0.0
            terminated[done] = False
            truncated[done] = False
        self.prev_done = terminated | truncated
        return self.state.T.astype(np.float32), reward, terminated, truncated, {}


class PendulumVectorEnv(gym.vector.VectorEnv):
    """Pendulum-v1 for n copies at once: the dynamics of gymnasium's PendulumEnv, on arrays.

    θ̇' = clip(θ̇ + (3g/2l · sin θ + 3/(ml²) · u) dt, ±8),  θ' = θ + θ̇' dt,
    reward −(normalize(θ)² + 0.1 θ̇² + 0.001 u²), u = clip(a, ±2); observation (cos θ, sin θ, θ̇);
    start θ ~ U(−π, π), θ̇ ~ U(−1, 1); truncated after max_episode_steps (200). Sub-environments that
    ended are reset on the next step (gymnasium's next-step autoreset; those steps are masked anyway).
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 200, g: float = 10.0, render_mode=None, **kwargs):
        self.num_envs = int(num_envs)
        self.max_speed, self.max_torque, self.dt, self.g, self.m, self.l = 8.0, 2.0, 0.05, float(g), 1.0, 1.0
        self.max_episode_steps = int(max_episode_steps)
        self.render_mode = render_mode
        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        self.single_observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Box(-self.max_torque, self.max_torque, shape=(1,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.high = np.array([np.pi, 1.0])
        self.state = None
        self.steps = np.zeros(self.num_envs, dtype=np.int32)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)

    def _obs(self) -> np.ndarray:
        th, thdot = self.state
        return np.stack([np.cos(th), np.sin(th), thdot], axis=1).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed]
        if seeds[0] is not None:
            self._np_random, _ = seeding.np_random(int(seeds[0]))
        self.state = _block_uniform(seeds, self.num_envs, -self.high, self.high)
        self.steps = np.zeros(self.num_envs, dtype=np.int32)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)
        return self._obs(), {}

    def step(self, actions):
        if self.state is None:
            raise ValueError("call reset() before step()")
        u = np.clip(np.asarray(actions, dtype=np.float32).reshape(self.num_envs, -1)[:, 0],
                    -self.max_torque, self.max_torque)
        th, thdot = self.state
        norm_th = ((th + np.pi) % (2 * np.pi)) - np.pi
        costs = norm_th ** 2 + 0.1 * thdot ** 2 + 0.001 * (u ** 2)
        newthdot = thdot + (3 * self.g / (2 * self.l) * np.sin(th) + 3.0 / (self.m * self.l ** 2) * u) * self.dt
        newthdot = np.clip(newthdot, -self.max_speed, self.max_speed)
        self.state = np.stack([th + newthdot * self.dt, newthdot])
        self.steps += 1
        reward = (-costs).astype(np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = self.steps >= self.max_episode_steps
        if self.prev_done.any():  # next-step autoreset
            done = self.prev_done
            self.state[:, done] = self.np_random.uniform(low=-self.high[:, None], high=self.high[:, None],
                                                         size=(2, int(done.sum())))
            self.steps[done] = 0
            reward[done] = 0.0
            truncated[done] = False
        self.prev_done = terminated | truncated
        return self._obs(), reward, terminated, truncated, {}


class AcrobotVectorEnv(gym.vector.VectorEnv):
    """Acrobot-v1 for n copies at once: the dynamics of gymnasium's AcrobotEnv, on arrays.

    s = (θ₁, θ₂, θ̇₁, θ̇₂); action a ∈ {0, 1, 2} applies the torque a − 1 at the joint; one RK4 step of
    dt = 0.2 s of the book's equations, then θ wrapped into [−π, π] and θ̇ clipped to ±4π, ±9π.
    Reward −1 per step, 0 on the step that lifts the tip above the bar (−cos θ₁ − cos(θ₁ + θ₂) > 1),
    which terminates; truncated after max_episode_steps (500). Observation (cos θ₁, sin θ₁, cos θ₂,
    sin θ₂, θ̇₁, θ̇₂); start s ~ U(−0.1, 0.1)⁴ (rounded to float32, as gymnasium does). Sub-environments
    that ended are reset on the next step (gymnasium's next-step autoreset; those steps are masked).
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP, "render_modes": []}
    block_reset = True
    """reset(seed=[s_0, …]) resets block k as a vector env of its own reset with s_k (pgcourse.batch.reset_blocks)."""

    dt = 0.2
    m1 = m2 = l1 = 1.0
    lc1 = lc2 = 0.5
    moi = 1.0
    g = 9.8
    max_vel_1, max_vel_2 = 4 * np.pi, 9 * np.pi

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 500, render_mode=None, **kwargs):
        self.num_envs = int(num_envs)
        self.max_episode_steps = int(max_episode_steps)
        self.render_mode = render_mode
        high = np.array([1.0, 1.0, 1.0, 1.0, self.max_vel_1, self.max_vel_2], dtype=np.float32)
        self.single_observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(3)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.low, self.high = np.full(4, -0.1), np.full(4, 0.1)
        self.state = None
        self.steps = np.zeros(self.num_envs, dtype=np.int32)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)

    def _obs(self) -> np.ndarray:
        th1, th2, dth1, dth2 = self.state
        return np.stack([np.cos(th1), np.sin(th1), np.cos(th2), np.sin(th2), dth1, dth2], axis=1).astype(np.float32)

    def _start(self, draws: np.ndarray) -> np.ndarray:
        return draws.astype(np.float32).astype(np.float64)   # gymnasium keeps its start state in float32

    def reset(self, *, seed=None, options=None):
        seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed]
        if seeds[0] is not None:
            self._np_random, _ = seeding.np_random(int(seeds[0]))
        self.state = self._start(_block_uniform(seeds, self.num_envs, self.low, self.high))
        self.steps = np.zeros(self.num_envs, dtype=np.int32)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)
        return self._obs(), {}

    def _dsdt(self, s: np.ndarray, torque: np.ndarray) -> np.ndarray:
        """ds/dt of the book's equations, term by term as gymnasium's AcrobotEnv._dsdt. s: (4, n)."""
        m1, m2, l1, lc1, lc2, I1, I2, g = self.m1, self.m2, self.l1, self.lc1, self.lc2, self.moi, self.moi, self.g
        theta1, theta2, dtheta1, dtheta2 = s
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * np.cos(theta2)) + I1 + I2
        d2 = m2 * (lc2**2 + l1 * lc2 * np.cos(theta2)) + I2
        phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - np.pi / 2.0)
        phi1 = (-m2 * l1 * lc2 * dtheta2**2 * np.sin(theta2) - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * np.sin(theta2)
                + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - np.pi / 2) + phi2)
        ddtheta2 = ((torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * np.sin(theta2) - phi2)
                    / (m2 * lc2**2 + I2 - d2**2 / d1))
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return np.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])

    def step(self, actions):
        if self.state is None:
            raise ValueError("call reset() before step()")
        torque = np.asarray(actions).reshape(self.num_envs).astype(np.float64) - 1.0
        s, dt = self.state, self.dt
        k1 = self._dsdt(s, torque)                            # RK4 over [0, dt], as gymnasium's rk4
        k2 = self._dsdt(s + dt / 2.0 * k1, torque)
        k3 = self._dsdt(s + dt / 2.0 * k2, torque)
        k4 = self._dsdt(s + dt * k3, torque)
        ns = s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        for i in (0, 1):                                      # gymnasium's wrap: add or subtract 2π until inside
            while (ns[i] > np.pi).any():
                ns[i] = np.where(ns[i] > np.pi, ns[i] - 2 * np.pi, ns[i])
            while (ns[i] < -np.pi).any():
                ns[i] = np.where(ns[i] < -np.pi, ns[i] + 2 * np.pi, ns[i])
        ns[2] = np.clip(ns[2], -self.max_vel_1, self.max_vel_1)
        ns[3] = np.clip(ns[3], -self.max_vel_2, self.max_vel_2)
        self.state = ns
        self.steps += 1
        terminated = -np.cos(ns[0]) - np.cos(ns[1] + ns[0]) > 1.0
        reward = np.where(terminated, 0.0, -1.0)
        truncated = self.steps >= self.max_episode_steps
        if self.prev_done.any():  # next-step autoreset
            done = self.prev_done
            self.state[:, done] = self._start(self.np_random.uniform(low=self.low[:, None], high=self.high[:, None],
                                                                     size=(4, int(done.sum()))))
            self.steps[done] = 0
            reward[done] = 0.0
            terminated[done] = False
            truncated[done] = False
        self.prev_done = terminated | truncated
        return self._obs(), reward, terminated, truncated, {}


# --- partially observed CartPole (notebook 05): the observation hides the velocities -------------

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
    ``register_vector`` (idempotent; done on import)."""
    for env_id, entry_point, vector_entry_point in (
            (NO_VELOCITY_ID, make_cartpole_no_velocity, "make_cartpole_no_velocity_vector"),
            (FRAME_STACK_ID, make_cartpole_frame_stack, "make_cartpole_frame_stack_vector"),
            (FRAME_DIFF_ID, make_cartpole_frame_diff, "make_cartpole_frame_diff_vector")):
        if env_id not in gym.registry:
            # the same time limit and reward threshold as CartPole-v1
            gym.register(id=env_id, entry_point=entry_point, max_episode_steps=500, reward_threshold=475.0)
        register_vector(env_id, f"{__name__}:{vector_entry_point}")


register()
