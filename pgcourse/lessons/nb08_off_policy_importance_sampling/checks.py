"""Checkers for the exercises of notebooks/08_off_policy_importance_sampling.ipynb: per-decision weights, the
effective sample size, and a prediction of the bias of the notes' causal form on a one-step problem."""

from __future__ import annotations

import torch

from pgcourse.importance import effective_sample_size, notes_causal_is_weights, per_decision_is_weights
from pgcourse.ui.checks import CheckResult, check_function

from .measure import exact_expected_gradient, one_step_bandit

__all__ = ["check_per_decision_weights", "check_effective_sample_size", "NOTES_BIAS_PROBABILITIES",
           "notes_bias_factor_reference", "check_notes_bias_factor"]


def _logp(shape, seed, n_actions=3):
    """log π(a_t|s_t) of random softmax policies at random actions: values in (−∞, 0)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(*shape, n_actions, generator=g, dtype=torch.float64)
    act = torch.randint(n_actions, shape, generator=g)
    return torch.log_softmax(logits, -1).gather(-1, act[..., None]).squeeze(-1)


def _per_decision_cases():
    rew = torch.tensor([[1.0, 1.0, 1.0]], dtype=torch.float64)
    log2 = torch.log(torch.tensor(2.0, dtype=torch.float64))
    logp_old = torch.zeros(1, 3, dtype=torch.float64) - log2  # π = 1/2 everywhere
    yield (rew, logp_old.clone(), logp_old), {}  # π' = π: the reward-to-go [3, 2, 1]
    logp_new = torch.log(torch.tensor([[1.0, 0.25, 0.5]], dtype=torch.float64))  # ρ = 2, 1/2, 1
    yield (rew, logp_new, logp_old), {}  # [2 + 1 + 1, 1 + 1, 1] = [4, 2, 1]
    for seed, (n, t) in enumerate([(2, 4), (5, 7), (8, 12)]):
        g = torch.Generator().manual_seed(50 + seed)
        rew = torch.rand((n, t), generator=g, dtype=torch.float64)
        yield (rew, _logp((n, t), seed), _logp((n, t), 10 + seed)), {}


def check_per_decision_weights(fn) -> CheckResult:
    """fn(rew, logp_new, logp_old), all (N, T) -> w_{i,t} = Σ_{t'≥t} r_{i,t'} Π_{t''≤t'} ρ_{i,t''}, (N, T)."""
    return check_function("per_decision_weights", fn,
                          lambda rew, new, old: per_decision_is_weights(rew, new, old), _per_decision_cases(),
                          atol=1e-8)


def _ess_cases():
    yield (torch.ones(10, dtype=torch.float64),), {}  # N
    yield (torch.tensor([0.0, 5.0, 0.0, 0.0], dtype=torch.float64),), {}  # 1
    yield (torch.tensor([1.0, 3.0], dtype=torch.float64),), {}  # 16 / 10
    g = torch.Generator().manual_seed(7)
    for n in (5, 100):
        yield (torch.randn(n, generator=g, dtype=torch.float64).mul(1.5).exp(),), {}


def check_effective_sample_size(fn) -> CheckResult:
    """fn(w (N,)) -> (Σ_i w_i)² / Σ_i w_i² (a float)."""
    return check_function("effective_sample_size", fn, lambda w: effective_sample_size(w), _ess_cases())


NOTES_BIAS_PROBABILITIES = (0.1, 0.25, 0.4, 0.5, 0.75, 0.9)
"""The behaviour policies π = (p, 1 − p) at which check_notes_bias_factor asks for the prediction."""


def notes_bias_factor_reference(p):
    """k with E_{a~π}[ĝ_notes] = k ∇J(θ') on ``one_step_bandit(p)``, computed exactly (a sum over both actions).

    The notes' weight is ρ² r, so E_π[ρ² r ∇log π'] = E_π'[ρ r ∇log π']; only the rewarded action a = 0 counts,
    so k = ρ(0) = π'(0)/π(0) = 1/(2p).
    """
    mdp, target, behaviour = one_step_bandit(p)
    expected = exact_expected_gradient(mdp, target, behaviour, notes_causal_is_weights)
    return float(expected[0, 0] / mdp.gradient(target)[0, 0])


def check_notes_bias_factor(fn, verbose: bool = True) -> CheckResult:
    """fn(p) -> the factor k with E[ĝ_notes] = k ∇J(θ') on the one-step bandit (rewards (1, 0), π' = (1/2, 1/2),
    π = (p, 1 − p)), asked at the six p of NOTES_BIAS_PROBABILITIES; k = 1 would mean the form is unbiased."""
    cases = [((p,), {}) for p in NOTES_BIAS_PROBABILITIES]
    return check_function("notes_bias_factor", fn, notes_bias_factor_reference, cases, atol=1e-6, rtol=1e-6,
                          verbose=verbose, hint="take the expectation of the notes' estimate over the action a ~ π, "
                                            "both actions with their probabilities p and 1 − p, and divide it by "
                                            "∇J(θ') = E_{π'}[∇log π'(a) r(a)]")
