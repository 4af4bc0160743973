"""Policy-gradient estimators: the pseudo-loss for autodiff and per-trajectory gradient samples."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from ._validate import check_mask
from .batch import Batch

__all__ = ["pg_pseudo_loss", "n_params", "gradient_samples", "trajectory_scores", "GradientSummary",
           "compare_to_exact"]


def pg_pseudo_loss(logp: Tensor, weights: Tensor, mask: Tensor | None = None) -> Tensor:
    """L(θ) = −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) · w_{i,t}   (weights detached).

    logp, weights, mask: (N, T); returns a scalar. Its gradient is minus the
    policy-gradient estimate ĝ = (1/N) Σ_i Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t}) w_{i,t};
    its value is not J(θ) and says nothing about progress.
    Taught in notebooks/09_implementing_policy_gradients.ipynb.
    """
    if logp.dim() != 2:
        raise ValueError(f"logp must have shape (N, T), got {tuple(logp.shape)}")
    if weights.shape != logp.shape:
        raise ValueError(f"weights must have the shape of logp {tuple(logp.shape)}, got {tuple(weights.shape)}")
    mask = check_mask(logp, mask)
    terms = torch.where(mask, logp * weights.detach(), torch.zeros((), dtype=logp.dtype))
    return -terms.sum() / logp.shape[0]


def _flat_params(policy: nn.Module) -> dict[str, Tensor]:
    return {name: p.detach() for name, p in policy.named_parameters()}


def n_params(policy: nn.Module) -> int:
    """P, the number of scalars in ``policy.parameters()`` (the width of gradient samples)."""
    return sum(p.numel() for p in policy.parameters())


def gradient_samples(policy: nn.Module, batch: Batch, weights: Tensor, chunk_size: int | None = None) -> Tensor:
    """ĝ_i = Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t}) · w_{i,t}   (one gradient sample per trajectory).

    policy: any module with ``log_prob(obs, act)`` = ``forward(obs, act)``
    (TabularSoftmaxPolicy, CategoricalPolicy, GaussianPolicy); batch: obs (N, T, …),
    act (N, T) or (N, T, act_dim), mask (N, T); weights: (N, T) (or (N,), the
    same weight for every step), detached. Masked steps contribute 0.
    Returns (N, P) in the parameters' dtype, P = all parameters flattened in
    ``policy.parameters()`` order; the mean over rows is the policy-gradient
    estimate ĝ and their spread its variance. Computed per trajectory with
    torch.func (functional_call + vmap + grad); ``chunk_size`` bounds vmap's memory.
    Taught in notebooks/02_log_derivative_trick.ipynb and 06–08.
    """
    n, horizon = batch.rew.shape
    weights = torch.as_tensor(weights)
    if weights.shape == (n,):
        weights = weights[:, None].expand(n, horizon)
    if weights.shape != (n, horizon):
        raise ValueError(f"weights must have shape (N, T) = {(n, horizon)} like batch.rew, or (N,); "
                         f"got {tuple(weights.shape)}")
    params = _flat_params(policy)
    if not params:
        raise ValueError("the policy has no parameters to differentiate")
    dtype = next(iter(params.values())).dtype
    buffers = {name: b.detach() for name, b in policy.named_buffers()}
    mask = check_mask(batch.rew, batch.mask)
    weights = torch.where(mask, weights.detach().to(dtype), torch.zeros((), dtype=dtype))

    def weighted_logp(params, obs, act, w):  # one trajectory: Σ_t log π(a_t|s_t) w_t
        logp = functional_call(policy, (params, buffers), (obs, act))
        return (logp * w).sum()

    per_traj = vmap(grad(weighted_logp), in_dims=(None, 0, 0, 0), chunk_size=chunk_size)
    grads = per_traj(params, batch.obs, batch.act, weights)
    return torch.cat([grads[name].reshape(n, -1) for name in params], 1)


def trajectory_scores(policy: nn.Module, batch: Batch, chunk_size: int | None = None) -> Tensor:
    """g_i = ∇θ log p_θ(τ_i) = Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t})   (the dynamics drop out).

    Returns (N, P) = gradient_samples(policy, batch, ones). E[g_i] = 0 (the EGLP lemma).
    Taught in notebooks/02_log_derivative_trick.ipynb and 07_baselines.ipynb.
    """
    ones = torch.ones_like(batch.rew)
    return gradient_samples(policy, batch, ones, chunk_size=chunk_size)


@dataclass(frozen=True)
class GradientSummary:
    """Bias and variance of N gradient samples against the exact gradient (all float64).

    mean, stderr, exact, z: (P,); z_k = (mean_k − exact_k) / stderr_k.
    max_abs_z: max_k |z_k|. For an unbiased estimator and N large each z_k is about standard normal, so
    P(max_k |z_k| > c) ≤ P·P(|Z| > c) (the union bound, whatever the correlations): below 4.5 with
    probability ≥ 1 − 7e-6·P. It is not a calibrated test when N is not much larger than P.
    trace_cov: tr Cov[ĝ_i] = Σ_k Var(ĝ_{i,k}), the variance of one trajectory's sample
    (the estimate ĝ from N trajectories has variance trace_cov / N).
    """

    mean: Tensor
    stderr: Tensor
    exact: Tensor
    z: Tensor
    max_abs_z: float
    trace_cov: float
    n: int

    @property
    def error(self) -> Tensor:
        """mean − exact = ĝ − ∇J, (P,): the sampling error of the estimate, not its bias E[ĝ] − ∇J.

        It is the bias plus noise of size ``stderr``, so it is nonzero for an unbiased estimator too;
        the z-scores say whether it is larger than the noise.
        """
        return self.mean - self.exact

    @property
    def error_norm(self) -> float:
        """‖ĝ − ∇J‖₂ = ‖mean − exact‖₂, the norm of the sampling error (printed as ‖ĝ − ∇J‖)."""
        return float(self.error.norm())

    def __str__(self) -> str:
        return (f"max|z| = {self.max_abs_z:.2f}, ‖ĝ − ∇J‖ = {self.error_norm:.3g}, "
                f"tr Cov = {self.trace_cov:.4g}, n = {self.n}")


def compare_to_exact(samples: Tensor, exact: Tensor, zero_tol: float = 1e-6) -> GradientSummary:
    """z_k = (mean_i ĝ_{i,k} − ∇_k J) / (std_i ĝ_{i,k} / √N), and tr Cov = Σ_k Var_i(ĝ_{i,k}).

    samples: (N, P) from gradient_samples; exact: any shape with P entries (e.g. (S, A)).
    A parameter whose samples are all equal (stderr 0) gets z = 0 if the mean
    equals the exact value within zero_tol·(1 + |exact|), else ±inf.
    Taught in notebooks/02_log_derivative_trick.ipynb and 06–08.
    """
    if samples.dim() != 2:
        raise ValueError(f"samples must have shape (N, P), got {tuple(samples.shape)}")
    n, p = samples.shape
    if n < 2:
        raise ValueError(f"need at least 2 samples to estimate a standard error, got N = {n}")
    exact = torch.as_tensor(exact).detach().to(torch.float64).reshape(-1)
    if exact.numel() != p:
        raise ValueError(f"exact must have P = {p} entries like the samples' rows, got {exact.numel()}")
    x = samples.detach().to(torch.float64)
    mean = x.mean(0)
    var = x.var(0, unbiased=True)
    stderr = (var / n).sqrt()
    diff = mean - exact
    degenerate = stderr == 0
    safe = torch.where(degenerate, torch.ones_like(stderr), stderr)
    equal = diff.abs() <= zero_tol * (1.0 + exact.abs())
    z = torch.where(degenerate, torch.where(equal, torch.zeros_like(diff), diff.sign() * math.inf), diff / safe)
    return GradientSummary(mean=mean, stderr=stderr, exact=exact, z=z, max_abs_z=float(z.abs().max()),
                           trace_cov=float(var.sum()), n=n)
