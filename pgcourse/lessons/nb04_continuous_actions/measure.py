"""Gaussian policies for continuous actions (the notes, §2.5): the log-density, its gradient, and a 1-D bandit.

* ``mvn_log_density``: log N(a; μ, Σ) written out as in the notes.
* ``gaussian_score_mu``: ∇_μ log N(a; μ, Σ) = Σ⁻¹(a − μ); ``notes_gaussian_score_mu`` is the notes'
  version with the spurious factor ½, kept only to show that it is wrong.
* ``gaussian_bandit_reinforce_seeds`` (and its one-seed case ``gaussian_bandit_reinforce``): REINFORCE with a
  Gaussian policy N(μ, σ²) (learnable μ and log σ), many seeds at once as NumPy arrays,
  on the 1-D continuous bandit r(a) = −(a − a*)², the smallest problem where μ and σ both move;
  ``bandit_settings`` summarises the panel's settings over many seeds.
* ``StateSigmaGaussianPolicy``: a Gaussian policy whose network outputs μ_θ(s) and log σ_θ(s), a
  state-dependent Σ(s) = diag σ_θ(s)²; ``two_state_bandit_reinforce`` trains it on a two-state bandit.
* Pendulum-v1's references: ``ZeroTorque`` (swinging freely), ``BrakeToRest`` (hanging),
  ``FullTorqueAlongMotion`` (spinning), ``reference_returns``, and what a batch shows (``held_upright``,
  ``mean_beyond``).

Taught in notebooks/04_continuous_actions.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from pgcourse._validate import check_hidden, check_lr, check_positive_int, check_real, check_seed
from pgcourse.batch import sample_batch
from pgcourse.policies import mlp
from pgcourse.stats import Z95, bootstrap_interval, median_iqr, wilson_interval

__all__ = ["mvn_log_density", "gaussian_score_mu", "notes_gaussian_score_mu", "bandit_objective", "bandit_gradient",
           "bandit_gradient_samples", "BanditRun", "gaussian_bandit_reinforce_seeds", "gaussian_bandit_reinforce",
           "bandit_curves", "ZeroTorque", "held_upright", "mean_beyond", "format_spread", "FullTorqueAlongMotion",
           "BrakeToRest", "HANGING_STILL_RETURN", "reference_returns", "BANDIT_SETTINGS", "SettingSummary",
           "bandit_settings", "StateSigmaGaussianPolicy", "TWO_STATES", "two_state_bandit_reinforce",
           "format_median_interval"]


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


def notes_gaussian_score_mu(act: Tensor, mu: Tensor, cov: Tensor) -> Tensor:
    """The notes' −½ Σ⁻¹ (f(s) − a): half the true ∇_μ log π. Do not use; shown to be wrong.

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


def bandit_gradient_samples(mu, log_std, act: np.ndarray, a_star: float) -> np.ndarray:
    """ĝ_i = r(a_i) ∇_θ log π_θ(a_i) with ∇_μ log π = (a − μ)/σ², ∇_{log σ} log π = (a − μ)²/σ² − 1.

    act: (N,) actions sampled from N(μ, σ²) (mu, log_std floats); returns (N, 2). The mean over rows
    is the REINFORCE estimate of ∇_θ J (unbiased: E[ĝ_i] = bandit_gradient). For S policies at once,
    mu and log_std have shape (S,) and act (S, N); the result is (S, N, 2).
    Taught in notebooks/04_continuous_actions.ipynb.
    """
    act = np.asarray(act, dtype=float)
    mu = np.asarray(mu, dtype=float)[..., None]
    sigma2 = np.exp(2.0 * np.asarray(log_std, dtype=float))[..., None]
    rew = -(act - a_star) ** 2
    z2 = (act - mu) ** 2 / sigma2
    return np.stack([rew * (act - mu) / sigma2, rew * (z2 - 1.0)], axis=-1)


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


def gaussian_bandit_reinforce_seeds(n_traj: int = 16, lr: float = 0.05, a_star: float = 2.0, steps: int = 100,
                                    mu0: float = 0.0, log_std0: float = 0.0, seeds=range(5)) -> list[BanditRun]:
    """K steps of REINFORCE on r(a) = −(a − a*)² with π_θ = N(μ, σ²), θ = (μ, log σ), for every seed at once:

        a_i ~ N(μ, σ²) (i = 1 … N),  ĝ = (1/N) Σ_i r(a_i) ∇_θ log π_θ(a_i),  θ ← θ + α ĝ   (plain SGD).

    The S = len(seeds) runs are NumPy arrays of shape (S,), stepped together; run s draws its
    actions from its own generator ``np.random.default_rng(seeds[s])``, so it computes the same
    numbers whatever the other seeds are. A run stops early (diverged=True) once μ or log σ stops
    being finite or |μ| > 1e6 or |log σ| > 30; the others go on. Returns one BanditRun per seed.
    Taught in notebooks/04_continuous_actions.ipynb.
    """
    n_traj = check_positive_int("n_traj", n_traj)
    steps = check_positive_int("steps", steps)
    lr = check_lr(lr)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed, got none")
    rngs = [np.random.default_rng(s) for s in seeds]
    n = len(seeds)
    mu = np.full((steps + 1, n), np.nan)
    log_std = np.full((steps + 1, n), np.nan)
    mean_rew = np.full((steps, n), np.nan)
    mu[0], log_std[0] = float(mu0), float(log_std0)
    length = np.full(n, steps + 1)               # entries of μ_k kept per run (k = 0 … length − 1)
    running = np.arange(n)
    for k in range(steps):
        m, ls = mu[k, running], log_std[k, running]
        act = m[:, None] + np.exp(ls)[:, None] * np.stack([rngs[s].standard_normal(n_traj) for s in running])
        mean_rew[k, running] = np.mean(-(act - a_star) ** 2, axis=1)
        g = bandit_gradient_samples(m, ls, act, a_star).mean(axis=1)          # (S_running, 2)
        new_mu, new_ls = m + lr * g[:, 0], ls + lr * g[:, 1]
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(new_mu) & np.isfinite(new_ls) & (np.abs(new_mu) <= 1e6) & (np.abs(new_ls) <= 30)
        mu[k + 1, running[ok]], log_std[k + 1, running[ok]] = new_mu[ok], new_ls[ok]
        length[running[~ok]] = k + 1
        running = running[ok]
        if running.size == 0:
            break
    runs = []
    for s, seed in enumerate(seeds):
        mu_s, ls_s = mu[:length[s], s], log_std[:length[s], s]
        n_rew = length[s] if length[s] <= steps else steps
        runs.append(BanditRun(n_traj=n_traj, lr=lr, a_star=float(a_star), steps=steps, seed=seed, mu=mu_s,
                              sigma=np.exp(ls_s), J=bandit_objective(mu_s, ls_s, a_star),
                              mean_reward=mean_rew[:n_rew, s].copy(), diverged=bool(length[s] <= steps)))
    return runs


def gaussian_bandit_reinforce(n_traj: int = 16, lr: float = 0.05, a_star: float = 2.0, steps: int = 100,
                              mu0: float = 0.0, log_std0: float = 0.0, seed: int = 0) -> BanditRun:
    """One seed of ``gaussian_bandit_reinforce_seeds`` (its one-seed case: the same code path).

    Returns a BanditRun; stops early (diverged=True) if μ or log σ stops being finite or
    |μ| > 1e6 or |log σ| > 30. The same seed gives the same run on the same machine (NumPy's
    default generator). Taught in notebooks/04_continuous_actions.ipynb.
    """
    return gaussian_bandit_reinforce_seeds(n_traj, lr, a_star, steps, mu0, log_std0, seeds=[seed])[0]


def bandit_curves(runs: list[BanditRun], name: str) -> np.ndarray:
    """(S, K+1) array of one BanditRun field ("mu", "sigma", "J") per seed; NaN after a run diverged."""
    steps = max(r.steps for r in runs)
    out = np.full((len(runs), steps + 1), np.nan)
    for s, run in enumerate(runs):
        values = getattr(run, name)
        out[s, :len(values)] = values
    return out


# ---------------------------------------------------------------------------------------------
# Pendulum-v1: a reference policy and what a batch of episodes shows.


class ZeroTorque:
    """The policy a = 0 in every state (the pendulum swings freely): Pendulum's "nothing learned" reference.

    Has ``sample(obs, generator)`` and ``mode(obs)`` like the course's policies, so ``sample_batch``
    can run it. Returns actions of shape (..., 1). Taught in notebooks/04_continuous_actions.ipynb.
    """

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.zeros(*obs.shape[:-1], 1)

    def mode(self, obs: Tensor) -> Tensor:
        return torch.zeros(*obs.shape[:-1], 1)


def held_upright(batch, last: int = 50, cos_min: float = 0.9) -> Tensor:
    """(N,) bool: episode i ends with the pendulum held near the top, cos ϑ > cos_min (|ϑ| < 26° for 0.9)
    at each of its last ``last`` steps (2.5 s of Pendulum's 10 s for 50).

    batch: Pendulum episodes (observations (cos ϑ, sin ϑ, ϑ̇)), e.g. from ``sample_batch``.
    Taught in notebooks/04_continuous_actions.ipynb.
    """
    lengths = batch.lengths.long()
    if int(lengths.min()) < last:
        raise ValueError(f"every episode needs at least last={last} steps, the shortest has {int(lengths.min())}")
    steps = lengths[:, None] - last + torch.arange(last)                    # (N, last): the last steps of each
    cos = torch.gather(batch.obs[..., 0], 1, steps)
    return (cos > cos_min).all(1)


def mean_beyond(policy, batch, limit: float = 2.0) -> float:
    """Share of the batch's states s in which the policy's mean |μ_θ(s)| exceeds ``limit`` (the torque
    limit ±2 of Pendulum, where the environment clips the sampled action).

    Taught in notebooks/04_continuous_actions.ipynb.
    """
    with torch.no_grad():
        mu = policy.mean(batch.obs[batch.mask])
    return float((mu.abs() > limit).float().mean())


def format_spread(values, fmt: str = "{:.0f}") -> str:
    """'median -651 (IQR -686 to -575)': the median and interquartile range over seeds (``stats.median_iqr``),
    with "to" so that negative returns read clearly."""
    med, q25, q75 = median_iqr(values)
    return f"median {fmt.format(med)} (IQR {fmt.format(q25)} to {fmt.format(q75)})"


class FullTorqueAlongMotion:
    """The policy a = 2·sign(ϑ̇) (+2 when ϑ̇ = 0): full torque in the direction of motion, never braking, so the
    pendulum gains energy until it spins over the top, at up to Pendulum's maximum speed 8 rad/s: the
    "spinning" reference. Actions of shape (..., 1); ``sample`` ignores the generator (it is deterministic).
    Taught in notebooks/04_continuous_actions.ipynb.
    """

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.mode(obs)

    def mode(self, obs: Tensor) -> Tensor:
        return torch.where(obs[..., 2:3] >= 0, 2.0, -2.0)


class BrakeToRest:
    """The policy a = −2·clip(ϑ̇, −1, 1): a torque against the motion, which brakes the pendulum until it
    hangs still at the bottom: the "hanging" reference. Actions of shape (..., 1); deterministic.
    Taught in notebooks/04_continuous_actions.ipynb.
    """

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.mode(obs)

    def mode(self, obs: Tensor) -> Tensor:
        return -2.0 * obs[..., 2:3].clamp(-1.0, 1.0)


HANGING_STILL_RETURN = -200 * math.pi ** 2
"""The return of a pendulum that hangs still at the bottom for all 200 steps: ϑ = π, ϑ̇ = 0, a = 0, so every
reward is −(π² + 0.1·0 + 0.001·0) = −π² (exact, from Pendulum's reward)."""


def reference_returns(policies: dict, n_traj: int = 10_000, seed: int = 0) -> dict:
    """{name: (mean return, half-width of its 95 % interval, returns)} of each fixed policy on ``n_traj``
    Pendulum-v1 episodes from the usual random start (seeded): mean ± 1.96 standard errors of the mean,
    the episodes being independent. Taught in notebooks/04_continuous_actions.ipynb.
    """
    n_traj = check_positive_int("n_traj", n_traj)
    out = {}
    for name, policy in policies.items():
        rets = sample_batch("Pendulum-v1", policy, n_traj=n_traj, seed=seed).returns().numpy().astype(float)
        out[name] = (float(rets.mean()), float(Z95 * rets.std(ddof=1) / math.sqrt(n_traj)), rets)
    return out


# ---------------------------------------------------------------------------------------------
# The bandit's settings over many seeds: what the panel's five seeds show, measured on many.


BANDIT_SETTINGS = ((1, 0.05), (4, 0.05), (16, 0.05), (256, 0.05), (16, 0.01), (16, 0.3), (16, 1.0))
"""(N, α) of the panel's "What to try", at a* = 2 and K = 100 steps."""


@dataclass(frozen=True)
class SettingSummary:
    """One (N, α) of the bandit over many seeds: how many runs diverged (with a Wilson interval), and over the
    runs that did not, the median number of steps until |μ − a*| < 0.1 (inf if the median run never gets
    there) and the medians of σ and |μ − a*| after the last step."""

    n_traj: int
    lr: float
    n_seeds: int
    diverged: int
    diverged_interval: tuple[float, float]
    median_steps_to_target: float
    median_final_sigma: float
    median_final_gap: float


def bandit_settings(settings=BANDIT_SETTINGS, seeds=range(1000), a_star: float = 2.0,
                    steps: int = 100) -> list[SettingSummary]:
    """gaussian_bandit_reinforce_seeds at each (N, α) of ``settings`` over ``seeds``, summarised (SettingSummary).

    Taught in notebooks/04_continuous_actions.ipynb.
    """
    out = []
    for n_traj, lr in settings:
        runs = gaussian_bandit_reinforce_seeds(n_traj=n_traj, lr=lr, a_star=a_star, steps=steps, seeds=seeds)
        ok = [r for r in runs if not r.diverged]
        k = len(runs) - len(ok)
        if ok:                                                 # runs that did not diverge have every step
            mu, sigma = bandit_curves(ok, "mu"), bandit_curves(ok, "sigma")
            hit = np.abs(mu - a_star) < 0.1
            to_target = np.where(hit.any(1), hit.argmax(1), math.inf)   # first step within 0.1 of a*
            medians = [float(np.median(x)) for x in (to_target, sigma[:, -1], np.abs(mu[:, -1] - a_star))]
        else:
            medians = [math.nan] * 3
        out.append(SettingSummary(n_traj=n_traj, lr=lr, n_seeds=len(runs), diverged=k,
                                  diverged_interval=wilson_interval(k, len(runs)),
                                  median_steps_to_target=medians[0], median_final_sigma=medians[1],
                                  median_final_gap=medians[2]))
    return out


# ---------------------------------------------------------------------------------------------
# A state-dependent σ: Σ(s) = diag σ_θ(s)², one network outputs both μ_θ(s) and log σ_θ(s).


class StateSigmaGaussianPolicy(nn.Module):
    """π_θ(a|s) = N(μ_θ(s), diag σ_θ(s)²), where one network outputs 2k numbers per state:
    (μ_θ(s), log σ_θ(s) − log_std_init) = f_θ(s). So the spread, like the mean, can differ from state to state.

        log π_θ(a|s) = Σ_k [−½ z_k² − log σ_k(s)] − (k/2) log 2π,   z_k = (a_k − μ_k(s))/σ_k(s),
        ∂ log π/∂μ_k(s) = z_k/σ_k(s),   ∂ log π/∂ log σ_k(s) = z_k² − 1,

    and the chain rule through the network gives ∇_θ log π. obs (..., obs_dim); act (..., act_dim).
    The last layer starts small (``out_scale``), so at first μ ≈ 0 and σ ≈ exp(log_std_init) in every state.
    Taught in notebooks/04_continuous_actions.ipynb.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (32,), activation: str = "tanh",
                 log_std_init: float = 0.0, out_scale: float = 0.01):
        super().__init__()
        self.obs_dim = check_positive_int("obs_dim", obs_dim)
        self.act_dim = check_positive_int("act_dim", act_dim)
        self.log_std_init = check_real("log_std_init", log_std_init, -20.0, 20.0)
        self.net = mlp([self.obs_dim, *check_hidden(hidden), 2 * self.act_dim], activation, out_scale)

    def mean_and_log_std(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """(μ_θ(s), log σ_θ(s)), each (..., act_dim)."""
        out = self.net(obs)
        return out[..., :self.act_dim], out[..., self.act_dim:] + self.log_std_init

    def mean(self, obs: Tensor) -> Tensor:
        return self.mean_and_log_std(obs)[0]

    def log_std(self, obs: Tensor) -> Tensor:
        """log σ_θ(s), (..., act_dim): a function of the state here, not one parameter."""
        return self.mean_and_log_std(obs)[1]

    def log_prob(self, obs: Tensor, act: Tensor) -> Tensor:
        """log N(a; μ_θ(s), diag σ_θ(s)²), summed over the action dimensions: shape obs.shape[:-1]."""
        mu, log_std = self.mean_and_log_std(obs)
        z = (act - mu) * torch.exp(-log_std)
        return (-0.5 * z.pow(2) - log_std).sum(-1) - 0.5 * self.act_dim * math.log(2 * math.pi)

    forward = log_prob

    def score_log_std(self, obs: Tensor, act: Tensor) -> Tensor:
        """∂ log π_θ(a|s)/∂ log σ_k(s) = z_k² − 1 (closed form), (..., act_dim)."""
        mu, log_std = self.mean_and_log_std(obs)
        return ((act - mu) * torch.exp(-log_std)).pow(2) - 1.0

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        mu, log_std = self.mean_and_log_std(obs)
        return mu + log_std.exp() * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)

    def mode(self, obs: Tensor) -> Tensor:
        return self.mean(obs)

    def entropy(self, obs: Tensor) -> Tensor:
        """Σ_k [log σ_k(s) + ½ log 2πe], shape obs.shape[:-1]."""
        return (self.log_std(obs) + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)


TWO_STATES = {"sensitive": 1.0, "indifferent": -1.0}
"""The two states s of the contextual bandit: r(s, a) = −w(s)(a − s)², w(+1) = 1, w(−1) = ``w_low``."""


def two_state_bandit_reinforce(policy: nn.Module, steps: int = 200, n_traj: int = 64, lr: float = 0.05,
                               w_low: float = 0.05, seed: int = 0) -> dict:
    """REINFORCE on a contextual bandit with two equally likely states s = ±1 (the observation is s itself),
    reward r(s, a) = −w(s)(a − s)² with w(+1) = 1 (the action matters) and w(−1) = ``w_low`` (it hardly does):

        s_i ~ uniform{−1, +1}, a_i ~ π_θ(·|s_i),  ĝ = (1/N) Σ_i ∇_θ log π_θ(a_i|s_i) r(s_i, a_i),  θ ← θ + α ĝ.

    ``policy`` (trained in place) is any policy of a 1-D observation and a 1-D action with ``log_prob``,
    ``mean`` and a σ: a ``StateSigmaGaussianPolicy`` (σ_θ(s)) or a ``GaussianPolicy`` (one σ). Returns
    {"sigma": (steps + 1, 2) σ in the states (+1, −1) before each step, "mu": the same for μ}.
    Taught in notebooks/04_continuous_actions.ipynb.
    """
    steps = check_positive_int("steps", steps)
    n_traj = check_positive_int("n_traj", n_traj)
    lr = check_lr(lr)
    w_low = check_real("w_low", w_low, 0.0, 1.0)
    g = torch.Generator().manual_seed(check_seed(seed))
    probe = torch.tensor([[TWO_STATES["sensitive"]], [TWO_STATES["indifferent"]]])
    opt = torch.optim.SGD(policy.parameters(), lr=lr)
    sigma, mu = [], []

    def record():
        with torch.no_grad():
            ls = policy.log_std(probe) if callable(policy.log_std) else policy.log_std.expand(2, 1)
            sigma.append(ls.exp()[:, 0].numpy().copy())
            mu.append(policy.mean(probe)[:, 0].numpy().copy())

    record()
    for _ in range(steps):
        s = torch.where(torch.rand(n_traj, 1, generator=g) < 0.5, 1.0, -1.0)
        with torch.no_grad():
            a = policy.sample(s, g)
        w = torch.where(s > 0, 1.0, w_low)[:, 0]
        r = -w * (a - s)[:, 0] ** 2
        loss = -(policy.log_prob(s, a) * r).mean()          # −ĝ is its gradient
        opt.zero_grad()
        loss.backward()
        opt.step()
        record()
    return {"sigma": np.array(sigma), "mu": np.array(mu)}


def format_median_interval(values, fmt: str = "{:.0f}") -> str:
    """'median 549 (95 % interval 495 to 599)': the median over seeds and its percentile bootstrap interval
    (``stats.bootstrap_interval``, seeded)."""
    lo, hi = bootstrap_interval(values)
    return f"median {fmt.format(float(np.median(values)))} (95 % interval {fmt.format(lo)} to {fmt.format(hi)})"
