"""Checkers for notebooks/04_continuous_actions.ipynb: the Gaussian log-density, its gradient in μ, and a prediction
of which way one REINFORCE step moves σ."""

from __future__ import annotations

import torch

from pgcourse.ui.checks import CheckResult, check_function

__all__ = ["reference_gaussian_log_density", "check_gaussian_log_density", "reference_gaussian_score_mu",
           "check_gaussian_score_mu", "SIGMA_CASES", "reference_sigma_direction", "check_sigma_direction"]


def reference_gaussian_log_density(act, mu, log_std):
    """log N(a; μ, diag σ²) = Σ_k [−½((a_k − μ_k)/σ_k)² − log σ_k − ½ log 2π], summed over the last axis."""
    normal = torch.distributions.Normal(mu, log_std.exp())
    return normal.log_prob(act).sum(-1)


def _diag_cases():
    cases = [((torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0])), {}),      # log N(0; 0, 1)
             ((torch.tensor([1.5]), torch.tensor([0.5]), torch.tensor([0.0])), {}),
             ((torch.tensor([1.0, -2.0]), torch.tensor([0.0, 0.5]), torch.tensor([0.7, -0.3])), {})]
    g = torch.Generator().manual_seed(4)
    for shape in [(5, 3), (4, 6, 2)]:
        act = torch.randn(shape, generator=g, dtype=torch.float64)
        mu = torch.randn(shape, generator=g, dtype=torch.float64)
        log_std = 0.5 * torch.randn(shape[-1:], generator=g, dtype=torch.float64)
        cases.append(((act, mu, log_std), {}))
    return cases


def check_gaussian_log_density(fn, verbose: bool = True) -> CheckResult:
    """fn(act, mu, log_std) -> log N(a; μ, diag σ²) summed over the action dimensions, shape act.shape[:-1]."""
    return check_function("gaussian_log_density", fn, reference_gaussian_log_density, _diag_cases(),
                          verbose=verbose)


def reference_gaussian_score_mu(act, mu, cov):
    """∇_μ log N(a; μ, Σ) = Σ⁻¹ (a − μ), shape (..., k)."""
    return torch.linalg.solve(cov, (act - mu).unsqueeze(-1)).squeeze(-1)


def _full_cases():
    cases = [((torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([[1.0]])), {}),
             ((torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([[4.0]])), {}),
             ((torch.tensor([1.0, -1.0]), torch.tensor([0.0, 0.5]), torch.tensor([[2.0, 0.6], [0.6, 1.0]])), {})]
    g = torch.Generator().manual_seed(5)
    for k, batch in [(3, ()), (2, (6,))]:
        root = torch.randn(k, k, generator=g, dtype=torch.float64)
        cov = root @ root.T + 0.5 * torch.eye(k, dtype=torch.float64)
        act = torch.randn(*batch, k, generator=g, dtype=torch.float64)
        mu = torch.randn(*batch, k, generator=g, dtype=torch.float64)
        cases.append(((act, mu, cov), {}))
    return cases


def _solve(cov, x):
    return torch.linalg.solve(cov, x.unsqueeze(-1)).squeeze(-1)


SCORE_MU_MISTAKES = [
    ("you left out Σ⁻¹: ∇_μ log N(a; μ, Σ) = Σ⁻¹(a − μ), not a − μ", lambda act, mu, cov: act - mu),
    ("the sign is flipped: the score points from μ towards a, Σ⁻¹(a − μ)",
     lambda act, mu, cov: _solve(cov, mu - act)),
    ("you multiplied by Σ; the score multiplies by its inverse (solve Σ x = a − μ with torch.linalg.solve)",
     lambda act, mu, cov: (cov @ (act - mu).unsqueeze(-1)).squeeze(-1)),
    ("you divided by the variances alone (the diagonal of Σ); with correlations the full inverse Σ⁻¹ is needed",
     lambda act, mu, cov: (act - mu) / torch.diagonal(cov)),
]
"""The mistakes the prompt of notebook 04's score exercise warns about, as the wrong functions they give."""


def check_gaussian_score_mu(fn, verbose: bool = True) -> CheckResult:
    """fn(act, mu, cov) -> ∇_μ log N(a; μ, Σ) = Σ⁻¹(a − μ), shape (..., k) (full covariance Σ)."""
    return check_function("score_wrt_mu", fn, reference_gaussian_score_mu, _full_cases(), verbose=verbose,
                          mistakes=SCORE_MU_MISTAKES)


SIGMA_CASES = tuple((z, r) for r in (1.0, -1.0) for z in (0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -2.0, 3.0)) + ((2.0, 0.0),)
"""(z, r) at which check_sigma_direction asks for the prediction: z = (a − μ)/σ and the reward r of one action."""


def reference_sigma_direction(z, reward):
    """sign(r·(z² − 1)): one small gradient-ascent step on r·log π(a) moves log σ by α·r·(z² − 1), since
    ∂ log π/∂ log σ = ((a − μ)/σ)² − 1; +1 means σ grows, −1 shrinks, 0 stays."""
    value = reward * (z * z - 1.0)
    return 0 if value == 0 else (1 if value > 0 else -1)


def check_sigma_direction(fn, verbose: bool = True) -> CheckResult:
    """fn(z, reward) -> +1 (σ grows), −1 (σ shrinks) or 0 (σ stays) after one small REINFORCE step on one action
    a = μ + zσ with reward r, for the cases of SIGMA_CASES."""
    cases = [((z, r), {}) for z, r in SIGMA_CASES]
    return check_function("sigma_direction", fn, reference_sigma_direction, cases, verbose=verbose,
                          hint="differentiate log N(a; μ, σ²) with respect to log σ at a = μ + zσ; the step moves "
                               "log σ along that derivative times the reward")
