"""Off-policy policy gradients (the notes, §6): importance sampling, its exact moments, and batch reuse.

* ``gaussian_is_moments`` / ``gaussian_is_estimate``: importance sampling E_p[f] = E_q[(p/q) f] on 1-D
  Gaussians, exact variance and a seeded estimate with its effective sample size.
* ``past_ratio_is_weights``: the notes' "ignore the second factor" weights (Π_{t''≤t} ρ) Q̂_t.
* ``first_order_expected_gradient``, ``past_ratio_expected_gradient``: the exact expectations of the
  first-order estimator ρ_t Q̂_t and of (Π_{t''≤t} ρ) Q̂_t (their bias is the distance to ∇J(θ')).
* ``trajectory_ratio_second_moment``: E_θ[(p_θ'(τ)/p_θ(τ))²], whose inverse is the large-N limit of ESS/N;
  ``trajectory_ratio_log_mean``: E_θ[log(p_θ'(τ)/p_θ(τ))], the typical size of the ratio;
  ``sample_trajectory_ratios``: the ratios of N sampled trajectories (seeded).
* ``one_step_bandit`` and ``exact_expected_gradient``: the exact expectation of any importance-weighted estimator
  (by enumerating every trajectory of a small MDP), e.g. the notes' causal form on a one-step problem.
* ``reuse_weights``, ``train_reuse`` and ``train_reuse_seeds``: REINFORCE that takes K gradient steps on each
  batch, re-weighting the batch with per-decision importance weights against the policy that sampled it
  (``train_reuse_seeds``: many seeds at once, via ``pgcourse.seeds.train_seeds``; ``train_reuse`` is its one-seed case).

Taught in notebooks/08_off_policy_importance_sampling.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from pgcourse._validate import check_choice, check_mask, check_positive_int
from pgcourse.config import IMPORTANCE_WEIGHTS as WEIGHTINGS
from pgcourse.importance import effective_sample_size, log_ratios, trajectory_ratio
from pgcourse.returns import reward_to_go
from pgcourse.tabular import (TabularMDP, action_values, enumerate_trajectories, tabular_gradient_samples,
                              trajectory_log_prob)
from pgcourse.history import History
from pgcourse.config import TrainConfig, merge_config
from pgcourse.seeds import over_seed_groups, train_seeds
from pgcourse.weights import reuse_weights  # noqa: F401  (notebook 08 teaches it; it lives in the core)

__all__ = ["gaussian_is_moments", "gaussian_is_estimate", "past_ratio_is_weights", "first_order_expected_gradient", "past_ratio_expected_gradient",
           "trajectory_ratio_second_moment", "trajectory_ratio_log_mean", "sample_trajectory_ratios", "ratio_by_return",
           "one_step_bandit", "exact_expected_gradient", "reuse_weights", "ReuseHistory", "train_reuse", "train_reuse_seeds"]


# --- importance sampling on 1-D Gaussians ------------------------------------------------------------------

def _normal_logpdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))


def gaussian_is_moments(mu_q: float, sigma_q: float, mu_p: float = 1.0, sigma_p: float = 1.0) -> dict:
    """E_q[w²] and Var_q[w f] for w = p/q, p = N(μ_p, σ_p²), q = N(μ_q, σ_q²), f(x) = x   (exact).

    E_q[w² f²] = ∫ p(x)² x² / q(x) dx, a Gaussian integral: finite only if σ_q² > σ_p²/2
    (otherwise the tails of p²/q blow up and both values are inf).
    Returns {"second_moment": E_q[w²] (= 1 + χ²(p‖q)), "variance": Var_q[w f] of one sample,
    "ess_fraction": 1 / E_q[w²], the large-N limit of ESS/N, "mean": E_p[f] = μ_p}.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    if sigma_q <= 0 or sigma_p <= 0:
        raise ValueError(f"standard deviations must be > 0, got sigma_q={sigma_q!r}, sigma_p={sigma_p!r}")
    a = 1.0 / sigma_p ** 2 - 1.0 / (2.0 * sigma_q ** 2)  # p²/q ∝ exp(−a x² + b x)
    if a <= 0:
        return {"second_moment": math.inf, "variance": math.inf, "ess_fraction": 0.0, "mean": float(mu_p)}
    b = 2.0 * mu_p / sigma_p ** 2 - mu_q / sigma_q ** 2
    c = -mu_p ** 2 / sigma_p ** 2 + mu_q ** 2 / (2.0 * sigma_q ** 2) + math.log(sigma_q / (math.sqrt(2 * math.pi)
                                                                                           * sigma_p ** 2))
    log_z = c + b ** 2 / (4.0 * a) + 0.5 * math.log(math.pi / a)  # log ∫ p²/q dx = log E_q[w²]
    m, v = b / (2.0 * a), 1.0 / (2.0 * a)  # p²/q / E_q[w²] is the density of N(m, v)
    second = math.exp(log_z) if log_z < 700 else math.inf
    return {"second_moment": second, "variance": second * (m ** 2 + v) - mu_p ** 2,
            "ess_fraction": 1.0 / second, "mean": float(mu_p)}


def gaussian_is_estimate(mu_q: float, sigma_q: float, n: int, seed: int, mu_p: float = 1.0,
                         sigma_p: float = 1.0) -> dict:
    """(1/N) Σ_i w(x_i) f(x_i), x_i ~ q = N(μ_q, σ_q²), w = p/q, f(x) = x: an unbiased estimate of E_p[x] = μ_p.

    Returns {"estimate", "stderr" (sample std of w f / √N), "ess" = (Σw)²/Σw², "ess_fraction" = ess / N,
    "max_weight_share" = max_i w_i / Σ w_i}. The same seed gives the same numbers.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    n = check_positive_int("n", n)
    rng = np.random.default_rng(seed)
    x = rng.normal(mu_q, sigma_q, n)
    w = np.exp(_normal_logpdf(x, mu_p, sigma_p) - _normal_logpdf(x, mu_q, sigma_q))
    y = w * x
    ess = effective_sample_size(torch.as_tensor(w))
    return {"estimate": float(y.mean()), "stderr": float(y.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
            "ess": ess, "ess_fraction": ess / n, "max_weight_share": float(w.max() / w.sum())}


# --- weights and exact moments on tabular MDPs ---------------------------------------------------------------

def past_ratio_is_weights(rew: Tensor, logp_new: Tensor, logp_old: Tensor, mask: Tensor | None = None) -> Tensor:
    """w_{i,t} = (Π_{t''≤t} ρ_{i,t''}) · Q̂_{i,t}   (the notes' "ignore the second factor": BIASED).

    Keeps the ratio that corrects the distribution of (s_t, a_t) and drops the one that corrects the
    later rewards, so the future is still scored under the behaviour policy.
    rew, logp_new, logp_old, mask: (N, T); returns (N, T) float64, 0 where masked.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    mask = check_mask(logp_new, mask)
    cum = log_ratios(logp_new, logp_old, mask).cumsum(1)
    rtg = reward_to_go(torch.where(mask, rew.detach().to(torch.float64), torch.zeros((), dtype=torch.float64)), mask)
    w = torch.where(rtg == 0, torch.zeros((), dtype=torch.float64), rtg * cum.exp())
    return torch.where(mask, w, torch.zeros((), dtype=torch.float64))


def _surrogate_gradient(mdp: TabularMDP, logits, behaviour_logits, states_from: str) -> Tensor:
    """∇θ' Σ_t Σ_s d_t(s) Σ_a π_θ'(a|s) Q^θ_t(s, a), with d_t from θ ("behaviour") or θ' ("target", held fixed)."""
    target = mdp.check_logits(logits).detach().to(torch.float64).requires_grad_(True)
    behaviour = mdp.check_logits(behaviour_logits).detach().to(torch.float64)
    with torch.no_grad():
        d = mdp.state_distributions(behaviour if states_from == "behaviour" else target.detach())  # (T, S)
        q = action_values(mdp, behaviour)[0]  # Q^θ_t(s, a), (T, S, A)
    with torch.enable_grad():
        surrogate = (d[:, :, None] * torch.softmax(target, -1)[None] * q).sum()
        (grad,) = torch.autograd.grad(surrogate, target)
    return grad


def first_order_expected_gradient(mdp: TabularMDP, logits, behaviour_logits) -> Tensor:
    """E_{τ~p_θ}[Σ_t ρ_t ∇θ' log π_θ'(a_t|s_t) Q̂_t] = Σ_t Σ_s d^θ_t(s) Σ_a ∇θ' π_θ'(a|s) Q^θ_t(s, a)   (exact).

    The expectation of the first-order estimator (``first_order_is_weights``): states from the
    behaviour policy's marginals d^θ_t, actions re-weighted to π_θ', values Q^θ_t of the behaviour
    policy. Equals ∇J(θ') when θ' = θ; its distance to ∇J(θ') is the estimator's bias.
    logits (target θ'), behaviour_logits (θ): (S, A). Returns (S, A) float64.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    return _surrogate_gradient(mdp, logits, behaviour_logits, "behaviour")


def past_ratio_expected_gradient(mdp: TabularMDP, logits, behaviour_logits) -> Tensor:
    """E_{τ~p_θ}[Σ_t (Π_{t''≤t} ρ_{t''}) ∇θ' log π_θ'(a_t|s_t) Q̂_t] = Σ_t Σ_s d^θ'_t(s) Σ_a ∇θ' π_θ'(a|s) Q^θ_t(s, a).

    The expectation of ``past_ratio_is_weights``: the past ratio makes (s_t, a_t) follow θ', but the
    future rewards in Q̂_t still follow θ, so Q^θ_t replaces Q^θ'_t (exact; equals ∇J(θ') when θ' = θ).
    logits (target θ'), behaviour_logits (θ): (S, A). Returns (S, A) float64.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    return _surrogate_gradient(mdp, logits, behaviour_logits, "target")


def trajectory_ratio_second_moment(mdp: TabularMDP, logits, behaviour_logits) -> float:
    """E_{τ~p_θ}[(p_θ'(τ)/p_θ(τ))²] = Σ_τ p_θ'(τ)²/p_θ(τ)   (exact, by a forward recursion).

    m_1 = p0, m_{t+1}(s') = Σ_{s,a} m_t(s) π'(a|s)²/π(a|s) P(s'|s,a); the result is Σ_{s,a} m_T(s) π'(a|s)²/π(a|s)
    (the dynamics appear once: P²/P = P). 1 / this is the large-N limit of ESS/N of the trajectory ratios.
    logits (target θ'), behaviour_logits (θ): (S, A). Returns a float (≥ 1).
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    target = torch.softmax(mdp.check_logits(logits).detach().to(torch.float64), -1)
    behaviour = torch.softmax(mdp.check_logits(behaviour_logits).detach().to(torch.float64), -1)
    ratio2 = target ** 2 / behaviour  # (S, A)
    m = mdp.p0.clone()
    log_scale = 0.0  # keep m normalised to avoid overflow on long horizons
    for _ in range(mdp.horizon - 1):
        m = torch.einsum("s,sa,sau->u", m, ratio2, mdp.P)
        total = float(m.sum())
        log_scale += math.log(total)
        m = m / total
    log_value = log_scale + math.log(float((m[:, None] * ratio2).sum()))
    return math.exp(log_value) if log_value < 700 else math.inf


def trajectory_ratio_log_mean(mdp: TabularMDP, logits, behaviour_logits) -> float:
    """E_{τ~p_θ}[log(p_θ'(τ)/p_θ(τ))] = −Σ_t Σ_s d^θ_t(s) KL(π_θ(·|s) ‖ π_θ'(·|s))   (exact, ≤ 0).

    Each step adds E_{a~π_θ}[log ρ] = −KL(π_θ ‖ π_θ') at its state, so the mean of log c falls linearly
    in T while E_θ[c] = 1: the typical ratio e^{E[log c]} goes to 0 exponentially, the mean does not.
    logits (target θ'), behaviour_logits (θ): (S, A). Returns a float.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    target = torch.log_softmax(mdp.check_logits(logits).detach().to(torch.float64), -1)
    behaviour = torch.log_softmax(mdp.check_logits(behaviour_logits).detach().to(torch.float64), -1)
    kl = (behaviour.exp() * (behaviour - target)).sum(-1)  # KL(π_θ(·|s) ‖ π_θ'(·|s)), (S,)
    d = mdp.state_distributions(behaviour)  # (T, S) under the behaviour policy
    return -float((d * kl).sum())


def sample_trajectory_ratios(mdp: TabularMDP, logits, behaviour_logits, n: int, seed: int) -> Tensor:
    """c_i = p_θ'(τ_i)/p_θ(τ_i) of N trajectories τ_i ~ p_θ (the batch ``make_lab`` draws with the same seed).

    logits (target θ'), behaviour_logits (θ): (S, A). Returns (N,) float64.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    target = torch.log_softmax(mdp.check_logits(logits).detach().to(torch.float64), -1)
    behaviour = torch.log_softmax(mdp.check_logits(behaviour_logits).detach().to(torch.float64), -1)
    batch = mdp.sample(behaviour, check_positive_int("n", n), seed=seed)
    return trajectory_ratio(target[batch.obs, batch.act], behaviour[batch.obs, batch.act])


def ratio_by_return(lab, quarters: int = 4) -> dict:
    """How the trajectory ratio c = p_θ'(τ)/p_θ(τ) goes with the return, over a lab's trajectories (sampled by θ).

    Returns "corr": the correlation of log c with R(τ) (0 if either is constant); and, for the trajectories
    sorted by return and split into ``quarters`` groups of equal size (poorest first, ties in sampling order),
    "mean_log_c" and "median_c" per group. Averaged over all trajectories, E[log c] = −Σ_t E[D_KL] whatever the
    rewards; conditioned on the return it is not. Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    log_c = trajectory_ratio(lab.logp, lab.logp_old).double().log().numpy()
    rets = lab.rets.double().numpy()
    constant = log_c.std() == 0 or rets.std() == 0
    groups = np.array_split(np.argsort(rets, kind="stable"), check_positive_int("quarters", quarters))
    return {"corr": 0.0 if constant else float(np.corrcoef(log_c, rets)[0, 1]),
            "mean_log_c": [float(log_c[g].mean()) for g in groups],
            "median_c": [float(np.median(np.exp(log_c[g]))) for g in groups]}


def one_step_bandit(p_behaviour: float):
    """The one-step problem of notebook 08's exercise: (mdp, target θ', behaviour θ), logits (1, 2) float64.

    A two-armed bandit (T = 1) paying r = (1, 0); the target policy is π' = (1/2, 1/2) and the behaviour
    policy π = (p, 1 − p), p = p_behaviour in (0, 1).
    """
    p = float(p_behaviour)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p_behaviour must be a probability in (0, 1), got {p_behaviour!r}")
    mdp = TabularMDP.bandit([1.0, 0.0])
    target = torch.zeros(1, 2, dtype=torch.float64)
    behaviour = torch.log(torch.tensor([[p, 1.0 - p]], dtype=torch.float64))
    return mdp, target, behaviour


def exact_expected_gradient(mdp: TabularMDP, logits, behaviour_logits, weights) -> Tensor:
    """E_{τ~p_θ}[Σ_t ∇θ' log π_θ'(a_t|s_t) w_t(τ)] = Σ_τ p_θ(τ) ĝ(τ)   (exact: a sum over every trajectory).

    weights(rew, logp_new, logp_old, mask) -> (K, T), e.g. ``pgcourse.notes_causal_is_weights``; it is
    called once on all K = (S·A)^T trajectories (``enumerate_trajectories``: small MDPs only).
    logits (target θ'), behaviour_logits (θ): (S, A). Returns (S, A) float64; an unbiased estimator
    gives ``mdp.gradient(logits)``.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    target = mdp.check_logits(logits).detach().to(torch.float64)
    behaviour = mdp.check_logits(behaviour_logits).detach().to(torch.float64)
    obs, act = enumerate_trajectories(mdp)
    prob = trajectory_log_prob(mdp, behaviour, obs, act).exp()  # p_θ(τ), (K,)
    possible = prob > 0
    obs, act, prob = obs[possible], act[possible], prob[possible]
    mask = torch.ones(obs.shape, dtype=torch.bool)
    w = weights(mdp.R[obs, act], torch.log_softmax(target, -1)[obs, act], torch.log_softmax(behaviour, -1)[obs, act],
                mask)
    g = tabular_gradient_samples(target, obs, act, torch.as_tensor(w, dtype=torch.float64), mask)  # (K, S·A)
    return (prob[:, None] * g).sum(0).reshape(mdp.n_states, mdp.n_actions)


# --- reusing a batch for K gradient steps --------------------------------------------------------------------

@dataclass
class ReuseHistory(History):
    """History (one row per batch; loss and grad_norm are those of the first, on-policy step) plus, per batch,
    one entry per gradient step k = 0 … K−1: ``max_log_ratio[it][k]`` = max_i |log c_{i,T_i}| (0 at k = 0: the
    weights are on-policy) and ``ess_fraction[it][k]`` = ESS/N of the trajectory ratios c_{i,T_i}."""

    max_log_ratio: list = field(default_factory=list)
    ess_fraction: list = field(default_factory=list)


def train_reuse_seeds(config: TrainConfig | None = None, seeds=range(10), k_steps: int = 4,
                      progress: bool | None = None, weighting: str = "per_decision", max_env_steps: int | None = None,
                      **overrides):
    """REINFORCE with K gradient steps per batch, re-weighted by per-decision importance weights, for many seeds.

    For each batch sampled by π_θ (log π_θ(a|s) kept, detached, as logp_old): K times, recompute
    logp_new = log π_θ'(a|s) with gradients, weights w = ``reuse_weights`` (c = 1 on the first step),
    and take one optimizer step on the pseudo-loss −(1/N) Σ_i Σ_t logp_new · w. This is
    ``pgcourse.seeds.train_seeds`` with ``steps_per_batch=K`` (so K = 1 is exactly ``train_seeds``), recording
    per seed and per step how far the policy has moved from the batch's.
    weighting: "per_decision" (unbiased) or "first_order" (w = ρ_t (Q̂_t − b_t), biased, no products of ratios).
    max_env_steps: also stop a seed after the batch that reaches this many environment steps (None: the
    config's ``max_env_steps``).
    Returns (policies, [ReuseHistory, one per seed]). env_steps counts samples, so K > 1 uses each sample
    K times. A seed that diverges stops with ``history.diverged`` set (``train_reuse`` raises it).
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    k_steps = check_positive_int("k_steps", k_steps)
    check_choice("weighting", weighting, WEIGHTINGS)
    config = merge_config(config, overrides)
    config = replace(config, steps_per_batch=k_steps, importance_weights=weighting,
                     max_env_steps=config.max_env_steps if max_env_steps is None else max_env_steps)
    seeds = list(seeds)

    def run(group):
        max_log_ratio = [[] for _ in group]
        ess_fraction = [[] for _ in group]

        def record(k, iteration, step, batch, logp, logp_old):
            if step == 0:
                max_log_ratio[k].append([])
                ess_fraction[k].append([])
            log_c = log_ratios(logp, logp_old, batch.mask).sum(1)  # log c_{i,T_i}
            max_log_ratio[k][-1].append(float(log_c.abs().max()))
            ess_fraction[k][-1].append(effective_sample_size((log_c - log_c.max()).exp()) / batch.n_traj)

        policies, histories = train_seeds(config, group, progress=progress, on_step=record)
        return policies, [ReuseHistory(**asdict(h), max_log_ratio=m, ess_fraction=e)
                          for h, m, e in zip(histories, max_log_ratio, ess_fraction)]

    # the recorder runs beside each group of seeds, so groups may train in processes of their own
    groups = over_seed_groups(run, seeds, interrupted=lambda r: r[1][0].interrupt_signal,
                              processes=None if progress is False else 1)
    return [p for policies, _ in groups for p in policies], [h for _, hs in groups for h in hs]


def train_reuse(config: TrainConfig | None = None, k_steps: int = 4, progress: bool | None = None,
                weighting: str = "per_decision", max_env_steps: int | None = None, **overrides):
    """``train_reuse_seeds`` with the one seed ``config.seed``; returns (policy, ReuseHistory).

    K = 1 is exactly ``pgcourse.train`` (tests/test_train_seeds.py holds the engine equal to it).
    Raises ValueError for a bad config and when the loss becomes NaN or infinite (lower the learning rate).
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    config = merge_config(config, overrides)
    policies, histories = train_reuse_seeds(config, [config.seed], k_steps=k_steps, progress=progress,
                                            weighting=weighting, max_env_steps=max_env_steps)
    if histories[0].diverged:
        raise ValueError(histories[0].diverged)
    return policies[0], histories[0]
