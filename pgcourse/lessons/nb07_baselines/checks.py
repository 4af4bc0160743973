"""Checkers for the exercises of notebooks/07_baselines.ipynb."""

from __future__ import annotations

import math

import torch

from pgcourse.baselines import optimal_scalar_baseline, time_mean_baseline
from pgcourse.tabular import TabularMDP
from pgcourse.ui.checks import CheckResult, check_function, check_number_prediction, report
from pgcourse.ui.mistakes import MEAN_BASELINE
from .measure import baseline_moments, trajectory_table
from .panel import make_problem

__all__ = ["check_optimal_scalar_baseline", "check_total_variance", "check_time_mean_baseline",
           "double_baseline_ratio", "check_parabola_prediction"]


def _random(shape, seed, low=-1.0, high=1.0):
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(shape, generator=g, dtype=torch.float64)


def _optimal_scalar_baseline_cases():
    scores = torch.tensor([[1.0, 0.0], [-2.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    rets = torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64)
    yield (scores, rets), {}  # b = 7/6
    yield (torch.tensor([[1.0, 1.0], [0.0, 3.0]], dtype=torch.float64),
           torch.tensor([2.0, 1.0], dtype=torch.float64)), {}  # ‖g‖² = 2, 9 -> (4 + 9) / 11
    for seed, (n, p) in enumerate([(5, 3), (40, 6), (200, 15)]):
        yield (_random((n, p), seed), _random((n,), 100 + seed, 0.0, 5.0)), {}


def check_optimal_scalar_baseline(fn) -> CheckResult:
    """fn(scores (N, P), rets (N,)) -> b* = Σ_i ‖g_i‖² R_i / Σ_i ‖g_i‖² (a scalar)."""
    return check_function("optimal_scalar_baseline", fn, lambda s, r: optimal_scalar_baseline(s, r),
                          _optimal_scalar_baseline_cases())


def _enumerated(mdp, logits):
    e = trajectory_table(mdp, logits)
    return e.prob, e.scores, e.rets


def _total_variance_cases():
    bandit = TabularMDP.bandit([1.0, 0.0])
    logits = torch.tensor([[math.log(0.9), math.log(0.1)]], dtype=torch.float64)
    prob, scores, rets = _enumerated(bandit, logits)
    for b in (0.0, 0.9, 0.1):  # notebook 07's bandit: 0.0018, 0.1152, 0
        yield (prob, scores, rets, b), {}
    three = TabularMDP.bandit([1.0, 2.0, 4.0])
    prob, scores, rets = _enumerated(three, torch.tensor([[0.5, 0.0, -1.0]], dtype=torch.float64))
    yield (prob, scores, rets, 1.5), {}
    mdp = TabularMDP.random(2, 2, 3, seed=4)
    prob, scores, rets = _enumerated(mdp, _random((2, 2), 5))
    for b in (0.0, 1.0, -0.5):
        yield (prob, scores, rets, b), {}


def _total_variance_reference(prob, scores, rets, b):
    return baseline_moments(scores, rets, prob).total_variance(b)


def check_total_variance(fn) -> CheckResult:
    """fn(prob (M,), scores (M, P), rets (M,), b) -> tr Cov = Σ_k (Σ_i p_i g_ik² (R_i − b)² − (Σ_i p_i g_ik R_i)²)."""
    return check_function("total_variance", fn, _total_variance_reference, _total_variance_cases(), atol=1e-8)


def _time_mean_baseline_cases():
    rtg = torch.tensor([[3.0, 2.0, 1.0], [2.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    yield (rtg, mask), {}  # [2.5, 2, 1]
    g = torch.Generator().manual_seed(3)
    for n, t in [(4, 6), (16, 20)]:
        lengths = torch.randint(1, t + 1, (n,), generator=g)
        mask = torch.arange(t)[None, :] < lengths[:, None]
        rew = torch.rand((n, t), generator=g) * mask
        rtg = rew.flip(-1).cumsum(-1).flip(-1) * mask
        yield (rtg, mask), {}
    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[:, :2] = True  # nobody runs at t = 2, 3: b_t = 0 there
    yield (torch.ones(3, 4) * mask, mask), {}


def check_time_mean_baseline(fn) -> CheckResult:
    """fn(rtg (N, T), mask (N, T)) -> b_t = mean of Q̂_{i,t} over the trajectories running at t, (T,), 0 if none."""
    return check_function("per_step_mean_baseline", fn, lambda rtg, mask: time_mean_baseline(rtg, mask),
                          _time_mean_baseline_cases(), mistakes=MEAN_BASELINE)


def double_baseline_ratio(problem: str = "random MDP") -> float:
    """tr Cov(2b*) / tr Cov(0) of one of the panel's problems, exactly (every trajectory enumerated).

    b* = E[‖g‖²R]/E[‖g‖²] is the vertex of tr Cov(b) = tr Cov(b*) + E[‖g‖²](b − b*)², so b = 0 and b = 2b*
    are equally far from it and the ratio is 1 up to rounding.
    """
    mdp, logits = make_problem(problem)
    e = trajectory_table(mdp, logits)
    m = baseline_moments(e.scores, e.rets, e.prob)
    b_star = m.optimal_scalar_baseline()
    return float(m.total_variance(2 * b_star) / m.total_variance(0.0))


PREDICTION_TOL = 0.01


def check_parabola_prediction(predict, verbose: bool = True) -> CheckResult:
    """predict() -> a number: the predicted tr Cov(2b*) / tr Cov(0) on notebook 07's 3-state MDP;
    PASS within PREDICTION_TOL of the exact ratio."""
    return check_number_prediction(
        "parabola_prediction", predict, double_baseline_ratio(), PREDICTION_TOL,
        matches="the exact ratio tr Cov(2b*) / tr Cov(0) =",
        hint="in the vertex form of the parabola, how far are b = 0 and b = 2b* from b*?", verbose=verbose)
