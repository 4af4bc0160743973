"""Judging a trained policy on episodes it has never seen: R(τ) of fresh episodes, per seed.

A run's training curve is the return of the batches it trained on; whether the policy it ended
with is good is measured on new episodes, drawn with seeds no training batch used.
Taught in notebooks/03_reinforce.ipynb and notebooks/10_capstone.ipynb.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_positive_int, check_seed
from .batch import sample_batch
from .runs import single_thread

__all__ = ["FRESH_OFFSET", "fresh_returns"]

FRESH_OFFSET = 1_000_000
"""Fresh episodes of seed s are one batch seeded offset + s; training batches use runs.batch_seed(s, it)."""


def fresh_returns(policies, seeds, env_id: str = "CartPole-v1", episodes: int = 100,
                  offset: int = FRESH_OFFSET) -> np.ndarray:
    """R(τ_{k,j}) = Σ_t r_t of episode j = 1…episodes of policy k on new episodes (sampled actions).

    policies: K trained policies; seeds: their K training seeds. Policy k plays one batch of
    ``episodes`` episodes with seed offset + seeds[k] (its training batches were drawn with
    batch_seed(seed, it) instead). Returns a (K, episodes) float64 array. Runs torch on one thread.
    Taught in notebooks/03_reinforce.ipynb and notebooks/10_capstone.ipynb.
    """
    episodes = check_positive_int("episodes", episodes)
    seeds = [check_seed(s) for s in seeds]
    if len(seeds) != len(policies):
        raise ValueError(f"need one seed per policy: {len(policies)} policies, {len(seeds)} seeds")
    with single_thread():
        return np.stack([sample_batch(env_id, policy, n_traj=episodes, seed=offset + s).returns().double().numpy()
                         for policy, s in zip(policies, seeds)])
