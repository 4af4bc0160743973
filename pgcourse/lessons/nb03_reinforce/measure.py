"""Notebook 03: the notes' three-trajectory example, and how to read training runs over many seeds.

Which probabilities does one REINFORCE step raise (§2.6.2)? A tiny tabular policy π_θ(a|s) = softmax(θ[s])_a and three sampled trajectories with returns
R = (10, 5, 15). One gradient-ascent step θ ← θ + α ĝ with ĝ = (1/N) Σ_i ∇θ log π_θ(τ_i) · w_i
changes the probability of each trajectory's actions, π_θ(τ_i) = Π_t π_θ(a_{i,t}|s_{i,t}); the
functions here compute that change exactly.

A baseline computed from the same batch changes the estimate's expectation: ``exact_batch_expectation``
lists every batch of N pulls of a bandit to give E[ĝ] exactly (the batch mean: (1 − 1/N)∇J; leave one
out: ∇J), and ``defaults_bias`` measures, on the tabular lab, E[ĝ] of the trainer's default weights
(γ, the per-step mean baseline, normalisation) against the exact ∇J over many batches.

For training runs (``pgcourse.seeds.train_seeds``): ``gradient_steps`` counts the steps each run took and
``format_steps`` prints steps-to-target over seeds, a run that never reached the target censored at
the budget; ``fresh_returns`` (pgcourse.evaluate) judges trained policies on new episodes.
Taught in notebooks/03_reinforce.ipynb.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pgcourse._validate import check_choice, check_gamma, check_lr, check_positive_int, check_seed
from pgcourse.baselines import SPREAD_TOL, leave_one_out_time_mean_baseline, time_mean_baseline
from pgcourse.batch import Batch, sample_batch
from pgcourse.evaluate import fresh_returns  # noqa: F401  (re-exported: notebook 03 judges policies with it)
from pgcourse.returns import reward_to_go
from pgcourse.stats import Censored, format_k
from pgcourse.tabular import TabularMDP, tabular_gradient_samples

__all__ = ["NOTES_RETURNS", "trajectory_log_prob", "TrajectoryStep", "reinforce_step", "three_trajectories",
           "BATCH_BASELINES", "bandit_batches", "exact_batch_expectation", "batch_estimates", "DEFAULTS_STEPS", "EstimatorBias",
           "summarise_bias", "defaults_bias", "format_bias_table", "gradient_steps", "format_steps", "fresh_returns"]

NOTES_RETURNS = (10.0, 5.0, 15.0)
"""R(τ_1), R(τ_2), R(τ_3) in the notes' example (§2.6.2)."""


def trajectory_log_prob(logits: Tensor, obs: Tensor, act: Tensor) -> Tensor:
    """log π_θ(τ_i) = Σ_t log π_θ(a_{i,t}|s_{i,t}) = Σ_t log softmax(θ[s_{i,t}])_{a_{i,t}}.

    logits (S, A); obs, act (N, T) int64; returns (N,) in the logits' dtype.
    The dynamics' factors p(s_{t+1}|s_t, a_t) do not depend on θ and are left out.
    Taught in notebooks/03_reinforce.ipynb.
    """
    return torch.log_softmax(logits, -1)[obs.long(), act.long()].sum(-1)


@dataclass(frozen=True)
class TrajectoryStep:
    """One step θ' = θ + α ĝ and what it does to each sampled trajectory (all float64).

    weights (N,): w_i; grad (S, A): ĝ; logits_before/after (S, A);
    prob_before/after (N,): π_θ(τ_i) = Π_t π_θ(a_{i,t}|s_{i,t}) before and after the step;
    own_push (N,): (α/N) w_i ‖∇θ log π_θ(τ_i)‖², the first-order change of log π_θ(τ_i) due to
    trajectory i's own term of ĝ alone.
    """

    weights: Tensor
    grad: Tensor
    logits_before: Tensor
    logits_after: Tensor
    prob_before: Tensor
    prob_after: Tensor
    own_push: Tensor

    @property
    def ratio(self) -> Tensor:
        """π_θ'(τ_i) / π_θ(τ_i), (N,): above 1 means the step made τ_i's actions more likely."""
        return self.prob_after / self.prob_before

    @property
    def log_change(self) -> Tensor:
        """log π_θ'(τ_i) − log π_θ(τ_i), (N,)."""
        return self.ratio.log()


def reinforce_step(logits, obs, act, weights, lr: float) -> TrajectoryStep:
    """θ' = θ + α ĝ,  ĝ = (1/N) Σ_i (Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t})) w_i   (one REINFORCE step, exact).

    logits (S, A); obs, act (N, T) int64; weights (N,) (e.g. the returns R(τ_i), or R(τ_i) − b);
    lr = α > 0. Deterministic: no sampling. Returns a TrajectoryStep.
    Taught in notebooks/03_reinforce.ipynb (the notes' example, §2.6.2).
    """
    lr = check_lr(lr)
    logits = torch.as_tensor(logits, dtype=torch.float64)
    obs, act = torch.as_tensor(obs).long(), torch.as_tensor(act).long()
    weights = torch.as_tensor(weights, dtype=torch.float64)
    if obs.dim() != 2 or act.shape != obs.shape:
        raise ValueError(f"obs and act must both have shape (N, T), got {tuple(obs.shape)} and {tuple(act.shape)}")
    if weights.shape != obs.shape[:1]:
        raise ValueError(f"weights must have shape (N,) = ({obs.shape[0]},), got {tuple(weights.shape)}")
    n = obs.shape[0]
    scores = tabular_gradient_samples(logits, obs, act, torch.ones(obs.shape, dtype=torch.float64))  # (N, S·A)
    grad = (scores * weights[:, None]).mean(0).reshape(logits.shape)
    after = logits + lr * grad
    return TrajectoryStep(weights=weights, grad=grad, logits_before=logits, logits_after=after,
                          prob_before=trajectory_log_prob(logits, obs, act).exp(),
                          prob_after=trajectory_log_prob(after, obs, act).exp(),
                          own_push=lr / n * weights * scores.pow(2).sum(1))


def three_trajectories() -> tuple[Tensor, Tensor, Tensor]:
    """The notes' example as a tabular problem: (obs, act, rets).

    A robot takes T = 3 left (0) / right (1) decisions; the three sampled trajectories happen to
    pass through different states (τ_1: s0, s1, s2; τ_2: s3, s4, s5; τ_3: s6, s7, s8), so S = 9,
    A = 2. obs, act (3, 3) int64; rets (3,) = (10, 5, 15) float64.
    Taught in notebooks/03_reinforce.ipynb.
    """
    obs = torch.arange(9).reshape(3, 3)
    act = torch.tensor([[1, 1, 0], [0, 0, 1], [1, 1, 1]])
    return obs, act, torch.tensor(NOTES_RETURNS, dtype=torch.float64)


BATCH_BASELINES = ("none", "batch_mean", "leave_one_out")


def _batch_weights(rets: Tensor, baseline: str) -> Tensor:
    """R(τ_i) − b_i along the last axis (one batch per row): rets (..., N) -> (..., N)."""
    if baseline == "none":
        return rets
    if baseline == "batch_mean":
        return rets - rets.mean(-1, keepdim=True)
    n = rets.shape[-1]
    return rets - (rets.sum(-1, keepdim=True) - rets) / (n - 1)


def bandit_batches(logits, rewards, n_traj: int, baseline: str = "batch_mean") -> tuple[Tensor, Tensor]:
    """Every batch of N pulls of a bandit, with its probability and its estimate: (prob (A^N,), ĝ (A^N, A)).

    ĝ = (1/N) Σ_i ∇θ log π_θ(a_i) (r_{a_i} − b_i), ∇θ log π_θ(a) = e_a − π_θ, with b_i = 0 ("none"), the
    batch's mean return ("batch_mean", pgcourse.baselines.mean_baseline) or the mean of the other N − 1
    returns ("leave_one_out", leave_one_out_mean_baseline; needs N ≥ 2). logits, rewards: (A,), A^N ≤ 10⁶.
    Taught in notebooks/03_reinforce.ipynb.
    """
    check_choice("baseline", baseline, BATCH_BASELINES)
    n = check_positive_int("n_traj", n_traj)
    if baseline == "leave_one_out" and n < 2:
        raise ValueError(f"the leave-one-out baseline needs n_traj ≥ 2 (another trajectory), got {n_traj!r}")
    theta = torch.as_tensor(logits, dtype=torch.float64).reshape(-1)
    r = torch.as_tensor(rewards, dtype=torch.float64).reshape(-1)
    if r.shape != theta.shape:
        raise ValueError(f"rewards must have the shape of logits {tuple(theta.shape)}, got {tuple(r.shape)}")
    A = theta.numel()
    if A ** n > 1_000_000:
        raise ValueError(f"A^N = {A}^{n} batches is too many to list (at most 10⁶); use a smaller n_traj")
    pi = torch.softmax(theta, -1)
    arms = torch.tensor(list(itertools.product(range(A), repeat=n)), dtype=torch.int64).reshape(-1, n)  # (A^N, N)
    scores = torch.eye(A, dtype=torch.float64)[arms] - pi                                    # (A^N, N, A)
    return pi[arms].prod(1), (scores * _batch_weights(r[arms], baseline)[..., None]).mean(1)


def exact_batch_expectation(logits, rewards, n_traj: int, baseline: str = "batch_mean") -> tuple[Tensor, Tensor]:
    """(E[ĝ], ∇J) for a bandit, exactly: Σ over all A^N batches of P(batch) · ĝ(batch), and π ⊙ (r − J).

    See bandit_batches for ĝ and the baselines. Returns two (A,) float64 tensors.
    Taught in notebooks/03_reinforce.ipynb.
    """
    prob, g_hat = bandit_batches(logits, rewards, n_traj, baseline)
    pi = torch.softmax(torch.as_tensor(logits, dtype=torch.float64).reshape(-1), -1)
    r = torch.as_tensor(rewards, dtype=torch.float64).reshape(-1)
    return (prob[:, None] * g_hat).sum(0), pi * (r - (pi * r).sum())


DEFAULTS_STEPS = {
    "reward-to-go (γ = 1)": dict(gamma=1.0, baseline="none", normalise=False),
    "  − batch mean b_t": dict(gamma=1.0, baseline="batch_mean", normalise=False),
    "  − leave-one-out b_t": dict(gamma=1.0, baseline="leave_one_out", normalise=False),
    "  − batch mean b_t, γ = 0.995": dict(gamma=0.995, baseline="batch_mean", normalise=False),
    "  − batch mean b_t, γ = 0.995, normalised (defaults)": dict(gamma=0.995, baseline="batch_mean", normalise=True),
}
"""The trainer's default weights built up one change at a time (name -> batch_estimates options)."""


def _normalise_per_batch(w: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """pgcourse.baselines.normalise applied to each row (one batch's steps) of w, mask (M, steps) at once."""
    count = mask.sum(1, keepdim=True)
    inside = torch.where(mask, w, torch.zeros((), dtype=w.dtype))
    mean = inside.sum(1, keepdim=True) / count
    var = torch.where(mask, (w - mean) ** 2, torch.zeros((), dtype=w.dtype)).sum(1, keepdim=True) / (count - 1)
    std = var.sqrt()
    flat = std <= SPREAD_TOL * (1.0 + inside.abs().sum(1, keepdim=True) / count)  # constant weights: no step
    out = torch.where(flat, torch.zeros_like(w), (w - mean) / (std + eps))
    return torch.where(mask, out, torch.zeros((), dtype=w.dtype))


def batch_estimates(mdp: TabularMDP, logits, batch: Batch, n_traj: int, gamma: float = 1.0,
                    baseline: str = "none", normalise_weights: bool = False) -> Tensor:
    """ĝ_m = (1/N) Σ_i Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t}) w_{i,t} for M batches of N trajectories.

    batch: M·N trajectories of ``mdp.sample(logits, …)``, cut into M consecutive batches of N.
    w = Q̂^γ_{i,t} = Σ_{t'≥t} γ^{t'−t} r_{i,t'} (no γ^t in front, as the trainer does), minus a per-step
    baseline of the same batch: none, b_t = the batch's mean Q̂_{·,t} (time_mean_baseline), or the other
    trajectories' mean (leave_one_out_time_mean_baseline); then, if normalise_weights, (w − mean)/std over
    the batch's steps (pgcourse.baselines.normalise). Returns (M, S·A) float64.
    Taught in notebooks/03_reinforce.ipynb.
    """
    n = check_positive_int("n_traj", n_traj)
    if batch.n_traj % n:
        raise ValueError(f"the batch's {batch.n_traj} trajectories do not split into batches of n_traj = {n}")
    m = batch.n_traj // n
    gamma = check_gamma(gamma)
    check_choice("baseline", baseline, BATCH_BASELINES)
    if baseline == "leave_one_out" and n < 2:
        raise ValueError(f"the leave-one-out baseline needs n_traj ≥ 2, got {n_traj!r}")
    logits = mdp.check_logits(logits).detach().to(torch.float64)
    T = mdp.horizon
    rew = mdp.R[batch.obs, batch.act]                                      # (M·N, T), float64
    q = reward_to_go(rew, batch.mask, gamma)                                # Q̂^γ_{i,t}, (M·N, T)
    # one column per (batch, t): the baselines average over the N trajectories of each batch
    by_step = lambda x: x.reshape(m, n, T).transpose(0, 1).reshape(n, m * T)       # (M·N, T) -> (N, M·T)
    from_step = lambda x: x.reshape(n, m, T).transpose(0, 1).reshape(m * n, T)     # and back
    if baseline == "batch_mean":
        q = q - from_step(time_mean_baseline(by_step(q), by_step(batch.mask)).expand(n, m * T))
    elif baseline == "leave_one_out":
        q = q - from_step(leave_one_out_time_mean_baseline(by_step(q), by_step(batch.mask)))
    if normalise_weights:
        q = _normalise_per_batch(q.reshape(m, n * T), batch.mask.reshape(m, n * T)).reshape(m * n, T)
    samples = tabular_gradient_samples(logits, batch.obs, batch.act, q, batch.mask)
    return samples.reshape(m, n, -1).mean(1)


@dataclass(frozen=True)
class EstimatorBias:
    """E[ĝ] of one weight choice against the exact ∇J, from M batches of N trajectories.

    kappa ± kappa_se: the scale, ⟨E ĝ, ∇J⟩ / ‖∇J‖² (1 for an unbiased estimator);
    angle_deg: the angle between the mean of the M estimates and ∇J, in degrees;
    noise_deg: the angle that sampling noise alone gives a mean of M estimates parallel to ∇J on average,
    atan(√(tr Cov[ĝ_⊥]/M) / (κ‖∇J‖)), with ĝ_⊥ the part of ĝ across ∇J;
    tilt_p: the p-value of the test that E[ĝ] has no part across ∇J: M m_⊥ᵀ Cov[ĝ_⊥]⁺ m_⊥ against χ² with
    rank(Cov[ĝ_⊥]) degrees of freedom (Hotelling's test, M large). A percentile bootstrap of the angle would
    not do: the angle of a noisy mean is biased upwards, and its true value 0 is the edge of its range;
    trace_cov: tr Cov[ĝ], the variance of one batch's estimate; mse ± mse_se: E‖ĝ − ∇J‖².
    """

    kappa: float
    kappa_se: float
    angle_deg: float
    noise_deg: float
    tilt_p: float
    trace_cov: float
    mse: float
    mse_se: float
    n_traj: int
    n_batches: int


def _angle_deg(mean: np.ndarray, exact: np.ndarray) -> np.ndarray:
    cos = mean @ exact / (np.linalg.norm(mean, axis=-1) * np.linalg.norm(exact))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def tilt_test(estimates: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    """(noise angle in degrees, p-value) for the hypothesis that E[ĝ] is parallel to ``exact``.

    ĝ_⊥ = ĝ − (⟨ĝ, e⟩/‖e‖²) e, the part across e, has mean 0 under the hypothesis. With m_⊥ its sample mean
    and S its sample covariance, M m_⊥ᵀ S⁺ m_⊥ is χ² with rank(S) degrees of freedom for large M."""
    g, e = np.asarray(estimates, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    m = g.shape[0]
    across = g - np.outer(g @ e / (e @ e), e)
    mean, cov = across.mean(0), np.cov(across, rowvar=False)
    values, vectors = np.linalg.eigh(cov)
    keep = values > values.max() * 1e-10                       # the directions the estimates vary in
    if not keep.any():
        return 0.0, 1.0
    coords = vectors[:, keep].T @ mean
    stat = float(m * (coords ** 2 / values[keep]).sum())
    df = int(keep.sum())
    p = float(torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64),
                                      torch.tensor(stat / 2, dtype=torch.float64)))
    along = float(abs(g.mean(0) @ e) / np.linalg.norm(e))
    noise = math.degrees(math.atan2(math.sqrt(float(np.trace(cov)) / m), along))
    return noise, p


def summarise_bias(estimates: Tensor, exact: Tensor, n_traj: int) -> EstimatorBias:
    """EstimatorBias of M batch estimates (M, P) against the exact gradient (P,)."""
    g = estimates.detach().to(torch.float64).numpy()
    e = torch.as_tensor(exact, dtype=torch.float64).reshape(-1).numpy()
    m = g.shape[0]
    kappas = g @ e / (e @ e)
    sq_err = ((g - e) ** 2).sum(1)
    noise, p = tilt_test(g, e)
    return EstimatorBias(kappa=float(kappas.mean()), kappa_se=float(kappas.std(ddof=1) / math.sqrt(m)),
                         angle_deg=float(_angle_deg(g.mean(0), e)), noise_deg=noise, tilt_p=p,
                         trace_cov=float(g.var(0, ddof=1).sum()), mse=float(sq_err.mean()),
                         mse_se=float(sq_err.std(ddof=1) / math.sqrt(m)), n_traj=int(n_traj), n_batches=m)


def defaults_bias(mdp: TabularMDP, logits, n_traj: int = 8, n_batches: int = 20_000, seed: int = 0,
                  steps: dict | None = None) -> dict[str, EstimatorBias]:
    """For each weight choice of ``steps`` (default DEFAULTS_STEPS): EstimatorBias over the same M batches.

    M·N trajectories are sampled once with ``seed`` (the same seed gives the same table), so every weight
    choice is scored on the same batches. Taught in notebooks/03_reinforce.ipynb.
    """
    steps = DEFAULTS_STEPS if steps is None else steps
    n, m = check_positive_int("n_traj", n_traj), check_positive_int("n_batches", n_batches)
    logits = mdp.check_logits(logits).detach().to(torch.float64)
    batch = mdp.sample(logits, n * m, seed=check_seed(seed))
    exact = mdp.gradient(logits).reshape(-1)
    out = {}
    for name, opts in steps.items():
        est = batch_estimates(mdp, logits, batch, n, gamma=opts["gamma"], baseline=opts["baseline"],
                              normalise_weights=opts["normalise"])
        out[name] = summarise_bias(est, exact, n_traj)
    return out


def format_bias_table(results: dict[str, EstimatorBias]) -> str:
    """One row per weight choice: κ ± se, the angle to ∇J beside the noise angle and the tilt test's p-value,
    tr Cov[ĝ], E‖ĝ − ∇J‖² ± se."""
    width = max(len(name) for name in results)
    lines = [f"{'weights':<{width}}  {'κ = ⟨E ĝ, ∇J⟩/‖∇J‖²':>22}  {'angle (noise alone)':>19}  {'p, no tilt':>10}  "
             f"{'tr Cov[ĝ]':>9}  {'E‖ĝ − ∇J‖²':>14}"]
    for name, r in results.items():
        p = f"{r.tilt_p:.2f}" if r.tilt_p >= 0.01 else ("< 0.01" if r.tilt_p >= 1e-6 else "< 1e-6")
        lines.append(f"{name:<{width}}  {r.kappa:15.3f} ± {r.kappa_se:.3f}  "
                     f"{r.angle_deg:7.2f}° ({r.noise_deg:4.2f}°)  {p:>10}  "
                     f"{r.trace_cov:9.3f}  {r.mse:7.3f} ± {r.mse_se:.3f}")
    return "\n".join(lines)


def gradient_steps(histories) -> np.ndarray:
    """(K,) int: the gradient steps each run took, the batches with a finite, non-zero gradient norm.

    The batch that reaches the target takes no step (its norm is NaN), nor does a batch whose weights
    are all zero (0.0). histories: one ``History`` per seed, e.g. from ``train_seeds``.
    Taught in notebooks/03_reinforce.ipynb.
    """
    return np.array([int(np.sum(np.isfinite(norm) & (norm != 0)))
                     for norm in (np.asarray(h.grad_norm, dtype=float) for h in histories)], dtype=int)


def format_steps(steps: Censored) -> str:
    """'median 25.5k (IQR 21.9k – 33.7k) [95 % 20.9k, 35.2k]': steps-to-target over seeds, censored at the budget.

    A value at the budget means "not reached within it" and prints as '> 80.0k'; the bracket is the
    bootstrap interval of the median (``Censored.interval``). When more than half the runs never reached
    the target, only that is known: 'median > 80.0k (9 of 10 runs unsolved at the budget)'.
    Taught in notebooks/03_reinforce.ipynb.
    """
    def show(value: float) -> str:
        return f"> {format_k(steps.budget)}" if value >= steps.budget else format_k(value)

    q25, med, q75 = np.percentile(steps.steps, [25, 50, 75])
    if med >= steps.budget:
        return f"median {show(med)} ({steps.n - steps.k} of {steps.n} runs unsolved at the budget)"
    lo, hi = steps.interval()
    return f"median {show(med)} (IQR {show(q25)} – {show(q75)}) [95 % {show(lo)}, {show(hi)}]"
