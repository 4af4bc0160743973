"""Partially observed CartPole, and policies on observations of a tabular MDP.

The course registers three gymnasium environments (in ``pgcourse.envs``, so that every part of the
package can train on them: ``TrainConfig(env_id=...)``, ``make_vector_env``, ``sample_batch``); this
module re-exports them for notebook 05:

* ``pgcourse/CartPoleNoVelocity-v0``: o_t = (x, θ), the cart position and pole
  angle of CartPole-v1; the two velocities are hidden, so o_t is not a Markov state.
* ``pgcourse/CartPoleFrameStack-v0``: o_t = (x_{t-1}, θ_{t-1}, x_t, θ_t), the last
  two position observations (at reset the first one is repeated), from which the
  velocities can be recovered by differences.
* ``pgcourse/CartPoleFrameDiff-v0``: the same two frames in another basis,
  o_t = (x_t, θ_t, (x_t − x_{t-1})/τ, (θ_t − θ_{t-1})/τ) with τ = 0.02 s, CartPole's
  time step: a fixed invertible linear map of the 2-frame stack (the same information),
  whose last two entries are exactly the previous step's velocities (Euler integration).

Each also has a NumPy vector version, registered with ``register_vector``: the
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
from torch import Tensor

from pgcourse.envs import (ENV_IDS, FRAME_DIFF_ID, FRAME_STACK_ID, NO_VELOCITY_ID, frame_difference,  # noqa: F401
                           hide_velocities, register, stack_two_frames)  # the environments live in the core
from pgcourse._validate import check_positive_int, check_seed
from pgcourse.tabular import TabularMDP, tabular_gradient_samples

__all__ = ["NO_VELOCITY_ID", "FRAME_STACK_ID", "FRAME_DIFF_ID", "ENV_IDS", "hide_velocities", "stack_two_frames",
           "frame_difference", "register", "observation_logits", "observed_gradient", "observed_gradient_samples",
           "learning_curves", "stepping_cost", "STACK_QUANTITIES", "computable_from_stack",
           "stack_reconstruction"]


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
    """{env_id: [History per seed]}: ``pgcourse.seeds.train_seeds`` with the same TrainConfig on each environment.

    All seeds of one environment train at once (one vector env of len(seeds)·N copies). Stops a
    seed early when it reaches a mean return of 475 (CartPole's "solved"), so a seed's history may
    be shorter than ``iterations``. config: more TrainConfig fields.
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    from pgcourse.config import TrainConfig
    from pgcourse.seeds import train_seeds

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

    from pgcourse.batch import make_vector_env

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


STACK_QUANTITIES = ("x_{t-1}", "x_dot_{t-1}", "theta_dot_{t-1}", "x_dot_t", "theta_dot_t")
"""Quantities of CartPole's state that notebook 05 asks about: can a 2-frame stack (x_{t-1}, θ_{t-1}, x_t, θ_t)
determine them exactly?"""


def computable_from_stack(quantity: str) -> bool:
    """True if the 2-frame stack (x_{t-1}, θ_{t-1}, x_t, θ_t) determines ``quantity`` exactly (one of
    STACK_QUANTITIES). Euler steps x_t = x_{t-1} + τ ẋ_{t-1} give the previous velocities as differences;
    the current ones, ẋ_t = ẋ_{t-1} + τ ẍ(s_{t-1}, a_{t-1}), also depend on the last action, not observed.
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    if quantity not in STACK_QUANTITIES:
        raise ValueError(f"quantity must be one of {STACK_QUANTITIES}, got {quantity!r}")
    return not quantity.endswith("_t")


def stack_reconstruction(n_steps: int = 1000, seed: int = 0) -> dict:
    """What a 2-frame stack of CartPole-v1 determines, measured on ``n_steps`` steps with random actions (seeded;
    a new episode starts when one ends).

    From each stack (o_{t-1}, o_t) of positions: the previous velocities v̂ = (x_t − x_{t-1}, θ_t − θ_{t-1})/τ,
    hence the whole previous state ŝ_{t-1} = (x_{t-1}, v̂_x, θ_{t-1}, v̂_θ), and the two candidates for the
    current velocities, one Euler step of CartPole's dynamics from ŝ_{t-1} with each action. Returns the largest
    |v̂ − (ẋ_{t-1}, θ̇_{t-1})| ("previous"), |v̂ − (ẋ_t, θ̇_t)| ("current"), the distance of (ẋ_t, θ̇_t) to the
    nearer candidate ("nearer_candidate") and the smallest and largest gap between the two candidates
    ("candidate_gap_min/max"), each a (2,) array (ẋ, θ̇), and "n_steps".
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    n_steps = check_positive_int("n_steps", n_steps)
    rng = np.random.default_rng(check_seed(seed))
    env = gym.make("CartPole-v1").unwrapped
    tau = env.tau
    obs, _ = env.reset(seed=int(seed))
    prev_state = np.array(env.state, dtype=float)
    rows = []
    for _ in range(n_steps):
        action = int(rng.integers(2))
        obs, _, terminated, _, _ = env.step(action)
        state = np.array(env.state, dtype=float)
        pos_prev = np.float32(prev_state[[0, 2]])                  # the observations are float32
        pos = np.float32(state[[0, 2]])
        v_hat = (pos.astype(float) - pos_prev) / tau               # (x_t − x_{t-1})/τ, (θ_t − θ_{t-1})/τ
        s_hat = np.array([pos_prev[0], v_hat[0], pos_prev[1], v_hat[1]], dtype=float)
        candidates = []
        for a in (0, 1):
            env.state, env.steps_beyond_terminated = s_hat.copy(), None
            env.step(a)
            candidates.append(np.array(env.state, dtype=float)[[1, 3]])
        env.state, env.steps_beyond_terminated = state.copy(), None
        now = state[[1, 3]]
        rows.append(np.concatenate([np.abs(v_hat - prev_state[[1, 3]]), np.abs(v_hat - now),
                                    np.minimum(np.abs(candidates[0] - now), np.abs(candidates[1] - now)),
                                    np.abs(candidates[1] - candidates[0])]))
        prev_state = state
        if terminated:
            env.reset(seed=int(rng.integers(2**31)))
            prev_state = np.array(env.state, dtype=float)
    rows = np.array(rows)
    env.close()
    return {"previous": rows[:, 0:2].max(0), "current": rows[:, 2:4].max(0), "nearer_candidate": rows[:, 4:6].max(0),
            "candidate_gap_min": rows[:, 6:8].min(0), "candidate_gap_max": rows[:, 6:8].max(0), "n_steps": n_steps}
