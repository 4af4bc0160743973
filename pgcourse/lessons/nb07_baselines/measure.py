"""The variance of the baselined policy gradient as a function of a constant baseline b (the notes, §5.3).

For the score g(τ) = ∇θ log p_θ(τ) and the return R(τ), one trajectory's gradient sample with a
constant baseline b is g(τ)(R(τ) − b). Per parameter k its variance is a parabola in b,

    Var_k(b) = E[g_k² (R − b)²] − (E[g_k R])²
             = E[g_k² R²] − 2 b E[g_k² R] + b² E[g_k²] − (E[g_k R])²,

minimised at b_k* = E[g_k² R] / E[g_k²]; the total variance tr Cov(b) = Σ_k Var_k(b) is minimised at
b* = E[‖g‖² R] / E[‖g‖²]. The expectations are computed exactly by enumerating every trajectory of
a small TabularMDP (``trajectory_table``), or as sample means (``prob=None``).
Taught in notebooks/07_baselines.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pgcourse.tabular import TabularMDP, enumerate_trajectories, tabular_gradient_samples, trajectory_log_prob

__all__ = ["Enumeration", "trajectory_table", "BaselineMoments", "baseline_moments", "baseline_variance",
           "bandit_counterexample", "sign_agreement"]


@dataclass(frozen=True)
class Enumeration:
    """Every trajectory τ of a small TabularMDP (all float64).

    prob: (M,) p_θ(τ), summing to 1; rets: (M,) R(τ) = Σ_t R[s_t, a_t];
    scores: (M, S·A) g(τ) = Σ_t ∇θ log π_θ(a_t|s_t) (softmax logits, flattened like ``logits.reshape(-1)``).
    """

    prob: Tensor
    rets: Tensor
    scores: Tensor

    def __len__(self) -> int:
        return self.prob.shape[0]


def trajectory_table(mdp: TabularMDP, logits, max_trajectories: int = 200_000) -> Enumeration:
    """{(p_θ(τ), R(τ), g(τ))} for every τ = (s_1, a_1, …, s_T, a_T)   (exact expectations: E_τ[f] = Σ_τ p_θ(τ) f(τ)).

    Built on ``tabular.enumerate_trajectories`` and ``trajectory_log_prob`` (notebook 01); the scores are the
    closed-form softmax ones (``tabular_gradient_samples`` with weight 1). There are (S·A)^T trajectories;
    raises ValueError above max_trajectories (use a smaller MDP or horizon). Impossible ones get p = 0.
    logits: (S, A). Returns an Enumeration (M,), (M,), (M, S·A), float64.
    Taught in notebooks/07_baselines.ipynb.
    """
    logits = mdp.check_logits(logits).detach().to(torch.float64)
    k = (mdp.n_states * mdp.n_actions) ** mdp.horizon
    if k > max_trajectories:
        raise ValueError(f"this MDP has (S·A)^T = {k} trajectories (S={mdp.n_states}, A={mdp.n_actions}, "
                         f"T={mdp.horizon}); enumerating is limited to max_trajectories={max_trajectories}")
    obs, act = enumerate_trajectories(mdp)
    prob = trajectory_log_prob(mdp, logits, obs, act).exp()
    scores = tabular_gradient_samples(logits, obs, act, torch.ones(obs.shape, dtype=torch.float64))
    return Enumeration(prob=prob, rets=mdp.R[obs, act].sum(1), scores=scores)


@dataclass(frozen=True)
class BaselineMoments:
    """The four expectations that make Var_k(b) a parabola, each (P,) float64.

    g2 = E[g_k²], g2r = E[g_k² R], g2r2 = E[g_k² R²], gr = E[g_k R] (= ∇_k J for exact moments).
    """

    g2: Tensor
    g2r: Tensor
    g2r2: Tensor
    gr: Tensor

    def variance(self, b) -> Tensor:
        """Var_k(b) = E[g_k² R²] − 2b E[g_k² R] + b² E[g_k²] − (E[g_k R])²; b scalar or (B,) -> (P,) or (B, P)."""
        b = torch.as_tensor(b, dtype=torch.float64)
        bb = b[..., None]
        return self.g2r2 - 2 * bb * self.g2r + bb ** 2 * self.g2 - self.gr ** 2

    def total_variance(self, b) -> Tensor:
        """tr Cov(b) = Σ_k Var_k(b); b scalar or (B,) -> scalar or (B,)."""
        return self.variance(b).sum(-1)

    def optimal_baseline(self) -> Tensor:
        """b_k* = E[g_k² R] / E[g_k²], (P,) (0 where E[g_k²] = 0)."""
        return torch.where(self.g2 > 0, self.g2r / torch.where(self.g2 > 0, self.g2, 1.0), 0.0)

    def optimal_scalar_baseline(self) -> float:
        """b* = E[‖g‖² R] / E[‖g‖²]: the vertex of the tr Cov parabola."""
        den = float(self.g2.sum())
        return float(self.g2r.sum()) / den if den > 0 else 0.0


def baseline_moments(scores: Tensor, rets: Tensor, prob: Tensor | None = None) -> BaselineMoments:
    """E[g_k²], E[g_k² R], E[g_k² R²], E[g_k R] with E = Σ_i prob_i · (…), or the sample mean if prob is None.

    scores: (M, P); rets: (M,); prob: (M,) summing to 1 (an Enumeration's) or None (N samples).
    With samples, ``variance(b)`` is the plug-in (divide-by-N) variance of the N values g_i(R_i − b).
    Taught in notebooks/07_baselines.ipynb.
    """
    g = scores.detach().to(torch.float64)
    r = rets.detach().to(torch.float64)
    if g.dim() != 2 or r.shape != g.shape[:1]:
        raise ValueError(f"scores must be (M, P) and rets (M,), got {tuple(g.shape)} and {tuple(r.shape)}")
    if prob is None:
        p = torch.full_like(r, 1.0 / r.shape[0])
    else:
        p = prob.detach().to(torch.float64)
        if p.shape != r.shape:
            raise ValueError(f"prob must have shape (M,) = {tuple(r.shape)}, got {tuple(p.shape)}")
    g2 = g ** 2
    return BaselineMoments(g2=p @ g2, g2r=p @ (g2 * r[:, None]), g2r2=p @ (g2 * r[:, None] ** 2),
                           gr=p @ (g * r[:, None]))


def baseline_variance(scores: Tensor, rets: Tensor, b, prob: Tensor | None = None) -> Tensor:
    """Var_k(b) = E[g_k²(R − b)²] − (E[g_k R])², per parameter: (P,) for a scalar b, (B, P) for b of shape (B,).

    The direct formula (no expansion), a check of BaselineMoments.variance.
    scores: (M, P); rets: (M,); prob: (M,) or None (sample means).
    Taught in notebooks/07_baselines.ipynb.
    """
    g = scores.detach().to(torch.float64)
    r = rets.detach().to(torch.float64)
    p = torch.full_like(r, 1.0 / r.shape[0]) if prob is None else prob.detach().to(torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    mean_gr = p @ (g * r[:, None])
    dev = (r - b[..., None]) ** 2  # (…, M)
    return (dev * p) @ g ** 2 - mean_gr ** 2


def bandit_counterexample(p_good: float = 0.9, rewards=(1.0, 0.0)) -> dict:
    """Notebook 07's counterexample exactly: a 2-armed bandit, π = (p, 1 − p), rewards (1, 0).

    Returns {"var_none", "var_mean", "var_optimal", "mean_baseline", "optimal_baseline", "factor"}
    with var_* = tr Cov of one sample g(R − b) for b = 0, E[R], b* = E[‖g‖²R]/E[‖g‖²], and
    factor = var_mean / var_none (64 for p = 0.9: the mean baseline multiplies the variance by 64).
    Taught in notebooks/07_baselines.ipynb.
    """
    mdp = TabularMDP.bandit(list(rewards))
    logits = torch.tensor([[math.log(p_good), math.log(1.0 - p_good)]], dtype=torch.float64)
    e = trajectory_table(mdp, logits)
    m = baseline_moments(e.scores, e.rets, e.prob)
    b_mean = float(e.prob @ e.rets)
    b_opt = m.optimal_scalar_baseline()
    var_none, var_mean, var_opt = (float(m.total_variance(b)) for b in (0.0, b_mean, b_opt))
    return {"var_none": var_none, "var_mean": var_mean, "var_optimal": max(var_opt, 0.0),
            "mean_baseline": b_mean, "optimal_baseline": b_opt, "factor": var_mean / var_none}


def sign_agreement(samples: Tensor, exact: Tensor) -> float:
    """Fraction of gradient estimates ĝ_j that point uphill: mean_j 1[ĝ_j · ∇J > 0].

    samples: (B, P) one estimate per row (e.g. per batch); exact: (P,) or any shape with P entries.
    Taught in notebooks/07_baselines.ipynb.
    """
    exact = torch.as_tensor(exact, dtype=torch.float64).reshape(-1)
    return float(((samples.detach().to(torch.float64) @ exact) > 0).double().mean())
