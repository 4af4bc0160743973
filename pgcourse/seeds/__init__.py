"""The K-seed engine: many seeds of one configuration trained at once, for the course's evidence.

``train_seeds(config, seeds)`` returns one (policy, history) per seed, as ``pgcourse.train`` would for
each seed alone (tests/test_train_seeds.py says how exactly). It is an accelerator, not the algorithm:
read pgcourse/reinforce.py for that. The core never imports this package.
"""

from .engine import SeedCallback, SeedStepHook, train_seeds
from .processes import over_seed_groups

__all__ = ["train_seeds", "SeedCallback", "SeedStepHook", "over_seed_groups"]
