"""Exercise checkers of notebooks/06_causality_reward_to_go.ipynb."""

from __future__ import annotations

import torch

from pgcourse.returns import reward_to_go
from pgcourse.tabular import MAX_ENUMERATED, TabularMDP
from pgcourse.ui.checks import CheckResult, call_reader, check_function, report
from pgcourse.ui.mistakes import REWARD_TO_GO
from .measure import exact_causality_variances, past_rewards

__all__ = ["check_reward_to_go_loop", "check_past_rewards", "check_negative_cross_term"]

CROSS_TOL = 1e-9
"""The cross term must be below −CROSS_TOL: a cross term of 0 up to rounding is not negative."""


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
    return check_function("reward_to_go_loop", fn, reward_to_go, cases, verbose=verbose, mistakes=REWARD_TO_GO)


def _zero_padding(x, mask):
    return x if mask is None else torch.where(mask, x, torch.zeros((), dtype=x.dtype))


_INCLUDES_T = "your sum includes r_t: P_t adds the rewards before t only (t' < t), so P_0 = 0"
PAST_REWARDS_MISTAKES = [
    (_INCLUDES_T, lambda rew, mask=None: _zero_padding(_zero_padding(rew, mask).cumsum(1), mask)),
    (_INCLUDES_T + " (and padded steps must hold 0: apply the mask)", lambda rew, mask=None: rew.cumsum(1)),
    ("padded steps must hold 0: apply the mask to the result (torch.where(mask, …, 0))",
     lambda rew, mask=None: rew.cumsum(1) - rew),
]
"""The mistakes a prefix sum before t invites, as the wrong functions they give."""


def check_past_rewards(fn, verbose: bool = True) -> CheckResult:
    """fn(rew, mask=None) -> Σ_{t'<t} r_{t'} (N, T), compared with pgcourse.lessons.nb06_causality_reward_to_go.measure.past_rewards."""
    rew, mask = _rew_cases()
    cases = [((torch.tensor([[1.0, 2.0, 3.0]]),), {}),
             ((torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]]),), {}),
             ((rew,), {}),
             ((rew,), {"mask": mask})]
    return check_function("rewards_before_t", fn, past_rewards, cases, verbose=verbose, mistakes=PAST_REWARDS_MISTAKES)


def check_negative_cross_term(fn, verbose: bool = True) -> CheckResult:
    """fn() -> (mdp, logits): a TabularMDP small enough to enumerate and softmax logits (S, A) for which the
    cross term Σ_k Cov(ĝ^Q̂_k, D_k) of notebook 06 is negative, computed exactly over every trajectory."""
    name = "negative_cross_term"
    answer, failure = call_reader(name, fn)
    if failure is not None:
        return report(failure, verbose)
    try:
        mdp, logits = answer
    except (TypeError, ValueError):
        return report(CheckResult(name, False, f"return (mdp, logits), got {answer!r}"), verbose)
    if not isinstance(mdp, TabularMDP):
        return report(CheckResult(name, False, f"return (mdp, logits) with mdp a TabularMDP, got "
                                  f"{type(mdp).__name__}"), verbose)
    k = (mdp.n_states * mdp.n_actions) ** mdp.horizon
    if k > MAX_ENUMERATED:
        return report(CheckResult(name, False, f"(S·A)^T = {k} trajectories is too many to sum over exactly "
                                  f"(limit {MAX_ENUMERATED}); use fewer states, actions or steps"), verbose)
    try:
        v = exact_causality_variances(mdp, logits)
    except ValueError as err:
        return report(CheckResult(name, False, f"the logits do not fit the MDP: {err}"), verbose)
    numbers = (f"cross term = {v['cross']:.4g}; tr Cov with R(τ) {v['total_return']:.4g} = with Q̂_t "
               f"{v['reward_to_go']:.4g} + dropped {v['dropped']:.4g} + 2 × cross (exact, {v['n_trajectories']} "
               "trajectories)")
    if v["cross"] < -CROSS_TOL:
        return report(CheckResult(name, True, numbers), verbose)
    hint = ("it is 0 (as when T = 1: nothing is dropped)"
            if abs(v["cross"]) <= CROSS_TOL else "it is positive")
    return report(CheckResult(name, False, f"{numbers}; {hint}, so this MDP is not an answer"), verbose)
