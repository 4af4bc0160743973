"""Exercise checkers of notebooks/06_causality_reward_to_go.ipynb."""

from __future__ import annotations

import torch

from pgcourse.returns import reward_to_go
from pgcourse.ui.checks import CheckResult, check_function
from .measure import past_rewards

__all__ = ["check_reward_to_go_loop", "check_past_rewards"]


def _rew_cases():
    g = torch.Generator().manual_seed(6)
    rew = torch.rand(3, 5, generator=g)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
    return rew, mask


def check_reward_to_go_loop(fn, verbose: bool = True) -> CheckResult:
    """fn(rew, mask=None, gamma=1.0) -> Q̂ (N, T), compared with pgcourse.reward_to_go."""
    rew, mask = _rew_cases()
    cases = [((torch.tensor([[1.0, 1.0, 1.0]]),), {}),
             ((torch.tensor([[1.0, 1.0, 1.0]]),), {"gamma": 0.5}),
             ((torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]]),), {}),
             ((rew,), {"gamma": 0.9}),
             ((rew,), {"mask": mask}),
             ((rew,), {"mask": mask, "gamma": 0.7})]
    return check_function("reward_to_go_loop", fn, reward_to_go, cases, verbose=verbose)


def check_past_rewards(fn, verbose: bool = True) -> CheckResult:
    """fn(rew, mask=None) -> Σ_{t'<t} r_{t'} (N, T), compared with pgcourse.lessons.nb06_causality_reward_to_go.measure.past_rewards."""
    rew, mask = _rew_cases()
    cases = [((torch.tensor([[1.0, 2.0, 3.0]]),), {}),
             ((torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]]),), {}),
             ((rew,), {}),
             ((rew,), {"mask": mask})]
    return check_function("past_rewards", fn, past_rewards, cases, verbose=verbose)
