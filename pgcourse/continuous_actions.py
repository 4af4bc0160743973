"""Gaussian policies for continuous actions (seed §2.5): the log-density, its gradient, and a 1-D bandit.

* ``mvn_log_density``: log N(a; μ, Σ) written out as in the notes.
* ``gaussian_score_mu``: ∇_μ log N(a; μ, Σ) = Σ⁻¹(a − μ); ``seed_gaussian_score_mu`` is the notes'
  version with the spurious factor ½ (DESIGN §4.1), kept only to show that it is wrong.
* ``gaussian_bandit_reinforce``: REINFORCE with a Gaussian policy N(μ, σ²) (learnable μ and log σ)
  on the 1-D continuous bandit r(a) = −(a − a*)², the smallest problem where μ and σ both move.

Taught in notebooks/04_continuous_actions.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ._validate import check_lr, check_positive_int


def mvn_log_density(act: Tensor, mu: Tensor, cov: Tensor) -> Tensor:
    """log N(a; μ, Σ) = −(k/2) log 2π − ½ log|Σ| − ½ (a − μ)ᵀ Σ⁻¹ (a − μ).

    act, mu: (..., k) (broadcast against each other); cov: (k, k) symmetric positive definite.
    Returns (...,). Differentiable in act, mu and cov (Cholesky solve, no explicit inverse).
    Taught in notebooks/04_continuous_actions.ipynb.
    """
    k = cov.shape[-1]
    if cov.shape != (k, k) or act.shape[-1] != k or mu.shape[-1] != k:
        raise ValueError(f"need act, mu (..., k) and cov (k, k); got {tuple(act.shape)}, {tuple(mu.shape)}, "
                         f"{tuple(cov.shape)}")
    chol = torch.linalg.cholesky(cov)
    diff = torch.broadcast_tensors(act, mu)
    diff = (diff[0] - diff[1]).unsqueeze(-1)                                     # (..., k, 1)
    z = torch.linalg.solve_triangular(chol, diff, upper=False).squeeze(-1)       # L⁻¹(a − μ)
    log_det = 2.0 * torch.log(torch.diagonal(chol)).sum()
    return -0.5 * k * math.log(2 * math.pi) - 0.5 * log_det - 0.5 * z.pow(2).sum(-1)


def gaussian_score_mu(act: Tensor, mu: Tensor, cov: Tensor) -> Tensor:
    """∇_μ log N(a; μ, Σ) = Σ⁻¹ (a − μ) = −Σ⁻¹ (μ − a)   (no factor ½: it cancels the square's 2).

    act, mu: (..., k); cov: (k, k). Returns (..., k). With μ = f_θ(s), the chain rule gives
    ∇_θ log π_θ(a|s) = (df/dθ)ᵀ Σ⁻¹ (a − f_θ(s)).
    Taught in notebooks/04_continuous_actions.ipynb.
    """
    diff = (act - mu).unsqueeze(-1)
    return torch.linalg.solve(cov, diff).squeeze(-1)


def seed_gaussian_score_mu(act: Tensor, mu: Tensor, cov: Tensor) -> Tensor:
    """The notes' −½ Σ⁻¹ (f(s) − a): half the true ∇_μ log π (DESIGN §4.1). Do not use; shown to be wrong.

    act, mu: (..., k); cov: (k, k); returns (..., k).
    Taught in notebooks/04_continuous_actions.ipynb.
    """
    return 0.5 * gaussian_score_mu(act, mu, cov)


# ---------------------------------------------------------------------------------------------
# The 1-D continuous bandit r(a) = −(a − a*)² with the policy a ~ N(μ, σ²), θ = (μ, log σ).


def bandit_objective(mu, log_std, a_star: float):
    """J(θ) = E_{a~N(μ,σ²)}[−(a − a*)²] = −(μ − a*)² − σ²   (exact).

    mu, log_std: floats or arrays of the same shape; returns the same shape.
    """
    return -(np.asarray(mu, dtype=float) - a_star) ** 2 - np.exp(2 * np.asarray(log_std, dtype=float))


def bandit_gradient(mu: float, log_std: float, a_star: float) -> np.ndarray:
    """∇_θ J = (∂J/∂μ, ∂J/∂log σ) = (−2(μ − a*), −2σ²)   (exact), shape (2,)."""
    return np.array([-2.0 * (mu - a_star), -2.0 * math.exp(2.0 * log_std)])


def bandit_gradient_samples(mu: float, log_std: float, act: np.ndarray, a_star: float) -> np.ndarray:
    """ĝ_i = r(a_i) ∇_θ log π_θ(a_i) with ∇_μ log π = (a − μ)/σ², ∇_{log σ} log π = (a − μ)²/σ² − 1.

    act: (N,) actions sampled from N(μ, σ²); returns (N, 2). The mean over rows is the
    REINFORCE estimate of ∇_θ J (unbiased: E[ĝ_i] = bandit_gradient).
    Taught in notebooks/04_continuous_actions.ipynb.
    """
    act = np.asarray(act, dtype=float)
    sigma2 = math.exp(2.0 * log_std)
    rew = -(act - a_star) ** 2
    z2 = (act - mu) ** 2 / sigma2
    return np.stack([rew * (act - mu) / sigma2, rew * (z2 - 1.0)], axis=1)


@dataclass(frozen=True)
class BanditRun:
    """μ_k, σ_k and the exact J(θ_k) for k = 0 … K (fewer if the run diverged), and the settings.

    mu, sigma, J: (K+1,) (or shorter); mean_reward: (K,) the batch's mean reward at each step;
    diverged: the parameters left the finite range (learning rate too large).
    """

    n_traj: int
    lr: float
    a_star: float
    steps: int
    seed: int
    mu: np.ndarray
    sigma: np.ndarray
    J: np.ndarray
    mean_reward: np.ndarray
    diverged: bool


def gaussian_bandit_reinforce(n_traj: int = 16, lr: float = 0.05, a_star: float = 2.0, steps: int = 100,
                              mu0: float = 0.0, log_std0: float = 0.0, seed: int = 0) -> BanditRun:
    """K steps of REINFORCE on r(a) = −(a − a*)² with π_θ = N(μ, σ²), θ = (μ, log σ):

        a_i ~ N(μ, σ²) (i = 1 … N),  ĝ = (1/N) Σ_i r(a_i) ∇_θ log π_θ(a_i),  θ ← θ + α ĝ   (plain SGD).

    Returns a BanditRun; stops early (diverged=True) if μ or log σ stops being finite or
    |μ| > 1e6 or |log σ| > 30. Deterministic for a given seed (NumPy's default generator).
    Taught in notebooks/04_continuous_actions.ipynb.
    """
    n_traj = check_positive_int("n_traj", n_traj)
    steps = check_positive_int("steps", steps)
    lr = check_lr(lr)
    rng = np.random.default_rng(seed)
    mu, log_std = float(mu0), float(log_std0)
    mus, log_stds, mean_rew = [mu], [log_std], []
    diverged = False
    for _ in range(steps):
        act = mu + math.exp(log_std) * rng.standard_normal(n_traj)
        mean_rew.append(float(np.mean(-(act - a_star) ** 2)))
        g = bandit_gradient_samples(mu, log_std, act, a_star).mean(0)
        mu, log_std = mu + lr * g[0], log_std + lr * g[1]
        if not (math.isfinite(mu) and math.isfinite(log_std) and abs(mu) <= 1e6 and abs(log_std) <= 30):
            diverged = True
            break
        mus.append(mu)
        log_stds.append(log_std)
    mu_arr, log_std_arr = np.array(mus), np.array(log_stds)
    return BanditRun(n_traj=n_traj, lr=lr, a_star=float(a_star), steps=steps, seed=int(seed), mu=mu_arr,
                     sigma=np.exp(log_std_arr), J=bandit_objective(mu_arr, log_std_arr, a_star),
                     mean_reward=np.array(mean_rew), diverged=diverged)
