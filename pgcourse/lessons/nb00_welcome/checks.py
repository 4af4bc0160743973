"""Checkers for notebooks/00_welcome.ipynb: one episode's length and how it ended, and a discounted return."""

from __future__ import annotations

import gymnasium as gym

from pgcourse.ui.checks import CheckResult, check_function
from .measure import LeanController

__all__ = ["MAX_STEPS", "episode_length_reference", "check_episode_length", "discounted_return_reference",
           "check_discounted_return"]

MAX_STEPS = 2_000  # a loop that never stops is reported as a failure, not left hanging


class _EndGuard(gym.Wrapper):
    """Refuses step() after the episode has ended (terminated or truncated) and caps the number of steps."""

    def reset(self, **kwargs):
        self._ended, self._steps = False, 0
        return self.env.reset(**kwargs)

    def step(self, action):
        if getattr(self, "_ended", False):
            raise RuntimeError("step() was called after the episode had ended: stop at the first step "
                               "where terminated or truncated is True")
        self._steps = getattr(self, "_steps", 0) + 1
        if self._steps > MAX_STEPS:
            raise RuntimeError(f"more than {MAX_STEPS} steps without stopping")
        out = self.env.step(action)
        self._ended = bool(out[2] or out[3])
        return out

    def __repr__(self) -> str:
        return "env"


class _Named:
    """An act function obs -> action with a readable name in failure messages."""

    def __init__(self, name, fn):
        self.name, self.fn = name, fn

    def __call__(self, obs):
        return self.fn(obs)

    def __repr__(self) -> str:
        return self.name


def episode_length_reference(env, act, seed):
    """(number of steps, terminated, truncated) of one episode from env.reset(seed=seed)."""
    obs, _ = env.reset(seed=seed)
    n_steps = 0
    while True:
        obs, rew, terminated, truncated, _ = env.step(act(obs))
        n_steps += 1
        if terminated or truncated:
            return n_steps, bool(terminated), bool(truncated)


def check_episode_length(episode_length, verbose: bool = True) -> CheckResult:
    """episode_length(env, act, seed) -> (n_steps, terminated, truncated) on CartPole-v1, five agents/seeds."""
    env = _EndGuard(gym.make("CartPole-v1"))
    lean = LeanController()
    agents = [
        (_Named("push_left", lambda obs: 0), 0),
        (_Named("push_right", lambda obs: 1), 3),
        (_Named("lean_controller", lean), 0),
        (_Named("push_away_from_lean", lambda obs: 1 - lean(obs)), 5),
        (_Named("lean_controller", lean), 7),
    ]
    cases = [((env, act, seed), {}) for act, seed in agents]
    try:
        return check_function("episode_length", episode_length, episode_length_reference, cases,
                              atol=0, rtol=0, verbose=verbose)
    finally:
        env.close()


def discounted_return_reference(rewards, gamma):
    """Σ_t γ^t r_t for t = 0, 1, … (the first reward is not discounted)."""
    return sum(gamma**t * float(r) for t, r in enumerate(rewards))


def check_discounted_return(discounted_return, verbose: bool = True) -> CheckResult:
    """discounted_return(rewards, gamma) -> float, against Σ_t γ^t r_t on six reward lists."""
    cases = [
        (([1.0, 1.0, 1.0], 1.0), {}),
        (([1.0, 2.0, 3.0], 0.5), {}),
        (([0.0, 0.0, 5.0], 0.9), {}),
        (([2.0], 0.3), {}),
        (([], 0.99), {}),
        (([1.0] * 500, 0.99), {}),
    ]
    return check_function("discounted_return", discounted_return, discounted_return_reference, cases,
                          verbose=verbose)
