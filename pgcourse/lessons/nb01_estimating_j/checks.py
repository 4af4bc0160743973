"""Checkers for notebooks/01_estimating_J.ipynb: Ĵ and its standard error, log p_θ(τ), the stationary distribution,
and a prediction of the fair corridor's long-run average reward."""

from __future__ import annotations

import math

import torch

from pgcourse.tabular import TabularMDP
from pgcourse.ui.checks import CheckResult, check_function, check_number_prediction, report
from .measure import average_reward, corridor_problem, stationary_distribution, trajectory_log_prob

__all__ = ["estimate_J_reference", "check_estimate_J", "log_p_tau_reference", "check_log_p_tau",
           "stationary_reference", "check_stationary", "FAIR_CORRIDOR", "fair_corridor_average_reward",
           "check_fair_corridor_prediction"]


def estimate_J_reference(rew, mask):
    """(Ĵ, se): Ĵ = (1/N) Σ_i Σ_t mask_{i,t} r_{i,t}; se = sample std of R(τ_i) (N−1) / √N."""
    rets = torch.where(mask.bool(), rew, torch.zeros((), dtype=rew.dtype)).sum(1).double()
    return float(rets.mean()), float(rets.std() / rets.numel() ** 0.5)


def _padded_cases():
    g = torch.Generator().manual_seed(11)
    cases = []
    # (N, T) with lengths; padding holds garbage (999) so that forgetting the mask shows
    for n, horizon in ((2, 3), (4, 5), (16, 7), (100, 12)):
        rew = torch.rand((n, horizon), generator=g) * 2.0
        lengths = torch.randint(1, horizon + 1, (n,), generator=g)
        lengths[0] = horizon
        mask = torch.arange(horizon)[None, :] < lengths[:, None]
        rew = torch.where(mask, rew, torch.full((), 999.0))
        cases.append(((rew, mask), {}))
    return cases


def check_estimate_J(estimate_J, verbose: bool = True) -> CheckResult:
    """estimate_J(rew, mask) -> (Ĵ, standard error), rew/mask (N, T), padding holding garbage."""
    cases = [((torch.tensor([[1.0, 1.0], [3.0, 3.0]]), torch.ones(2, 2, dtype=torch.bool)), {})] + _padded_cases()
    return check_function("estimate_J", estimate_J, estimate_J_reference, cases, verbose=verbose)


def log_p_tau_reference(p0, P, logits, obs, act):
    """log p(s_1) + Σ_{t=1}^T log π_θ(a_t|s_t) + Σ_{t=1}^{T-1} log P(s_{t+1}|s_t, a_t), (N,)."""
    mdp = TabularMDP(P, torch.zeros(P.shape[:2], dtype=torch.float64), p0, obs.shape[1])
    return trajectory_log_prob(mdp, logits, obs, act)


def _log_prob_cases():
    cases = []
    for seed, (S, A, T, n) in enumerate(((2, 2, 1, 3), (3, 2, 4, 5), (4, 3, 6, 8)), start=3):
        mdp = TabularMDP.random(S, A, T, seed=seed)
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(S, A, generator=g, dtype=torch.float64)
        batch = mdp.sample(logits, n, seed=seed)
        cases.append(((mdp.p0, mdp.P, logits, batch.obs, batch.act), {}))
    return cases


def check_log_p_tau(log_p_tau, verbose: bool = True) -> CheckResult:
    """log_p_tau(p0, P, logits, obs, act) -> (N,) on three random MDPs (T = 1, 4, 6)."""
    return check_function("log_p_tau", log_p_tau, log_p_tau_reference,
                          _log_prob_cases(), atol=1e-6, verbose=verbose)


def stationary_reference(P_pi):
    return stationary_distribution(P_pi, method="eig")


def check_stationary(stationary_fn, verbose: bool = True) -> CheckResult:
    """stationary(P_pi) -> μ (S,) with μ P_π = μ, Σ μ = 1, on a 2-state chain and two random chains."""
    cases = [((torch.tensor([[0.9, 0.1], [0.5, 0.5]], dtype=torch.float64),), {})]
    for seed, S in ((1, 3), (2, 6)):
        mdp = TabularMDP.random(S, 2, 1, seed=seed)
        cases.append(((mdp.P[:, 0, :].clone(),), {}))
    return check_function("stationary", stationary_fn, stationary_reference, cases, atol=1e-6, verbose=verbose)


FAIR_CORRIDOR = {"n_states": 5, "p_move": 0.7, "p_right": 0.5}
"""The corridor of notebook 01's prediction exercise: the policy steps left and right equally often."""


def fair_corridor_average_reward() -> float:
    """E_{(s,a)~μ,π}[r(s,a)] of the fair corridor, exactly (the answer the prediction is checked against)."""
    mdp, logits = corridor_problem(**FAIR_CORRIDOR)
    return float(average_reward(mdp, logits))


def check_fair_corridor_prediction(predict, verbose: bool = True) -> CheckResult:
    """predict() -> a number: the predicted long-run average reward per step; PASS within 0.005 of the exact value."""
    return check_number_prediction(
        "fair_corridor_prediction", predict, fair_corridor_average_reward(), 0.005,
        matches="the exact long-run average reward",
        hint="write down P_π for p_right = 0.5; it is symmetric, so its columns sum to 1 as well as its rows; "
             "which μ then solves μ = μ P_π?", verbose=verbose)
